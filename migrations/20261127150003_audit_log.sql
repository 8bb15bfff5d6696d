-- The audit log of management changes (rules, cards, tenants, keys, rate limits, and what
-- later domains add): who (the API key, or the admin token), what (entity, id, action), the
-- entity before and after (JSON; null where there is none), when. Written in the same
-- transaction as the change (api/src/audit.rs), read by the tenant (GET /api/crm/audit/{crm_id}).
create table audit_log (
    audit_id    bigserial primary key,
    crm_id      text not null,
    -- `admin` (the admin token) or `key` (a tenant's API key, `actor_key_id`).
    actor       text not null check (actor in ('admin', 'key')),
    actor_key_id bigint,
    entity      text not null,
    entity_id   text not null,
    action      text not null,
    before      jsonb,
    after       jsonb,
    at          timestamptz not null default now()
);
create index audit_log_tenant on audit_log (crm_id, audit_id desc);

-- Append-only: rows are never changed or removed, whoever asks.
create function audit_log_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
end $$;
create trigger audit_log_no_update_or_delete before update or delete on audit_log
    for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_append_only();
