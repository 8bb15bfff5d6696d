//! The points commands of seed 000: earn events, spending (and its preview), reversal,
//! transfers, freezes. Each request type says what message it becomes
//! ([`Command`](crate::ingress::Command)); the ingress's one handler serves them all. The
//! preview is a query that answers at once.

use axum::extract::{Path, State};
use chrono::Utc;
use schemas::{
    points::{
        AcceptPayload, AcceptRequest, ConsumePayload, ConsumeRequest, EarnEventRequest, EarnPayload, FreezePayload,
        FreezeRequest, ReversePayload, ReverseRequest, TransferPayload, TransferRequest, UnfreezePayload,
        UnfreezeRequest,
    },
    MessageKind,
};
use serde::Serialize;

use crate::{
    error::{ApiError, ApiJson},
    ingress::Command,
    routes::ok,
    AppState,
};

impl Command for EarnEventRequest {
    const KIND: MessageKind = MessageKind::PointsEarn;
    type Payload = EarnPayload;
    fn into_message(self) -> Result<(String, Option<String>, EarnPayload), ApiError> {
        Ok(self.validate()?)
    }
    /// `points.earn.<scene>`: a consumer may bind to one scene.
    fn routing_key(payload: &EarnPayload) -> String {
        format!("points.earn.{}", payload.action_scene)
    }
}

impl Command for ConsumeRequest {
    const KIND: MessageKind = MessageKind::PointsConsume;
    type Payload = ConsumePayload;
    /// The preview takes the same body without a key; a spend needs one.
    fn into_message(self) -> Result<(String, Option<String>, ConsumePayload), ApiError> {
        let (event_no, occurred_at, payload) = self.validate()?;
        let event_no = event_no.ok_or_else(|| ApiError::invalid("event_no", "is required"))?;
        Ok((event_no, occurred_at, payload))
    }
    /// `points.consume.<scene>`.
    fn routing_key(payload: &ConsumePayload) -> String {
        format!("points.consume.{}", payload.action_scene)
    }
}

/// The commands whose `validate` already gives (key, business time, payload) and whose routing
/// key is their kind's.
macro_rules! plain_command {
    ($($request:ty => $kind:ident, $payload:ty;)+) => {$(
        impl Command for $request {
            const KIND: MessageKind = MessageKind::$kind;
            type Payload = $payload;
            fn into_message(self) -> Result<(String, Option<String>, $payload), ApiError> {
                Ok(self.validate()?)
            }
        }
    )+};
}

plain_command! {
    ReverseRequest => PointsReverse, ReversePayload;
    TransferRequest => PointsTransfer, TransferPayload;
    AcceptRequest => PointsAccept, AcceptPayload;
    FreezeRequest => PointsFreeze, FreezePayload;
    UnfreezeRequest => PointsUnfreeze, UnfreezePayload;
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Points the spend would take.
    pub points: i64,
    /// The money they offset (absent when the request named points).
    pub money: Option<f64>,
    pub available: i64,
    pub frozen: i64,
}

/// What a spend would take, without changing anything: the points usable on an amount and the
/// money they offset, under the spend rule and the member's available points now.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/consume/preview", request_body = ConsumeRequest, tag = "events",
    params(("crm_id" = String, Path)), responses((status = 200, body = Preview), (status = 422, description = "not possible: the reason")))]
pub async fn preview(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<ConsumeRequest>,
) -> Result<axum::Json<schemas::ApiResponse<Preview>>, ApiError> {
    let (_, _, payload) = body.validate()?;
    let now = Utc::now();
    let lots = sqlx::query!(
        r#"select coalesce(sum(remaining) filter (where unfreeze_time is null or unfreeze_time <= $3), 0)::bigint as "available!",
                  coalesce(sum(remaining) filter (where unfreeze_time > $3), 0)::bigint as "frozen!"
           from points_lot where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > $3"#,
        crm_id,
        payload.member_no,
        now,
    )
    .fetch_one(&state.db)
    .await?;
    let (available, frozen) = (lots.available, lots.frozen);
    let tenants = state.rules.get(&state.db, std::slice::from_ref(&crm_id)).await?;
    let tenant = tenants.get(&crm_id).ok_or_else(|| ApiError::NotFound(format!("no tenant {crm_id}")))?;
    // Seed 004: the member's level entry in the store's (else the brand's) level rule replaces
    // seed 000's spend tier, as the worker's spend does.
    let level_rule = match tenant.level_rule_for(payload.store_code.as_deref()) {
        Some(set) => sqlx::query_scalar!(
            "select level_id from member where crm_id = $1 and member_no = $2",
            crm_id,
            payload.member_no
        )
        .fetch_optional(&state.db)
        .await?
        .flatten()
        .and_then(|level| set.deduction_for(level).map(|entry| (set, entry))),
        None => None,
    };
    let quote = match level_rule {
        Some((set, entry)) => set.quote_spend(entry, &payload, available, frozen).map(|(p, m, _)| (p, m)),
        None => {
            schemas::points::quote_spend(tenant.consume_rule_for(&payload.action_scene), &payload, available, frozen)
        }
    }
    .map_err(|(_, reason)| ApiError::invalid("points", reason))?;
    Ok(ok("OK", Preview { points: quote.0, money: quote.1.map(|m| m.0 as f64 / 100.0), available, frozen }))
}

/// The OpenAPI operations of the commands. utoipa documents a function, and the one generic
/// handler cannot carry seven paths, so each operation is declared on an empty function named as
/// the operation (its operationId); the router serves it with
/// [`command`](crate::ingress::command).
pub mod operations {
    use schemas::points::{
        AcceptRequest, ConsumeRequest, EarnEventRequest, FreezeRequest, ReverseRequest, TransferRequest,
        UnfreezeRequest,
    };

    use crate::ingress::{EventStatus, WaitQuery};

    /// Posts a produce event (order paid, login, sign-in, …). 202 once the broker has it; with
    /// `wait_ms`, 200 and the outcome if it is known in time. 503: not stored, retry with the same
    /// event_no.
    #[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/events", request_body = EarnEventRequest, tag = "events",
        params(("crm_id" = String, Path), WaitQuery),
        responses((status = 202, body = EventStatus, description = "queued"), (status = 200, body = EventStatus, description = "outcome (wait_ms)"),
                  (status = 422, description = "a field is invalid"), (status = 503, description = "broker unavailable: retry with the same event_no")))]
    pub fn post_event() {}

    /// Spends points through the queue: `points`, or what the spend rule lets pay for `amount`.
    #[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/consume", request_body = ConsumeRequest, tag = "events",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn consume() {}

    /// Reverses (冲正) an earlier earn or spend, fully or by `points`.
    #[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/reverse", request_body = ReverseRequest, tag = "events",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn reverse() {}

    /// Gives points to another member (转赠): they wait in escrow until accepted with the same
    /// `transfer_no`, or go back after the tenant's time-out (default 24 h).
    #[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/transfer", request_body = TransferRequest, tag = "events",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn transfer() {}

    /// Accepts a transfer (领取转赠), at most once, by another member than the giver.
    #[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/accept", request_body = AcceptRequest, tag = "events",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn accept() {}

    /// Freezes some of a member's available points until an unfreeze names this event.
    #[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/freeze", request_body = FreezeRequest, tag = "events",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn freeze() {}

    /// Releases now what `origin_event_no` froze (an operator's freeze, or an earn's freeze_term).
    #[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/unfreeze", request_body = UnfreezeRequest, tag = "events",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn unfreeze() {}
}
