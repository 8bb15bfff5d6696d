-- What a member's code shows (seed 003 card_detail / receive_detail): the claim's channel and
-- when the code became obsolete.
alter table card_code add column out_str text;
alter table card_code add column obsoleted_at timestamptz;
