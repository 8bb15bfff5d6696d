-- Several API keys per tenant. A key is shown once, at creation; only its sha256 (hex) is
-- stored, with its first characters (`prefix`) to tell keys apart in a list. A revoked key
-- stays (who had it, when it went) but no longer authenticates: revoking notifies every api
-- instance (LISTEN api_key_revoked), whose cache forgets it at once.
create table api_key (
    key_id      bigserial primary key,
    crm_id      text not null references tenant (crm_id) on delete cascade,
    key_hash    text not null unique,
    -- The key's first 11 characters (`lk_` and 8 hex digits); null for keys made before this
    -- table, whose text was never stored.
    prefix      text,
    name        text not null default '',
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);
create index api_key_tenant on api_key (crm_id, key_id);

-- The key each tenant was created with (tenant.api_key_hash, kept for older readers).
insert into api_key (crm_id, key_hash, name, created_at)
select crm_id, api_key_hash, 'initial', created_at from tenant;
