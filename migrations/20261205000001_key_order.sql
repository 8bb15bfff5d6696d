-- Issue 14: the earn's hot indexes lead with the key that tells rows apart, and `crm_id` follows.
-- Every comparison in a btree goes column by column until two keys differ; with `crm_id` first
-- it compared equal almost always (a tenant's rows sit together, and inside a tenant's part of
-- the tree every key has the same one), so each of the ~24 comparisons of an insert paid for one
-- more text comparison that decided nothing. These indexes are only ever probed with equality on
-- both the key and `crm_id`, so the order serves the same lookups: `scripts/callgrind-postgres
-- 5000`, PostgreSQL's instructions per applied earn, 267,345 before, 237,732 with all four
-- (the three non-unique indexes alone: 245,569).
--
-- Left `crm_id`-first on purpose: indexes that a tenant-wide scan needs (`member_balance`'s key:
-- the summary feed and the dashboards' totals; `points_ledger_time`, `points_ledger`'s and
-- `points_lot`'s keys, `analytics_seen`'s key: its retention walks the tenants). The inbox has no
-- tenant-wide reader but `workers tenant move`, which now reads it sequentially.
drop index points_lot_member;
create index points_lot_member on points_lot (member_no, crm_id, expire_time) where remaining > 0;
drop index points_lot_frozen_event;
create index points_lot_frozen_event on points_lot (event_no, crm_id) where unfreeze_time is not null;
drop index points_ledger_member;
create index points_ledger_member on points_ledger (member_no, crm_id, rule_id, occurred_at);
drop index points_ledger_event;
create index points_ledger_event on points_ledger (event_no, crm_id);
alter table inbox drop constraint inbox_pkey, add constraint inbox_pkey primary key (idem_key, key_kind, crm_id);
