-- Issue 14: an earn no longer writes an index entry for its lot's event. One entry at a random
-- (crm_id, event_no) cost ~30,000 of PostgreSQL's ~300,000 instructions per earn
-- (scripts/callgrind-postgres), and the lookups of lots by their event are rare: a reversal
-- (which knows the member, so the member's live lots serve), an order's expiry (the ledger's
-- event index serves), the members' history (by member). Only the unfreeze looks frozen lots up
-- by their event: lots with a release time, which this smaller index holds.
drop index points_lot_event;
create index points_lot_frozen_event on points_lot (crm_id, event_no) where unfreeze_time is not null;
