-- Seed 001: spend-based points activities (积分活动) and the goods linked to them.
--
-- An activity belongs to a tenant (crm_id) and, inside it, to a merchant (`shop_id`) and
-- optionally one store (`shop_sub_id`, 0 = every store). Earn events name their store by
-- `store_code`: an activity with shop_sub_id N applies to events whose store_code is the
-- decimal N ("43"); shop_sub_id 0 applies to every event of the tenant.
--
-- `enabled` is the seed's `deleted` field (1 enabled, 2 disabled, as its enable/disable answers
-- show); `removed_at` is general-del (soft: ledger rows keep naming the activity by id).
create table points_activity (
    id                   bigserial primary key,
    -- The seed's pointsConsumption.id: the activity's one points rule has its own id.
    consumption_id       bigserial not null unique,
    crm_id               text not null references tenant (crm_id),
    shop_id              bigint not null check (shop_id > 0),
    shop_sub_id          bigint not null default 0 check (shop_sub_id >= 0),
    -- 1: only the linked goods' line amounts count; 2: the whole order counts.
    relate_product_type  smallint not null check (relate_product_type in (1, 2)),
    name                 text not null,
    "desc"               text,
    sort                 bigint,
    -- 1: only between start_time and end_time (unix seconds, both inclusive); 2: no limit.
    expire_type          smallint not null check (expire_type in (1, 2)),
    start_time           bigint not null default 0,
    end_time             bigint not null default 0,
    -- 1 消费送: `points` per every `amount` yuan; 2 单次消费满送: `points` once when one order
    -- reaches `amount` yuan.
    type                 smallint not null check (type in (1, 2)),
    amount               bigint not null check (amount > 0),
    points               bigint not null check (points > 0),
    -- The seed's shareMessage {title, desc, pic_id} and news {title, description, document_id, url}.
    share_message        jsonb,
    news                 jsonb,
    enabled              boolean not null default true,
    removed_at           timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    check (expire_type = 2 or end_time > start_time)
);
create index points_activity_tenant on points_activity (crm_id, shop_id, id) where removed_at is null;

-- Goods linked to an activity (relate_product_type 1): an order line counts when its `sku` is
-- the decimal product_sku_id.
create table points_activity_goods (
    id                    bigserial primary key,
    crm_id                text not null references tenant (crm_id),
    points_consumption_id bigint not null references points_activity (id),
    product_id            bigint not null,
    product_sku_id        bigint not null,
    shop_id               bigint not null,
    shop_sub_id           bigint not null,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    unique (points_consumption_id, product_sku_id)
);
create index points_activity_goods_tenant on points_activity_goods (crm_id, shop_id, id);

-- Why a ledger row is what it is: the rules, activities and limits that produced it and the
-- arithmetic ("rule 3: floor(120.00 / 50) × 10 = 20; cut to 10 by max_points 30 within 1 day(s)
-- (20 already)", "activity 62: floor(order 120.00 / 50) × 5 = 10"). Null on rows written before.
alter table points_ledger add column explain text;

-- Seed 004: point rules per member level (Alibaba alibaba.alsc.crm.point.rule.get). One live
-- rule per brand (shop_id null) and per shop (shop_id: the store code earn events carry): a
-- write replaces the live one, so two rules never contradict each other. Deleting is logical
-- (`deleted`), so the incremental sync (include_logical_delete + max_update_time) returns it.
create table level_point_rule (
    rule_id              bigserial primary key,
    crm_id               text not null references tenant (crm_id),
    shop_id              text,
    out_brand_id         text,
    out_shop_id          text,
    name                 text not null,
    -- The seed's blocks as written (checked by schemas::level_rules): allow_pay_methods and
    -- member_point_addition_rules; member_point_deduction_rules and with_coupon;
    -- point_clear_rule_type and days.
    point_addition_rule  jsonb not null,
    point_deduction_rule jsonb not null,
    point_clear_rule     jsonb not null,
    ext_info             jsonb,
    deleted              boolean not null default false,
    create_by            text,
    create_by_name       text,
    update_by            text,
    update_by_name       text,
    gmt_create           timestamptz not null default now(),
    gmt_modified         timestamptz not null default now()
);
create unique index level_point_rule_live on level_point_rule (crm_id, coalesce(shop_id, '')) where not deleted;
create index level_point_rule_modified on level_point_rule (crm_id, gmt_modified);
