//! RabbitMQ: the topology every process declares, the confirmed publisher, message headers,
//! and the dead-letter tools.

pub mod dlq;
pub mod headers;
pub mod publisher;
pub mod topology;

pub use publisher::{PublishError, Publisher};
pub use topology::{Domain, Topology};

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use lapin::{Connection, ConnectionProperties};

/// How long a connection attempt may take before the caller is told the broker is down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The addresses of `AMQP_URL`: one AMQP URI, or several separated by commas (the nodes of a
/// cluster), in the order given.
pub fn addresses(url: &str) -> impl Iterator<Item = &str> {
    url.split(',').map(str::trim).filter(|a| !a.is_empty())
}

/// Checks that `AMQP_URL` names at least one address and that each is an AMQP URI; the error
/// names the address by its place (not its text, which may hold a password).
pub fn check_addresses(url: &str) -> Result<(), String> {
    let mut count = 0;
    for (i, address) in addresses(url).enumerate() {
        address
            .parse::<lapin::uri::AMQPUri>()
            .map_err(|e| format!("AMQP_URL: address {} is not an AMQP URI: {e}", i + 1))?;
        count += 1;
    }
    if count == 0 {
        return Err("AMQP_URL names no address".into());
    }
    Ok(())
}

/// Where the next connection attempt starts in the list of addresses: each attempt starts one
/// further, so that the connections of a process spread over a cluster's nodes; a reconnection
/// after a node died goes on past it when its attempt fails.
static NEXT_ADDRESS: AtomicUsize = AtomicUsize::new(0);

/// Opens a connection to one of `url`'s addresses ([`addresses`]) that answers, trying each in
/// turn from a rotating start, failing fast on each (the ingress must answer 503, not hang).
/// With every address down, the last one's error.
pub async fn connect(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let all: Vec<&str> = addresses(url).collect();
    let start = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
    let mut last = None;
    for i in 0..all.len() {
        let index = (start + i) % all.len();
        match connect_one(all[index], name).await {
            Ok(connection) => return Ok(connection),
            Err(e) => {
                if all.len() > 1 {
                    tracing::warn!(address = index + 1, of = all.len(), error = %e, "RabbitMQ address unreachable; trying the next");
                }
                last = Some(e);
            }
        }
    }
    Err(last
        .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "AMQP_URL names no address").into()))
}

async fn connect_one(address: &str, name: &str) -> Result<Connection, lapin::Error> {
    let options = ConnectionProperties::default().with_connection_name(name.into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(address, options)).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting to RabbitMQ timed out").into()),
    }
}

/// Small builder for `FieldTable`s of strings and integers.
#[derive(Default)]
pub struct FieldTableBuilder(lapin::types::FieldTable);

impl FieldTableBuilder {
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.0.insert(key.into(), lapin::types::AMQPValue::LongString(value.into()));
        self
    }

    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.0.insert(key.into(), lapin::types::AMQPValue::LongLongInt(value));
        self
    }

    pub fn build(&mut self) -> lapin::types::FieldTable {
        std::mem::take(&mut self.0)
    }
}
