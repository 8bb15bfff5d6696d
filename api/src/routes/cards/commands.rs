//! The six card member commands (seed 003): receive, receive_reverse, redeem, redeem_reverse,
//! present, present_receive. Each request type says what message it becomes
//! ([`Command`](crate::ingress::Command)); the ingress's one handler serves them all.

use schemas::{
    cards::{
        PresentPayload, PresentReceive, PresentRequest, ReceivePayload, ReceiveRequest, ReceiveReverse, RedeemPayload,
        RedeemRequest, RedeemReverse,
    },
    MessageKind,
};

use crate::{error::ApiError, ingress::Command};

impl Command for ReceiveRequest {
    const KIND: MessageKind = MessageKind::CardsReceive;
    type Payload = ReceivePayload;
    fn into_message(self) -> Result<(String, Option<String>, ReceivePayload), ApiError> {
        let (key, payload) = self.validate()?;
        Ok((key, None, payload))
    }
}

impl Command for ReceiveReverse {
    const KIND: MessageKind = MessageKind::CardsReceiveReverse;
    type Payload = Self;
    fn into_message(self) -> Result<(String, Option<String>, Self), ApiError> {
        self.validate()?;
        Ok((self.key(), None, self))
    }
}

impl Command for RedeemRequest {
    const KIND: MessageKind = MessageKind::CardsRedeem;
    type Payload = RedeemPayload;
    fn into_message(self) -> Result<(String, Option<String>, RedeemPayload), ApiError> {
        let (key, payload) = self.validate()?;
        Ok((key, None, payload))
    }
}

impl Command for RedeemReverse {
    const KIND: MessageKind = MessageKind::CardsRedeemReverse;
    type Payload = Self;
    fn into_message(self) -> Result<(String, Option<String>, Self), ApiError> {
        self.validate()?;
        Ok((self.key(), None, self))
    }
}

impl Command for PresentRequest {
    const KIND: MessageKind = MessageKind::CardsPresent;
    type Payload = PresentPayload;
    /// The key is a new `present_id`, which the answer carries to the friend.
    fn into_message(self) -> Result<(String, Option<String>, PresentPayload), ApiError> {
        let payload = self.validate()?;
        Ok((uuid::Uuid::now_v7().simple().to_string(), None, payload))
    }
}

impl Command for PresentReceive {
    const KIND: MessageKind = MessageKind::CardsPresentReceive;
    type Payload = Self;
    fn into_message(self) -> Result<(String, Option<String>, Self), ApiError> {
        self.validate()?;
        Ok((self.key(), None, self))
    }
}

/// The OpenAPI operations of the member commands. utoipa documents a function, and the one
/// generic handler cannot carry six paths, so each operation is declared on an empty function
/// named as the operation (its operationId); the router serves it with
/// [`command`](crate::ingress::command).
pub mod operations {
    use schemas::cards::{
        PresentReceive, PresentRequest, ReceiveRequest, ReceiveReverse, RedeemRequest, RedeemReverse,
    };

    use crate::ingress::WaitQuery;

    /// A member claims cards through the queue, all or nothing across `card_info`.
    #[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/receive", request_body = ReceiveRequest, tag = "cards",
        params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
    pub fn receive() {}

    /// Redeems a code (the POS): exactly once; a second scan is refused with the reason. With an
    /// order context (`store_code`, `amount`, `items`, `order_no`, `with_other_offer`) the card's
    /// conditions are checked too (store_codes, cash_condition, qty_condition, use_with_other_offer,
    /// use_with_other_coupon against the other coupons redeemed with the same `order_no`).
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
