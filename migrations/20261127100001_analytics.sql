-- Analytics (issue 10): per-tenant aggregates by day in the tenant's time zone, built by the
-- analytics consumer from the `loyalty.analytics` stream and rebuilt from the ledger and the card
-- tables by `workers analytics rebuild`. Both write the same rows with the same statements.

-- Every analytics event applied, by its `event_id`: inserted in the same transaction as the
-- aggregate upserts, so a redelivered or replayed event changes nothing.
create table analytics_seen (
    event_id uuid primary key,
    crm_id   text not null,
    seen_at  timestamptz not null default now()
);

-- Sums per tenant, local day, series and dimension.
--   series `points.<ledger event_type>` (dim: the action_scene), `points.active` (every points
--   event, dim ''): `points` the signed sum of the ledger rows, `events` their number;
--   `cards.receive` / `cards.redeem` (dim: card_id, dim2: the channel: out_str / redeem_channel),
--   `cards.present` (dim: card_id): `events` the codes.
create table analytics_day (
    crm_id  text not null,
    day     date not null,
    series  text not null,
    dim     text not null default '',
    dim2    text not null default '',
    points  bigint not null default 0,
    events  bigint not null default 0,
    primary key (crm_id, series, day, dim, dim2)
);

-- Exact distinct members: one row per tenant, local day, series, dimension and member (points
-- series: dim ''; card series: dim the card_id).
create table analytics_member_day (
    crm_id    text not null,
    series    text not null,
    day       date not null,
    dim       text not null default '',
    member_no text not null,
    primary key (crm_id, series, day, dim, member_no)
);

-- When a code was presented (the event's time), so a rebuild attributes presents to the same
-- day as the live stream; presents made before this column existed fall back to created_at.
alter table card_present add column presented_at timestamptz;
