-- Receiving cards (seed 003 member/receive): a code changes hands with its validity, and each
-- member's count per card backs `get_limit` (the row is also the lock that serialises one
-- member's claims on one card).

alter table card_code add column member_no   text;
alter table card_code add column received_id text;
alter table card_code add column received_at timestamptz;
alter table card_code add column valid_begin timestamptz;
alter table card_code add column valid_end   timestamptz;
create index card_code_member on card_code (crm_id, member_no, status) where member_no is not null;
create index card_code_received on card_code (crm_id, received_id) where received_id is not null;

create table card_member (
    crm_id     text not null,
    member_no  text not null,
    card_id    text not null,
    -- Codes received (presents received do not count; reversals give them back).
    received   integer not null default 0 check (received >= 0),
    used       integer not null default 0 check (used >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (crm_id, member_no, card_id)
);
