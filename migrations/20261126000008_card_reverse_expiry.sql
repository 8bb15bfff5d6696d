-- Receive reversal and code expiry (seed 003): expired codes are recorded once each, in the
-- spirit of the seed's t_member_card_expired.

create table card_code_expired (
    code_id    bigint primary key references card_code (code_id),
    crm_id     text not null,
    card_id    text not null,
    card_code  text not null,
    member_no  text,
    valid_end  timestamptz not null,
    expired_at timestamptz not null,
    created_at timestamptz not null default now()
);
create index card_code_due on card_code (valid_end) where status = 1;
