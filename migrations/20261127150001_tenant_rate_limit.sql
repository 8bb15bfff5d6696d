-- A tenant's own token bucket for the api's rate limit (ingress and queries), instead of the
-- default of RATE_LIMIT_PER_SECOND / RATE_LIMIT_BURST. Set with
-- `PUT /api/admin/tenants/{crm_id}/rate_limit`; every api instance reads it within 10 s.
create table tenant_rate_limit (
    crm_id      text primary key references tenant (crm_id) on delete cascade,
    -- Tokens added per second (the sustained rate).
    per_second  integer not null check (per_second between 1 and 1000000),
    -- The bucket's size: requests that may come at once.
    burst       integer not null check (burst between 1 and 1000000),
    updated_at  timestamptz not null default now()
);
