-- DM Hub coupons (seed 002 §13) and the redemption conditions (issue 12, parts 3 and 4).

-- A redemption's order context, as the conditions saw it: the order it belongs to (the standing
-- redemptions of one order_no are "the other coupons on this order", which
-- use_with_other_coupon is checked against), the store and the amount. Null for a redemption
-- without a context (every one before this migration).
alter table card_redeem add column order_no     text;
alter table card_redeem add column store_code   text;
alter table card_redeem add column amount_cents bigint;
create index card_redeem_order on card_redeem (crm_id, order_no) where order_no is not null;

-- DM Hub names a member's coupon by its code alone (GET /membershipCoupon/{couponCode}), without
-- the card: the codes members hold, by code.
create index card_code_held_code on card_code (crm_id, card_code) where member_no is not null;
