//! Outcome lookups: what became of a command, found by the key the system dedupes it on, answered
//! exactly as the synchronous (`wait_ms`) answer is ([`crate::ingress::answer_outcome`]). So a
//! client that got a 202, or timed out, learns the outcome without sending the command again.
//!
//! One route per domain, `…/outcomes/{key_kind}/{key}`, where `key_kind` is the inbox's (see
//! `MessageKind::key_kind`) and `key` the idempotency key the command was published with.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension,
};
use platform::{
    inbox::{self, InboxRow},
    status::InboxStatus,
};
use schemas::MessageKind;

use crate::{
    auth::Tenant,
    error::ApiError,
    ingress::{answer_outcome, first, success_msg, EventStatus, ACCEPTED},
    routes::ok,
    AppState,
};

/// The points commands' key kinds: `event_no` (earn, spend, reverse, freeze, unfreeze),
/// `transfer_no` (a transfer), `accept` (`{transfer_no}/{member_no}`).
const POINTS: &[MessageKind] = &[MessageKind::PointsEarn, MessageKind::PointsTransfer, MessageKind::PointsAccept];

/// The card commands' key kinds: `received_id`, `receive_reverse` (the received_id), `redeem_id`,
/// `redeem_reverse` (the redeem_id), `present_id`, `present_receive` (`{present_id}/{member_no}`),
/// `generate_id` (`{card_id}/{generate_id}`).
const CARDS: &[MessageKind] = &[
    MessageKind::CardsReceive,
    MessageKind::CardsReceiveReverse,
    MessageKind::CardsRedeem,
    MessageKind::CardsRedeemReverse,
    MessageKind::CardsPresent,
    MessageKind::CardsPresentReceive,
    MessageKind::CardsGenerate,
];

/// The outcome of a points command by its key. 200 applied · 409/422 refused (the refusal's
/// code, see the table in the API description) · 404 unknown key (not applied yet, parked, or
/// never received).
#[utoipa::path(get, path = "/api/crm/mgr/points/{crm_id}/outcomes/{key_kind}/{key}", tag = "events",
    params(("crm_id" = String, Path),
           ("key_kind" = String, Path, description = "event_no | transfer_no | accept"),
           ("key" = String, Path, description = "the command's key; for accept `{transfer_no}/{member_no}`")),
    responses((status = 200, body = EventStatus, description = "applied: code 0"),
              (status = 409, body = EventStatus, description = "refused: conflicts with the current state (code 409xx)"),
              (status = 422, body = EventStatus, description = "refused: can never succeed as asked (code 422xx), or an unknown key_kind"),
              (status = 404, description = "no outcome for this key (code 40400)")))]
pub async fn points_outcome(
    State(state): State<AppState>,
    Path((crm_id, key_kind, key)): Path<(String, String, String)>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ApiError> {
    let kind = kind_of(POINTS, &key_kind)?;
    lookup(&state, &tenant, &crm_id, kind, &key).await
}

/// The outcome of a card command by its key (same answers as the points lookup). A generation
/// task still running answers 202 `accepted` with the codes generated so far as `points`.
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/outcomes/{key_kind}/{key}", tag = "cards",
    params(("crm_id" = String, Path),
           ("key_kind" = String, Path, description = "received_id | receive_reverse | redeem_id | redeem_reverse | present_id | present_receive | generate_id"),
           ("key" = String, Path, description = "the command's key; for present_receive `{present_id}/{member_no}`, for generate_id `{card_id}/{generate_id}`")),
    responses((status = 200, body = EventStatus, description = "applied: code 0 and the seed's msg"),
              (status = 202, body = EventStatus, description = "a generation task still running"),
              (status = 409, body = EventStatus, description = "refused: conflicts with the current state (code 409xx)"),
              (status = 422, body = EventStatus, description = "refused: can never succeed as asked (code 422xx), or an unknown key_kind"),
              (status = 404, description = "no outcome for this key (code 40400)")))]
pub async fn cards_outcome(
    State(state): State<AppState>,
    Path((crm_id, key_kind, key)): Path<(String, String, String)>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ApiError> {
    let kind = kind_of(CARDS, &key_kind)?;
    if kind == MessageKind::CardsGenerate {
        return generation(&state, &crm_id, &key).await;
    }
    lookup(&state, &tenant, &crm_id, kind, &key).await
}

fn kind_of(kinds: &[MessageKind], key_kind: &str) -> Result<MessageKind, ApiError> {
    kinds.iter().copied().find(|k| k.key_kind() == key_kind).ok_or_else(|| {
        let known: Vec<&str> = kinds.iter().map(|k| k.key_kind()).collect();
        ApiError::invalid("key_kind", format!("must be one of {}", known.join(", ")))
    })
}

async fn lookup(
    state: &AppState,
    tenant: &Tenant,
    crm_id: &str,
    kind: MessageKind,
    key: &str,
) -> Result<Response, ApiError> {
    let key_kind = kind.key_kind();
    let row = inbox::find(&state.db, crm_id, key_kind, key).await?.ok_or_else(|| {
        ApiError::NotFound(format!("{key_kind} {key} has no outcome yet: not applied yet, parked, or never received"))
    })?;
    Ok(answer_row(&row, tenant))
}

/// A stored outcome as a lookup answers it: the stored status, and the row under `first`.
pub fn answer_row(row: &InboxRow, tenant: &Tenant) -> Response {
    let status = EventStatus {
        event_no: row.idem_key.clone(),
        message_id: None,
        status: row.status.as_str().to_string(),
        points: Some(row.points),
        reason: row.reason.clone(),
        first: Some(first(row, tenant)),
        present_id: (row.kind == MessageKind::CardsPresent.as_str()).then(|| row.idem_key.clone()),
        duplicate: false,
    };
    answer_outcome(row, status)
}

/// A generation task keeps its progress in `card_generate`, not in the inbox: done is applied
/// (the codes generated as `points`), running is accepted.
async fn generation(state: &AppState, crm_id: &str, key: &str) -> Result<Response, ApiError> {
    let not_found =
        || ApiError::NotFound(format!("generate_id {key} has no task: the key is `{{card_id}}/{{generate_id}}`"));
    let (card_id, generate_id) = key.split_once('/').ok_or_else(not_found)?;
    let task = sqlx::query!(
        "select generated, is_generated from card_generate where crm_id = $1 and card_id = $2 and generate_id = $3",
        crm_id,
        card_id,
        generate_id,
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(not_found)?;
    let status = EventStatus {
        event_no: key.to_string(),
        message_id: None,
        status: if task.is_generated { InboxStatus::Applied.as_str() } else { ACCEPTED }.to_string(),
        points: Some(i64::from(task.generated)),
        reason: None,
        first: None,
        present_id: None,
        duplicate: false,
    };
    Ok(if task.is_generated {
        ok(success_msg(MessageKind::CardsGenerate), status).into_response()
    } else {
        (StatusCode::ACCEPTED, ok("accepted", status)).into_response()
    })
}
