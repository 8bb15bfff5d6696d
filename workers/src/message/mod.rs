//! The messages this build understands, and the dispatch on their kind: [`Message::apply`]
//! hands each kind to its handler (one file per kind under `points/` and `cards/`), the way a
//! command enum delegates to one module per command. Batched kinds (earn, claims) also plug
//! into the consumer's batching through [`Batched`] (`batched.rs`); `decode.rs` turns a
//! delivery's body into a [`Message`].

mod batched;
mod decode;

use std::collections::HashMap;

use platform::rules::TenantRules;
use schemas::{
    cards::{
        GeneratePayload, PresentPayload, PresentReceive, ReceivePayload, ReceiveReverse, RedeemPayload, RedeemReverse,
    },
    orders::{AdjustPayload, OrderPayload, OrderStepPayload},
    points::{
        AcceptPayload, ConsumePayload, EarnPayload, FreezePayload, ReversePayload, TransferPayload, UnfreezePayload,
    },
    trace::TraceContext,
    Envelope, MessageKind,
};
use uuid::Uuid;

pub use self::{batched::Batched, decode::decode};
use crate::{
    cards, orders,
    outcome::{ApplyError, Outcome},
    points::{adjust, consume, freeze, reverse, transfer},
    Deps,
};

/// A decoded, validated message.
#[derive(Debug, Clone)]
pub enum Message {
    PointsEarn(Envelope<EarnPayload>),
    PointsConsume(Envelope<ConsumePayload>),
    PointsReverse(Envelope<ReversePayload>),
    PointsTransfer(Envelope<TransferPayload>),
    PointsAccept(Envelope<AcceptPayload>),
    PointsFreeze(Envelope<FreezePayload>),
    PointsUnfreeze(Envelope<UnfreezePayload>),
    CardsGenerate(Envelope<GeneratePayload>),
    CardsReceive(Envelope<ReceivePayload>),
    CardsRedeem(Envelope<RedeemPayload>),
    CardsRedeemReverse(Envelope<RedeemReverse>),
    CardsPresent(Envelope<PresentPayload>),
    CardsPresentReceive(Envelope<PresentReceive>),
    CardsReceiveReverse(Envelope<ReceiveReverse>),
    PointsAdjust(Envelope<AdjustPayload>),
    PointsOrder(Envelope<OrderPayload>),
    PointsOrderStep(Envelope<OrderStepPayload>),
}

/// The envelope fields every kind has, whatever its payload.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub message_id: Uuid,
    pub kind: MessageKind,
    pub crm_id: &'a str,
    pub idempotency_key: &'a str,
    /// The trace context the message's headers carried.
    pub trace: Option<&'a TraceContext>,
}

impl<'a, P> From<&'a Envelope<P>> for Head<'a> {
    fn from(e: &'a Envelope<P>) -> Head<'a> {
        Head {
            message_id: e.message_id,
            kind: e.kind,
            crm_id: &e.crm_id,
            idempotency_key: &e.idempotency_key,
            trace: e.trace.as_ref(),
        }
    }
}

impl Message {
    /// The envelope fields, read from whichever variant this is.
    pub fn head(&self) -> Head<'_> {
        match self {
            Message::PointsEarn(e) => e.into(),
            Message::PointsConsume(e) => e.into(),
            Message::PointsReverse(e) => e.into(),
            Message::PointsTransfer(e) => e.into(),
            Message::PointsAccept(e) => e.into(),
            Message::PointsFreeze(e) => e.into(),
            Message::PointsUnfreeze(e) => e.into(),
            Message::CardsGenerate(e) => e.into(),
            Message::CardsReceive(e) => e.into(),
            Message::CardsRedeem(e) => e.into(),
            Message::CardsRedeemReverse(e) => e.into(),
            Message::CardsPresent(e) => e.into(),
            Message::CardsPresentReceive(e) => e.into(),
            Message::CardsReceiveReverse(e) => e.into(),
            Message::PointsAdjust(e) => e.into(),
            Message::PointsOrder(e) => e.into(),
            Message::PointsOrderStep(e) => e.into(),
        }
    }

    pub fn crm_id(&self) -> &str {
        self.head().crm_id
    }

    /// Applies the message alone, in its own transaction. `tenants` holds its tenant's rules
    /// (the caller answers poison for an unknown tenant before calling).
    pub async fn apply(&self, deps: &Deps, tenants: &HashMap<String, TenantRules>) -> Result<Outcome, ApplyError> {
        let db = &deps.db;
        let tenant = &tenants[self.crm_id()];
        match self {
            Message::PointsConsume(e) => consume::apply(db, tenant, e).await,
            Message::PointsReverse(e) => reverse::apply(db, tenant, e).await,
            Message::PointsTransfer(e) => transfer::give(db, tenant, e).await,
            Message::PointsAccept(e) => transfer::accept(db, tenant, e).await,
            Message::PointsFreeze(e) => freeze::freeze(db, e).await,
            Message::PointsUnfreeze(e) => freeze::unfreeze(db, e).await,
            Message::CardsRedeem(e) => cards::redeem::redeem(db, tenant, e).await,
            Message::CardsRedeemReverse(e) => cards::redeem::reverse(db, e).await,
            Message::CardsPresent(e) => cards::present::give(db, tenant, e).await,
            Message::CardsPresentReceive(e) => cards::present::receive(db, e).await,
            Message::CardsReceiveReverse(e) => cards::receive::reverse(db, e).await,
            Message::PointsAdjust(e) => adjust::apply(db, tenant, e).await,
            Message::PointsOrderStep(e) => orders::step::apply(db, tenant, e).await,
            Message::PointsOrder(e) => alone(deps, tenants, e).await,
            Message::CardsGenerate(e) => {
                cards::generate::run(db, &e.crm_id, &e.payload.card_id, &e.payload.generate_id).await
            }
            // Grouped in their own domain's batches; one that arrives elsewhere is a group of one.
            Message::PointsEarn(e) => alone(deps, tenants, e).await,
            Message::CardsReceive(e) => alone(deps, tenants, e).await,
        }
    }
}

/// A batched kind's message applied as a batch of one.
async fn alone<B: Batched>(
    deps: &Deps,
    tenants: &HashMap<String, TenantRules>,
    envelope: &Envelope<B>,
) -> Result<Outcome, ApplyError> {
    let mut outcomes = B::apply_batch(deps, tenants, std::slice::from_ref(envelope)).await?;
    Ok(outcomes.remove(0))
}
