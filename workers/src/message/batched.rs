//! The batched kinds: the [`Batched`] trait through which a kind plugs into the consumer's
//! batching, and its impls for earn events and card claims (each delegates to its handler).

use std::{collections::HashMap, future::Future};

use platform::rules::TenantRules;
use schemas::{cards::ReceivePayload, orders::OrderPayload, points::EarnPayload, Envelope};

use super::Message;
use crate::{
    cards, orders,
    outcome::{ApplyError, Outcome},
    points::earn,
    Deps,
};

/// A message kind applied in batches, one transaction of set-based statements per batch,
/// implemented on its payload type. The consumer groups these kinds (see
/// `consumer::process`) and splits a failed batch one by one, whatever the kind. A new
/// batched kind adds an impl here, delegating to its handler, as the two below do.
pub trait Batched: Sized + Send + Sync + 'static {
    /// This kind's envelope, or the message back if it is another kind.
    // The message moves back by value, once per delivery; boxing it would allocate for each.
    #[allow(clippy::result_large_err)]
    fn take(message: Message) -> Result<Envelope<Self>, Message>;

    /// Applies the envelopes together: one outcome each, in their order. `tenants` holds the
    /// rules of the batch's known tenants; the events of any other tenant are poison.
    fn apply_batch<'a>(
        deps: &'a Deps,
        tenants: &'a HashMap<String, TenantRules>,
        events: &'a [Envelope<Self>],
    ) -> impl Future<Output = Result<Vec<Outcome>, ApplyError>> + Send + 'a;
}

impl Batched for EarnPayload {
    fn take(message: Message) -> Result<Envelope<Self>, Message> {
        match message {
            Message::PointsEarn(e) => Ok(e),
            other => Err(other),
        }
    }

    fn apply_batch<'a>(
        deps: &'a Deps,
        tenants: &'a HashMap<String, TenantRules>,
        events: &'a [Envelope<Self>],
    ) -> impl Future<Output = Result<Vec<Outcome>, ApplyError>> + Send + 'a {
        earn::apply_batch(&deps.db, tenants, events)
    }
}

impl Batched for ReceivePayload {
    fn take(message: Message) -> Result<Envelope<Self>, Message> {
        match message {
            Message::CardsReceive(e) => Ok(e),
            other => Err(other),
        }
    }

    fn apply_batch<'a>(
        deps: &'a Deps,
        tenants: &'a HashMap<String, TenantRules>,
        events: &'a [Envelope<Self>],
    ) -> impl Future<Output = Result<Vec<Outcome>, ApplyError>> + Send + 'a {
        cards::receive::apply_batch(&deps.db, &deps.codes, tenants, events)
    }
}

impl Batched for OrderPayload {
    fn take(message: Message) -> Result<Envelope<Self>, Message> {
        match message {
            Message::PointsOrder(e) => Ok(e),
            other => Err(other),
        }
    }

    fn apply_batch<'a>(
        deps: &'a Deps,
        tenants: &'a HashMap<String, TenantRules>,
        events: &'a [Envelope<Self>],
    ) -> impl Future<Output = Result<Vec<Outcome>, ApplyError>> + Send + 'a {
        orders::pay::apply_batch(&deps.db, tenants, events)
    }
}
