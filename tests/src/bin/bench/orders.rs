//! `--orders`: orders per second through `POST /loyalty/v1/deal` into applied points (the api's
//! member lookup, validation and confirmed publish, then the workers' batched order apply: the
//! order rows, the earn computation, the ledger), against the raw broker rate of the order
//! messages measured in the same run.
//!
//! wrk loads the real `api` binary (`--connections`, `--seconds`, each order new, its member one
//! of `--members` by a wechat identity, `wait_ms=0`: answered once the broker confirmed) while
//! a worker applies them in this process; the clock runs from wrk's start until the last
//! accepted order has its outcome in the inbox.

use std::{sync::Arc, time::Instant};

use loyalty_tests::{deal_body, TestEnv};
use schemas::{
    orders::{parse_deal, OrderPayload},
    MessageKind,
};
use serde_json::json;

use crate::{
    cpu,
    ingress::api_command,
    wrk::{self, Server},
};

pub async fn run(
    env: &TestEnv,
    orders: usize,
    members: usize,
    consumers: usize,
    connections: usize,
    seconds: u64,
    window: usize,
) {
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
            super::message(MessageKind::PointsOrder, "10080", format!("bench-{i}"), payload)
        })
        .collect();
    println!("bench --orders: wrk -t2 -c{connections} -d{seconds}s on /deal, {members} members, {consumers} consumers; raw broker: {orders} messages");
    let (raw, _) = super::raw_broker(env, &messages, window).await;
    println!("raw broker publish+consume: {raw:>9.0} msg/s");

    let worker = env.worker(consumers, true, Arc::default());
    let port = wrk::free_port();
    let api = Server::start(api_command(env, port), &format!("http://127.0.0.1:{port}/readyz")).await;
    // The body's keys are placeholders wrk's script fills (see wrk.rs); the payment number is
    // not a key.
    let template =
        deal_body("@key@", json!([{"type": "wechat", "value": "bench-@member@"}]), "120.00", &[("L1", "120.00")])
            .to_string()
            .replace("pay-@key@", "pay-bench")
            .replace("@key@", "{key}")
            .replace("@member@", "{member}");
    let database = cpu::database_of(&env.settings.database_url).to_string();
    let (cpu_before, api_before) = (cpu::Sample::now(&database), api.cpu());
    let started = Instant::now();
    let load = wrk::post(
        &format!("http://127.0.0.1:{port}/loyalty/v1/deal?wait_ms=0&access_token={key}"),
        &[("Content-Type", "application/json")],
        &template,
        members,
        connections,
        seconds,
    )
    .await;
    let accepted = started.elapsed().as_secs_f64();
    let api_cpu = api.cpu().saturating_sub(api_before);
    api.stop().await;
    println!("api accepted (wrk):         {load}");
    // wrk counts the answers it saw; orders in flight when it stopped may be applied as well.
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    let mut applied = 0;
    while applied < load.succeeded as i64 {
        assert!(
            Instant::now() < deadline,
            "only {applied} of {} accepted orders applied after 2 minutes",
            load.succeeded
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        applied = env.scalar("select count(*) from inbox where key_kind = 'order_no'").await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = applied as f64 / elapsed;
    println!("engine /deal → points:      {rate:>9.0} orders/s  ({applied} applied {elapsed:.1} s after wrk started, which loaded {accepted:.1} s)");
    println!("ratio engine / raw broker:  {:>9.2}", rate / raw);
    // Machine-independent, as the other phases print it: the api's CPU per order beside the
    // workers' (this process), PostgreSQL's (the api's and the workers' backends) and RabbitMQ's.
    let per_order = cpu::Sample::now(&database).cost_since(&cpu_before, applied as usize).event_line("workers");
    println!("{per_order}, {:.1} µs api", cpu::micros_each(api_cpu, applied as u64));
    worker.stop(std::time::Duration::from_secs(10)).await;
    let applied = env.scalar("select count(*) from inbox where key_kind = 'order_no'").await;
    let deals = env.scalar("select count(*) from deal").await;
    let rows = env.scalar("select count(*) from points_ledger where event_no like 'deal/%'").await;
    let violations = workers::verify::violations(&env.db, None).await.expect("verify");
    println!(
        "check: {applied} orders answered, {deals} order rows, {rows} ledger rows, {} verify violations",
        violations.len()
    );
    assert!(applied >= load.succeeded as i64, "every accepted order applied");
    assert_eq!((deals, rows), (applied, applied), "every order applied exactly once");
    assert!(violations.is_empty());
}
