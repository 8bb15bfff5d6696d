//! `workers tenant move`: a tenant's rows, every table's, from this database to another one
//! (another shard, SCALING.md), with their ids, in one transaction on each side.
//!
//! The ids travel as they are: every key is `(crm_id, id)` (migration 20261202000001), so they
//! cannot collide with the target's other tenants, and the target's sequences are moved past
//! the copied ids so that the tenant's next rows do not collide with its own.
//!
//! How it stays exact:
//! - The source is read and emptied in one REPEATABLE READ transaction: the copy and the deletes
//!   see one snapshot; a row of the tenant updated by someone else meanwhile makes the delete
//!   fail ("could not serialize"), and nothing is moved.
//! - Each table's rows copied must equal the rows deleted; the target commits first, then the
//!   source. A crash between the two leaves the tenant in both (nothing lost): the next run's
//!   copy meets keys the target holds, fails, and moves nothing.
//! - Rows the tenant gained during the move (not in the snapshot) stay in the source and are
//!   reported after the commit: pause the tenant's traffic first (SCALING.md). A second run
//!   moves them (new rows: their keys are not in the target yet).
//!
//! Both sides run with `session_replication_role = replica` (a superuser's setting): foreign
//! keys are not checked, so the tables go in any order (they were consistent in the source),
//! and the audit log's append-only trigger lets the source's rows go.

use std::collections::BTreeMap;

use anyhow::Context;
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Serialize)]
pub struct Moved {
    pub crm_id: String,
    /// Rows moved, per table (tables without rows of the tenant left out).
    pub rows: BTreeMap<String, u64>,
    /// Rows of the tenant still in the source: written during the move (should be empty).
    pub left_behind: BTreeMap<String, i64>,
}

/// A table holding tenants' rows: its name (quoted where it must be) and the columns to copy
/// (generated ones are computed again by the target).
struct Table {
    name: String,
    columns: Vec<String>,
    /// Columns filled from a sequence, with the sequence.
    sequences: Vec<(String, String)>,
}

/// Tables a move leaves alone on one side.
#[derive(Debug, Default)]
pub struct Keep {
    /// Not copied: the target has these rows already (the directory's tenant row).
    pub not_copied: Vec<&'static str>,
    /// Not deleted: the source keeps these rows (the directory's tenant, keys and limits).
    pub not_deleted: Vec<&'static str>,
}

/// Moves `crm_id` from `source` to `target` (both migrated to the same version): every table.
pub async fn move_tenant(source: &PgPool, target: &PgPool, crm_id: &str) -> anyhow::Result<Moved> {
    move_rows(source, target, crm_id, &Keep::default()).await
}

/// The directory's own tables: they stay in the directory whatever shard the tenant is on.
const DIRECTORY_ONLY: [&str; 2] = ["api_key", "tenant_rate_limit"];

/// Moves `crm_id` from its shard to `to`, in one installation (`DATABASE_SHARDS`): its rows but
/// the directory's (its keys and limits stay; its tenant row stays in the directory, and is
/// copied to or deleted from the other shard), then the directory names the new shard and the
/// api instances drop their cached keys (which name the old one).
pub async fn move_to_shard(settings: &platform::Settings, crm_id: &str, to: &str) -> anyhow::Result<Moved> {
    let default = platform::settings::DEFAULT_SHARD;
    let connect = |shard: &str| {
        let settings = settings.for_shard(shard);
        let shard = shard.to_string();
        async move {
            let settings = settings.ok_or_else(|| anyhow::anyhow!("no shard {shard:?} in DATABASE_SHARDS"))?;
            platform::db::connect_and_migrate(&settings).await
        }
    };
    let directory = connect(default).await?;
    let from: String = sqlx::query_scalar("select shard from tenant where crm_id = $1")
        .bind(crm_id)
        .fetch_optional(&directory)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant {crm_id} in the directory"))?;
    anyhow::ensure!(from != to, "tenant {crm_id} is on shard {to} already");
    let (source, target) = (connect(&from).await?, connect(to).await?);
    let mut keep = Keep { not_copied: DIRECTORY_ONLY.to_vec(), not_deleted: DIRECTORY_ONLY.to_vec() };
    if to == default {
        keep.not_copied.push("tenant");
    }
    if from == default {
        keep.not_deleted.push("tenant");
    }
    let moved = move_rows(&source, &target, crm_id, &keep).await?;
    let mut tx = directory.begin().await?;
    sqlx::query("update tenant set shard = $2 where crm_id = $1").bind(crm_id).bind(to).execute(&mut *tx).await?;
    sqlx::query("select pg_notify($1, '*')").bind(platform::API_KEYS_CHANNEL).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(moved)
}

async fn move_rows(source: &PgPool, target: &PgPool, crm_id: &str, keep: &Keep) -> anyhow::Result<Moved> {
    let versions = |db: &PgPool| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select version from _sqlx_migrations where success order by version")
                .fetch_all(&db)
                .await
        }
    };
    anyhow::ensure!(
        versions(source).await? == versions(target).await?,
        "the two databases are not migrated to the same version: start this release's api or workers on the target first"
    );
    let tables = tables(source).await?;
    let moving =
        |t: &&Table| !(keep.not_copied.contains(&t.name.as_str()) && keep.not_deleted.contains(&t.name.as_str()));
    let movable: Vec<&Table> = tables.iter().filter(moving).collect();
    anyhow::ensure!(
        !count(source, &movable, crm_id).await?.is_empty(),
        "tenant {crm_id} has no rows to move in this database"
    );

    let mut src = source.begin().await?;
    sqlx::raw_sql("set transaction isolation level repeatable read; set local session_replication_role = replica")
        .execute(&mut *src)
        .await?;
    let mut dst = target.begin().await?;
    sqlx::raw_sql("set local session_replication_role = replica").execute(&mut *dst).await?;
    // COPY takes no parameters: the tenant as a literal, quoted by the server.
    let literal: String = sqlx::query_scalar("select quote_literal($1)").bind(crm_id).fetch_one(&mut *src).await?;

    let mut rows = BTreeMap::new();
    for table in &movable {
        let (copy, delete) =
            (!keep.not_copied.contains(&table.name.as_str()), !keep.not_deleted.contains(&table.name.as_str()));
        if !copy {
            // Only deleted (the target has its own copy): nothing to compare with.
            delete_rows(&mut src, table, crm_id).await?;
            continue;
        }
        let columns = table.columns.join(", ");
        let mut copy_in = dst.copy_in_raw(&format!("copy {} ({columns}) from stdin", table.name)).await?;
        let mut copy_out = src
            .copy_out_raw(&format!("copy (select {columns} from {} where crm_id = {literal}) to stdout", table.name))
            .await?;
        while let Some(chunk) = copy_out.try_next().await? {
            copy_in.send(chunk).await?;
        }
        drop(copy_out);
        // A key the target already holds (a move that committed there but not here) fails the
        // copy, and nothing moves.
        let copied = copy_in.finish().await.with_context(|| format!("copying {} into the target", table.name))?;
        if copied == 0 {
            continue;
        }
        rows.insert(table.name.clone(), copied);
        for (column, sequence) in &table.sequences {
            // Past every id the tenant now holds there, never back.
            sqlx::query(&format!(
                "select setval($1::regclass, greatest((select last_value from {sequence}),
                                                       (select max({column}) from {} where crm_id = $2)))",
                table.name
            ))
            .bind(sequence)
            .bind(crm_id)
            .execute(&mut *dst)
            .await?;
        }
        if delete {
            let deleted = delete_rows(&mut src, table, crm_id).await?;
            anyhow::ensure!(deleted == copied, "{}: {copied} rows copied but {deleted} deleted", table.name);
        }
    }
    dst.commit().await.context("committing the target")?;
    src.commit().await.context("committing the source (the tenant is now in both: delete it from one)")?;
    let deleted: Vec<&Table> = movable.into_iter().filter(|t| !keep.not_deleted.contains(&t.name.as_str())).collect();
    let left_behind = count(source, &deleted, crm_id).await?;
    Ok(Moved { crm_id: crm_id.to_string(), rows, left_behind })
}

/// Deletes the tenant's rows of `table` in the source's transaction; answers how many.
async fn delete_rows(src: &mut sqlx::PgConnection, table: &Table, crm_id: &str) -> anyhow::Result<u64> {
    let deleted = sqlx::query(&format!("delete from {} where crm_id = $1", table.name))
        .bind(crm_id)
        .execute(src)
        .await
        .with_context(|| format!("deleting {} from the source (was the tenant paused?)", table.name))?;
    Ok(deleted.rows_affected())
}

/// Every table with a `crm_id`, with its copied columns and sequences.
async fn tables(db: &PgPool) -> sqlx::Result<Vec<Table>> {
    let rows: Vec<(String, Vec<String>, Vec<Option<String>>)> = sqlx::query_as(
        "select quote_ident(c.relname),
                array_agg(quote_ident(a.attname) order by a.attnum),
                array_agg(pg_get_serial_sequence(quote_ident(c.relname), a.attname) order by a.attnum)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
         where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
           and exists (select 1 from pg_attribute k where k.attrelid = c.oid and k.attname = 'crm_id' and not k.attisdropped)
         group by c.relname order by c.relname",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, columns, sequences)| Table {
            sequences: columns.iter().zip(sequences).filter_map(|(c, s)| s.map(|s| (c.clone(), s))).collect(),
            columns,
            name,
        })
        .collect())
}

/// The tenant's rows per table, where it has any.
async fn count(db: &PgPool, tables: &[&Table], crm_id: &str) -> sqlx::Result<BTreeMap<String, i64>> {
    let mut conn = db.acquire().await?;
    let mut counts = BTreeMap::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {} where crm_id = $1", table.name))
            .bind(crm_id)
            .fetch_one(&mut *conn)
            .await?;
        if n > 0 {
            counts.insert(table.name.clone(), n);
        }
    }
    Ok(counts)
}

/// Opens a pool on `url`, creating the database and migrating it (what the api and the workers
/// do at start), for the target of a move.
pub async fn connect_target(settings: &platform::Settings, url: &str) -> anyhow::Result<PgPool> {
    let mut settings = settings.clone();
    settings.database_url = url.to_string();
    platform::db::connect_and_migrate(&settings).await
}
