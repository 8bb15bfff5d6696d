-- Issue 14 (performance): every earn batch asks, for each of its members, whether they owe
-- points (a reversal's debt, which new earnings settle first). Almost nobody does, yet through
-- the primary key the question cost a probe and a heap visit per member: about 4 µs of
-- PostgreSQL per event (pg_stat_statements during a drain). This index holds only the members
-- who owe, so the question becomes a probe of an index that is almost always empty. Its
-- predicate names only `debt`, which the earn's balance upsert does not change: that update
-- stays HOT.
create index member_balance_owing on member_balance (crm_id, member_no) where debt > 0;
