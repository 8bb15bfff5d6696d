//! The dead-letter queues: list what is parked and why, and replay it.
//!
//! Replay moves a parked message back to its domain's work queue (publish with confirm, then
//! ack it off the DLQ), with the attempt counter reset. A replayed message that had already
//! been applied finds its inbox row and changes nothing, and a second replay finds the DLQ
//! empty: replaying twice changes nothing.

use lapin::{
    message::BasicGetMessage,
    options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
    BasicProperties,
};
use serde::Serialize;

use super::{headers, Domain, Topology};

/// One parked message, as an operator sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParkedMessage {
    pub queue: String,
    pub message_id: Option<String>,
    pub kind: Option<String>,
    /// Why it was parked (our header, or the broker's `x-death` reason).
    pub reason: String,
    /// poison | transient | delivery_limit | rejected | expired
    pub class: String,
    pub attempts: i64,
    pub parked_at: Option<String>,
    pub crm_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// The body, cut to 1,000 characters.
    pub body: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    pub queue: String,
    pub replayed: usize,
}

/// Describes a parked message from its headers and body.
pub fn describe(queue: &str, props: &BasicProperties, body: &[u8]) -> ParkedMessage {
    let death = headers::first_death(props);
    let death_str = |k: &str| death.and_then(|t| t.inner().get(k)).and_then(headers::as_string);
    let class =
        headers::string(props, headers::PARK_CLASS).or_else(|| death_str("reason")).unwrap_or_else(|| "unknown".into());
    let reason = headers::string(props, headers::PARK_REASON)
        .unwrap_or_else(|| format!("dead-lettered by the broker ({class})"));
    let attempts = headers::int(props, headers::ATTEMPT)
        .or_else(|| headers::int(props, "x-delivery-count"))
        .or_else(|| death.and_then(|t| t.inner().get("count")).and_then(headers::as_int))
        .unwrap_or(0);
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| json.as_ref().and_then(|j| j.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    let text = String::from_utf8_lossy(body);
    ParkedMessage {
        queue: queue.to_string(),
        message_id: props.message_id().as_ref().map(|m| m.as_str().to_string()),
        kind: props.kind().as_ref().map(|k| k.as_str().to_string()),
        reason,
        class,
        attempts,
        parked_at: headers::string(props, headers::PARKED_AT),
        crm_id: field("crm_id"),
        idempotency_key: field("idempotency_key"),
        body: text.chars().take(1000).collect(),
    }
}

/// Lists up to `limit` parked messages of a domain without removing them.
///
/// It takes them with `basic.get` and closes the channel without acking, which puts them back
/// (each return counts as a delivery, and the DLQ's limit is out of reach: see the topology).
pub async fn list(
    amqp_url: &str,
    topology: &Topology,
    domain: Domain,
    limit: usize,
) -> anyhow::Result<Vec<ParkedMessage>> {
    let connection = super::connect(amqp_url, "loyalty-dlq-list").await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    let queue = topology.dead_letter_queue(domain);
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(BasicGetMessage { delivery, .. }) =
            channel.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false }).await?
        else {
            break;
        };
        out.push(describe(&queue, &delivery.properties, &delivery.data));
    }
    connection.close(200, "listed".into()).await.ok();
    Ok(out)
}

/// Moves up to `limit` parked messages of a domain back to its work queue; with `show_progress`
/// (the operator command), a progress bar on a terminal, plain lines otherwise.
pub async fn replay(
    amqp_url: &str,
    topology: &Topology,
    domain: Domain,
    limit: usize,
    show_progress: bool,
) -> anyhow::Result<ReplayReport> {
    let connection = super::connect(amqp_url, "loyalty-dlq-replay").await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    topology.declare(&channel).await?;
    let queue = topology.dead_letter_queue(domain);
    let work = topology.work_queue(domain);
    // Only what is parked now: a poison message replayed and parked again while this runs
    // must not be picked up a second time (replay would chase its own tail).
    let parked_now = channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?
        .message_count() as usize;
    let limit = limit.min(parked_now);
    let mut progress =
        show_progress.then(|| crate::progress::Progress::new(&format!("replay {queue}"), Some(limit as u64)));
    let mut replayed = 0;
    while replayed < limit {
        let Some(BasicGetMessage { delivery, .. }) =
            channel.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false }).await?
        else {
            break;
        };
        let replays = headers::int(&delivery.properties, headers::REPLAYED).unwrap_or(0) + 1;
        let props = headers::with_headers(
            &delivery.properties,
            vec![(headers::ATTEMPT, AMQPValue::LongLongInt(0)), (headers::REPLAYED, AMQPValue::LongLongInt(replays))],
            &[
                headers::PARK_REASON,
                headers::PARK_CLASS,
                headers::PARKED_AT,
                "x-death",
                "x-first-death-exchange",
                "x-first-death-queue",
                "x-first-death-reason",
                "x-last-death-exchange",
                "x-last-death-queue",
                "x-last-death-reason",
            ],
        )
        .with_delivery_mode(2);
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };
        let confirm =
            channel.basic_publish("".into(), work.as_str().into(), options, &delivery.data, props).await?.await?;
        anyhow::ensure!(
            matches!(confirm, lapin::Confirmation::Ack(None)),
            "the broker did not accept the replayed message; it stays parked"
        );
        // Only now leave the DLQ: a crash before this ack leaves the message parked *and*
        // replayed, and the inbox makes the second copy a no-op.
        delivery.ack(BasicAckOptions::default()).await?;
        replayed += 1;
        if let Some(p) = progress.as_mut() {
            p.inc(1);
        }
    }
    if let Some(p) = progress {
        p.finish(&format!("{replayed} replayed"));
    }
    connection.close(200, "replayed".into()).await.ok();
    Ok(ReplayReport { queue, replayed })
}
