//! `bench --latency`: end-to-end latency of an earn event, from the API's 202 to the commit of
//! the worker transaction that applied it, at a fixed offered rate (issue 14, item 4: at half
//! the sustainable rate, p99 ≤ 100 ms).
//!
//! The load is open-loop: request `i` is due at `start + i / rate` whatever happened to the
//! earlier ones, sent on whichever of `--connections` keep-alive connections is free (wrk2's
//! model). A closed loop (ingress.rs) would slow down when the engine does and hide the queueing
//! delay this benchmark is about. A request that finds every connection busy goes out late; the
//! lateness is reported.
//!
//! When was an event applied? The inbox row's `received_at` is `now()`, the transaction's start,
//! earlier than its commit: it would flatter the figure. Instead the bench polls the inbox every
//! `POLL` for the keys still outstanding (one query joining them to the inbox's primary key, on
//! a connection of its own) and takes the answer that first shows a key as its applied time
//! (measured from the instant its 202 arrived). That is never before the commit (a row is
//! visible only once committed) and at most one poll cycle after it: after the start of the
//! previous query that asked for the key (which did not see it), or after the request was sent
//! if no query had asked yet. That bound is measured per event and printed; the figures are
//! biased high by at most it. A trigger with `pg_notify` (delivered at commit) was
//! the alternative: it would have changed the transaction being measured.
//!
//! The load generator and the poller each run on a thread and runtime of their own, so that
//! neither a request's schedule nor the instants it records wait behind the API's and the
//! worker's tasks in the bench's main runtime (they still share the machine's cores).
//!
//! The tenant's rate limit (500 requests/s by default) is raised for the run: the benchmark is
//! of the pipeline, not of the limiter's refusals.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use loyalty_tests::{TestEnv, ADMIN_TOKEN};
use serde_json::json;
use sqlx::Connection;
use tokio::sync::mpsc;

use crate::Args;

/// How often the outstanding keys are looked up in the inbox.
const POLL: Duration = Duration::from_millis(2);

/// What the load generator tells the poller.
enum Note {
    /// Request `i` (key `lat-{i}`) was sent at this instant: look for it from now on.
    Sent(usize, Instant),
    /// Request `i` was not accepted: stop looking for it.
    Refused(usize),
}

/// One request of the run.
struct Sent {
    i: usize,
    due: Instant,
    sent: Instant,
    /// When its 202 arrived; None if the answer was another status or none.
    accepted: Option<Instant>,
    /// The answer's status (None: no answer).
    status: Option<StatusCode>,
}

/// The poller's finding for one key: the answer that first showed it, and how long before that
/// answer the commit may have happened.
#[derive(Clone, Copy)]
struct Seen {
    at: Instant,
    uncertainty: Duration,
}

pub async fn run(env: &TestEnv, key: &str, args: &Args) {
    let (status, body) = env
        .call(
            Method::PUT,
            "/api/admin/tenants/10080/rate_limit",
            Some(ADMIN_TOKEN),
            Some(json!({"per_second": 1_000_000, "burst": 1_000_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "raise the tenant's rate limit: {body}");
    let addr = loyalty_tests::serve(api::app(env.state.clone())).await;
    let worker = env.worker(args.consumers, true, Arc::default());
    let rate = match args.rate {
        Some(rate) => {
            println!("latency: offered rate {rate:.0} req/s (--rate)");
            rate
        }
        None => {
            let sustained = sustainable(env, addr, key, args.connections).await;
            println!("latency: offered rate = half of it: {:.0} req/s", sustained / 2.0);
            sustained / 2.0
        }
    };
    // Fresh statistics for the poller's lookups (the burst's rows made them stale).
    sqlx::raw_sql("analyze inbox").execute(&env.db).await.expect("analyze inbox");
    let total = (rate * args.seconds as f64).round() as usize;
    println!(
        "latency: {total} requests open-loop over {} s on {} keep-alive connections, inbox polled every {} ms",
        args.seconds,
        args.connections,
        POLL.as_millis()
    );
    let (notes, inbox) = mpsc::unbounded_channel();
    let done = Arc::new(AtomicBool::new(false));
    let (url, finished) = (env.settings.database_url.clone(), done.clone());
    let poller = std::thread::spawn(move || own_runtime().block_on(poll(url, inbox, finished)));
    let (key, connections) = (key.to_string(), args.connections);
    let generator =
        std::thread::spawn(move || own_runtime().block_on(generate(addr, &key, rate, total, connections, notes)));
    let sent = tokio::task::spawn_blocking(move || generator.join().expect("the load generator"))
        .await
        .expect("join the load generator");
    done.store(true, Ordering::Relaxed);
    let (seen, polls) =
        tokio::task::spawn_blocking(move || poller.join().expect("the poller")).await.expect("join the poller");
    println!(
        "poller: {} queries, {:.2} ms each on average, the slowest {:.1} ms",
        polls.queries,
        ms(polls.total) / polls.queries.max(1) as f64,
        ms(polls.slowest)
    );

    report(&sent, &seen, args.seconds);
    check(env, &sent, &seen).await;
    worker.stop(Duration::from_secs(10)).await;
}

/// The sustainable rate of the path being measured: a closed-loop burst of `BURST` through the
/// same API into the same worker (each connection sends its next request when the previous
/// answer is in), divided by the time until the worker had applied all of it. The drain rate of
/// a backlog (`--drain`) was the alternative; it leaves the API's share of the two cores out and
/// overstates what the machine sustains end to end: half of one drain (4,900 events/s) was more
/// than the closed-loop bursts got through end to end (2,800-4,200 events/s) on the shared
/// machine, and the generator fell two seconds behind its schedule.
async fn sustainable(env: &TestEnv, addr: SocketAddr, key: &str, connections: usize) -> f64 {
    let (key, started) = (key.to_string(), Instant::now());
    let burst = std::thread::spawn(move || own_runtime().block_on(closed_loop(addr, &key, connections)));
    let accepted =
        tokio::task::spawn_blocking(move || burst.join().expect("the burst")).await.expect("join the burst") as i64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while env.scalar("select count(*) from inbox where idem_key like 'burst-%'").await < accepted {
        assert!(Instant::now() < deadline, "the burst of {accepted} events was not applied in 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = accepted as f64 / started.elapsed().as_secs_f64();
    println!(
        "latency: sustainable rate = a closed-loop burst of {} s on {connections} connections: {accepted} accepted, all applied after {:.1} s: {rate:.0} events/s",
        BURST.as_secs(),
        started.elapsed().as_secs_f64()
    );
    rate
}

/// How long the closed-loop burst sends.
const BURST: Duration = Duration::from_secs(5);

/// ingress.rs's loop for `BURST` with keys `burst-…`; answers the number of 202s.
async fn closed_loop(addr: SocketAddr, key: &str, connections: usize) -> u64 {
    let end = Instant::now() + BURST;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let auth = format!("Bearer {key}");
        tasks.spawn(async move {
            let mut sender = connect(addr).await;
            let mut accepted = 0u64;
            let mut i = 0u64;
            while Instant::now() < end {
                i += 1;
                let req = earn_request(addr, &auth, &format!("burst-{c}-{i}"), i as usize);
                let Ok(resp) = sender.send_request(req).await else { break };
                let status = resp.status();
                resp.into_body().collect().await.ok();
                accepted += u64::from(status == StatusCode::ACCEPTED);
            }
            accepted
        });
    }
    let mut accepted = 0;
    while let Some(n) = tasks.join_next().await {
        accepted += n.expect("a connection task");
    }
    accepted
}

/// A single-threaded runtime for a thread of the bench's own (load generator, poller).
fn own_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// What the poller's queries cost.
#[derive(Default)]
struct Polls {
    queries: u64,
    total: Duration,
    slowest: Duration,
}

/// Sends `total` requests, request `i` due at `start + i / rate`, on `connections` connections.
async fn generate(
    addr: SocketAddr,
    key: &str,
    rate: f64,
    total: usize,
    connections: usize,
    notes: mpsc::UnboundedSender<Note>,
) -> Vec<Sent> {
    let next = Arc::new(AtomicUsize::new(0));
    // The connections are opened first; the schedule starts once they are.
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (next, notes) = (next.clone(), notes.clone());
        let auth = format!("Bearer {key}");
        tasks.spawn(async move {
            let mut sender = connect(addr).await;
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let req = earn_request(addr, &auth, &format!("lat-{i}"), i);
                let sent = Instant::now();
                notes.send(Note::Sent(i, sent)).ok();
                let status = match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        resp.into_body().collect().await.ok();
                        Some(status)
                    }
                    Err(_) => None,
                };
                let accepted = (status == Some(StatusCode::ACCEPTED)).then(Instant::now);
                if accepted.is_none() {
                    notes.send(Note::Refused(i)).ok();
                }
                mine.push(Sent { i, due, sent, accepted, status });
            }
            mine
        });
    }
    let mut sent = Vec::with_capacity(total);
    while let Some(mine) = tasks.join_next().await {
        sent.extend(mine.expect("a connection task"));
    }
    sent.sort_by_key(|s| s.i);
    sent
}

/// Looks the outstanding keys up every `POLL` until the generator is done and none is left (or a
/// minute after it is done, when the keys still missing are reported by the check).
async fn poll(
    database_url: String,
    mut notes: mpsc::UnboundedReceiver<Note>,
    done: Arc<AtomicBool>,
) -> (HashMap<usize, Seen>, Polls) {
    // A connection of its own: the pool's belong to the API and the worker being measured.
    let mut db = sqlx::PgConnection::connect(&database_url).await.expect("the poller's connection");
    // key -> (request, when it was sent, whether a query has asked for it already)
    let mut outstanding: HashMap<String, (usize, Instant, bool)> = HashMap::new();
    let mut seen = HashMap::new();
    let mut last_query = Instant::now();
    let mut finished: Option<Instant> = None;
    let mut polls = Polls::default();
    loop {
        let cycle = Instant::now();
        while let Ok(note) = notes.try_recv() {
            match note {
                Note::Sent(i, at) => {
                    outstanding.insert(format!("lat-{i}"), (i, at, false));
                }
                Note::Refused(i) => {
                    outstanding.remove(&format!("lat-{i}"));
                }
            }
        }
        if done.load(Ordering::Relaxed) {
            let since = *finished.get_or_insert(cycle);
            if outstanding.is_empty() || cycle - since > Duration::from_secs(60) {
                return (seen, polls);
            }
        }
        if !outstanding.is_empty() {
            let keys: Vec<&str> = outstanding.keys().map(String::as_str).collect();
            let query_start = Instant::now();
            // A join on the unnested keys, not `idem_key = any($1)`: with the inbox's statistics
            // of a young table the planner chose a sequential scan that compares every row with
            // every key, and a poll of a few thousand keys took a second.
            let found: Vec<String> = sqlx::query_scalar(
                "select i.idem_key from unnest($1::text[]) as k(key)
                 join inbox i on i.crm_id = '10080' and i.key_kind = 'event_no' and i.idem_key = k.key",
            )
            .bind(&keys)
            .fetch_all(&mut db)
            .await
            .expect("poll the inbox");
            let answered = Instant::now();
            polls.queries += 1;
            polls.total += answered - query_start;
            polls.slowest = polls.slowest.max(answered - query_start);
            for key in found {
                if let Some((i, sent, asked)) = outstanding.remove(&key) {
                    // Not committed when the previous query that asked for it started, nor
                    // before it was sent.
                    let earliest = if asked { last_query } else { sent };
                    seen.insert(i, Seen { at: answered, uncertainty: answered - earliest });
                }
            }
            for entry in outstanding.values_mut() {
                entry.2 = true;
            }
            last_query = query_start;
        }
        tokio::time::sleep_until((cycle + POLL).into()).await;
    }
}

/// The `q` quantile (0-1) of sorted durations, in ms (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(mut ms: Vec<f64>) -> String {
    if ms.is_empty() {
        return "no events".into();
    }
    ms.sort_by(f64::total_cmp);
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms  ({} events)",
        quantile(&ms, 0.50),
        quantile(&ms, 0.99),
        ms[ms.len() - 1],
        ms.len()
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(sent: &[Sent], seen: &HashMap<usize, Seen>, seconds: u64) {
    let accepted: Vec<&Sent> = sent.iter().filter(|s| s.accepted.is_some()).collect();
    let span = match (sent.first(), sent.last()) {
        (Some(first), Some(last)) => (last.sent - first.sent).as_secs_f64(),
        _ => 0.0,
    };
    let late: Vec<f64> = sent.iter().map(|s| ms(s.sent.saturating_duration_since(s.due))).collect();
    println!(
        "sent: {} requests in {span:.1} s = {:.0} req/s achieved ({seconds} s offered); accepted (202): {}, other: {}",
        sent.len(),
        sent.len() as f64 / span.max(1e-9),
        accepted.len(),
        sent.len() - accepted.len()
    );
    let mut statuses: Vec<(String, usize)> = Vec::new();
    for s in sent.iter().filter(|s| s.accepted.is_none()) {
        let name = s.status.map_or("no answer".to_string(), |c| c.as_u16().to_string());
        match statuses.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => statuses.push((name, 1)),
        }
    }
    if !statuses.is_empty() {
        println!("  answers other than 202: {statuses:?}");
    }
    // tokio's timer ticks in milliseconds: up to 1 ms late is its resolution, not a busy pool.
    println!("  sent after due (generator lateness): {}", summary(late));
    // Signed: an event applied before its 202 reached the client would count negative.
    let from_accept: Vec<f64> = accepted
        .iter()
        .filter_map(|s| {
            let seen = seen.get(&s.i)?;
            let accepted = s.accepted?;
            Some(if seen.at >= accepted { ms(seen.at - accepted) } else { -ms(accepted - seen.at) })
        })
        .collect();
    let from_due: Vec<f64> = accepted.iter().filter_map(|s| Some(ms(seen.get(&s.i)?.at - s.due))).collect();
    let uncertainty: Vec<f64> = accepted.iter().filter_map(|s| Some(ms(seen.get(&s.i)?.uncertainty))).collect();
    println!("accept (202) → applied:     {}", summary(from_accept));
    println!("request due → applied:      {}", summary(from_due));
    println!("  poll bias: each applied time is at most this much after the commit: {}", summary(uncertainty));
}

/// Every accepted event applied exactly once (one ledger row each), and verify clean.
async fn check(env: &TestEnv, sent: &[Sent], seen: &HashMap<usize, Seen>) {
    let accepted: Vec<String> = sent.iter().filter(|s| s.accepted.is_some()).map(|s| format!("lat-{}", s.i)).collect();
    let unseen = sent.iter().filter(|s| s.accepted.is_some() && !seen.contains_key(&s.i)).count();
    let (rows, keys): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct event_no) from points_ledger where crm_id = '10080' and event_no = any($1)",
    )
    .bind(&accepted)
    .fetch_one(&env.db)
    .await
    .expect("ledger rows of the accepted events");
    let all: i64 = env.scalar("select count(*) from points_ledger where event_no like 'lat-%'").await;
    let violations = workers::verify::violations(&env.db, None).await.expect("verify");
    println!(
        "check: {} accepted, {rows} ledger rows for them ({keys} distinct), {all} ledger rows of this run in all, {unseen} never seen applied, {} verify violations",
        accepted.len(),
        violations.len()
    );
    assert_eq!(unseen, 0, "every accepted event applied within a minute of the last request");
    assert_eq!((rows, keys), (accepted.len() as i64, accepted.len() as i64), "one ledger row per accepted event");
    assert!(violations.is_empty(), "verify: {violations:?}");
}

/// An `order_pay` earn event of 120 yuan for member `m{i % 1000}`, keyed `event_no`.
fn earn_request(addr: SocketAddr, auth: &str, event_no: &str, i: usize) -> Request<Full<Bytes>> {
    let body = format!(
        r#"{{"event_no":"{event_no}","member_no":"m{}","action_scene":"order_pay","amount":120,"store_code":"bench"}}"#,
        i % 1000
    );
    Request::post("/api/crm/mgr/points/10080/events")
        .header(header::HOST, addr.to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, auth)
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

/// A keep-alive HTTP/1.1 connection to `addr` (its driver spawned).
async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    sender
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let ms: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&ms, 0.50), 50.0);
        assert_eq!(quantile(&ms, 0.99), 99.0);
        assert_eq!(quantile(&ms, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
    }
}
