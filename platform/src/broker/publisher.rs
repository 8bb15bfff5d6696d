//! The confirmed publisher: persistent, mandatory messages; success only on the broker's ack
//! with nothing returned.
//!
//! Many publishes are in flight at once (each caller awaits only its own confirm, over a few
//! channels), so one connection carries thousands of messages per second. Any channel or
//! connection error drops the session; the next publish reconnects and re-declares.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, RwLock,
    },
    time::Duration,
};

use futures_util::future::join_all;
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions},
    BasicProperties, Channel, Confirmation, Connection,
};
use tokio::sync::Mutex;

use super::Topology;

/// Why a message was not accepted by the broker. Every variant means "not stored: retry".
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the broker is unreachable: {0}")]
    Unavailable(String),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for routing key {0}")]
    Unroutable(String),
    #[error("the broker did not confirm in time")]
    Timeout,
}

struct Session {
    connection: Connection,
    channels: Vec<Channel>,
    next: AtomicUsize,
    broken: AtomicBool,
}

impl Session {
    fn usable(&self) -> bool {
        !self.broken.load(Ordering::Relaxed) && self.connection.status().connected()
    }

    fn channel(&self) -> &Channel {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        &self.channels[i]
    }
}

/// A lazily connected, self-healing publisher. Cheap to share (`Arc`).
pub struct Publisher {
    url: String,
    name: String,
    topology: Topology,
    channel_count: usize,
    confirm_timeout: Duration,
    session: RwLock<Option<Arc<Session>>>,
    connecting: Mutex<()>,
}

impl Publisher {
    pub fn new(url: &str, name: &str, topology: Topology) -> Publisher {
        Publisher {
            url: url.to_string(),
            name: name.to_string(),
            topology,
            channel_count: 4,
            confirm_timeout: Duration::from_secs(5),
            session: RwLock::new(None),
            connecting: Mutex::new(()),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Connects now (and declares the topology), so that start-up fails loudly when asked to.
    pub async fn ensure_connected(&self) -> Result<(), PublishError> {
        self.session().await.map(drop)
    }

    pub fn is_connected(&self) -> bool {
        self.current().is_some_and(|s| s.usable())
    }

    fn current(&self) -> Option<Arc<Session>> {
        self.session.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn session(&self) -> Result<Arc<Session>, PublishError> {
        if let Some(s) = self.current().filter(|s| s.usable()) {
            return Ok(s);
        }
        // One caller reconnects; the others wait for it rather than each opening a connection.
        let _guard = self.connecting.lock().await;
        if let Some(s) = self.current().filter(|s| s.usable()) {
            return Ok(s);
        }
        let session = Arc::new(self.open().await.map_err(|e| PublishError::Unavailable(e.to_string()))?);
        *self.session.write().unwrap_or_else(|e| e.into_inner()) = Some(session.clone());
        Ok(session)
    }

    async fn open(&self) -> Result<Session, lapin::Error> {
        let connection = super::connect(&self.url, &self.name).await?;
        let mut channels = Vec::with_capacity(self.channel_count);
        for _ in 0..self.channel_count {
            let channel = connection.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            channels.push(channel);
        }
        self.topology.declare(&channels[0]).await?;
        tracing::info!(connection = %self.name, "publisher connected");
        Ok(Session { connection, channels, next: AtomicUsize::new(0), broken: AtomicBool::new(false) })
    }

    /// Publishes one message and waits for the broker's confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        let session = self.session().await?;
        let channel = session.channel();
        let outcome = tokio::time::timeout(self.confirm_timeout, async {
            let options = BasicPublishOptions { mandatory: true, ..Default::default() };
            channel.basic_publish(exchange.into(), routing_key.into(), options, payload, properties).await?.await
        })
        .await;
        let result = settle(routing_key, outcome);
        if let Err(e @ (PublishError::Unavailable(_) | PublishError::Nacked)) = &result {
            // A nack is the broker saying it could not store the message. On a cluster it came,
            // for a minute and more, from a channel whose queue's leader had died with its node
            // (issue 16's failover test), while a new connection was served at once: so a nack
            // also makes the next publish open a new session (on the next node in the list).
            tracing::warn!(error = %e, "publish failed; the next publish reconnects");
            session.broken.store(true, Ordering::Relaxed);
        }
        metrics::counter!(crate::metric_names::BROKER_PUBLISHED_TOTAL, "outcome" => if result.is_ok() { "confirmed" } else { "failed" })
            .increment(1);
        result
    }

    /// Publishes several messages on one channel, all in flight at once; `Ok` only when every
    /// one was confirmed. (The relay uses this: a partial failure republishes the whole batch,
    /// which analytics consumers deduplicate by event id.)
    pub async fn publish_all(
        &self,
        exchange: &str,
        messages: Vec<(String, Vec<u8>, BasicProperties)>,
    ) -> Result<(), PublishError> {
        let session = self.session().await?;
        let channel = session.channel();
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };
        let outcome = tokio::time::timeout(self.confirm_timeout, async {
            let mut confirms = Vec::with_capacity(messages.len());
            for (key, payload, props) in &messages {
                confirms.push((
                    key,
                    channel
                        .basic_publish(exchange.into(), key.as_str().into(), options, payload, props.clone())
                        .await?,
                ));
            }
            let keys: Vec<&String> = confirms.iter().map(|(k, _)| *k).collect();
            let results = join_all(confirms.into_iter().map(|(_, c)| c)).await;
            Ok::<_, lapin::Error>(keys.into_iter().zip(results).map(|(k, r)| settle(k, Ok(r))).collect::<Vec<_>>())
        })
        .await;
        let result = match outcome {
            Err(_) => Err(PublishError::Timeout),
            Ok(Err(e)) => Err(PublishError::Unavailable(e.to_string())),
            Ok(Ok(results)) => results.into_iter().collect::<Result<Vec<()>, _>>().map(drop),
        };
        // As in `publish`: a nack, too, makes the next publish open a new session.
        if let Err(PublishError::Unavailable(_) | PublishError::Nacked) = &result {
            session.broken.store(true, Ordering::Relaxed);
        }
        result
    }
}

fn settle(
    routing_key: &str,
    outcome: Result<Result<Confirmation, lapin::Error>, tokio::time::error::Elapsed>,
) -> Result<(), PublishError> {
    match outcome {
        Err(_) => Err(PublishError::Timeout),
        Ok(Err(e)) => Err(PublishError::Unavailable(e.to_string())),
        Ok(Ok(Confirmation::Ack(None))) => Ok(()),
        Ok(Ok(Confirmation::Ack(Some(_)))) => Err(PublishError::Unroutable(routing_key.to_string())),
        Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked),
        Ok(Ok(Confirmation::NotRequested)) => Err(PublishError::Unavailable("publisher confirms are off".into())),
    }
}
