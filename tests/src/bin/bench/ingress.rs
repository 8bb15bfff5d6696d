//! The ingress benchmark: requests/s that the API accepts (`POST …/events`, 202 only after the
//! broker confirmed) against the thinnest possible ingress — axum parsing the JSON and
//! publishing it with confirms, nothing else — with the same load generator, the same broker
//! and the same publisher, in the same run.
//!
//! The load generator is wrk's model: `connections` keep-alive HTTP/1.1 connections, each
//! sending its next request as soon as the previous answer is in, for `seconds`; after a
//! warm-up second that is not counted. Every request carries a new `event_no`.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header, Request, StatusCode},
    routing::post,
    Json, Router,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use lapin::options::QueuePurgeOptions;
use loyalty_tests::TestEnv;
use platform::broker::{headers, Domain, Publisher};

/// Counted answers of one load run.
#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    other: AtomicU64,
}

/// Runs both ingresses under the same load; prints each rate and the ratio.
pub async fn run(env: &TestEnv, connections: usize, seconds: u64) {
    let key = env.tenant("10080").await;
    println!("ingress: {connections} connections, {seconds} s per run (+1 s warm-up), one new event_no per request");

    let thin = serve(thin_router(env)).await;
    let baseline = load(thin, "/events", None, connections, seconds).await;
    println!("thin ingress (axum JSON + confirmed publish): {baseline:>8.0} req/s");
    // Both runs start from an empty queue (nothing consumes here).
    purge(env).await;

    let api = serve(api::app(env.state.clone())).await;
    let engine = load(api, "/api/crm/mgr/points/10080/events", Some(&key), connections, seconds).await;
    println!("engine ingress (auth, validation, envelope):  {engine:>8.0} req/s");
    purge(env).await;
    println!("ratio engine / thin ingress:                  {:>8.2}", engine / baseline);
}

/// The baseline: parse the body as JSON, publish it persistent with confirms, answer 202.
fn thin_router(env: &TestEnv) -> Router {
    #[derive(Clone)]
    struct Thin {
        publisher: Arc<Publisher>,
        exchange: String,
    }
    async fn accept(State(thin): State<Thin>, Json(event): Json<serde_json::Value>) -> StatusCode {
        let body = serde_json::to_vec(&event).expect("a JSON value serialises");
        let props = headers::persistent_json(&uuid::Uuid::now_v7().to_string(), "points.earn");
        match thin.publisher.publish(&thin.exchange, "points.earn.order_pay", &body, props).await {
            Ok(()) => StatusCode::ACCEPTED,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
    let thin = Thin { publisher: env.state.publisher.clone(), exchange: env.topology.events_exchange() };
    Router::new().route("/events", post(accept)).with_state(thin)
}

async fn purge(env: &TestEnv) {
    let (conn, channel) = env.channel().await;
    let queue = env.topology.work_queue(Domain::Points);
    channel.queue_purge(queue.as_str().into(), QueuePurgeOptions::default()).await.expect("purge");
    conn.close(200, "purged".into()).await.ok();
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    addr
}

/// wrk's loop on `connections` connections; returns the accepted (202) requests per second of
/// the measured window. Any other answer is counted and reported.
async fn load(addr: SocketAddr, path: &str, token: Option<&str>, connections: usize, seconds: u64) -> f64 {
    let tally = Arc::new(Tally::default());
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let start = Instant::now() + Duration::from_secs(1);
    let end = start + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let (tally, measuring) = (tally.clone(), measuring.clone());
        let (path, token) = (path.to_string(), token.map(|t| format!("Bearer {t}")));
        tasks.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(conn);
            let mut i = 0u64;
            while Instant::now() < end {
                i += 1;
                let body = format!(
                    r#"{{"event_no":"{addr}-{c}-{i}","member_no":"m{}","action_scene":"order_pay","amount":120,"store_code":"bench"}}"#,
                    i % 1000
                );
                let mut req = Request::post(path.as_str())
                    .header(header::HOST, addr.to_string())
                    .header(header::CONTENT_TYPE, "application/json");
                if let Some(t) = &token {
                    req = req.header(header::AUTHORIZATION, t);
                }
                let resp = sender.send_request(req.body(Full::new(Bytes::from(body))).expect("request")).await;
                let Ok(resp) = resp else { break };
                let status = resp.status();
                resp.into_body().collect().await.ok();
                if measuring.load(Ordering::Relaxed) {
                    let counter = if status == StatusCode::ACCEPTED { &tally.accepted } else { &tally.other };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    tokio::time::sleep_until(start.into()).await;
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep_until(end.into()).await;
    measuring.store(false, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let other = tally.other.load(Ordering::Relaxed);
    if other > 0 {
        println!("  ({other} answers other than 202)");
    }
    tally.accepted.load(Ordering::Relaxed) as f64 / seconds as f64
}
