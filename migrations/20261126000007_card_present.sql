-- Presents (seed 003 member/present, member/present_receive): a code waits in status 2 until a
-- friend receives it, or goes back to its giver after the tenant's time-out.

alter table tenant add column present_timeout_hours integer not null default 24 check (present_timeout_hours > 0);

create table card_present (
    crm_id        text not null,
    present_id    text not null,
    card_id       text not null,
    card_code     text not null,
    from_member   text not null,
    to_member     text,
    -- pending | received | returned
    status        text not null check (status in ('pending', 'received', 'returned')),
    present_extra text not null,
    go_back_time  timestamptz not null,
    received_at   timestamptz,
    returned_at   timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    primary key (crm_id, present_id)
);
create index card_present_due on card_present (go_back_time) where status = 'pending';
