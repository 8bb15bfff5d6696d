-- Issue 14 (performance), from a profile of the drain: two costs PostgreSQL paid per event
-- that bought nothing.

-- 1. Key columns compare bytewise. Every btree insert and lookup on a text key compared under
--    the database's collation (C.UTF-8 here: strcoll, varstr_cmp, a locale lookup per call);
--    PostgreSQL fast-paths only "C". The keys (crm_id, member_no, event_no, idempotency keys,
--    codes, identities) are identifiers, never shown sorted to a person, and for UTF-8 text
--    C.UTF-8 already sorts by code point, which is byte order: no order the engine relies on
--    (the sorted lock order of batches) changes. Every text column of an index in this schema
--    becomes COLLATE "C"; its indexes are rebuilt. A column that a generated column is computed
--    from cannot change type (member_identity.value, whose md5 is the indexed one) and stays.
--    A new key column should be declared `text collate "C"`.
do $$
declare
    col record;
begin
    for col in
        select distinct c.relname as tab, a.attname as col, format_type(a.atttypid, a.atttypmod) as typ
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum = any (i.indkey)
        where n.nspname = current_schema()
          and c.relkind = 'r'
          and a.atttypid in ('text'::regtype, 'varchar'::regtype)
          and a.attcollation <> 'pg_catalog."C"'::regcollation
          and a.attgenerated = ''
          and not exists (
              select 1 from pg_depend d
              where d.classid = 'pg_attrdef'::regclass and d.refobjid = c.oid and d.refobjsubid = a.attnum
          )
        order by 1, 2
    loop
        execute format('alter table %I alter column %I type %s collate "C"', col.tab, col.col, col.typ);
    end loop;
end
$$;

-- 2. The outbox row holds the bytes the relay publishes. As `json` it was parsed on the way in
--    (the driver sends JSON as jsonb: parsed once into jsonb, printed again as json text) and
--    compressed with pglz when TOASTed (a batch's row is ~100 KB). As bytea it is stored as
--    sent; lz4 compresses it at a fraction of pglz's cost, where the server has lz4 (PostgreSQL
--    14+ built with it, as Debian's and the official images are); elsewhere pglz stays.
alter table outbox alter column events type bytea using convert_to(events::text, 'UTF8');
do $$
begin
    alter table outbox alter column events set compression lz4;
exception when feature_not_supported then
    raise notice 'this server has no lz4: the outbox keeps pglz';
end
$$;
