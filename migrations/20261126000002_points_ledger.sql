-- The spend side of the ledger: spend rules, which lots each debit took from (so a reversal
-- puts points back exactly), debts left by reversed awards that were already spent, and the
-- markers of the scheduled expiry and unfreeze runs.

-- Spend rules of seed 000 (consume_scene). `rules_li` holds the tiers:
-- [{"base_points": 50, "convert_money": 2, "consume_level": 1, "goods_white": {...}}, ...]
create table consume_rule (
    rule_id      bigserial primary key,
    crm_id       text not null references tenant (crm_id),
    rule_name    text not null,
    action_scene text not null,
    rules_li     jsonb not null,
    deleted_at   timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index consume_rule_scene on consume_rule (crm_id, action_scene) where deleted_at is null;

-- Which lot a debit (consume, expire) took how many points from. A reversal of a spend gives
-- the points back to these lots, with their own expiry.
create table lot_take (
    take_id     bigserial primary key,
    crm_id      text not null,
    member_no   text not null,
    -- The debit's event (the consume's event_no).
    event_no    text not null,
    lot_id      bigint not null references points_lot (lot_id),
    points      bigint not null check (points > 0),
    -- How much of it has been given back by reversals.
    returned    bigint not null default 0 check (returned >= 0 and returned <= points),
    created_at  timestamptz not null default now()
);
create index lot_take_event on lot_take (crm_id, event_no);

-- Reversals: how much of an origin event has been undone so far.
alter table points_ledger add column reversed bigint not null default 0;
create index points_ledger_event on points_ledger (crm_id, event_no);

-- Points owed by a member after a reversed award had already been spent; later earnings
-- settle it first. `frozen` is not stored: it is derived from the lots' unfreeze times.
alter table member_balance add column debt bigint not null default 0 check (debt >= 0);
alter table member_balance add column total_reversed bigint not null default 0;

-- Scheduled work done per lot exactly once (the sweeper's row locks make it so; these flags
-- make it visible and idempotent).
alter table points_lot add column unfrozen_at timestamptz;
alter table points_lot add column expired_at timestamptz;
alter table points_lot add column rule_id bigint;
create index points_lot_event on points_lot (crm_id, event_no);
create index points_lot_expiry on points_lot (expire_time) where remaining > 0 and expired_at is null;
create index points_lot_unfreeze on points_lot (unfreeze_time) where unfrozen_at is null and unfreeze_time is not null;
