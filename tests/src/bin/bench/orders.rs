//! `--orders`: orders per second through `POST /loyalty/v1/deal` into applied points (the api's
//! member lookup, validation and confirmed publish, then the workers' batched order apply: the
//! order rows, the earn computation, the ledger), against the raw broker rate of the same
//! messages measured in the same run.
//!
//! The requests go to the api's router (built once) in-process (no TCP; `--ingress` measures
//! HTTP itself),
//! `--connections` at a time, each with `wait_ms=0` (answered once the broker confirmed); the
//! clock stops when every order has its outcome in the inbox.

use std::{sync::Arc, time::Instant};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use futures_util::{stream::FuturesUnordered, StreamExt};
use loyalty_tests::{deal_body, send, TestEnv};
use schemas::{
    orders::{parse_deal, OrderPayload},
    Envelope, MessageKind,
};
use serde_json::json;

pub async fn run(env: &TestEnv, orders: usize, members: usize, consumers: usize, connections: usize, window: usize) {
    let key = env.tenant("10080").await;
    env.rule(
        "10080",
        &key,
        json!({"rule_name": "下单支付", "action_scene": "order_pay", "points_type": "order", "expire_term": 365,
               "per_money": 10, "change_points": 1, "range_days": 0}),
    )
    .await;
    let mut ids = Vec::with_capacity(members);
    for i in 0..members {
        ids.push(
            env.member(
                &key,
                json!({"name": format!("b{i}")}),
                json!([{"type": "wechat", "value": format!("bench-{i}")}]),
            )
            .await,
        );
    }
    let bodies: Vec<serde_json::Value> = (0..orders)
        .map(|i| {
            let amount = format!("{}.00", (i % 50) * 10 + 10);
            deal_body(&format!("bench-{i}"), json!(ids[i % members]), &amount, &[("L1", &amount)])
        })
        .collect();
    // The raw broker gets the messages the api publishes for these orders.
    let messages: Vec<(String, Vec<u8>)> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let deal = parse_deal(b.as_object().expect("an object")).expect("a valid order");
            let payload = OrderPayload {
                member_no: ids[i % members].to_string(),
                membership_id: Some(ids[i % members]),
                deal: Box::new(deal),
            };
            let e = Envelope::new(
                MessageKind::PointsOrder,
                "10080".into(),
                format!("bench-{i}"),
                chrono::Utc::now(),
                payload,
            );
            (e.message_id.to_string(), serde_json::to_vec(&e).expect("json"))
        })
        .collect();
    println!("bench --orders: {orders} orders through /deal, {members} members, {consumers} consumers, {connections} requests in flight");
    let raw = super::raw_broker(env, &messages, window).await;
    println!("raw broker publish+consume: {raw:>9.0} msg/s");

    let worker = env.worker(consumers, true, Arc::default());
    // One router for the run, as a server builds it once (`TestEnv::loyalty` builds one per call).
    let router = env.router();
    let key = Arc::new(key);
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for body in bodies {
        if in_flight.len() >= connections {
            let (status, answer): (StatusCode, serde_json::Value) = in_flight.next().await.expect("in flight");
            assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        }
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/loyalty/v1/deal?wait_ms=0&access_token={key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        in_flight.push(send(router.clone(), req));
    }
    while let Some((status, answer)) = in_flight.next().await {
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let accepted = started.elapsed().as_secs_f64();
    while env.scalar("select count(*) from inbox where key_kind = 'order_no'").await < orders as i64 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = orders as f64 / elapsed;
    println!("engine /deal → points:      {rate:>9.0} orders/s  (all accepted after {accepted:.1} s, all applied after {elapsed:.1} s)");
    println!("ratio engine / raw broker:  {:>9.2}", rate / raw);
    worker.stop(std::time::Duration::from_secs(10)).await;
    let deals = env.scalar("select count(*) from deal").await;
    let rows = env.scalar("select count(*) from points_ledger where event_no like 'deal/%'").await;
    let violations = workers::verify::violations(&env.db, None).await.expect("verify");
    println!("check: {deals} orders, {rows} ledger rows, {} verify violations", violations.len());
    assert_eq!((deals, rows), (orders as i64, orders as i64), "every order applied exactly once");
    assert!(violations.is_empty());
}
