-- Redemption (seed 003 member/redeem) and its reversal: one row per redeem_id.

create table card_redeem (
    crm_id          text not null,
    redeem_id       text not null,
    card_id         text not null,
    card_code       text not null,
    member_no       text not null,
    redeem_channel  text not null,
    redeem_extra    text not null,
    redeemed_at     timestamptz not null,
    -- 0 standing · 1 reversed, the code available again · 2 reversed, the code had expired
    rollback_status smallint not null default 0,
    reversed_at     timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (crm_id, redeem_id)
);
alter table card_code add column redeem_id text;
