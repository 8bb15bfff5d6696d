-- Issue 14: three indexes that an insert pays for and no read needs, since the tenant keys
-- (20261202000001_tenant_keys.sql) made the primary keys (crm_id, id). Found by comparing every
-- index's columns with the others' on a migrated database.
-- `member_page (crm_id, id)` is `member_pkey`, column for column.
drop index if exists member_page;
-- `audit_log_tenant (crm_id, audit_id desc)` is `audit_log_pkey (crm_id, audit_id)` read
-- backwards (a btree scans either way).
drop index if exists audit_log_tenant;
-- `member_identity_value (crm_id, type, value)` is the leading part of the unique
-- `(crm_id, type, value, member_id)`, which serves every lookup by an identity.
drop index if exists member_identity_value;
