-- Members (seed 002, Convertlab DM Hub's loyalty API): profiles with the seed's built-in
-- attributes and the tenant's declared `c_` attributes, identities (mobile unique per tenant),
-- level definitions and the log of level changes, and the record of erasures.
--
-- The link to the ledger: a member's `member_no` is its `membershipCode`, or its `id` in decimal
-- when it has none. The points and card tables keep the bare `member_no` they always had: an event
-- for a member_no without a profile is applied all the same and creates no profile.

-- A level (tier) definition. `rules` holds the seed's six rule kinds, each
-- {enabled, month, number}; `operator` says whether any enabled rule (or) or all (and) must hold.
create table member_level (
    id          bigserial primary key,
    crm_id      text not null references tenant (crm_id),
    name        text not null,
    -- 0 the lowest, upwards; a spend without `member_level` uses it for `consume_level` tiers.
    priority    integer not null check (priority >= 0),
    is_forever  boolean not null default false,
    operator    text not null default 'or' check (operator in ('or', 'and')),
    rules       jsonb not null default '{}',
    desp        text,
    status      smallint not null default 0,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    unique (crm_id, priority)
);

create table member (
    id                bigserial primary key,
    crm_id            text not null references tenant (crm_id),
    membership_code   text,
    -- The ledger's key for this member (see the header).
    member_no         text generated always as (coalesce(membership_code, id::text)) stored,
    name              text,
    family_name       text,
    given_name        text,
    customer_id       text,
    -- Personal data: id_card, address, mobile, email and birthday are never logged, never in an
    -- analytics event or an error message; an erasure deletes the row.
    id_card           text,
    address           text,
    education_backgro text,
    img               text,
    gender            smallint,
    mobile            text,
    email             text,
    birthday          text,
    date_join         timestamptz not null default now(),
    create_method     text,
    create_channel    text,
    industry          text,
    income            text,
    balance           numeric,
    referrer          text,
    source            text,
    content_name      text,
    campaign_id       text,
    country           text,
    province          text,
    city              text,
    county            text,
    -- The tenant's `c_` attributes, checked against member_attribute on every write.
    custom            jsonb not null default '{}',
    level_id          bigint references member_level (id) on delete set null,
    -- When the level was last computed: the sweep recomputes the stalest first as windows
    -- slide (null: at once, e.g. after a definition changed).
    level_checked_at  timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create unique index member_member_no on member (crm_id, member_no);
-- The mobile is unique per tenant: of two concurrent binds of one mobile, one wins.
create unique index member_mobile on member (crm_id, mobile) where mobile is not null;
create index member_page on member (crm_id, id);
create index member_updated on member (crm_id, updated_at);
create index member_created on member (crm_id, created_at);
create index member_level_due on member (level_checked_at nulls first, id);

-- A tenant's declared custom attribute (`c_` code).
create table member_attribute (
    crm_id      text not null references tenant (crm_id),
    code        text not null check (code like 'c\_%'),
    name        text not null,
    type        text not null check (type in ('text', 'number', 'date', 'datetime', 'boolean', 'enum')),
    -- The allowed values of an enum.
    options     jsonb,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (crm_id, code)
);

create table member_identity (
    id          bigserial primary key,
    crm_id      text not null,
    member_id   bigint not null references member (id) on delete cascade,
    type        text not null,
    value       text not null,
    name        text,
    -- Lowercase hex MD5 of `value`, for the MD5 lookup (an index, not a scan).
    md5         text generated always as (md5(value)) stored,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    unique (crm_id, type, value, member_id)
);
-- A mobile identity belongs to one member of the tenant.
create unique index member_identity_mobile on member_identity (crm_id, value) where type = 'mobile';
create index member_identity_value on member_identity (crm_id, type, value);
create index member_identity_md5 on member_identity (crm_id, md5);
create index member_identity_member on member_identity (member_id);

-- Every level change: from, to, why, when.
create table member_level_change (
    id             bigserial primary key,
    crm_id         text not null,
    member_id      bigint not null,
    from_level     bigint,
    to_level       bigint,
    from_priority  integer,
    to_priority    integer,
    -- earn | schedule | rules (a definition changed)
    reason         text not null,
    created_at     timestamptz not null default now()
);
create index member_level_change_member on member_level_change (crm_id, member_id, id);

-- An erasure: the profile and its identities are deleted; the ledger rows stay, re-keyed from
-- the member_no to `pseudonym` (sha256 of crm_id and member_no, so no personal data remains).
create table member_erasure (
    id          bigserial primary key,
    crm_id      text not null,
    member_id   bigint not null,
    pseudonym   text not null,
    erased_at   timestamptz not null default now()
);

-- Push devices (seed 002 §12 appPush/register): one row per device of a provider's app, linked
-- to a member when one is found (by id, else by mobile), else anonymous (member_id null).
create table member_push_device (
    crm_id      text not null,
    provider    text not null check (provider in ('jpush', 'getui')),
    app_key     text not null,
    push_id     text not null,
    os          text not null check (os in ('android', 'ios')),
    member_id   bigint references member (id) on delete cascade,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (crm_id, provider, app_key, push_id)
);
create index member_push_device_member on member_push_device (member_id) where member_id is not null;
