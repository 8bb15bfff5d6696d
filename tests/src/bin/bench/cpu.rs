//! CPU time per applied event, the figure a shared two-core box does not distort as it does a
//! rate: this process's (the in-process workers during a drain) and the PostgreSQL backends
//! serving the bench's database, read from `/proc` before and after; and a local RabbitMQ's,
//! when the broker runs on this machine.
//!
//! A backend's process title names its database (`postgres: postgres lt_… 127.0.0.1(…) idle`),
//! so other databases' work on the same cluster is not counted. The cluster's shared
//! background processes (WAL writer, checkpointer) are not counted either: they serve every
//! database; the figure is the backends' own work.
//!
//! The broker's figure is its whole Erlang VM's (`beam.smp` running `rabbit`, the node on the
//! port of the bench's `AMQP_URL`: after the test suite, the three nodes of `scripts/cluster`
//! run beside it): every queue's work, so it is the bench's only while nothing else uses the
//! broker. Absent when the broker is not a process here (another host, a container without a
//! shared process namespace).

use std::time::Duration;

/// Linux reports `/proc/*/stat` times in `USER_HZ` ticks, 100 a second on every architecture
/// Rust runs Linux on (the kernel converts its own `HZ`).
const TICKS_PER_SECOND: u64 = 100;

/// CPU consumed so far: by this process, and by the backends of one database.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    process: Duration,
    postgres: Duration,
    broker: Option<Duration>,
}

impl Sample {
    pub fn now(database: &str) -> Sample {
        Sample { process: cpu_of("self").unwrap_or_default(), postgres: backends_cpu(database), broker: broker_cpu() }
    }

    /// This process's and the broker's CPU, no database's: for the raw broker's phases.
    pub fn without_database() -> Sample {
        Sample { process: cpu_of("self").unwrap_or_default(), postgres: Duration::ZERO, broker: broker_cpu() }
    }

    /// `µs of CPU per message` in this process and in the broker since `earlier`, as the line of
    /// the raw baseline `baseline`.
    pub fn per_message_since(&self, earlier: &Sample, messages: usize, baseline: &str) -> String {
        let messages = messages as u64;
        format!(
            "{:<28}{:>9.1} µs bench process (publisher and consumer){}",
            format!("{baseline} cpu per message:"),
            micros_each(self.process.saturating_sub(earlier.process), messages),
            broker_part(self.broker, earlier.broker, messages)
        )
    }

    /// The CPU PostgreSQL's backends of the database used since `earlier`.
    pub fn postgres_since(&self, earlier: &Sample) -> Duration {
        self.postgres.saturating_sub(earlier.postgres)
    }

    /// `µs of CPU per event` in this process and in PostgreSQL since `earlier`, as a line;
    /// `process` says what this process did meanwhile.
    pub fn per_event_since(&self, earlier: &Sample, events: usize, process: &str) -> String {
        let events = events as u64;
        format!(
            "cpu per event:              {:>9.1} µs bench process ({process}), {:.1} µs PostgreSQL backends{}",
            micros_each(self.process.saturating_sub(earlier.process), events),
            micros_each(self.postgres.saturating_sub(earlier.postgres), events),
            broker_part(self.broker, earlier.broker, events)
        )
    }
}

/// µs of `cpu` per item.
pub fn micros_each(cpu: Duration, items: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / items.max(1) as f64
}

/// `, … µs RabbitMQ` per item for a line, from two readings of the broker's CPU (`now` the
/// later) when both found it; empty otherwise.
pub fn broker_part(now: Option<Duration>, then: Option<Duration>, items: u64) -> String {
    match (now, then) {
        (Some(now), Some(then)) => format!(", {:.1} µs RabbitMQ", micros_each(now.saturating_sub(then), items)),
        _ => String::new(),
    }
}

/// The database of a `postgres://…/name?…` URL.
pub fn database_of(url: &str) -> &str {
    let path = url.rsplit('/').next().unwrap_or_default();
    path.split('?').next().unwrap_or_default()
}

/// utime + stime of `/proc/<pid>/stat` (fields 14 and 15, counted after the parenthesised
/// command name, which may itself hold spaces).
pub fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state): utime is field 14, stime 15.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// The CPU of the local RabbitMQ node the bench talks to: the `beam.smp` process whose command
/// line boots `rabbit` and whose AMQP port ([`node_port`]) is the first address of `AMQP_URL`'s.
pub fn broker_cpu() -> Option<Duration> {
    let port = *bench_broker_port();
    let pid = numeric_pids().find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim_end() == "beam.smp")
            && std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|arg| arg == b"rabbit"))
            && node_port(pid) == port
    })?;
    cpu_of(&pid)
}

/// The AMQP port of the bench's broker, read once from the settings (`AMQP_URL`).
fn bench_broker_port() -> &'static u16 {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    PORT.get_or_init(|| {
        let settings = platform::settings::Settings::from_env().expect("settings");
        let first = platform::broker::addresses(&settings.amqp_url).next().map(str::parse::<lapin::uri::AMQPUri>);
        first.and_then(Result::ok).map_or(5672, |uri| uri.authority.port)
    })
}

/// A node's AMQP port: `RABBITMQ_NODE_PORT` in its environment (how `scripts/cluster` starts its
/// nodes), else RabbitMQ's default, 5672.
fn node_port(pid: &str) -> u16 {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(b"RABBITMQ_NODE_PORT="))
        .and_then(|port| std::str::from_utf8(port).ok()?.parse().ok())
        .unwrap_or(5672)
}

/// The pids of `/proc`.
fn numeric_pids() -> impl Iterator<Item = String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
}

/// The CPU of every live backend whose process title names `database`.
fn backends_cpu(database: &str) -> Duration {
    let needle = format!(" {database} ");
    numeric_pids()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|title| {
                let title = String::from_utf8_lossy(&title);
                title.starts_with("postgres: ") && title.contains(&needle)
            })
        })
        .filter_map(|pid| cpu_of(&pid))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_the_last_path_segment_without_the_query() {
        assert_eq!(database_of("postgres://postgres@127.0.0.1:5432/lt_abc"), "lt_abc");
        assert_eq!(database_of("postgres://p@h/lt_abc?sslmode=disable"), "lt_abc");
    }

    #[test]
    fn a_busy_loop_shows_in_this_process_cpu() {
        // Spins until the reading has grown by 50 ms: on a loaded machine that takes longer than
        // 50 ms of wall time, so the deadline is generous; a reading that never moves fails it.
        let before = cpu_of("self").expect("/proc/self/stat");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        while cpu_of("self").expect("/proc/self/stat") < before + Duration::from_millis(50) {
            assert!(std::time::Instant::now() < deadline, "20 s of spinning did not show as 50 ms of CPU");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
        }
    }
}
