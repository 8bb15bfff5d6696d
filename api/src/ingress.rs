//! The ingress every command goes through: the [`Command`] trait a request implements to
//! become a message, the one handler that serves every command ([`command`]), the one envelope
//! builder ([`seal`]), and [`publish_and_answer`], which publishes with confirm and answers 202
//! (or, with `wait_ms`, the outcome from the inbox), and [`answer_outcome`], the one way a
//! stored outcome is answered (here, and by the outcome lookups): applied is 200 with the seed's
//! `msg`, a refusal is an error with its code (see `schemas::response::Refusal`).

use std::time::Duration;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension,
};
use chrono::{DateTime, Utc};
use platform::{
    broker::{headers, PublishError},
    inbox::{self, InboxRow},
    status::InboxStatus,
};
use schemas::{response::Refusal, ApiResponse, Envelope, MessageKind};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
    routes::ok,
    AppState, MAX_WAIT,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    /// True when this request repeated a key received before: the answer (HTTP status, `code`,
    /// `msg`) is the first outcome's, and `first` holds it; nothing changed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The answer's `status` while the outcome is not known yet (not a stored state).
pub(crate) const ACCEPTED: &str = "accepted";
/// The answer's `status` for a message repeating an event_no received before (not a stored
/// state: the inbox keeps the first message's outcome).
const DUPLICATE: &str = "duplicate";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FirstOutcome {
    pub message_id: Uuid,
    /// applied | rejected
    #[schema(value_type = String)]
    pub status: InboxStatus,
    pub points: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub member_no: Option<String>,
    pub duplicates: i32,
    pub applied_at: String,
}

pub(crate) fn first(row: &InboxRow, tenant: &Tenant) -> FirstOutcome {
    FirstOutcome {
        message_id: row.message_id,
        status: row.status,
        points: row.points,
        reason: row.reason.clone(),
        member_no: row.member_no.clone(),
        duplicates: row.duplicates,
        applied_at: schemas::time::format_local(row.received_at, tenant.tz),
    }
}

/// A validated request on its way to the broker.
pub struct Outgoing {
    pub kind: MessageKind,
    pub routing_key: String,
    pub key: String,
    pub occurred_at: Option<String>,
}

/// A command's request body: what it publishes once valid. Each domain implements it for its
/// command requests and routes them to [`command`]; a new command is an impl, not a handler.
pub trait Command: DeserializeOwned + Send + 'static {
    const KIND: MessageKind;
    /// What the workers get.
    type Payload: Serialize + Send;
    /// Validates the request: the message's idempotency key, the business time it names (seed
    /// 000's `occurred_at`, tenant time; absent: now) and the payload.
    fn into_message(self) -> Result<(String, Option<String>, Self::Payload), ApiError>;
    /// Its routing key on the events exchange: the kind's, unless the command routes finer.
    fn routing_key(_payload: &Self::Payload) -> String {
        Self::KIND.as_str().to_string()
    }
}

/// The handler of every command: 202 once the broker has it; with `wait_ms`, 200 and the
/// outcome if it is known in time; 503 when it was not queued (retry with the same key).
pub async fn command<C: Command>(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<C>,
) -> Result<Response, ApiError> {
    let (key, occurred_at, payload) = body.into_message()?;
    let message = Outgoing { kind: C::KIND, routing_key: C::routing_key(&payload), key, occurred_at };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// Publishes with confirm and answers: 202 accepted, or with `wait_ms` the outcome (200), or 503.
pub async fn publish_and_answer<P: Serialize + Send>(
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
    let sealed = seal(message.kind, crm_id.clone(), event_no.clone(), occurred_at, payload)?;
    let message_id = sealed.message_id;
    sealed
        .publish(state, &message.routing_key)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the event was not queued ({e}); retry with the same event_no")))?;

    if !wait.is_zero() {
        if let Some(row) = wait_for_outcome(state, &crm_id, message.kind.key_kind(), &event_no, wait).await? {
            let stored = row.status;
            let duplicate = row.message_id != message_id;
            let answer = EventStatus {
                event_no,
                message_id: Some(message_id),
                status: if duplicate { DUPLICATE } else { stored.as_str() }.to_string(),
                points: Some(if duplicate { 0 } else { row.points }),
                reason: if duplicate {
                    Some(format!("this {} was received before; nothing changed", message.kind.key_kind()))
                } else {
                    row.reason.clone()
                },
                first: duplicate.then(|| first(&row, tenant)),
                present_id: present_id.clone(),
                duplicate,
            };
            return Ok(answer_outcome(&row, answer));
        }
    }
    let answer = EventStatus {
        event_no,
        message_id: Some(message_id),
        status: ACCEPTED.into(),
        points: None,
        reason: None,
        first: None,
        present_id,
        duplicate: false,
    };
    Ok((StatusCode::ACCEPTED, ok("accepted", answer)).into_response())
}

/// The seed's `msg` for an applied command (seed 003 names one per card operation; seed 000's
/// points answers say "OK").
pub fn success_msg(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::CardsReceive => "领券成功",
        MessageKind::CardsReceiveReverse | MessageKind::CardsRedeemReverse => "冲正成功",
        MessageKind::CardsPresent => "转增成功",
        MessageKind::CardsPresentReceive => "领取成功",
        MessageKind::CardsRedeem => "核销成功",
        MessageKind::CardsGenerate => "生成卡券成功",
        MessageKind::PointsEarn
        | MessageKind::PointsConsume
        | MessageKind::PointsReverse
        | MessageKind::PointsTransfer
        | MessageKind::PointsAccept
        | MessageKind::PointsFreeze
        | MessageKind::PointsUnfreeze
        | MessageKind::PointsAdjust
        | MessageKind::PointsOrder
        | MessageKind::PointsOrderStep => "OK",
    }
}

/// Answers a stored outcome (`data` is `status`): applied is 200, `code` 0 and the kind's
/// success `msg`; rejected is the refusal's HTTP status (409 or 422), its `code` and the reason
/// as `msg`. A duplicate answers like its first outcome (the row is always the first's).
pub fn answer_outcome(row: &InboxRow, status: EventStatus) -> Response {
    match row.status {
        InboxStatus::Rejected => {
            let refusal = Refusal::from_stored(row.refusal.as_deref());
            let http = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::CONFLICT);
            let msg = row.reason.clone().unwrap_or_else(|| refusal.meaning().to_string());
            (http, axum::Json(ApiResponse::with_code(refusal.code(), msg, status))).into_response()
        }
        _ => {
            let kind = serde_json::from_value(serde_json::Value::String(row.kind.clone())).ok();
            ok(kind.map_or("OK", success_msg), status).into_response()
        }
    }
}

/// Bytes reserved for an envelope's JSON: an earn event's is about 400.
const ENVELOPE_CAPACITY: usize = 512;

/// An envelope ready for the events exchange.
pub struct Sealed {
    pub message_id: Uuid,
    kind: MessageKind,
    body: Vec<u8>,
}

/// Wraps `payload` in the envelope every consumer reads (`key` is its idempotency key). The
/// only place the api builds one.
pub fn seal<P: Serialize>(
    kind: MessageKind,
    crm_id: String,
    key: String,
    occurred_at: DateTime<Utc>,
    payload: P,
) -> Result<Sealed, ApiError> {
    let envelope = Envelope::new(kind, crm_id, key, occurred_at, payload);
    // Room for a usual envelope at once (`to_vec` starts at 128 bytes and grows twice or more).
    let mut body = Vec::with_capacity(ENVELOPE_CAPACITY);
    serde_json::to_writer(&mut body, &envelope).map_err(anyhow::Error::from)?;
    Ok(Sealed { message_id: envelope.message_id, kind, body })
}

impl Sealed {
    /// Publishes persistently on the events exchange and waits for the broker's confirm, with
    /// the request's trace context in its headers.
    pub async fn publish(&self, state: &AppState, routing_key: &str) -> Result<(), PublishError> {
        let mut id = Uuid::encode_buffer();
        let id = self.message_id.hyphenated().encode_lower(&mut id);
        let mut props = headers::persistent_json(id, self.kind.as_str());
        if let Some(trace) = crate::trace::current() {
            props = headers::with_trace(props, &trace);
        }
        state.publisher.publish(state.topology.events_exchange(), routing_key, &self.body, props).await
    }
}

/// Polls the inbox until the event has an outcome or the wait is over. (Polling, not
/// LISTEN/NOTIFY: NOTIFY takes a global lock at commit and would slow every worker.)
pub(crate) async fn wait_for_outcome(
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
