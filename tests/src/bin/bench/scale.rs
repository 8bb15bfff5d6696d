//! Workers scaled out and back in (issue 16, item 4), as deployed: separate `workers`
//! processes (the release binary beside the bench's), each with its default settings, started
//! and stopped with SIGTERM.
//!
//! 1. For each count of `--processes` (default 1, 2, 4): a backlog of `--events` order events
//!    under new keys, published before the processes start, drained by that many processes.
//!    Printed: applied/s and the CPU per event of the worker processes and of PostgreSQL's
//!    backends: two cores cap the rate, so the CPU per event is what shows whether another
//!    process costs coordination.
//! 2. 1 → 4 → 1 while events stream in: `--rate` events/s for `--seconds`; one process from the
//!    start, three more at a quarter of the time, those three sent SIGTERM at three quarters
//!    (each must exit 0 once it has finished its batches). Then every event must have exactly
//!    one ledger row, nothing may be parked, and `verify` must be clean.

use std::time::{Duration, Instant};

use lapin::{options::QueueDeclareOptions, types::FieldTable, Channel};
use loyalty_tests::TestEnv;
use platform::broker::Domain;
use tokio::process::Command;

use crate::{
    cpu, order_events, publish_all, wait_applied,
    wrk::{self, Server},
};

/// The stream's rate (events/s) unless `--rate` says.
const STREAM_RATE: f64 = 2_000.0;

/// A `workers` process on the bench's database, broker namespace and Redis.
async fn start_worker(env: &TestEnv) -> Server {
    let port = wrk::free_port();
    let mut command = Command::new(wrk::sibling("workers"));
    crate::ingress::engine_env(env, &mut command).env("WORKER_METRICS_ADDR", format!("127.0.0.1:{port}"));
    // `/healthz` answers 200 once a consumer consumes.
    Server::start(command, &format!("http://127.0.0.1:{port}/healthz")).await
}

pub async fn run(env: &TestEnv, processes: &[usize], events: usize, members: usize, rate: Option<f64>, seconds: u64) {
    let (conn, channel) = env.channel().await;
    let database = cpu::database_of(&env.settings.database_url).to_string();
    let exchange = env.topology.events_exchange();
    let mut applied = 0;
    println!("scale: a backlog of {events} order events per count of worker processes, {members} members");
    for (round, &count) in processes.iter().enumerate() {
        let bodies = order_events(&format!("scale{round}-"), 0..events, members);
        publish_all(&channel, exchange, "points.earn.order_pay", &bodies, 1_000).await;
        let before = cpu::Sample::now(&database);
        let started = Instant::now();
        let workers = futures_util::future::join_all((0..count).map(|_| start_worker(env))).await;
        applied += events as i64;
        wait_applied(env, &channel, Domain::Points, "select count(*) from inbox", applied, Duration::from_secs(600))
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        let workers_cpu: Duration = workers.iter().map(Server::cpu).sum();
        let postgres = cpu::Sample::now(&database).postgres_since(&before);
        for worker in workers {
            let status = worker.terminate(Duration::from_secs(30)).await;
            assert!(status.success(), "a worker process stopped by SIGTERM exited with {status}");
        }
        let per = |d: Duration| cpu::micros_each(d, events as u64);
        println!(
            "scale: {count} process(es): {:>7.0} events/s (all {events} applied {elapsed:.1} s after the start, which the processes' start-up is part of); cpu per event {:.1} µs worker processes, {:.1} µs PostgreSQL backends",
            events as f64 / elapsed,
            per(workers_cpu),
            per(postgres),
        );
    }
    applied += stream(env, &channel, members, rate.unwrap_or(STREAM_RATE), seconds).await;

    let ledger = env.scalar("select count(*) from points_ledger").await;
    let distinct = env.scalar("select count(distinct event_no) from points_ledger").await;
    let violations = workers::verify::violations(&env.db, None).await.expect("verify");
    println!(
        "check: {ledger} ledger rows ({distinct} distinct) for {applied} events, {} verify violations",
        violations.len()
    );
    assert_eq!((ledger, distinct), (applied, applied), "every event applied exactly once");
    assert!(violations.is_empty(), "verify: {violations:?}");
    conn.close(200, "done".into()).await.ok();
}

/// The 1 → 4 → 1 run: answers how many events it published (all checked applied once).
async fn stream(env: &TestEnv, channel: &Channel, members: usize, rate: f64, seconds: u64) -> i64 {
    let total = (rate * seconds as f64) as usize;
    println!("scale: 1 → 4 → 1 worker processes while {total} events stream in at {rate:.0}/s for {seconds} s");
    let first = start_worker(env).await;
    // Its start-up (connections, topology, the first consume) on an empty queue: what each
    // process of the backlog runs above carried in its CPU per event.
    println!("scale: a worker process's CPU from start to consuming: {:.1} ms", first.cpu().as_secs_f64() * 1e3);
    let publisher = {
        let (conn, channel) = env.channel().await;
        let exchange = env.topology.events_exchange().to_string();
        tokio::spawn(async move {
            // A tick every 10 ms publishes the events due by then (with confirms).
            let started = Instant::now();
            let mut sent = 0;
            while sent < total {
                let due = ((started.elapsed().as_secs_f64() * rate) as usize).min(total);
                if due > sent {
                    let bodies = order_events("stream-", sent..due, members);
                    publish_all(&channel, &exchange, "points.earn.order_pay", &bodies, 1_000).await;
                    sent = due;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            conn.close(200, "done".into()).await.ok();
        })
    };
    let quarter = Duration::from_secs_f64(seconds as f64 / 4.0);
    let started = Instant::now();
    tokio::time::sleep(quarter).await;
    let more = futures_util::future::join_all((0..3).map(|_| start_worker(env))).await;
    println!("scale: 4 processes {:.1} s into the stream", started.elapsed().as_secs_f64());
    tokio::time::sleep_until((started + 3 * quarter).into()).await;
    let stopping = started.elapsed().as_secs_f64();
    let statuses = futures_util::future::join_all(more.into_iter().map(|w| w.terminate(Duration::from_secs(30)))).await;
    println!(
        "scale: 3 processes sent SIGTERM {stopping:.1} s into the stream, all exited after {:.1} s: {statuses:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(statuses.iter().all(|s| s.success()), "a worker process stopped by SIGTERM failed: {statuses:?}");
    publisher.await.expect("the publisher");
    let n = total as i64;
    let stream_count = "select count(*) from inbox where idem_key like 'stream-%'";
    wait_applied(env, channel, Domain::Points, stream_count, n, Duration::from_secs(300)).await;
    println!("scale: all {n} applied {:.1} s after the stream began", started.elapsed().as_secs_f64());
    let status = first.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "the last worker process exited with {status}");

    let parked = channel
        .queue_declare(
            env.topology.dead_letter_queue(Domain::Points).as_str().into(),
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .expect("the dead-letter queue")
        .message_count();
    let redelivered =
        env.scalar("select coalesce(sum(duplicates), 0)::bigint from inbox where idem_key like 'stream-%'").await;
    let rows = env.scalar("select count(*) from points_ledger where event_no like 'stream-%'").await;
    println!("scale: {rows} ledger rows for {n} streamed events, {parked} parked, {redelivered} redeliveries caught by the inbox");
    assert_eq!(rows, n, "each streamed event applied once");
    assert_eq!(parked, 0, "nothing parked");
    n
}
