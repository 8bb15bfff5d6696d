//! RabbitMQ: the topology every process declares, the confirmed publisher, message headers,
//! and the dead-letter tools.

pub mod dlq;
pub mod headers;
pub mod publisher;
pub mod topology;

pub use publisher::{PublishError, Publisher};
pub use topology::{Domain, Topology};

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};

/// How long a connection attempt may take before the caller is told the broker is down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens a connection, failing fast (the ingress must answer 503, not hang).
pub async fn connect(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let options = ConnectionProperties::default().with_connection_name(name.into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, options)).await {
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
