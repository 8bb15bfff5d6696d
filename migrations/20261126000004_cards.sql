-- Cards (coupons) of seed 003: definitions (t_card_info), their stock-generation tasks, and the
-- codes (t_card_code). Member-side tables (receive, present, redeem) come with those operations.

create table card_info (
    coupon_id            bigserial primary key,
    crm_id               text not null references tenant (crm_id),
    -- 32 hex characters, as in the seed.
    card_id              text not null,
    card_type            smallint not null check (card_type between 0 and 4),
    title                text not null,
    subtitle             text not null,
    source               smallint not null check (source in (1, 2)),
    scene                text,
    notice               text not null,
    rule                 text not null,
    date_type            smallint not null check (date_type between 1 and 3),
    begin_time           timestamptz,
    end_time             timestamptz,
    start_day_count      integer,
    expire_day_count     integer,
    weekdays             text,
    monthdays            text,
    day_begin_time       integer not null default 0,
    day_end_time         integer not null default 86399,
    -- Grows with every stock addition; the codes generated so far are counted on the tasks.
    total_quantity       integer not null check (total_quantity >= 0),
    get_limit            integer not null default 0,
    use_limit            integer not null default 0,
    can_give_friend      boolean not null default true,
    generate_type        smallint not null check (generate_type in (1, 2)),
    generate_file        text,
    cash_amount_cents    bigint,
    cash_condition_cents bigint,
    discount             double precision,
    icon                 text not null,
    store_codes          text,
    cost_center          text,
    cost_type            smallint,
    cost_value           double precision,
    extra_info           jsonb not null,
    -- Soft delete: no new receipts; codes already held keep working until they expire.
    removed              boolean not null default false,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    unique (crm_id, card_id)
);
create index card_info_list on card_info (crm_id, coupon_id) where not removed;

-- One stock addition: `generate_id` makes it idempotent; the workers generate the codes in
-- chunks and count them here, so a worker that dies mid-way is continued where it stopped.
create table card_generate (
    auto_id      bigserial primary key,
    crm_id       text not null,
    card_id      text not null,
    generate_id  text not null,
    quantity     integer not null check (quantity > 0),
    generated    integer not null default 0 check (generated >= 0 and generated <= quantity),
    is_generated boolean not null default false,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    unique (crm_id, card_id, generate_id)
);

-- The codes. status: 0 in stock; 1 available (held) · 2 presenting · 3 redeemed · 4 expired ·
-- 5 obsolete once received.
create table card_code (
    code_id      bigserial primary key,
    crm_id       text not null,
    card_id      text not null,
    card_code    text not null,
    generate_id  text not null,
    status       smallint not null default 0,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    unique (crm_id, card_id, card_code)
);
create index card_code_stock on card_code (crm_id, card_id, code_id) where status = 0;
