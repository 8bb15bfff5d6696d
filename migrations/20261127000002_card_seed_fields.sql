-- Seed 003's shapes (issue 9, items 3 and 5).

-- The card table design's three fields the create body accepts: whether the card combines with
-- other promotions and with other cards, and the item count a purchase needs (购满M件, a
-- smallint there; 0 is no condition). Stored and shown in `detail`; redemption carries no
-- basket, so nothing enforces them here.
alter table card_info add column use_with_other_offer  boolean  not null default false;
alter table card_info add column use_with_other_coupon boolean  not null default false;
alter table card_info add column qty_condition         smallint not null default 0 check (qty_condition >= 0);

-- For an imported card (generate_type 2) `total_quantity` is the number declared at creation,
-- which imports fill rather than add to (imports beyond it raise it to the number imported).
-- Cards imported before this counted declared + imported: take the imports back out.
update card_info c
   set total_quantity = greatest(c.total_quantity - i.imported, i.imported), updated_at = now()
  from (select crm_id, card_id, sum(generated)::integer as imported from card_generate group by crm_id, card_id) i
 where c.generate_type = 2 and i.crm_id = c.crm_id and i.card_id = c.card_id;

-- Presents as seed 003's present_list shows them: an `auto_id`, and lookups by either member
-- (the `member_no` filter finds presents a member gave and presents a member received).
alter table card_present add column auto_id bigserial;
alter table card_present add constraint card_present_auto_id unique (auto_id);
create index card_present_from on card_present (crm_id, from_member, auto_id);
create index card_present_to on card_present (crm_id, to_member, auto_id) where to_member is not null;
-- (The column `go_back_time` stays the *scheduled* return; the API answers it as
-- `go_back_due_time` and answers the seed's `go_back_time`, the rollback, from `returned_at`.)
