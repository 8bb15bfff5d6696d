//! Per-tenant rate limits on the tenant routes (the ingress and the queries): a token bucket
//! per tenant (governor's GCRA, one limiter per tenant), `RATE_LIMIT_PER_SECOND` and
//! `RATE_LIMIT_BURST` unless the tenant has its own (table `tenant_rate_limit`, set by
//! `PUT /api/admin/tenants/{crm_id}/rate_limit`; each api instance re-reads a tenant's limit
//! every [`RELOAD`]).
//!
//! Every answer carries the IETF headers (draft-ietf-httpapi-ratelimit-headers):
//! `RateLimit-Policy: "tenant";q=<burst>;w=<seconds to refill the bucket>` and
//! `RateLimit: "tenant";r=<requests left now>;t=<seconds until one more>`; a refused request is
//! answered 429 with `Retry-After` (whole seconds, rounded up).

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::{
    http::{HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use governor::{
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::{InMemoryState, NotKeyed},
    Quota, RateLimiter,
};
use serde::{Deserialize, Serialize};

use crate::{error::ApiError, AppState};

/// How often an instance re-reads a tenant's own limit.
pub const RELOAD: Duration = Duration::from_secs(10);

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// A token bucket: refill per second and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Requests per second, sustained (tokens added per second).
    #[schema(minimum = 1, maximum = 1000000)]
    pub per_second: u32,
    /// Requests that may come at once (the bucket's size).
    #[schema(minimum = 1, maximum = 1000000)]
    pub burst: u32,
}

impl Limit {
    pub fn check(&self) -> Result<(), ApiError> {
        for (field, value) in [("per_second", self.per_second), ("burst", self.burst)] {
            if !(1..=1_000_000).contains(&value) {
                return Err(ApiError::invalid(field, "must be between 1 and 1000000"));
            }
        }
        Ok(())
    }

    fn quota(&self) -> Quota {
        let nz = |v: u32| NonZeroU32::new(v.max(1)).expect("at least 1");
        Quota::per_second(nz(self.per_second)).allow_burst(nz(self.burst))
    }

    /// `RateLimit-Policy`: the bucket's size, and the seconds an empty bucket takes to refill.
    fn policy(&self) -> String {
        let window = (self.burst as f64 / self.per_second as f64).ceil().max(1.0) as u64;
        format!("\"tenant\";q={};w={window}", self.burst)
    }
}

/// A tenant's token bucket, and the `RateLimit-Policy` every answer under its limit carries (made
/// once per limit rather than formatted per request: issue 14).
pub struct Bucket {
    tokens: RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>,
    policy: HeaderValue,
}

impl Bucket {
    fn new(limit: Limit) -> Bucket {
        let policy = HeaderValue::from_str(&limit.policy()).expect("ascii");
        Bucket { tokens: RateLimiter::direct(limit.quota()).with_middleware(), policy }
    }
}

struct Entry {
    limit: Limit,
    bucket: Arc<Bucket>,
    loaded: Instant,
    /// A reload of the limit is under way (one at a time; requests meanwhile use this one).
    reloading: bool,
}

/// The buckets of this api instance, keyed by tenant.
#[derive(Default)]
pub struct Limiter {
    buckets: RwLock<HashMap<String, Entry>>,
    /// Loads of a tenant not seen yet, one at a time (a burst of its first requests must not
    /// each read the database).
    loading: tokio::sync::Mutex<()>,
}

impl Limiter {
    /// The tenant's bucket, and whether this caller should reload its limit (read more than
    /// [`RELOAD`] ago, and nobody reloading it yet).
    fn get(&self, crm_id: &str) -> Option<(Limit, Arc<Bucket>, bool)> {
        {
            let buckets = self.buckets.read().unwrap_or_else(|e| e.into_inner());
            let e = buckets.get(crm_id)?;
            if e.reloading || e.loaded.elapsed() < RELOAD {
                return Some((e.limit, e.bucket.clone(), false));
            }
        }
        let mut buckets = self.buckets.write().unwrap_or_else(|e| e.into_inner());
        let e = buckets.get_mut(crm_id)?;
        let reload = !e.reloading && e.loaded.elapsed() >= RELOAD;
        e.reloading |= reload;
        Some((e.limit, e.bucket.clone(), reload))
    }

    fn reload_failed(&self, crm_id: &str) {
        if let Some(e) = self.buckets.write().unwrap_or_else(|e| e.into_inner()).get_mut(crm_id) {
            e.reloading = false;
        }
    }

    /// The tenant's bucket: the one in memory (reloading its limit in the background when
    /// due), or, for a tenant not seen yet, its limit read once.
    async fn bucket(&self, state: &AppState, crm_id: &str) -> Result<(Limit, Arc<Bucket>), ApiError> {
        if let Some((limit, bucket, reload)) = self.get(crm_id) {
            if reload {
                let (state, crm_id) = (state.clone(), crm_id.to_string());
                tokio::spawn(async move {
                    match tenant_limit(&state, &crm_id).await {
                        Ok(limit) => drop(state.limiter.set(&crm_id, limit)),
                        Err(_) => state.limiter.reload_failed(&crm_id),
                    }
                });
            }
            return Ok((limit, bucket));
        }
        let _one_at_a_time = self.loading.lock().await;
        if let Some((limit, bucket, _)) = self.get(crm_id) {
            return Ok((limit, bucket));
        }
        let limit = tenant_limit(state, crm_id).await?;
        Ok(self.set(crm_id, limit))
    }

    /// Records the tenant's limit as read now: the same limit keeps its bucket (and the tokens
    /// spent), a new one starts a full bucket.
    pub fn set(&self, crm_id: &str, limit: Limit) -> (Limit, Arc<Bucket>) {
        let mut buckets = self.buckets.write().unwrap_or_else(|e| e.into_inner());
        let entry = buckets.entry(crm_id.to_string()).or_insert_with(|| Entry {
            limit,
            bucket: Arc::new(Bucket::new(limit)),
            loaded: Instant::now(),
            reloading: false,
        });
        if entry.limit != limit {
            entry.limit = limit;
            entry.bucket = Arc::new(Bucket::new(limit));
        }
        entry.loaded = Instant::now();
        entry.reloading = false;
        (entry.limit, entry.bucket.clone())
    }
}

/// The tenant's own limit, or the default.
pub async fn tenant_limit(state: &AppState, crm_id: &str) -> Result<Limit, ApiError> {
    let own = sqlx::query!("select per_second, burst from tenant_rate_limit where crm_id = $1", crm_id)
        .fetch_optional(&state.directory)
        .await?;
    Ok(match own {
        Some(r) => Limit { per_second: r.per_second as u32, burst: r.burst as u32 },
        None => Limit { per_second: state.settings.rate_limit_per_second, burst: state.settings.rate_limit_burst },
    })
}

/// The `RateLimit` headers of an admitted request, for its answer.
pub struct Admitted {
    policy: HeaderValue,
    remaining: HeaderValue,
}

impl Admitted {
    pub fn stamp(self, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert(RATELIMIT_POLICY, self.policy);
        headers.insert(RATELIMIT, self.remaining);
    }
}

/// Takes a token from the tenant's bucket: the request is admitted, with the headers its answer
/// gets, or refused: the answer, a 429 (or the error reading the tenant's limit). Called by the
/// key check on the tenant routes (`auth::require_tenant`). Refusals are counted by
/// `http_requests_total{status="429"}`.
pub async fn admit(state: &AppState, crm_id: &str) -> Result<Admitted, Response> {
    let (limit, bucket) = state.limiter.bucket(state, crm_id).await.map_err(IntoResponse::into_response)?;
    let policy = bucket.policy.clone();
    match bucket.tokens.check() {
        Ok(snapshot) => {
            let left = snapshot.remaining_burst_capacity();
            // Seconds until one more token, when the bucket is not full.
            let t = if left >= limit.burst { 0 } else { (1.0 / limit.per_second as f64).ceil() as u64 };
            // From the `String` itself: no second copy.
            let remaining = HeaderValue::try_from(format!("\"tenant\";r={left};t={t}")).expect("ascii");
            Ok(Admitted { policy, remaining })
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = ApiError::TooManyRequests(format!(
                "crm_id {crm_id} is over its rate limit ({} requests per second, bursts of {}); retry in {retry_after} s",
                limit.per_second, limit.burst
            ))
            .into_response();
            debug_assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            let headers = response.headers_mut();
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(retry_after));
            headers.insert(RATELIMIT_POLICY, policy);
            headers
                .insert(RATELIMIT, HeaderValue::from_str(&format!("\"tenant\";r=0;t={retry_after}")).expect("ascii"));
            Err(response)
        }
    }
}
