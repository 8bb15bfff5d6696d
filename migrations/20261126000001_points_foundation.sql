-- The points foundation: tenants and their API keys, earn rules, the inbox that makes every
-- message apply once, the lots and the ledger, member balances, and the analytics outbox.
-- Times are timestamptz (UTC inside); the API shows them in the tenant's time zone.

-- A tenant is a brand's programme, named by the crm_id in every path.
create table tenant (
    crm_id        text primary key,
    name          text not null,
    -- sha256 of the API key, hex; the key itself is shown once, at creation.
    api_key_hash  text not null unique,
    time_zone     text not null default 'Asia/Shanghai',
    -- Bumped in every transaction that changes the tenant's rules, so a cached rule set can
    -- tell whether it is older than another (see platform::cache).
    rules_version bigint not null default 0,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

-- Earn rules of seed 000 (produce_scene). Deleting is soft: history keeps pointing at them.
create table produce_rule (
    rule_id       bigserial primary key,
    crm_id        text not null references tenant (crm_id),
    rule_name     text not null,
    action_scene  text not null,
    points_type   text not null check (points_type in ('order', 'event')),
    per_money     bigint check (per_money > 0),
    change_points bigint not null check (change_points > 0),
    expire_term   integer not null check (expire_term > 0),
    freeze_term   integer not null default 0 check (freeze_term >= 0),
    max_points    bigint check (max_points > 0),
    max_times     bigint check (max_times > 0),
    range_days    integer not null default 0 check (range_days >= 0),
    mul_rules     boolean not null default false,
    deleted_at    timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create index produce_rule_scene on produce_rule (crm_id, action_scene) where deleted_at is null;

-- One row per business key ever seen. The primary key is what makes a message apply once:
-- the worker inserts it in the same transaction as the change, and a redelivery finds it.
create table inbox (
    crm_id          text not null,
    -- Which business key: 'event_no' for points events (cards add their own kinds).
    key_kind        text not null,
    idem_key        text not null,
    message_id      uuid not null,
    kind            text not null,
    member_no       text,
    -- applied | rejected
    status          text not null check (status in ('pending', 'applied', 'rejected')),
    points          bigint not null default 0,
    reason          text,
    -- Later deliveries of the same key (redeliveries, client retries, double publishes).
    duplicates      integer not null default 0,
    received_at     timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (crm_id, key_kind, idem_key)
);

-- Per-member totals. `points` always equals the sum of the member's lot remainders and of
-- the signed ledger; `workers verify` checks it.
create table member_balance (
    crm_id          text not null,
    member_no       text not null,
    points          bigint not null default 0,
    total_produced  bigint not null default 0,
    total_consumed  bigint not null default 0,
    total_expired   bigint not null default 0,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (crm_id, member_no)
);

-- Every credit is a lot with its own expiry and optional unfreeze time; spending takes from
-- lots, soonest-expiring first.
create table points_lot (
    lot_id        bigserial primary key,
    crm_id        text not null,
    member_no     text not null,
    event_no      text not null,
    points        bigint not null check (points > 0),
    remaining     bigint not null check (remaining >= 0),
    expire_time   timestamptz not null,
    -- Not spendable before this time (null: never frozen).
    unfreeze_time timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create index points_lot_member on points_lot (crm_id, member_no, expire_time) where remaining > 0;

-- The append-only ledger; its columns are the item of seed 000's history query.
create table points_ledger (
    auto_id          bigserial primary key,
    crm_id           text not null,
    member_no        text not null,
    event_no         text not null,
    origin_event_no  text,
    from_transfer_no text,
    action_scene     text not null,
    -- produce | consume | transfer | accept | reverse_produce | reverse_consume | expire | freeze | unfreeze
    event_type       text not null,
    reverse_status   smallint not null default 0,
    amount_cents     bigint,
    -- Signed: credits positive, debits negative.
    points           bigint not null,
    expire_time      timestamptz,
    unfreeze_time    timestamptz,
    store_code       text,
    cost_center      text,
    campagin_code    text,
    operator         text,
    event_desc       text,
    order_items      jsonb,
    rule_id          bigint,
    lot_id           bigint,
    occurred_at      timestamptz not null,
    create_time      timestamptz not null default now(),
    update_time      timestamptz not null default now()
);
-- A member's history, and the rolling windows of max_times / max_points (awards per rule).
-- One index serves both: fewer indexes to maintain on the hottest insert.
create index points_ledger_member on points_ledger (crm_id, member_no, rule_id, occurred_at);
create index points_ledger_time on points_ledger (crm_id, update_time);

-- Analytics events waiting to leave. Written in the same transaction as the change, one row per
-- applied batch: a row (and a broker message) per event would double the batch's cost. The
-- relay claims rows with FOR UPDATE SKIP LOCKED, publishes each row as one message (a JSON
-- array of events) with confirms, and marks the row sent.
create table outbox (
    id            bigserial primary key,
    -- e.g. points.produce
    routing_key   text not null,
    -- json, not jsonb: written once, read once, never queried inside, so never parsed.
    events        json not null,
    event_count   integer not null,
    created_at   timestamptz not null default now(),
    sent_at      timestamptz
);
create index outbox_unsent on outbox (id) where sent_at is null;
