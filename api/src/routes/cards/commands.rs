//! The six card member commands (seed 003): receive, receive_reverse, redeem, redeem_reverse,
//! present, present_receive. They share one shape — validate, take the idempotency key, seal
//! and publish through the ingress — so one generic handler serves them all, and each request
//! type says only what differs ([`MemberCommand`]).

use axum::{
    extract::{Path, State},
    response::Response,
    Extension,
};
use schemas::{
    cards::{
        PresentPayload, PresentReceive, PresentRequest, ReceivePayload, ReceiveRequest, ReceiveReverse, RedeemPayload,
        RedeemRequest, RedeemReverse,
    },
    checks::check_key,
    FieldError, MessageKind,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
    ingress::{publish_and_answer, Outgoing, WaitQuery},
    AppState,
};

/// A member command's request: what it publishes, and under which key.
pub trait MemberCommand: DeserializeOwned + Send + 'static {
    const KIND: MessageKind;
    /// Its routing key on the events exchange.
    const ROUTING_KEY: &'static str;
    /// What the workers get.
    type Payload: Serialize + Send;
    /// Validates the request; the message's idempotency key and its payload.
    fn into_message(self) -> Result<(String, Self::Payload), FieldError>;
}

/// The handler of every member command: 202 once the broker has it; with `wait_ms`, 200 and the
/// outcome if it is known in time; 503 when not queued.
pub async fn handle<C: MemberCommand>(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<C>,
) -> Result<Response, ApiError> {
    let (key, payload) = body.into_message()?;
    let message = Outgoing { kind: C::KIND, routing_key: C::ROUTING_KEY.into(), key, occurred_at: None };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

impl MemberCommand for ReceiveRequest {
    const KIND: MessageKind = MessageKind::CardsReceive;
    const ROUTING_KEY: &'static str = "cards.receive";
    type Payload = ReceivePayload;
    fn into_message(self) -> Result<(String, ReceivePayload), FieldError> {
        self.validate()
    }
}

impl MemberCommand for ReceiveReverse {
    const KIND: MessageKind = MessageKind::CardsReceiveReverse;
    const ROUTING_KEY: &'static str = "cards.receive_reverse";
    type Payload = Self;
    fn into_message(self) -> Result<(String, Self), FieldError> {
        check_key("received_id", &self.received_id)?;
        Ok((self.received_id.clone(), self))
    }
}

impl MemberCommand for RedeemRequest {
    const KIND: MessageKind = MessageKind::CardsRedeem;
    const ROUTING_KEY: &'static str = "cards.redeem";
    type Payload = RedeemPayload;
    fn into_message(self) -> Result<(String, RedeemPayload), FieldError> {
        self.validate()
    }
}

impl MemberCommand for RedeemReverse {
    const KIND: MessageKind = MessageKind::CardsRedeemReverse;
    const ROUTING_KEY: &'static str = "cards.redeem_reverse";
    type Payload = Self;
    fn into_message(self) -> Result<(String, Self), FieldError> {
        check_key("redeem_id", &self.redeem_id)?;
        Ok((self.redeem_id.clone(), self))
    }
}

impl MemberCommand for PresentRequest {
    const KIND: MessageKind = MessageKind::CardsPresent;
    const ROUTING_KEY: &'static str = "cards.present";
    type Payload = PresentPayload;
    /// The key is a new `present_id`, which the answer carries to the friend.
    fn into_message(self) -> Result<(String, PresentPayload), FieldError> {
        let payload = self.validate()?;
        Ok((uuid::Uuid::now_v7().simple().to_string(), payload))
    }
}

impl MemberCommand for PresentReceive {
    const KIND: MessageKind = MessageKind::CardsPresentReceive;
    const ROUTING_KEY: &'static str = "cards.present_receive";
    type Payload = Self;
    fn into_message(self) -> Result<(String, Self), FieldError> {
        self.validate()?;
        Ok((self.key(), self))
    }
}

/// The OpenAPI operations of the member commands. utoipa documents a function, and the one
/// generic handler cannot carry six paths, so each operation is declared on an empty function
/// named as the operation (its operationId); the router serves it with [`handle`].
pub mod operations {
    use schemas::cards::{
        PresentReceive, PresentRequest, ReceiveRequest, ReceiveReverse, RedeemRequest, RedeemReverse,
    };

    use crate::ingress::WaitQuery;

    /// A member claims cards through the queue, all or nothing across `card_info`.
    #[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/receive", request_body = ReceiveRequest, tag = "cards",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn receive() {}

    /// Redeems a code (the POS): exactly once; a second scan is refused with the reason.
    #[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/redeem", request_body = RedeemRequest, tag = "cards",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn redeem() {}

    /// Reverses a redemption (a cancelled sale): the code is available again while still valid.
    #[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/redeem_reverse", request_body = RedeemReverse, tag = "cards",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn redeem_reverse() {}

    /// Presents a code to a friend: it waits (status 2) until received with the `present_id` this
    /// answers, or goes back after the tenant's time-out (default 24 h).
    #[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/present", request_body = PresentRequest, tag = "cards",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued, with present_id"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn present() {}

    /// A friend receives a present (not the giver; at most once; before its time-out).
    #[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/present_receive", request_body = PresentReceive, tag = "cards",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn present_receive() {}

    /// Undoes a claim: its codes become obsolete (5), the member's receive count and the card's
    /// stock are restored (as many fresh codes join the stock).
    #[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/receive_reverse", request_body = ReceiveReverse, tag = "cards",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn receive_reverse() {}
}
