//! Names and declarations of every exchange and queue. Every process declares the whole
//! topology when it connects; declarations are idempotent.
//!
//! ```text
//! {ns}.events (topic) --points.#--> {ns}.points (quorum) --dead letters--> {ns}.points.dlq
//!                     --cards.#---> {ns}.cards  (the same family: retry queues, DLQ)
//!                                       ^        \--retry (worker publishes)--> {ns}.points.retry.{ms}ms
//!                                       \------------- TTL expiry -------------------/
//! {ns}.analytics (topic) --#--> {ns}.analytics (quorum)     unreadable: {ns}.analytics.dlq
//! ```

use std::time::Duration;

use lapin::{
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
    Channel, ExchangeKind,
};

use super::FieldTableBuilder;

/// After this many deliveries (crash loops: a worker dying on a message) the broker
/// dead-letters a message to the domain's DLQ with reason `delivery_limit`. Our own retries do
/// not go through requeue, so they never count here.
pub const DELIVERY_LIMIT: i64 = 20;

/// A queue family: a work queue, its retry queues and its dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Points,
    Cards,
}

impl Domain {
    pub const ALL: &'static [Domain] = &[Domain::Points, Domain::Cards];

    pub fn name(self) -> &'static str {
        match self {
            Domain::Points => "points",
            Domain::Cards => "cards",
        }
    }

    pub fn parse(s: &str) -> Option<Domain> {
        Domain::ALL.iter().copied().find(|d| d.name() == s)
    }
}

/// The names of one environment's exchanges and queues.
#[derive(Debug, Clone)]
pub struct Topology {
    pub namespace: String,
    /// The retry delays; each has its own TTL queue (a queue's TTL cannot change once declared,
    /// so the delay is part of the name).
    pub retry_delays: Vec<Duration>,
    /// `{namespace}.events`, made once: the ingress names it in every publish (issue 14).
    events_exchange: String,
}

impl Topology {
    pub fn new(namespace: &str, retry_delays: Vec<Duration>) -> Topology {
        let events_exchange = format!("{namespace}.events");
        Topology { namespace: namespace.to_string(), retry_delays, events_exchange }
    }

    pub fn events_exchange(&self) -> &str {
        &self.events_exchange
    }

    pub fn analytics_exchange(&self) -> String {
        format!("{}.analytics", self.namespace)
    }

    pub fn analytics_queue(&self) -> String {
        format!("{}.analytics", self.namespace)
    }

    /// Analytics messages the analytics consumer cannot read (with the reason in
    /// `x-park-reason`).
    pub fn analytics_dead_letter_queue(&self) -> String {
        format!("{}.analytics.dlq", self.namespace)
    }

    pub fn work_queue(&self, domain: Domain) -> String {
        format!("{}.{}", self.namespace, domain.name())
    }

    pub fn dead_letter_queue(&self, domain: Domain) -> String {
        format!("{}.{}.dlq", self.namespace, domain.name())
    }

    pub fn retry_queue(&self, domain: Domain, delay: Duration) -> String {
        format!("{}.{}.retry.{}ms", self.namespace, domain.name(), delay.as_millis())
    }

    /// A work queue's arguments: quorum, its dead letters to the family's DLQ, the delivery limit.
    pub fn work_queue_args(&self, domain: Domain) -> FieldTable {
        quorum_dead_lettering("", &self.dead_letter_queue(domain)).int("x-delivery-limit", DELIVERY_LIMIT).build()
    }

    /// Declares everything. Safe to call from every process at every (re)connect.
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        for exchange in [self.events_exchange(), &self.analytics_exchange()] {
            channel.exchange_declare(exchange.into(), ExchangeKind::Topic, durable, FieldTable::default()).await?;
        }
        let queue_options = QueueDeclareOptions { durable: true, ..Default::default() };
        for &domain in Domain::ALL {
            let work = self.work_queue(domain);
            let dlq = self.dead_letter_queue(domain);
            channel.queue_declare(dlq.as_str().into(), queue_options, dead_letter_queue_args()).await?;

            channel.queue_declare(work.as_str().into(), queue_options, self.work_queue_args(domain)).await?;
            let binding = format!("{}.#", domain.name());
            channel
                .queue_bind(
                    work.as_str().into(),
                    self.events_exchange().into(),
                    binding.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;

            for &delay in &self.retry_delays {
                // Expired messages go back to the work queue through the default exchange.
                let args = quorum_dead_lettering("", &work).int("x-message-ttl", delay.as_millis() as i64).build();
                channel.queue_declare(self.retry_queue(domain, delay).into(), queue_options, args).await?;
            }
        }
        let analytics = self.analytics_queue();
        channel.queue_declare(analytics.as_str().into(), queue_options, quorum().build()).await?;
        let analytics_dlq = self.analytics_dead_letter_queue();
        channel.queue_declare(analytics_dlq.as_str().into(), queue_options, dead_letter_queue_args()).await?;
        channel
            .queue_bind(
                analytics.into(),
                self.analytics_exchange().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }
}

/// A DLQ is a quorum queue like the others, replicated on a cluster's nodes. (It was a classic
/// queue, which lives on one node: while that node was down, every declaration of the queue
/// failed, and since every process declares the topology when it connects, no publisher or
/// consumer of the cluster could connect: issue 16's failover test.) Listing a DLQ takes its
/// messages and puts them back, and a quorum queue counts each return as a delivery; its limit
/// is set out of reach, so that no parked message is ever dropped however often it is listed
/// (RabbitMQ 4 gives every quorum queue a limit of 20 unless told otherwise).
fn dead_letter_queue_args() -> FieldTable {
    quorum().int("x-delivery-limit", PARKED_DELIVERY_LIMIT).build()
}

/// The DLQs' delivery limit: never reached.
const PARKED_DELIVERY_LIMIT: i64 = i32::MAX as i64;

fn quorum() -> FieldTableBuilder {
    let mut args = FieldTableBuilder::default();
    args.string("x-queue-type", "quorum");
    args
}

/// A quorum queue that dead-letters at-least-once (RabbitMQ ≥ 3.10; needs reject-publish).
fn quorum_dead_lettering(exchange: &str, routing_key: &str) -> FieldTableBuilder {
    let mut args = quorum();
    args.string("x-dead-letter-exchange", exchange)
        .string("x-dead-letter-routing-key", routing_key)
        .string("x-dead-letter-strategy", "at-least-once")
        .string("x-overflow", "reject-publish");
    args
}
