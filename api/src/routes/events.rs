//! Event ingress: validate, publish with confirm, answer 202 (or, with `wait_ms`, the outcome).

use std::time::Duration;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension,
};
use chrono::Utc;
use platform::{
    broker::headers,
    inbox::{self, InboxRow, EVENT_NO},
};
use schemas::{points::EarnEventRequest, Envelope, MessageKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ok;
use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
    AppState, MAX_WAIT,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct WaitQuery {
    /// Wait up to this many milliseconds (at most 10000) for the outcome.
    pub wait_ms: Option<u64>,
}

/// What the ingress answers about an event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventStatus {
    pub event_no: String,
    /// The message this request published (absent on GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    /// accepted (queued, outcome not known yet) | applied | rejected | duplicate
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a duplicate: the outcome of the first message with this event_no.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<FirstOutcome>,
    /// For a card present: the id the friend receives it with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub present_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FirstOutcome {
    pub message_id: Uuid,
    pub status: String,
    pub points: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub member_no: Option<String>,
    pub duplicates: i32,
    pub applied_at: String,
}

fn first(row: &InboxRow, tenant: &Tenant) -> FirstOutcome {
    FirstOutcome {
        message_id: row.message_id,
        status: row.status.clone(),
        points: row.points,
        reason: row.reason.clone(),
        member_no: row.member_no.clone(),
        duplicates: row.duplicates,
        applied_at: schemas::time::format_local(row.received_at, tenant.tz),
    }
}

/// Posts a produce event (order paid, login, sign-in, …). 202 once the broker has it; with
/// `wait_ms`, 200 and the outcome if it is known in time. 503: not stored, retry with the same
/// event_no.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/events", request_body = EarnEventRequest, tag = "events",
    params(("crm_id" = String, Path), WaitQuery),
    responses((status = 202, body = EventStatus, description = "queued"), (status = 200, body = EventStatus, description = "outcome (wait_ms)"),
              (status = 422, description = "a field is invalid"), (status = 503, description = "broker unavailable: retry with the same event_no")))]
pub async fn post_event(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<EarnEventRequest>,
) -> Result<Response, ApiError> {
    let (event_no, occurred_at, payload) = body.validate()?;
    let routing_key = format!("points.earn.{}", payload.action_scene);
    let message = Outgoing { kind: MessageKind::PointsEarn, routing_key, key: event_no, occurred_at };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// A validated request on its way to the broker.
pub struct Outgoing {
    pub kind: MessageKind,
    pub routing_key: String,
    pub key: String,
    pub occurred_at: Option<String>,
}

/// Publishes with confirm and answers: 202 accepted, or with `wait_ms` the outcome (200), or 503.
pub async fn publish_and_answer<P: Serialize>(
    state: &AppState,
    tenant: &Tenant,
    crm_id: String,
    message: Outgoing,
    payload: P,
    wait_ms: Option<u64>,
) -> Result<Response, ApiError> {
    let wait = Duration::from_millis(wait_ms.unwrap_or(0));
    if wait > MAX_WAIT {
        return Err(ApiError::invalid("wait_ms", format!("must be at most {}", MAX_WAIT.as_millis())));
    }
    let occurred_at = match message.occurred_at {
        None => Utc::now(),
        Some(text) => schemas::time::parse_local(&text, tenant.tz).ok_or_else(|| {
            ApiError::invalid("occurred_at", "must be `YYYY-MM-DD HH:MM:SS` (tenant time) or RFC 3339")
        })?,
    };
    let event_no = message.key;
    let present_id = (message.kind == MessageKind::CardsPresent).then(|| event_no.clone());
    let envelope = Envelope::new(message.kind, crm_id.clone(), event_no.clone(), occurred_at, payload);
    let message_id = envelope.message_id;
    let body = serde_json::to_vec(&envelope).map_err(anyhow::Error::from)?;
    let props = headers::persistent_json(&message_id.to_string(), message.kind.as_str());
    state
        .publisher
        .publish(&state.topology.events_exchange(), &message.routing_key, &body, props)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the event was not queued ({e}); retry with the same event_no")))?;

    if !wait.is_zero() {
        if let Some(row) = wait_for_outcome(state, &crm_id, message.kind.key_kind(), &event_no, wait).await? {
            let status = if row.message_id == message_id { row.status.clone() } else { "duplicate".to_string() };
            let answer = EventStatus {
                event_no,
                message_id: Some(message_id),
                points: Some(if status == "duplicate" { 0 } else { row.points }),
                reason: if status == "duplicate" {
                    Some("this event_no was received before; nothing changed".into())
                } else {
                    row.reason.clone()
                },
                first: (status == "duplicate").then(|| first(&row, tenant)),
                status,
                present_id: present_id.clone(),
            };
            return Ok(ok("OK", answer).into_response());
        }
    }
    let answer = EventStatus {
        event_no,
        message_id: Some(message_id),
        status: "accepted".into(),
        points: None,
        reason: None,
        first: None,
        present_id,
    };
    Ok((StatusCode::ACCEPTED, ok("accepted", answer)).into_response())
}

/// Polls the inbox until the event has an outcome or the wait is over. (Polling, not
/// LISTEN/NOTIFY: NOTIFY takes a global lock at commit and would slow every worker.)
async fn wait_for_outcome(
    state: &AppState,
    crm_id: &str,
    key_kind: &str,
    event_no: &str,
    wait: Duration,
) -> Result<Option<InboxRow>, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(row) = inbox::find(&state.db, crm_id, key_kind, event_no).await? {
            return Ok(Some(row));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The current outcome of an event: applied, rejected, or 404 while unknown (not yet applied,
/// parked, or never received).
#[utoipa::path(get, path = "/api/crm/mgr/points/{crm_id}/events/{event_no}", tag = "events",
    params(("crm_id" = String, Path), ("event_no" = String, Path)), responses((status = 200, body = EventStatus), (status = 404, description = "no outcome yet")))]
pub async fn get_event(
    State(state): State<AppState>,
    Path((crm_id, event_no)): Path<(String, String)>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ApiError> {
    let row = inbox::find(&state.db, &crm_id, EVENT_NO, &event_no).await?.ok_or_else(|| {
        ApiError::NotFound(format!("event {event_no} has no outcome yet: not applied yet, parked, or never received"))
    })?;
    let answer = EventStatus {
        event_no,
        message_id: None,
        status: row.status.clone(),
        points: Some(row.points),
        reason: row.reason.clone(),
        first: Some(first(&row, &tenant)),
        present_id: None,
    };
    Ok(ok("OK", answer).into_response())
}
