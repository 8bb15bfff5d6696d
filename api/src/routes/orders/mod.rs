//! Seed 002's ledger writes under `/loyalty/v1`: orders (deals, §11: `commands.rs` the six
//! commands, `queries.rs` an order with its steps) and points up and down (§5, `points.rs`).
//!
//! Every one is a message on the points queue, applied by the points workers with the ledger's
//! own code (earn computation, exact reversal), never by the api: there is one ledger. The seed
//! answers synchronously, so each command waits for its outcome (`wait_ms`, default
//! [`DEFAULT_WAIT_MS`]) and answers in the seed's shape; a wait that runs out answers 202 with
//! the key, and the same request again answers the outcome. Member resolution (an unknown
//! identity creates the member) is synchronous SQL before publishing, as member writes are.
//! Errors are the members domain's seed-shaped `{"error": {"code", "message"}}`.

pub mod commands;
pub mod coupon;
pub mod docs;
pub mod points;
pub mod queries;
pub mod store;

use std::time::Duration;

use axum::{
    routing::{get, post},
    Router,
};
use platform::inbox::InboxRow;
use schemas::{response::Refusal, MessageKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::members::MemberError;
use crate::{auth::Tenant, ingress, AppState, MAX_WAIT};

/// How long a command waits for its outcome unless `wait_ms` says otherwise.
pub const DEFAULT_WAIT_MS: u64 = 5000;

/// The routes (the caller adds the access-token layer).
pub fn router() -> Router<AppState> {
    let v = "/loyalty/v1";
    Router::new()
        .route(&format!("{v}/membership/{{id}}/point/incr"), post(points::incr))
        .route(&format!("{v}/membership/{{id}}/point/decr"), post(points::decr))
        .route(&format!("{v}/deal"), post(commands::create))
        .route(&format!("{v}/deal/{{orderNo}}"), get(queries::one))
        .route(&format!("{v}/dealService/update"), post(commands::update))
        .route(&format!("{v}/dealService/cancel"), post(commands::cancel))
        .route(&format!("{v}/dealService/refund"), post(commands::refund))
        .route(&format!("{v}/dealService/deleteRefund"), post(commands::delete_refund))
        .route(&format!("{v}/dealService/delete"), post(commands::delete))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait up to this many milliseconds (at most 10000; default 5000) for the outcome.
    #[serde(default, deserialize_with = "schemas::checks::de_lenient_int")]
    #[param(value_type = Option<i64>, minimum = 0, maximum = 10000)]
    pub wait_ms: Option<i64>,
}

impl WaitQuery {
    fn wait(&self) -> Result<Duration, MemberError> {
        let ms = self.wait_ms.unwrap_or(DEFAULT_WAIT_MS as i64);
        if ms < 0 || ms as u128 > MAX_WAIT.as_millis() {
            return Err(MemberError::invalid("wait_ms", format!("must be 0 to {}", MAX_WAIT.as_millis())));
        }
        Ok(Duration::from_millis(ms as u64))
    }
}

/// What became of a published command.
pub enum Submitted {
    /// Its outcome (or the first outcome of its key, for a repeat).
    Done(Box<InboxRow>),
    /// Queued; not applied within the wait.
    Queued,
}

/// Publishes a command with confirm and waits for its key's outcome.
pub async fn submit<P: Serialize + Send>(
    state: &AppState,
    tenant: &Tenant,
    kind: MessageKind,
    key: &str,
    occurred_at: chrono::DateTime<chrono::Utc>,
    payload: P,
    wait: Duration,
) -> Result<Submitted, MemberError> {
    let sealed = ingress::seal(kind, tenant.crm_id.clone(), key.to_string(), occurred_at, payload)?;
    sealed.publish(state, kind.as_str()).await.map_err(|e| {
        MemberError::Unavailable(format!("the request was not queued ({e}); send it again, it is applied once"))
    })?;
    if wait.is_zero() {
        return Ok(Submitted::Queued);
    }
    match ingress::wait_for_outcome(state, &tenant.crm_id, kind.key_kind(), key, wait).await? {
        Some(row) => Ok(Submitted::Done(Box::new(row))),
        None => Ok(Submitted::Queued),
    }
}

/// A stored refusal in the seed's error shape: one that can never succeed as asked (unknown
/// line, …) is a 400 `400001` naming the field; one that conflicts with the order's or member's
/// state is a 409 `409000`. The reason names the field first (`refundLines[0].lineId: …`).
pub fn refused(row: &InboxRow) -> MemberError {
    let refusal = Refusal::from_stored(row.refusal.as_deref());
    let reason = row.reason.clone().unwrap_or_else(|| refusal.meaning().to_string());
    if refusal.http_status() == 422 {
        let (field, msg) = reason.split_once(": ").unwrap_or(("request", reason.as_str()));
        MemberError::invalid(field, msg)
    } else {
        MemberError::Conflict(reason)
    }
}

/// A short digest of the parts, for the keys of steps that carry no id of their own.
pub fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(&h.finalize()[..8])
}
