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

    /// The CPU per item each part spent since `earlier`, for `items` items.
    pub fn cost_since(&self, earlier: &Sample, items: usize) -> Cost {
        let items = items as u64;
        Cost {
            process: micros_each(self.process.saturating_sub(earlier.process), items),
            postgres: micros_each(self.postgres.saturating_sub(earlier.postgres), items),
            broker: self.broker.zip(earlier.broker).map(|(now, then)| micros_each(now.saturating_sub(then), items)),
        }
    }

    /// The CPU PostgreSQL's backends of the database used since `earlier`.
    pub fn postgres_since(&self, earlier: &Sample) -> Duration {
        self.postgres.saturating_sub(earlier.postgres)
    }
}

/// µs of CPU per item of one phase, by who spent it: this process, the database's backends, the
/// broker (when it runs here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub process: f64,
    pub postgres: f64,
    pub broker: Option<f64>,
}

impl Cost {
    /// Everything counted, per item.
    pub fn total(&self) -> f64 {
        self.process + self.postgres + self.broker.unwrap_or(0.0)
    }

    /// `{baseline} cpu per message: … µs bench process (publisher and consumer), … µs RabbitMQ`:
    /// a raw baseline's line.
    pub fn message_line(&self, baseline: &str) -> String {
        format!(
            "{:<28}{:>9.1} µs bench process (publisher and consumer){}",
            format!("{baseline} cpu per message:"),
            self.process,
            broker_part(self.broker)
        )
    }

    /// `cpu per event: … µs bench process ({process}), … µs PostgreSQL backends, … µs RabbitMQ`;
    /// `process` says what this process did meanwhile.
    pub fn event_line(&self, process: &str) -> String {
        format!(
            "cpu per event:              {:>9.1} µs bench process ({process}), {:.1} µs PostgreSQL backends{}",
            self.process,
            self.postgres,
            broker_part(self.broker)
        )
    }
}

/// What the CPU figures say of a ratio of two rates measured on a machine whose cores every
/// process of both phases shares (goal 6 of issue 14 beside goals 1 and 3): when both phases
/// keep the machine equally busy, the ratio of the rates is the inverse ratio of their CPU per
/// item (`at like use`); a measured ratio below it means the engine left more of the machine
/// idle (waiting, not computing). Each of `floors` is a part of the engine's CPU that some of
/// its work cannot go below (PostgreSQL's, the broker's, the baseline's own), and bounds the
/// ratio however cheap the rest became: `at most … {what}`.
///
/// `per` names the item (and what was counted), `baseline` the baseline and its CPU per item,
/// `engine` the engine's.
pub fn account(per: &str, (baseline, base): (&str, f64), engine: f64, measured: f64, floors: &[(&str, f64)]) -> String {
    let mut line = format!(
        "cpu account, µs per {per}: {baseline} {base:.1}, engine {engine:.1}: {:.2} at like use of the machine \
         (measured {measured:.2})",
        base / engine.max(f64::EPSILON)
    );
    for (what, floor) in floors {
        line.push_str(&format!("; at most {:.2} {what} ({floor:.1})", base / floor.max(f64::EPSILON)));
    }
    line
}

/// The CPU of this process's children that have ended and been waited for (`cutime` +
/// `cstime` of `/proc/self/stat`, fields 16 and 17): read around a child's run, its CPU.
pub fn ended_children() -> Option<Duration> {
    stat_times("self", 13)
}

/// µs of `cpu` per item.
pub fn micros_each(cpu: Duration, items: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / items.max(1) as f64
}

/// `, … µs RabbitMQ` for a line when the broker's CPU was read; empty otherwise.
pub fn broker_part(broker: Option<f64>) -> String {
    broker.map(|b| format!(", {b:.1} µs RabbitMQ")).unwrap_or_default()
}

/// The database of a `postgres://…/name?…` URL.
pub fn database_of(url: &str) -> &str {
    let path = url.rsplit('/').next().unwrap_or_default();
    path.split('?').next().unwrap_or_default()
}

/// utime + stime of `/proc/<pid>/stat` (fields 14 and 15).
pub fn cpu_of(pid: &str) -> Option<Duration> {
    stat_times(pid, 11)
}

/// Two adjacent tick counts of `/proc/<pid>/stat`, summed: the `at`-th and the next, counted
/// from field 3 (state), the first after the parenthesised command name (which may itself
/// hold spaces).
fn stat_times(pid: &str, at: usize) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(at)?.parse::<u64>().ok()? + fields.get(at + 1)?.parse::<u64>().ok()?;
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
    fn the_cost_is_each_parts_cpu_per_item_and_no_broker_figure_without_both_readings() {
        let ms = Duration::from_millis;
        let before = Sample { process: ms(100), postgres: ms(1_000), broker: Some(ms(50)) };
        let after = Sample { process: ms(300), postgres: ms(1_400), broker: Some(ms(850)) };
        let cost = after.cost_since(&before, 10_000);
        assert_eq!(cost, Cost { process: 20.0, postgres: 40.0, broker: Some(80.0) });
        assert_eq!(cost.total(), 140.0);
        let unread = Sample { broker: None, ..after };
        assert_eq!(unread.cost_since(&before, 10_000).broker, None);
        assert_eq!(unread.cost_since(&before, 10_000).total(), 60.0);
    }

    #[test]
    fn the_account_divides_the_baselines_cpu_by_the_engines_and_by_each_floor() {
        let raw = Cost { process: 20.0, postgres: 0.0, broker: Some(40.0) };
        let engine = Cost { process: 15.0, postgres: 35.0, broker: Some(25.0) };
        let floors = [("were the workers free", 60.0), ("by another way", 120.0)];
        let line = account("event", ("raw broker", raw.total()), engine.total(), 0.7, &floors);
        assert_eq!(
            line,
            "cpu account, µs per event: raw broker 60.0, engine 75.0: 0.80 at like use of the machine \
             (measured 0.70); at most 1.00 were the workers free (60.0); at most 0.50 by another way (120.0)"
        );
    }

    #[test]
    fn a_child_that_ended_and_was_waited_for_shows_in_the_ended_childrens_cpu() {
        let before = ended_children().expect("/proc/self/stat");
        // A shell counting to 200,000: a few hundred ms of CPU on any machine, in a child.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i + 1)); done"])
            .status()
            .expect("sh");
        assert!(status.success());
        let after = ended_children().expect("/proc/self/stat");
        assert!(after >= before + Duration::from_millis(20), "{before:?} then {after:?}");
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
