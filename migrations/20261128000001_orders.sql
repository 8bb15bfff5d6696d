-- Orders (deals) of seed 002 §11 and their steps. The points of an order are ledger rows under
-- the event_no `deal/{order_no}` (points_ledger, points_lot): these tables hold the order as
-- sent, which line earned how many of them, and every step with its points.

create table deal (
    -- The seed's `id` of the order.
    id              bigserial unique,
    crm_id          text not null,
    order_no        text not null,
    -- The member (member.member_no, or a ledger key without profile) and its id when it has one.
    member_no       text not null,
    membership_id   bigint,
    -- paid (已付款) | cancelled (已取消) | deleted (已删除)
    state           text not null default 'paid',
    -- The header as carried (salesChannel, store, amounts in cents, payment, shipping, …).
    header          jsonb not null,
    sales_channel   text not null,
    store           text not null,
    date_order      timestamptz not null,
    amount_paid     bigint not null,
    coupon_code     text,
    -- The ledger event_no of the order's points.
    event_no        text not null,
    -- What the order earned (every produce row of event_no, bonuses included) and what has been
    -- taken back net of deleteRefunds: the order holds earned - taken.
    points_earned   bigint not null default 0,
    points_taken    bigint not null default 0,
    -- Why it earned nothing, when it did not (no rule, below per_money, limit reached).
    earn_note       text,
    -- Counts the steps applied (the api composes update keys with it).
    version         int not null default 0,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (crm_id, order_no)
);
create index deal_member on deal (crm_id, member_no, date_order);

create table deal_line (
    crm_id          text not null,
    order_no        text not null,
    line_id         text not null,
    position        int not null,
    -- The line as carried (productName, productId, skuId, category, qty, priceUnit, priceSubTotal).
    line            jsonb not null,
    -- What it counts for in the share-out: priceSubTotal, else priceUnit × qty (cents).
    weight          bigint,
    -- Its share of the order's points (largest remainder over the weights).
    points          bigint not null default 0,
    -- The refund step holding it, while refunded (null: not refunded, or the refund was deleted).
    refund_key      text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (crm_id, order_no, line_id)
);

create table deal_step (
    id              bigserial primary key,
    crm_id          text not null,
    order_no        text not null,
    -- pay | update | refund | delete_refund | cancel | delete
    step            text not null,
    -- The step's inbox key (order_no for pay).
    idem_key        text not null,
    -- Its change to the member's points through this order (signed).
    points          bigint not null,
    -- What the step carried (refund lines, total, date, reason; the update's amounts) and notes.
    detail          jsonb not null default '{}',
    -- For a refund: the deleteRefund that undid it.
    undone_by       text,
    occurred_at     timestamptz not null,
    created_at      timestamptz not null default now(),
    unique (crm_id, idem_key)
);
create index deal_step_order on deal_step (crm_id, order_no, id);
