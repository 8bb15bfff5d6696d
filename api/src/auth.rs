//! API keys: tenants' keys for `/api/crm/...`, the admin token for `/api/admin/...`.
//!
//! Keys are stored as sha256 hex (table `api_key`: several per tenant, each revocable); a
//! verified key is remembered for [`KEY_TTL`] so the ingress does not read PostgreSQL on every
//! request. A revoked key is forgotten at once by every api instance: revoking notifies
//! (`pg_notify('api_key_revoked', <hash>)`) and each instance's [`listen_for_revocations`] drops
//! it from its cache; the short TTL bounds the delay if a notification is missed (the listener
//! was reconnecting: it then clears the whole cache).

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use axum::{
    extract::{RawPathParams, Request, State},
    http::{header::AUTHORIZATION, HeaderMap},
    middleware::Next,
    response::Response,
};
use chrono_tz::Tz;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::{error::ApiError, rate_limit, AppState};

/// How long a verified key is trusted without asking PostgreSQL again (the fallback bound on
/// a revocation's delay; the notification is the fast path).
pub const KEY_TTL: Duration = Duration::from_secs(10);

/// The PostgreSQL channel revocations are announced on (payload: the key's hash, or `*`).
pub const REVOKED_CHANNEL: &str = platform::API_KEYS_CHANNEL;

/// The tenant a request is authenticated as; handlers read it from the request extensions.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub crm_id: String,
    pub tz: Tz,
    /// The API key the request was made with (`api_key.key_id`): who, in the audit log.
    pub key_id: i64,
    /// The shard holding the tenant's data (`tenant.shard`).
    pub shard: String,
}

/// A key's SHA-256: what the cache is keyed by. Its hex, the form PostgreSQL stores and
/// revocations announce, is made only on a cache miss: hex-encoding the digest on every request
/// was ~1.7 % of an accepted request's instructions (callgrind, issue 14).
type KeyDigest = [u8; 32];

fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// Verified keys: the tenant, when verified, and whether a re-check is under way.
#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<KeyDigest, (Tenant, Instant, bool)>>,
}

impl KeyCache {
    /// The key's tenant, and whether this caller should re-check it (verified more than
    /// [`KEY_TTL`] ago, nobody re-checking yet): one request re-checks, the others meanwhile
    /// use the entry, so a busy key does not send a burst of lookups to PostgreSQL.
    fn get(&self, hash: &KeyDigest) -> Option<(Tenant, bool)> {
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            let (tenant, at, checking) = entries.get(hash)?;
            if *checking || at.elapsed() < KEY_TTL {
                return Some((tenant.clone(), false));
            }
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let (tenant, at, checking) = entries.get_mut(hash)?;
        let check = !*checking && at.elapsed() >= KEY_TTL;
        *checking |= check;
        Some((tenant.clone(), check))
    }

    fn put(&self, hash: KeyDigest, tenant: Tenant) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 10_000 {
            entries.retain(|_, (_, at, _)| at.elapsed() < KEY_TTL);
        }
        entries.insert(hash, (tenant, Instant::now(), false));
    }

    /// Forgets the key whose hash (hex, as stored) this is; anything else names no key.
    pub(crate) fn forget(&self, hash: &str) {
        let mut digest = KeyDigest::default();
        if hex::decode_to_slice(hash, &mut digest).is_ok() {
            self.forget_digest(&digest);
        }
    }

    fn forget_digest(&self, hash: &KeyDigest) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(hash);
    }

    fn clear(&self) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Forgets revoked keys as PostgreSQL announces them, until the cache or the pool is gone. Its
/// own connection (not the pool's, so closing the pool never waits for it); after a lost
/// connection it clears the whole cache, since announcements may have been missed.
pub async fn listen_for_revocations(cache: std::sync::Weak<KeyCache>, database_url: String, db: sqlx::PgPool) {
    let mut pause = Duration::from_millis(100);
    loop {
        if db.is_closed() || cache.strong_count() == 0 {
            return;
        }
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect(&database_url).await?;
            listener.listen(REVOKED_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "key revocation listener: not connected; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        pause = Duration::from_millis(100);
        if let Some(c) = cache.upgrade() {
            c.clear();
        }
        loop {
            let next = tokio::select! {
                next = listener.try_recv() => next,
                // Looks now and then whether the api state is gone.
                _ = tokio::time::sleep(Duration::from_secs(5)) => {
                    if db.is_closed() || cache.strong_count() == 0 { return; }
                    continue;
                }
            };
            let Some(c) = cache.upgrade() else { return };
            match next {
                // `*`: a tenant moved to another shard; every entry may name the old one.
                Ok(Some(n)) if n.payload() == "*" => c.clear(),
                Ok(Some(n)) => c.forget(n.payload()),
                // The connection was lost: reconnecting; what was announced meanwhile is lost.
                Ok(None) => c.clear(),
                Err(_) => break,
            }
        }
    }
}

/// A key's hash as stored (`api_key.key_hash`): SHA-256, hex.
pub fn hash_key(key: &str) -> String {
    hex::encode(digest(key))
}

/// The characters of a key kept to tell it apart in a list (`lk_` and 8 hex digits).
pub const KEY_PREFIX_LEN: usize = 11;

/// A new API key: 32 random bytes, hex, with a prefix that says what it is.
pub fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("lk_{}", hex::encode(bytes))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim()).filter(|t| !t.is_empty())
}

/// The tenant whose key this is, if any.
pub(crate) async fn tenant_of_key(state: &AppState, key: &str) -> Result<Option<Tenant>, ApiError> {
    let digest = digest(key);
    match state.keys.get(&digest) {
        Some((t, false)) => return Ok(Some(t)),
        Some((_, true)) => {}
        None => {}
    }
    let hash = hex::encode(digest);
    let row = sqlx::query!(
        "select k.key_id, t.crm_id, t.time_zone, t.shard from api_key k join tenant t using (crm_id)
         where k.key_hash = $1 and k.revoked_at is null",
        hash
    )
    .fetch_optional(&state.directory)
    .await;
    let row = match row {
        Ok(row) => row,
        Err(e) => {
            state.keys.forget_digest(&digest);
            return Err(e.into());
        }
    };
    if row.is_none() {
        state.keys.forget_digest(&digest);
    }
    Ok(row.map(|r| {
        let tenant = Tenant {
            crm_id: r.crm_id,
            tz: r.time_zone.parse().unwrap_or(schemas::time::DEFAULT_TIME_ZONE),
            key_id: r.key_id,
            shard: r.shard,
        };
        state.keys.put(digest, tenant.clone());
        tenant
    }))
}

/// The tenant routes' gate: the key of the tenant named by the path's `crm_id` (none or unknown
/// 401, another tenant's 403), then that tenant's rate limit (`rate_limit`: 429). One middleware
/// for both: each `from_fn` layer boxes a clone of the service inside it and a future per
/// request (issue 14).
pub async fn require_tenant(
    State(state): State<AppState>,
    params: RawPathParams,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(key) = bearer(req.headers()) else {
        return Err(ApiError::Unauthorized("send the tenant's API key as `Authorization: Bearer <api_key>`".into()));
    };
    let Some(tenant) = tenant_of_key(&state, key).await? else {
        return Err(ApiError::Unauthorized("the API key is not valid".into()));
    };
    let crm_id = params.iter().find_map(|(name, value)| (name == "crm_id").then_some(value)).unwrap_or_default();
    if tenant.crm_id != crm_id {
        return Err(ApiError::Forbidden(format!("this API key does not give access to crm_id {crm_id}")));
    }
    let admitted = match rate_limit::admit(&state, &tenant.crm_id).await {
        Ok(admitted) => admitted,
        Err(refused) => return Ok(refused),
    };
    req.extensions_mut().insert(tenant);
    let mut response = next.run(req).await;
    admitted.stamp(&mut response);
    Ok(response)
}

/// Requires the admin token: none or unknown 401, a tenant's key 403.
pub async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let Some(token) = bearer(req.headers()) else {
        return Err(ApiError::Unauthorized(
            "send the admin token as `Authorization: Bearer <LOYALTY_ADMIN_TOKEN>`".into(),
        ));
    };
    // Compare digests, so the comparison's time says nothing about the token.
    if hash_key(token) == hash_key(&state.settings.admin_token) {
        return Ok(next.run(req).await);
    }
    if tenant_of_key(&state, token).await?.is_some() {
        return Err(ApiError::Forbidden("a tenant's API key cannot use the admin endpoints".into()));
    }
    Err(ApiError::Unauthorized("the admin token is not valid".into()))
}

/// The compatibility API's key (seed 002): `?access_token=<api_key>`, or `Authorization: Bearer`.
pub(crate) fn access_token(req: &Request) -> Option<String> {
    let from_query = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("access_token=")).map(percent_decode));
    from_query.filter(|t| !t.is_empty()).or_else(|| bearer(req.headers()).map(str::to_string))
}

/// `%XX` and `+` in a query value (an API key is hex, but a client may encode it anyway).
fn percent_decode(v: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = (bytes[i] == b'%').then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?))).flatten();
        match (bytes[i], pair) {
            (b'%', Some((hi, lo))) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Requires a tenant's key as seed 002 sends it (`?access_token=`, or Bearer); the tenant is the
/// key's (the compatibility paths carry no `crm_id`). Answers in seed 002's error shape.
pub async fn require_access_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, crate::routes::members::MemberError> {
    use crate::routes::members::MemberError;
    let Some(key) = access_token(&req) else {
        return Err(MemberError::Unauthorized("send the tenant's API key as ?access_token= or a Bearer token".into()));
    };
    let Some(tenant) = tenant_of_key(&state, &key).await? else {
        return Err(MemberError::Unauthorized("the access_token is not valid".into()));
    };
    req.extensions_mut().insert(tenant);
    Ok(next.run(req).await)
}
