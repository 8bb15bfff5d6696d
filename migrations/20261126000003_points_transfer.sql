-- Transfers of points between members (转赠 / 领取转赠): the giver's points wait in escrow until
-- the receiver accepts; unaccepted by the tenant's time-out, they go back to the giver.

alter table tenant add column transfer_timeout_hours integer not null default 24 check (transfer_timeout_hours > 0);

alter table member_balance add column escrow bigint not null default 0 check (escrow >= 0);
alter table member_balance add column total_transferred bigint not null default 0;
alter table member_balance add column total_accepted bigint not null default 0;

create table points_transfer (
    crm_id       text not null,
    transfer_no  text not null,
    from_member  text not null,
    -- Set when accepted.
    to_member    text,
    points       bigint not null check (points > 0),
    -- pending | accepted | returned
    status       text not null check (status in ('pending', 'accepted', 'returned')),
    expire_at    timestamptz not null,
    accepted_at  timestamptz,
    returned_at  timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (crm_id, transfer_no)
);
create index points_transfer_due on points_transfer (expire_at) where status = 'pending';
