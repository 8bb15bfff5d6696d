//! Issue 16, item 3: is the schema ready to be distributed by tenant (Citus, or tenants placed
//! on several clusters)? The rules, read from the catalog of a freshly migrated database:
//!
//! 1. every table carries `crm_id`;
//! 2. every primary key, unique constraint and unique index includes `crm_id` (a distributed
//!    table can only enforce uniqueness within one tenant's shard);
//! 3. every foreign key includes `crm_id` on both sides, so that no reference crosses tenants.
//!
//! Reference tables (copied to every node, looked up before the tenant is known) are exempt
//! from 2 and 3. The schema meets the rules since migration 20261202000001 (before it, 32 keys
//! and references by the first schema's serial ids, and the outbox, broke them); the test fails
//! on any table, key or reference that breaks them.

use std::collections::BTreeSet;

use loyalty_tests::TestEnv;

/// Global lookups, replicated rather than distributed: an API key is found before its tenant is
/// known.
const REFERENCE: &[&str] = &["tenant", "api_key"];

/// Every break of the rules in the database's `public` schema, one line each.
async fn violations(db: &sqlx::PgPool) -> BTreeSet<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
           and not exists (select 1 from pg_attribute a
                           where a.attrelid = c.oid and a.attname = 'crm_id' and not a.attisdropped)",
    )
    .fetch_all(db)
    .await
    .unwrap();
    // Unique indexes cover primary keys and unique constraints (each has one), and the unique
    // indexes made without a constraint.
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "select t.relname::text, i.relname::text,
                (select string_agg(a.attname, ', ' order by k.n) from unnest(x.indkey) with ordinality k(attnum, n)
                 join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum)
         from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
         join pg_namespace n on n.oid = t.relnamespace
         where n.nspname = 'public' and x.indisunique and t.relname <> '_sqlx_migrations'
           and not exists (select 1 from unnest(x.indkey) k join pg_attribute a
                           on a.attrelid = x.indrelid and a.attnum = k where a.attname = 'crm_id')",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let foreign: Vec<(String, String, String, String)> = sqlx::query_as(
        "select t.relname::text, f.conname::text, r.relname::text,
                (select string_agg(a.attname, ', ' order by k.n) from unnest(f.conkey) with ordinality k(attnum, n)
                 join pg_attribute a on a.attrelid = f.conrelid and a.attnum = k.attnum)
         from pg_constraint f join pg_class t on t.oid = f.conrelid join pg_class r on r.oid = f.confrelid
         join pg_namespace n on n.oid = t.relnamespace
         where n.nspname = 'public' and f.contype = 'f'
           and not (exists (select 1 from unnest(f.conkey) k join pg_attribute a
                            on a.attrelid = f.conrelid and a.attnum = k where a.attname = 'crm_id')
                and exists (select 1 from unnest(f.confkey) k join pg_attribute a
                            on a.attrelid = f.confrelid and a.attnum = k where a.attname = 'crm_id'))",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let mut out = BTreeSet::new();
    out.extend(tables.into_iter().map(|t| format!("{t}: no crm_id")));
    out.extend(
        keys.into_iter()
            .filter(|(t, _, _)| !REFERENCE.contains(&t.as_str()))
            .map(|(t, key, cols)| format!("{t}: key {key} ({cols}) without crm_id")),
    );
    out.extend(
        foreign
            .into_iter()
            .filter(|(t, _, r, _)| !REFERENCE.contains(&t.as_str()) && !REFERENCE.contains(&r.as_str()))
            .map(|(t, fk, r, cols)| format!("{t}: foreign key {fk} ({cols}) -> {r} without crm_id")),
    );
    out
}

#[tokio::test]
async fn the_schema_breaks_no_distribution_rule() {
    let env = TestEnv::new().await;
    let found = violations(&env.db).await;
    assert!(
        found.is_empty(),
        "tables, keys or references that break the rules of tests/tests/e2e/schema.rs (crm_id in every table, every unique key and every foreign key): {found:#?}"
    );

    // The check sees what a careless migration would add.
    sqlx::raw_sql(
        "create table probe_account (id bigserial primary key, crm_id text not null, code text unique);
         create table probe_entry (crm_id text not null, account_id bigint references probe_account (id),
                                   primary key (crm_id, account_id));
         create table probe_global (id bigint primary key)",
    )
    .execute(&env.db)
    .await
    .unwrap();
    let found = violations(&env.db).await;
    for line in [
        "probe_account: key probe_account_pkey (id) without crm_id",
        "probe_account: key probe_account_code_key (code) without crm_id",
        "probe_entry: foreign key probe_entry_account_id_fkey (account_id) -> probe_account without crm_id",
        "probe_global: no crm_id",
    ] {
        assert!(found.contains(line), "not seen: {line}");
    }
    assert!(!found.iter().any(|l| l.starts_with("probe_entry: key")), "(crm_id, account_id) is a tenant's key");
    env.cleanup().await;
}
