//! Admin endpoints (the admin token): tenants and their keys, dead letters.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    routing::{delete, get, post},
    Router,
};
use platform::broker::{dlq, Domain};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ok;
use crate::{
    audit, auth,
    error::{ApiError, ApiJson, ApiQuery},
    rate_limit::{self, Limit},
    AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/tenants", post(create_tenant))
        .route("/api/admin/tenants/{crm_id}/rate_limit", get(get_rate_limit).put(set_rate_limit))
        .route("/api/admin/tenants/{crm_id}/keys", get(list_keys).post(create_key))
        .route("/api/admin/tenants/{crm_id}/keys/{key_id}", delete(revoke_key))
        .route("/api/admin/dlq", get(list_dead_letters))
        .route("/api/admin/dlq/replay", post(replay_dead_letters))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub crm_id: String,
    pub name: String,
    /// IANA zone the tenant's local times are in; default Asia/Shanghai.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The database (of `DATABASE_SHARDS`) the tenant's data goes to; default `default`.
    #[serde(default)]
    pub shard: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantCreated {
    pub crm_id: String,
    /// Shown once: only its hash is stored.
    pub api_key: String,
    pub time_zone: String,
    pub shard: String,
}

/// Creates a tenant and its API key.
#[utoipa::path(post, path = "/api/admin/tenants", request_body = CreateTenant, tag = "admin",
    responses((status = 201, description = "created; the key is shown once"), (status = 409, description = "crm_id taken"), (status = 422, description = "a field is invalid")))]
pub async fn create_tenant(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<impl IntoResponse, ApiError> {
    let crm_id = body.crm_id.trim();
    if crm_id.is_empty()
        || crm_id.len() > 32
        || !crm_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApiError::invalid("crm_id", "must be 1-32 of A-Z, a-z, 0-9, _ and -"));
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::invalid("name", "must be 1-64 characters"));
    }
    let time_zone = body.time_zone.unwrap_or_else(|| schemas::time::DEFAULT_TIME_ZONE.name().to_string());
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::invalid("time_zone", "is not an IANA time zone (e.g. Asia/Shanghai)"));
    }
    let shard = body.shard.unwrap_or_else(|| platform::settings::DEFAULT_SHARD.to_string());
    let Some(shard_state) = state.of_shard(&shard) else {
        let known: Vec<&str> = state.settings.shards.iter().map(|s| s.name.as_str()).collect();
        return Err(ApiError::invalid("shard", format!("is not a shard of this api: {}", known.join(", "))));
    };
    let api_key = auth::new_api_key();
    let key_hash = auth::hash_key(&api_key);
    // The directory's tenant row, and the same row on the tenant's shard.
    let tenant_row = || {
        sqlx::query(
            "insert into tenant (crm_id, name, api_key_hash, time_zone, shard) values ($1, $2, $3, $4, $5)
             on conflict (crm_id) do nothing",
        )
        .bind(crm_id)
        .bind(name)
        .bind(&key_hash)
        .bind(&time_zone)
        .bind(&shard)
    };
    let mut tx = state.directory.begin().await?;
    let inserted = tenant_row().execute(&mut *tx).await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::Conflict(format!("crm_id {crm_id} already exists")));
    }
    if shard_state.settings.shard != state.settings.shard {
        // The shard's copy of the tenant row (its tables reference it), written before the
        // directory commits: a tenant in the directory always has it. A failed creation may
        // leave a copy behind, which the next creation of the crm_id keeps.
        tenant_row().execute(&shard_state.db).await?;
    }
    let key_id = insert_key(&mut tx, crm_id, &api_key, "initial").await?;
    let actor = audit::Actor::admin(crm_id);
    let after = json!({"crm_id": crm_id, "name": name, "time_zone": time_zone, "shard": shard});
    audit::record(&mut tx, &actor, "tenant", crm_id, "create", None, Some(after)).await?;
    let key = json!({"key_id": key_id, "prefix": &api_key[..auth::KEY_PREFIX_LEN], "name": "initial"});
    audit::record(&mut tx, &actor, "api_key", &key_id.to_string(), "create", None, Some(key)).await?;
    tx.commit().await?;
    tracing::info!(crm_id, shard, "tenant created");
    let created = TenantCreated { crm_id: crm_id.to_string(), api_key, time_zone, shard };
    Ok((StatusCode::CREATED, ok("tenant created", created)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DlqQuery {
    /// Queue family (default points).
    pub queue: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The shard whose queues; default: every shard's, `default` first (each message names its
    /// queue, whose name names the shard).
    pub shard: Option<String>,
}

/// The state of the shard an operator names (its queues), or 422.
fn shard_of<'a>(state: &'a AppState, shard: Option<&str>) -> Result<&'a AppState, ApiError> {
    let shard = shard.unwrap_or(platform::settings::DEFAULT_SHARD);
    state.of_shard(shard).ok_or_else(|| ApiError::invalid("shard", format!("no shard {shard:?}")))
}

fn domain(queue: Option<&str>) -> Result<Domain, ApiError> {
    let q = queue.unwrap_or("points");
    Domain::parse(q).ok_or_else(|| ApiError::invalid("queue", format!("unknown queue {q:?}; known: points")))
}

/// Lists parked messages with their reason and attempts (they stay parked).
#[utoipa::path(get, path = "/api/admin/dlq", params(DlqQuery), tag = "admin", responses((status = 200, body = Vec<dlq::ParkedMessage>)))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DlqQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let domain = domain(q.queue.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let shards: Vec<&AppState> = match q.shard.as_deref() {
        Some(shard) => vec![shard_of(&state, Some(shard))?],
        None => std::iter::once(&state).chain(state.shards.iter()).collect(),
    };
    let mut parked = Vec::new();
    for shard in shards {
        if parked.len() >= limit {
            break;
        }
        let more = dlq::list(&shard.settings.amqp_url, &shard.topology, domain, limit - parked.len())
            .await
            .map_err(|e| ApiError::Unavailable(format!("the broker is unavailable: {e}")))?;
        parked.extend(more);
    }
    Ok(ok("OK", parked))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[serde(default)]
    pub queue: Option<String>,
    /// At most this many (default: all).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The shard whose queues (default `default`).
    #[serde(default)]
    pub shard: Option<String>,
}

/// Moves parked messages back to their work queue; replaying twice changes nothing.
#[utoipa::path(post, path = "/api/admin/dlq/replay", request_body = ReplayRequest, tag = "admin", responses((status = 200, body = dlq::ReplayReport)))]
pub async fn replay_dead_letters(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ReplayRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let domain = domain(body.queue.as_deref())?;
    let state = shard_of(&state, body.shard.as_deref())?;
    let report =
        dlq::replay(&state.settings.amqp_url, &state.topology, domain, body.limit.unwrap_or(usize::MAX), false)
            .await
            .map_err(|e| ApiError::Unavailable(format!("the broker is unavailable: {e}")))?;
    Ok(ok("replayed", report))
}

/// The tenant exists, or 404.
async fn existing_tenant(state: &AppState, crm_id: &str) -> Result<(), ApiError> {
    sqlx::query_scalar!("select crm_id from tenant where crm_id = $1", crm_id)
        .fetch_optional(&state.directory)
        .await?
        .map(drop)
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {crm_id}")))
}

/// The tenant's rate limit in force: its own, or the default (`RATE_LIMIT_PER_SECOND`,
/// `RATE_LIMIT_BURST`).
#[utoipa::path(get, path = "/api/admin/tenants/{crm_id}/rate_limit", params(("crm_id" = String, Path)), tag = "admin",
    responses((status = 200, body = Limit), (status = 404, description = "no such tenant")))]
pub async fn get_rate_limit(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    existing_tenant(&state, &crm_id).await?;
    Ok(ok("OK", rate_limit::tenant_limit(&state, &crm_id).await?))
}

/// Sets the tenant's own token bucket for its requests to the ingress and the queries: this
/// instance applies it at once, the others within 10 s.
#[utoipa::path(put, path = "/api/admin/tenants/{crm_id}/rate_limit", params(("crm_id" = String, Path)), request_body = Limit,
    tag = "admin", responses((status = 200, body = Limit), (status = 404, description = "no such tenant"), (status = 422, description = "a field is invalid")))]
pub async fn set_rate_limit(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(limit): ApiJson<Limit>,
) -> Result<impl IntoResponse, ApiError> {
    limit.check()?;
    existing_tenant(&state, &crm_id).await?;
    let before = rate_limit::tenant_limit(&state, &crm_id).await?;
    let mut tx = state.directory.begin().await?;
    sqlx::query!(
        "insert into tenant_rate_limit (crm_id, per_second, burst) values ($1, $2, $3)
         on conflict (crm_id) do update set per_second = excluded.per_second, burst = excluded.burst, updated_at = now()",
        crm_id,
        limit.per_second as i32,
        limit.burst as i32,
    )
    .execute(&mut *tx)
    .await?;
    let actor = audit::Actor::admin(&crm_id);
    audit::record(&mut tx, &actor, "rate_limit", &crm_id, "set", audit::json(&before), audit::json(&limit)).await?;
    tx.commit().await?;
    state.limiter.set(&crm_id, limit);
    tracing::info!(crm_id, per_second = limit.per_second, burst = limit.burst, "tenant rate limit set");
    Ok(ok("rate limit set", limit))
}

/// Stores a new key of the tenant (its hash and prefix); answers its id.
async fn insert_key(tx: &mut sqlx::PgConnection, crm_id: &str, api_key: &str, name: &str) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar!(
        "insert into api_key (crm_id, key_hash, prefix, name) values ($1, $2, $3, $4) returning key_id",
        crm_id,
        auth::hash_key(api_key),
        &api_key[..auth::KEY_PREFIX_LEN],
        name,
    )
    .fetch_one(&mut *tx)
    .await?)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for (e.g. "POS north"), at most 64 characters.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub name: Option<String>,
}

/// A tenant's API key as listed: never the key, only its first characters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub key_id: i64,
    /// `lk_` and the key's first 8 hex digits; null for a key made before keys were listed.
    pub prefix: Option<String>,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Set once revoked: the key no longer authenticates.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyCreated {
    pub key_id: i64,
    /// Shown once: only its hash is stored.
    pub api_key: String,
    pub prefix: String,
    pub name: String,
}

/// Creates another API key for the tenant (its other keys keep working).
#[utoipa::path(post, path = "/api/admin/tenants/{crm_id}/keys", params(("crm_id" = String, Path)), request_body = CreateKey,
    tag = "admin", responses((status = 201, body = KeyCreated, description = "created; the key is shown once"),
    (status = 404, description = "no such tenant"), (status = 422, description = "a field is invalid")))]
pub async fn create_key(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body.name.unwrap_or_default().trim().to_string();
    if name.chars().count() > 64 {
        return Err(ApiError::invalid("name", "must be at most 64 characters"));
    }
    existing_tenant(&state, &crm_id).await?;
    let api_key = auth::new_api_key();
    let mut tx = state.directory.begin().await?;
    let key_id = insert_key(&mut tx, &crm_id, &api_key, &name).await?;
    let prefix = api_key[..auth::KEY_PREFIX_LEN].to_string();
    let after = json!({"key_id": key_id, "prefix": prefix, "name": name});
    audit::record(&mut tx, &audit::Actor::admin(&crm_id), "api_key", &key_id.to_string(), "create", None, Some(after))
        .await?;
    tx.commit().await?;
    tracing::info!(crm_id, key_id, "api key created");
    Ok((StatusCode::CREATED, ok("key created", KeyCreated { key_id, api_key, prefix, name })))
}

/// The tenant's keys, newest first, revoked ones included (prefix only).
#[utoipa::path(get, path = "/api/admin/tenants/{crm_id}/keys", params(("crm_id" = String, Path)), tag = "admin",
    responses((status = 200, body = Vec<KeyInfo>), (status = 404, description = "no such tenant")))]
pub async fn list_keys(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    existing_tenant(&state, &crm_id).await?;
    let keys = sqlx::query_as!(
        KeyInfo,
        "select key_id, prefix, name, created_at, revoked_at from api_key where crm_id = $1 order by key_id desc",
        crm_id,
    )
    .fetch_all(&state.directory)
    .await?;
    Ok(ok("OK", keys))
}

/// Revokes a key: every api instance answers 401 to it within moments (PostgreSQL announces the
/// revocation; at worst after the key cache's 10 s). Revoking a revoked key changes nothing.
#[utoipa::path(delete, path = "/api/admin/tenants/{crm_id}/keys/{key_id}", params(("crm_id" = String, Path), ("key_id" = i64, Path)),
    tag = "admin", responses((status = 200, body = KeyInfo), (status = 404, description = "no such key")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((crm_id, key_id)): Path<(String, i64)>,
) -> Result<impl IntoResponse, ApiError> {
    let mut tx = state.directory.begin().await?;
    let before = sqlx::query_as!(
        KeyInfo,
        "select key_id, prefix, name, created_at, revoked_at from api_key where crm_id = $1 and key_id = $2 for update",
        crm_id,
        key_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no key {key_id} of crm_id {crm_id}")))?;
    let revoked = sqlx::query!(
        "update api_key set revoked_at = coalesce(revoked_at, now()) where crm_id = $1 and key_id = $2
         returning key_id, prefix, name, created_at, revoked_at, key_hash",
        crm_id,
        key_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no key {key_id} of crm_id {crm_id}")))?;
    sqlx::query!("select pg_notify($1, $2)", auth::REVOKED_CHANNEL, revoked.key_hash).execute(&mut *tx).await?;
    let info = KeyInfo {
        key_id: revoked.key_id,
        prefix: revoked.prefix,
        name: revoked.name,
        created_at: revoked.created_at,
        revoked_at: revoked.revoked_at,
    };
    if before.revoked_at.is_none() {
        let actor = audit::Actor::admin(&crm_id);
        let (before, after) = (audit::json(&before), audit::json(&info));
        audit::record(&mut tx, &actor, "api_key", &key_id.to_string(), "revoke", before, after).await?;
    }
    tx.commit().await?;
    // This instance refuses the key from the moment it answers, not when its own listener gets
    // round to the notification (the other instances do then, within milliseconds).
    state.keys.forget(&revoked.key_hash);
    tracing::info!(crm_id, key_id, "api key revoked");
    Ok(ok("key revoked", info))
}
