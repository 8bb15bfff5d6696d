-- Every key carries the tenant (issue 16, item 3): each primary key and unique constraint
-- includes crm_id, each foreign key names it on both sides, and the outbox row is a tenant's.
-- What this gives:
--   * a tenant's rows can move to another database (another shard, SCALING.md) with their ids:
--     the serial ids are unique per database only, and a key of (crm_id, id) cannot collide with
--     another tenant's row that drew the same id there;
--   * the schema meets Citus's rules for tables distributed by crm_id (a unique or foreign key
--     must include the distribution column), checked by tests/tests/e2e/schema.rs.
-- The ids stay serial (globally unique within a database); every statement that reads by an id
-- also names the tenant, so the new keys serve it.
--
-- On a large database this rebuilds each index below under an exclusive lock of its table: run it
-- in a quiet hour (the ledger's and the lots' keys are the big ones).

-- 1. The references by id go first: their targets' keys change under them.
alter table card_code_expired drop constraint card_code_expired_code_id_fkey;
alter table lot_take drop constraint lot_take_lot_id_fkey;
alter table member drop constraint member_level_id_fkey;
alter table member_identity drop constraint member_identity_member_id_fkey;
alter table member_push_device drop constraint member_push_device_member_id_fkey;
alter table points_activity_goods drop constraint points_activity_goods_points_consumption_id_fkey;

-- 2. The tenant column of three tables still compares under the database's collation; as
--    everywhere else it takes "C" (byte order: the fast path for keys, issue 14), which also
--    makes both sides of card_code_expired's reference alike.
alter table analytics_seen alter column crm_id type text collate "C";
alter table card_code_expired alter column crm_id type text collate "C";
alter table member_erasure alter column crm_id type text collate "C";

-- 3. The keys, under their old names.
alter table analytics_seen drop constraint analytics_seen_pkey,
    add constraint analytics_seen_pkey primary key (crm_id, event_id);
alter table audit_log drop constraint audit_log_pkey,
    add constraint audit_log_pkey primary key (crm_id, audit_id);
alter table card_code drop constraint card_code_pkey,
    add constraint card_code_pkey primary key (crm_id, code_id);
alter table card_code_expired drop constraint card_code_expired_pkey,
    add constraint card_code_expired_pkey primary key (crm_id, code_id);
alter table card_generate drop constraint card_generate_pkey,
    add constraint card_generate_pkey primary key (crm_id, auto_id);
alter table card_info drop constraint card_info_pkey,
    add constraint card_info_pkey primary key (crm_id, coupon_id);
alter table card_present drop constraint card_present_auto_id,
    add constraint card_present_auto_id unique (crm_id, auto_id);
alter table consume_rule drop constraint consume_rule_pkey,
    add constraint consume_rule_pkey primary key (crm_id, rule_id);
alter table produce_rule drop constraint produce_rule_pkey,
    add constraint produce_rule_pkey primary key (crm_id, rule_id);
alter table level_point_rule drop constraint level_point_rule_pkey,
    add constraint level_point_rule_pkey primary key (crm_id, rule_id);
alter table deal drop constraint deal_id_key,
    add constraint deal_id_key unique (crm_id, id);
alter table deal_step drop constraint deal_step_pkey,
    add constraint deal_step_pkey primary key (crm_id, id);
alter table points_ledger drop constraint points_ledger_pkey,
    add constraint points_ledger_pkey primary key (crm_id, auto_id);
alter table points_lot drop constraint points_lot_pkey,
    add constraint points_lot_pkey primary key (crm_id, lot_id);
alter table lot_take drop constraint lot_take_pkey,
    add constraint lot_take_pkey primary key (crm_id, take_id);
alter table member drop constraint member_pkey,
    add constraint member_pkey primary key (crm_id, id);
alter table member_identity drop constraint member_identity_pkey,
    add constraint member_identity_pkey primary key (crm_id, id);
alter table member_level drop constraint member_level_pkey,
    add constraint member_level_pkey primary key (crm_id, id);
alter table member_level_change drop constraint member_level_change_pkey,
    add constraint member_level_change_pkey primary key (crm_id, id);
alter table member_erasure drop constraint member_erasure_pkey,
    add constraint member_erasure_pkey primary key (crm_id, id);
alter table points_activity drop constraint points_activity_pkey,
    add constraint points_activity_pkey primary key (crm_id, id);
alter table points_activity drop constraint points_activity_consumption_id_key,
    add constraint points_activity_consumption_id_key unique (crm_id, consumption_id);
alter table points_activity_goods drop constraint points_activity_goods_pkey,
    add constraint points_activity_goods_pkey primary key (crm_id, id);
alter table points_activity_goods drop constraint points_activity_goods_points_consumption_id_product_sku_id_key,
    add constraint points_activity_goods_points_consumption_id_product_sku_id_key
        unique (crm_id, points_consumption_id, product_sku_id);

-- 4. The references again, by (crm_id, id). A member whose level is deleted keeps its tenant:
--    SET NULL names the level column only (PostgreSQL 15).
alter table card_code_expired add constraint card_code_expired_code_id_fkey
    foreign key (crm_id, code_id) references card_code (crm_id, code_id);
alter table lot_take add constraint lot_take_lot_id_fkey
    foreign key (crm_id, lot_id) references points_lot (crm_id, lot_id);
alter table member add constraint member_level_id_fkey
    foreign key (crm_id, level_id) references member_level (crm_id, id) on delete set null (level_id);
alter table member_identity add constraint member_identity_member_id_fkey
    foreign key (crm_id, member_id) references member (crm_id, id) on delete cascade;
alter table member_push_device add constraint member_push_device_member_id_fkey
    foreign key (crm_id, member_id) references member (crm_id, id) on delete cascade;
alter table points_activity_goods add constraint points_activity_goods_points_consumption_id_fkey
    foreign key (crm_id, points_consumption_id) references points_activity (crm_id, id);

-- 5. The outbox row belongs to a tenant: a batch of several tenants' events writes a row for
--    each (platform::outbox::write). Rows written before this have no tenant of their own; they
--    are relayed as they are and deleted a week after, so they take the empty tenant.
alter table outbox add column crm_id text collate "C" not null default '';
alter table outbox alter column crm_id drop default;
alter table outbox drop constraint outbox_pkey,
    add constraint outbox_pkey primary key (crm_id, id);
