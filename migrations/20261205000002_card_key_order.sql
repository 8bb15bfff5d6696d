-- Issue 14, goal 3: a claim's hot indexes lead with the key that tells rows apart, `crm_id`
-- after it, as `20261205000001_key_order.sql` did for the earn (its comment says why). A claim
-- rewrites its code's row (it changes indexed columns, so the new version enters every index whose
-- predicate holds) and adds the member's counter: these four indexes are only probed with
-- equality on the key and on `crm_id`. `card_code`'s unique key (per-card listings and counts
-- read it by `(crm_id, card_id)`) and its key (`crm_id`, `code_id`) stay `crm_id`-first.
drop index card_code_member;
create index card_code_member on card_code (member_no, crm_id, status) where member_no is not null;
drop index card_code_received;
create index card_code_received on card_code (received_id, crm_id) where received_id is not null;
drop index card_code_held_code;
create index card_code_held_code on card_code (card_code, crm_id) where member_no is not null;
alter table card_member drop constraint card_member_pkey, add constraint card_member_pkey primary key (member_no, crm_id, card_id);
