//! The ingress benchmark: requests/s that the real `api` binary accepts on
//! `POST /api/crm/mgr/points/{crm_id}/events` (tenant key, rate limit, validation naming fields,
//! the envelope, a persistent mandatory publish, 202 only after the broker's confirm), against
//! the thinnest possible ingress (`thin-ingress`: axum, JSON parse, a confirmed publish through
//! the default exchange into a quorum queue, nothing of ours), both loaded by wrk in the same
//! run. Nothing consumes meanwhile; the queues are emptied after each load. A third load, the
//! thin ingress publishing the engine's message shape (`thin-ingress --shaped`), splits the
//! ratio into what the broker charges for that shape and what the engine's code costs. Beside
//! each load's rate: the CPU per accepted request of the server and, when RabbitMQ runs on this
//! machine, of the broker (nothing else uses it meanwhile), which a neighbour's load does not move.

use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions, QueuePurgeOptions};
use loyalty_tests::TestEnv;
use platform::broker::Domain;
use tokio::process::Command;

use crate::{
    cpu, median_line,
    wrk::{self, Server},
};

/// Goal 2's bar for the engine's p99 at 64 connections, in ms.
const P99_BAR_MS: f64 = 25.0;

/// An earn event per request, its `event_no` new, over 100 members (the issue's load).
const EVENT: &str = r#"{"event_no":"{key}","member_no":"m{member}","action_scene":"user_login","store_code":"bench"}"#;

/// Loads the thin ingress, the thin ingress with the engine's message shape and the engine,
/// `rounds` times, in turn; prints each figure and the ratios. Each round starts one load later
/// in that order (thin, shaped, engine; then engine, thin, shaped; …), so that none always runs
/// last, on a broker whose write-ahead log the loads before it have filled.
pub async fn run(env: &TestEnv, connections: usize, seconds: u64, rounds: usize) {
    let key = env.tenant("10080").await;
    env.rule("10080", &key, loyalty_tests::login_rule()).await;
    println!("ingress: wrk -t2 -c{connections} -d{seconds}s, one new event_no per request, {rounds} round(s)");
    let auth = format!("Bearer {key}");
    let headers = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    // Per round: engine / thin, shaped / thin, engine / shaped; and the rounds within the p99 bar.
    let (mut ratios, mut shapes, mut codes, mut within) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for round in 1..=rounds {
        let (mut base, mut shaped, mut engine) = (None, None, None);
        let mut order = ["thin", "shaped", "engine"];
        order.rotate_right((round - 1) % 3);
        for load in order {
            match load {
                "thin" => base = Some(thin(env, &headers, connections, seconds, false).await),
                "shaped" => shaped = Some(thin(env, &headers, connections, seconds, true).await),
                _ => engine = Some(engine_load(env, &headers, connections, seconds).await),
            }
        }
        let ((base, base_cpu), (shaped, shaped_cpu), (engine, engine_cpu)) =
            (base.expect("loaded"), shaped.expect("loaded"), engine.expect("loaded"));
        println!("round {round}: loads in the order {}", order.join(", "));
        println!("round {round}: thin ingress   {base}  {base_cpu}");
        println!("round {round}: thin, shaped   {shaped}  {shaped_cpu}");
        println!("round {round}: engine ingress {engine}  {engine_cpu}");
        println!(
            "round {round}: ratio engine / thin ingress {:.2} (accepted/s; p99 {:.1} ms against the bar of {P99_BAR_MS} ms)",
            engine.requests_per_second / base.requests_per_second,
            engine.p99_ms
        );
        println!(
            "round {round}: of which the message's shape (thin, shaped / thin) {:.2} and the engine's code (engine / thin, shaped) {:.2}",
            shaped.requests_per_second / base.requests_per_second,
            engine.requests_per_second / shaped.requests_per_second,
        );
        // What the three loads cost the machine per request says what the shape alone allows:
        // an engine whose code cost no more than the shaped thin ingress's would reach the
        // shaped thin's share of the thin rate, whatever else changed.
        println!(
            "round {round}: {}",
            cpu::account(
                "request (server, RabbitMQ, wrk)",
                ("thin ingress", base_cpu.total()),
                engine_cpu.total(),
                engine.requests_per_second / base.requests_per_second,
                &[("by the message's shape: the shaped thin ingress", shaped_cpu.total())],
            )
        );
        ratios.push(engine.requests_per_second / base.requests_per_second);
        shapes.push(shaped.requests_per_second / base.requests_per_second);
        codes.push(engine.requests_per_second / shaped.requests_per_second);
        within += usize::from(engine.p99_ms <= P99_BAR_MS);
    }
    if rounds > 1 {
        println!(
            "{}; the engine's p99 within {P99_BAR_MS} ms in {within} of them",
            median_line("engine / thin ingress", "rounds", ratios)
        );
        println!("{}", median_line("thin, shaped / thin ingress (the message's shape)", "rounds", shapes));
        println!("{}", median_line("engine / thin, shaped (the engine's code)", "rounds", codes));
    }
}

/// Loads the engine (the `api` binary) on the points work queue, purged afterwards; its figures
/// and its CPU per accepted request.
async fn engine_load(
    env: &TestEnv,
    headers: &[(&str, &str)],
    connections: usize,
    seconds: u64,
) -> (wrk::Report, PerRequest) {
    let port = wrk::free_port();
    let server = Server::start(api_command(env, port), &format!("http://127.0.0.1:{port}/readyz")).await;
    let before = LoadCpu::sample(&server);
    let figures = wrk::post(
        &format!("http://127.0.0.1:{port}/api/crm/mgr/points/10080/events"),
        headers,
        EVENT,
        100,
        connections,
        seconds,
    )
    .await;
    let cpu = LoadCpu::sample(&server).per_request_since(&before, figures.succeeded);
    server.stop().await;
    let (conn, channel) = env.channel().await;
    let queue = env.topology.work_queue(Domain::Points);
    channel.queue_purge(queue.as_str().into(), QueuePurgeOptions::default()).await.expect("purge");
    conn.close(200, "done".into()).await.ok();
    (figures, cpu)
}

/// Loads the thin ingress (`shaped`: publishing the engine's message shape through a topic
/// exchange of its own) on a queue of its own, removed afterwards; its figures and its CPU per
/// accepted request.
async fn thin(
    env: &TestEnv,
    headers: &[(&str, &str)],
    connections: usize,
    seconds: u64,
    shaped: bool,
) -> (wrk::Report, PerRequest) {
    let variant = if shaped { "shaped" } else { "thin" };
    let queue = format!("{}.bench.{variant}", env.settings.namespace);
    let exchange = format!("{}.bench.{variant}", env.settings.namespace);
    let port = wrk::free_port();
    let mut command = Command::new(wrk::sibling("thin-ingress"));
    command.arg(format!("127.0.0.1:{port}")).arg(&env.settings.amqp_url).arg(&queue);
    if shaped {
        command.arg("--shaped").arg(&exchange);
    }
    let server = Server::start(command, &format!("http://127.0.0.1:{port}/healthz")).await;
    let before = LoadCpu::sample(&server);
    let figures =
        wrk::post(&format!("http://127.0.0.1:{port}/events"), headers, EVENT, 100, connections, seconds).await;
    let cpu = LoadCpu::sample(&server).per_request_since(&before, figures.succeeded);
    server.stop().await;
    let (conn, channel) = env.channel().await;
    channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await.expect("thin queue");
    if shaped {
        channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .expect("thin exchange");
    }
    conn.close(200, "done".into()).await.ok();
    (figures, cpu)
}

/// The real `api` binary on the bench's database, broker namespace and Redis, as deployed
/// (JSON logs, metrics), with the per-tenant rate limit out of the way: the load is one tenant.
pub fn api_command(env: &TestEnv, port: u16) -> Command {
    let mut api = Command::new(wrk::sibling("api"));
    engine_env(env, &mut api)
        .env("LOYALTY_ADMIN_TOKEN", loyalty_tests::ADMIN_TOKEN)
        .env("API_ADDR", format!("127.0.0.1:{port}"))
        .env("RATE_LIMIT_PER_SECOND", "1000000")
        .env("RATE_LIMIT_BURST", "1000000");
    api
}

/// What an engine process (the api, a workers process) needs to run on the bench's database,
/// broker namespace and Redis.
pub fn engine_env<'c>(env: &TestEnv, command: &'c mut Command) -> &'c mut Command {
    command
        .env("DATABASE_URL", &env.settings.database_url)
        .env("AMQP_URL", &env.settings.amqp_url)
        .env("REDIS_URL", &env.settings.redis_url)
        .env("LOYALTY_NAMESPACE", &env.settings.namespace)
        // The bench's topology (its retry queues are named by their delays): a process declares
        // it on connecting, and the bench's cleanup removes exactly that.
        .env(
            "RETRY_DELAYS_MS",
            env.settings.retry_delays.iter().map(|d| d.as_millis().to_string()).collect::<Vec<_>>().join(","),
        )
}

/// The CPU used so far by a loaded server, by the local RabbitMQ (absent when the broker is
/// not a process here) and by the bench's ended children (wrk, once its load is over).
struct LoadCpu {
    server: Duration,
    broker: Option<Duration>,
    load: Option<Duration>,
}

impl LoadCpu {
    fn sample(server: &Server) -> LoadCpu {
        LoadCpu { server: server.cpu(), broker: cpu::broker_cpu(), load: cpu::ended_children() }
    }

    /// The CPU per accepted request since `earlier`.
    fn per_request_since(&self, earlier: &LoadCpu, requests: u64) -> PerRequest {
        let each = |now: Duration, then: Duration| cpu::micros_each(now.saturating_sub(then), requests);
        PerRequest {
            server: each(self.server, earlier.server),
            broker: self.broker.zip(earlier.broker).map(|(now, then)| each(now, then)),
            wrk: self.load.zip(earlier.load).map(|(now, then)| each(now, then)),
        }
    }
}

/// µs of CPU per accepted request of one load: the server's, RabbitMQ's and wrk's.
struct PerRequest {
    server: f64,
    broker: Option<f64>,
    wrk: Option<f64>,
}

impl PerRequest {
    /// All three: what the load cost the machine per request.
    fn total(&self) -> f64 {
        self.server + self.broker.unwrap_or(0.0) + self.wrk.unwrap_or(0.0)
    }
}

impl std::fmt::Display for PerRequest {
    /// `… µs CPU per request[, … µs RabbitMQ][, … µs wrk]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} µs CPU per request{}", self.server, cpu::broker_part(self.broker))?;
        match self.wrk {
            Some(wrk) => write!(f, ", {wrk:.1} µs wrk"),
            None => Ok(()),
        }
    }
}
