//! The pipeline benchmark: N order events across M members, published to the broker and
//! drained by the workers, against the raw broker rate of the same N messages measured in the
//! same run (publish with confirms + consume with acks, nothing else).
//!
//! `cargo run --release -p loyalty-tests --bin bench -- --events 100000 --members 1000`
//! `cargo run --release -p loyalty-tests --bin bench -- --cards --codes 10000 --events 20000`
//! `cargo run --release -p loyalty-tests --bin bench -- --ingress` (see `ingress.rs`)
//! `cargo run --release -p loyalty-tests --bin bench -- --analytics` (see `analytics.rs`)
//! `cargo run --release -p loyalty-tests --bin bench -- --orders --events 20000` (see `orders.rs`)
//! `cargo run --release -p loyalty-tests --bin bench -- --drain --events 20000 --seed-rows 1000000` (see `seed.rs`)
//! `cargo run --release -p loyalty-tests --bin bench -- --latency` (see `latency.rs`)
//! `cargo run --release -p loyalty-tests --bin bench -- --scale --events 50000 --seconds 20` (see `scale.rs`)

mod analytics;
mod cpu;
mod ingress;
mod latency;
mod orders;
mod scale;
mod seed;
mod wrk;

use std::{sync::Arc, time::Instant};

use clap::Parser;
use futures_util::{stream::FuturesUnordered, StreamExt};
use lapin::{
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ExchangeDeclareOptions,
        ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
    BasicProperties, Channel, ExchangeKind,
};
use loyalty_tests::TestEnv;
use platform::broker::{headers, Domain};
use schemas::{money::Cents, points::EarnPayload, Envelope, MessageKind};
use serde_json::json;
use workers::WorkerHandle;

/// The binaries' allocator, so the in-process workers measure as deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// Order events to publish.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Members they are spread over.
    #[arg(long, default_value_t = 1_000)]
    members: usize,
    /// Consumers in the worker (each its own channel and transactions).
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Messages per transaction (the workers' default `WORKER_BATCH_SIZE`).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Publishes in flight (unconfirmed) at once.
    #[arg(long, default_value_t = 1_000)]
    window: usize,
    /// Also measure the drain alone: publish everything first, then start the worker.
    #[arg(long)]
    drain: bool,
    /// Measure a card flash sale instead: `--codes` codes, `--events` claims (one per member).
    #[arg(long)]
    cards: bool,
    #[arg(long, default_value_t = 10_000)]
    codes: usize,
    /// Measure the HTTP ingress instead: the API against a thin axum ingress, under load.
    #[arg(long)]
    ingress: bool,
    /// Ingress: keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Ingress and orders: seconds wrk loads each server; latency and scale: seconds of load.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Rounds, each engine figure beside a baseline measured just before it; with more than one,
    /// the median ratio too. Ingress: loads of the thin ingress, its shaped variant and the
    /// engine, each round starting one load later in that order;
    /// drain: backlogs drained; cards: flash sales, each of a new card.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// The earn run with analytics consumers (as many as `--consumers`): the freshness of the
    /// dashboards under that load, then the analytics consumers' drain rate.
    #[arg(long)]
    analytics: bool,
    /// Orders through `POST /loyalty/v1/deal` (wrk: `--connections`, `--seconds`; over
    /// `--members` members) into applied points, beside the raw broker rate of `--events` orders.
    #[arg(long)]
    orders: bool,
    /// With the drain: after the empty-database drain, COPY this many ledger rows (with their
    /// lots, inbox rows and members) into the database and drain the same backlog again.
    #[arg(long)]
    seed_rows: Option<usize>,
    /// Members the seeded rows are spread over (default: a tenth of `--seed-rows`).
    #[arg(long)]
    seed_members: Option<usize>,
    /// The seeded drain's events go to the seeded members, scattered over all of them (a member
    /// each, with history), instead of the empty drain's `--members`.
    #[arg(long)]
    seed_spread: bool,
    /// End-to-end latency, HTTP accept → applied, open loop at `--rate` requests/s (default: half
    /// the rate a closed-loop burst is applied at, measured first) for `--seconds`.
    #[arg(long)]
    latency: bool,
    /// Latency: the offered rate, requests/s; scale: the stream's rate, events/s.
    #[arg(long)]
    rate: Option<f64>,
    /// Workers as separate processes (the `workers` binary): a backlog drained by each count of
    /// `--processes`, then 1 → 4 → 1 processes while events stream in (see `scale.rs`).
    #[arg(long)]
    scale: bool,
    /// Scale: the counts of worker processes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    processes: Vec<usize>,
    /// Reach a PostgreSQL on this machine as libpq's default would (`sslmode=prefer`: TLS when the
    /// server offers it) instead of over plain TCP (see `loopback_plain`).
    #[arg(long)]
    pg_tls: bool,
}

/// PostgreSQL on this machine over plain TCP (`sslmode=disable`), unless the URL names its own
/// `sslmode`. The system as deployed (docker-compose) reaches PostgreSQL unencrypted, and the
/// README advises `sslmode=disable` on a loopback connection; a local cluster with `ssl = on`
/// (Debian's) would otherwise charge TLS to both ends of every statement: 1.6 µs of the workers'
/// and about 2 µs of PostgreSQL's CPU per drained event (issue 14). `--pg-tls` measures with it.
fn loopback_plain(settings: &mut platform::settings::Settings) {
    let plain = |url: &mut String| {
        let host = url.split_once('@').map_or("", |(_, rest)| rest);
        let loopback = ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| host.starts_with(h));
        if loopback && !url.contains("sslmode=") {
            url.push_str(if url.contains('?') { "&sslmode=disable" } else { "?sslmode=disable" });
        }
    };
    plain(&mut settings.database_url);
    for shard in &mut settings.shards {
        plain(&mut shard.database_url);
    }
}

/// Order-paid earn events `range` under keys `<prefix><i>`, over `members` members, as the
/// engine's envelopes: (message id, body).
fn order_events(prefix: &str, range: std::ops::Range<usize>, members: usize) -> Vec<(String, Vec<u8>)> {
    range
        .map(|i| {
            let payload = EarnPayload {
                member_no: format!("member-{}", i % members),
                action_scene: "order_pay".into(),
                amount: Some(Cents(((i % 50) as i64 + 1) * 1000)),
                order_items: None,
                store_code: Some("ec_mall".into()),
                cost_center: None,
                campagin_code: None,
                operator: None,
                event_desc: None,
                pay_method: None,
            };
            message(MessageKind::PointsEarn, "10080", format!("{prefix}{i}"), payload)
        })
        .collect()
}

/// A message as the engine publishes it, occurring now: (message id, the envelope's JSON).
fn message<P: serde::Serialize>(kind: MessageKind, crm_id: &str, key: String, payload: P) -> (String, Vec<u8>) {
    let envelope = Envelope::new(kind, crm_id.into(), key, chrono::Utc::now(), payload);
    (envelope.message_id.to_string(), serde_json::to_vec(&envelope).expect("json"))
}

/// Publishes every body with confirms, `window` in flight; returns when all are confirmed.
async fn publish_all(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    bodies: &[(String, Vec<u8>)],
    window: usize,
) {
    let mut in_flight = FuturesUnordered::new();
    for (id, body) in bodies {
        if in_flight.len() >= window {
            let confirm: lapin::Result<lapin::Confirmation> = in_flight.next().await.expect("in flight");
            assert!(confirm.expect("confirm").is_ack(), "the broker refused a message");
        }
        let props: BasicProperties = headers::persistent_json(id, "points.earn");
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };
        in_flight.push(
            channel.basic_publish(exchange.into(), routing_key.into(), options, body, props).await.expect("publish"),
        );
    }
    while let Some(confirm) = in_flight.next().await {
        assert!(confirm.expect("confirm").is_ack(), "the broker refused a message");
    }
}

/// Waits until `count_sql` (a count of applied rows) answers at least `n`, and fails past
/// `limit`. Counting rows costs PostgreSQL CPU, which the drain's CPU per event counts and
/// which grows with the table: so while the work queue still holds ready messages (a
/// passive declare: the broker answers, not the database) the drain is known not to be over,
/// and the count runs only for the last prefetched batches, and no more often than every ten
/// times its own duration (a slow count, under `scripts/callgrind-postgres`'s valgrind or on a
/// big table, would otherwise be a large share of what is measured). `domain` names the work
/// queue.
async fn wait_applied(
    env: &TestEnv,
    channel: &Channel,
    domain: Domain,
    count_sql: &str,
    n: i64,
    limit: std::time::Duration,
) {
    let deadline = Instant::now() + limit;
    let queue = env.topology.work_queue(domain);
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    loop {
        assert!(Instant::now() < deadline, "{n} events were not applied within {limit:?}");
        let ready = channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
            .expect("the work queue")
            .message_count();
        let pause = if ready == 0 {
            let counting = Instant::now();
            if env.scalar(count_sql).await >= n {
                return;
            }
            (counting.elapsed() * 10).max(std::time::Duration::from_millis(20))
        } else {
            std::time::Duration::from_millis(50)
        };
        tokio::time::sleep(pause).await;
    }
}

/// Waits until all of `worker`'s consumers hold a `basic_consume` (what its `/healthz` counts)
/// and answers how long that took (to `wait_for`'s 20 ms polling). A phase that publishes while
/// the workers consume starts its clock after this, as the raw baselines start theirs once their
/// consumer consumes: the worker's own start (its connections, the topology's declarations) is
/// not part of its throughput.
async fn consuming(worker: &WorkerHandle) -> std::time::Duration {
    let started = Instant::now();
    let all = worker.consumers;
    loyalty_tests::wait_for("all the worker's consumers to consume", std::time::Duration::from_secs(30), || {
        let n = worker.consuming.count();
        async move { (n >= all).then_some(()) }
    })
    .await;
    started.elapsed()
}

/// The raw broker: a quorum queue, the same messages published with confirms while one
/// consumer (prefetch 1000) acks them in groups of 100. Answers its rate and its CPU per message.
async fn raw_broker(env: &TestEnv, bodies: &[(String, Vec<u8>)], window: usize) -> (f64, cpu::Cost) {
    raw_broker_by(env, bodies, window, Route::Direct).await
}

/// How a raw baseline's messages reach its queue.
#[derive(Clone, Copy)]
enum Route {
    /// The default exchange, straight into a plain quorum queue: the issue's baseline.
    Direct,
    /// The engine's way for a family's messages (SYSTEM.md's topology): a topic exchange (of the
    /// baseline's own) bound with `{family}.#`, the routing key the engine publishes with, into
    /// a queue declared with a work queue's arguments (dead lettering, delivery limit). Measured
    /// beside the direct baseline, it tells what the topology costs the broker apart from what
    /// the engine's own work costs.
    Shaped(Domain, &'static str),
}

async fn raw_broker_by(env: &TestEnv, bodies: &[(String, Vec<u8>)], window: usize, route: Route) -> (f64, cpu::Cost) {
    let (conn_p, publisher) = env.channel().await;
    let conn_c = platform::broker::connect(&env.settings.amqp_url, "bench-raw-consumer").await.expect("broker");
    let consumer_channel = conn_c.create_channel().await.expect("channel");
    let (queue, args, label) = match route {
        Route::Direct => {
            let mut args = FieldTable::default();
            args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
            (format!("{}.bench.raw", env.settings.namespace), args, "raw broker")
        }
        Route::Shaped(domain, _) => {
            (format!("{}.bench.shaped", env.settings.namespace), env.topology.work_queue_args(domain), "shaped raw")
        }
    };
    publisher
        .queue_declare(queue.as_str().into(), QueueDeclareOptions { durable: true, ..Default::default() }, args)
        .await
        .expect("queue");
    let (exchange, routing_key) = match route {
        Route::Direct => (String::new(), queue.clone()),
        Route::Shaped(domain, routing_key) => {
            let exchange = format!("{}.bench.shaped", env.settings.namespace);
            let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
            publisher
                .exchange_declare(exchange.as_str().into(), ExchangeKind::Topic, durable, FieldTable::default())
                .await
                .expect("exchange");
            let binding = format!("{}.#", domain.name());
            publisher
                .queue_bind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    binding.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind");
            (exchange, routing_key.to_string())
        }
    };
    consumer_channel.basic_qos(1000, BasicQosOptions::default()).await.expect("qos");
    let mut consumer = consumer_channel
        .basic_consume(queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .expect("consume");
    let n = bodies.len();
    let cpu_before = cpu::Sample::without_database();
    let started = Instant::now();
    let drain = tokio::spawn(async move {
        let mut seen = 0;
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery.expect("delivery");
            seen += 1;
            if seen % 100 == 0 || seen == n {
                delivery.ack(BasicAckOptions { multiple: true }).await.expect("ack");
            }
            if seen == n {
                break;
            }
        }
    });
    publish_all(&publisher, &exchange, &routing_key, bodies, window).await;
    drain.await.expect("consumer");
    let elapsed = started.elapsed().as_secs_f64();
    // The same machine-independent figure as the engine's phases print, for the baseline.
    let cost = cpu::Sample::without_database().cost_since(&cpu_before, n);
    println!("{}", cost.message_line(label));
    publisher.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await.ok();
    if !exchange.is_empty() {
        publisher.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default()).await.ok();
    }
    conn_p.close(200, "done".into()).await.ok();
    conn_c.close(200, "done".into()).await.ok();
    (n as f64 / elapsed, cost)
}

/// One round of the drain: the raw broker measured again (the broker's own rate moves from
/// minute to minute, so each drain is set beside the raw rate of the same minute), then the
/// same events under new keys (`again<round>-…`), occurring now, published before any worker
/// runs, and drained. Occurring now, not at the first run's times: a member's events of two
/// rounds at the same instant made equal keys in the member indexes (`points_ledger_member`,
/// `points_lot_member`, `points_lot_expiry`), which real traffic does not, and the drain
/// measured their deduplication instead.
/// Prints the round's figures; answers the drain and its ratio to the raw broker.
async fn drain_round(
    env: &TestEnv,
    channel: &Channel,
    bodies: &[(String, Vec<u8>)],
    args: &Args,
    database: &str,
    round: usize,
) -> (seed::Drain, f64) {
    let n = bodies.len();
    let (raw, raw_cost) = raw_broker(env, bodies, args.window).await;
    let again = order_events(&format!("again{round}-bench-"), 0..n, args.members);
    publish_all(channel, env.topology.events_exchange(), "points.earn.order_pay", &again, args.window).await;
    // A mark for profiling the drain alone (`perf record` from this line on).
    println!("drain round {round}: raw broker {raw:.0} msg/s; a backlog of {n} published; the workers start now");
    let cpu_before = cpu::Sample::now(database);
    let started = Instant::now();
    let worker = env.worker(args.consumers, std::env::var("NORELAY").is_err(), Arc::default());
    let applied = ((round + 1) * n) as i64;
    let limit = std::time::Duration::from_secs(600);
    wait_applied(env, channel, Domain::Points, "select count(*) from inbox", applied, limit).await;
    let drained = n as f64 / started.elapsed().as_secs_f64();
    let cpu_after = cpu::Sample::now(database);
    println!("engine drain alone:         {drained:>9.0} events/s  (a backlog of {n}, no publishing meanwhile)");
    // Issue 14's first goal: the workers draining a backlog at least as fast as the broker
    // alone moves the same messages (publish + consume).
    println!("ratio drain / raw broker:   {:>9.2}", drained / raw);
    // Only the workers run in this process during the drain: its CPU is theirs (and the
    // wait's queue declares and final counts). Machine-independent where the rate is not.
    let cost = cpu_after.cost_since(&cpu_before, n);
    let cpu = cost.event_line("workers");
    println!("{cpu}");
    // What PostgreSQL and the broker spend per event bounds the ratio whatever the workers'
    // own code costs.
    let beside_workers = cost.postgres + cost.broker.unwrap_or(0.0);
    let floors = [("were the workers free: PostgreSQL and RabbitMQ", beside_workers)];
    println!("{}", cpu::account("event", ("raw broker", raw_cost.total()), cost.total(), drained / raw, &floors));
    worker.stop(std::time::Duration::from_secs(10)).await;
    (seed::Drain { rate: drained, cpu }, drained / raw)
}

/// The flash sale: `--rounds` sales, each of a new card with `codes` codes and get_limit 1 and
/// `events` claims from as many members, published like the points events while the workers'
/// card consumers drain them, beside the raw broker measured just before.
async fn flash_sale(env: &TestEnv, args: &Args) {
    let key = env.tenant("20090").await;
    let (mut ratios, mut engine_parts) = (Vec::with_capacity(args.rounds), Vec::with_capacity(args.rounds));
    for round in 1..=args.rounds {
        let (ratio, engine_part) = flash_sale_round(env, args, &key, round).await;
        ratios.push(ratio);
        engine_parts.push(engine_part);
    }
    if args.rounds > 1 {
        println!("{}", median_line("engine / raw broker", "sales", ratios));
        println!("{}", median_line("engine / shaped raw", "sales", engine_parts));
    }
}

/// `ratio {what}, median of {n} {rounds}: m (from lo to hi)`: the summary line every bench with
/// `--rounds` prints. The median of an even count is its upper middle value.
fn median_line(what: &str, rounds: &str, mut ratios: Vec<f64>) -> String {
    ratios.sort_by(f64::total_cmp);
    let (n, lo, hi) = (ratios.len(), ratios[0], ratios[ratios.len() - 1]);
    format!("ratio {what}, median of {n} {rounds}: {:.2} (from {lo:.2} to {hi:.2})", ratios[n / 2])
}

/// One sale; answers its ratios to the raw broker and to the shaped raw broker.
async fn flash_sale_round(env: &TestEnv, args: &Args, key: &str, round: usize) -> (f64, f64) {
    let card = json!({
        "card_type": 0, "title": "满100减10", "subtitle": "flash", "source": 2, "notice": "n", "rule": "r", "date_type": 3,
        "total_quantity": args.codes, "get_limit": 1, "generate_type": 1, "cash_amount": 10, "icon": "i",
        "extra_info": {"bg_color": "#1", "jump_now_path": "/", "custom_menu_name": "m", "menu_jump_path": "/"}
    });
    let (_, body) = env.post("/api/crm/card/20090/create", key, card).await;
    let card_id = body["data"]["card_id"].as_str().expect("card created").to_string();
    let generator = env.worker(1, false, Arc::default());
    let (conn, channel) = env.channel().await;
    let started = Instant::now();
    // Counted as the sale's answers are (a count every 50 ms under `scripts/callgrind-postgres
    // --cards` would weigh on the instructions per claim).
    let generated = format!("select count(*) from card_code where card_id = '{card_id}'");
    wait_applied(env, &channel, Domain::Cards, &generated, args.codes as i64, std::time::Duration::from_secs(600))
        .await;
    println!("sale {round}: {} codes generated in {:.1} s", args.codes, started.elapsed().as_secs_f64());
    generator.stop(std::time::Duration::from_secs(10)).await;

    let bodies: Vec<(String, Vec<u8>)> = (0..args.events)
        .map(|i| {
            let payload =
                json!({"member_no": format!("member-{i}"), "out_str": "flash", "card_info": {card_id.clone(): 1}});
            message(MessageKind::CardsReceive, "20090", format!("claim-{round}-{i}"), payload)
        })
        .collect();
    println!("flash sale: {} claims for {} codes, {} consumers per worker", args.events, args.codes, args.consumers);
    let (raw, raw_cost) = raw_broker(env, &bodies, args.window).await;
    println!("raw broker publish+consume: {raw:>9.0} msg/s");
    // The engine's routing key for claims, for the shaped baseline and the sale alike.
    let routing_key = MessageKind::CardsReceive.as_str();
    let (shaped, shaped_cost) =
        raw_broker_by(env, &bodies, args.window, Route::Shaped(Domain::Cards, routing_key)).await;
    println!("shaped raw publish+consume: {shaped:>9.0} msg/s  (the claims' exchange, binding and queue arguments)");
    let worker = env.worker(args.consumers, false, Arc::default());
    let start = consuming(&worker).await;
    println!("workers consuming after {:.0} ms; the sale's clock starts now", start.as_secs_f64() * 1000.0);
    let database = cpu::database_of(&env.settings.database_url).to_string();
    let cpu_before = cpu::Sample::now(&database);
    let started = Instant::now();
    publish_all(&channel, env.topology.events_exchange(), routing_key, &bodies, args.window).await;
    let answered = "select count(*) from inbox where key_kind = 'received_id'";
    let all = (round * args.events) as i64;
    wait_applied(env, &channel, Domain::Cards, answered, all, std::time::Duration::from_secs(600)).await;
    let rate = args.events as f64 / started.elapsed().as_secs_f64();
    println!(
        "engine claims answered:     {rate:>9.0} claims/s  (all {} answered after {:.1} s)",
        args.events,
        started.elapsed().as_secs_f64()
    );
    // The sale publishes while the workers claim: the bench process's figure holds both.
    let cost = cpu::Sample::now(&database).cost_since(&cpu_before, args.events);
    println!("{}", cost.event_line("workers and publisher"));
    println!("ratio engine / raw broker:  {:>9.2}", rate / raw);
    // A claim's PostgreSQL work on top of moving its message, the raw way or the claims' way,
    // bounds the ratio whatever the workers' own code costs.
    let floors = [
        ("were the workers free and the route the raw one: raw broker + PostgreSQL", raw_cost.total() + cost.postgres),
        ("by the claims' route: shaped raw + PostgreSQL", shaped_cost.total() + cost.postgres),
    ];
    println!("{}", cpu::account("claim", ("raw broker", raw_cost.total()), cost.total(), rate / raw, &floors));
    // Goal 3's ratio split as `bench --ingress` splits goal 2's: what the broker charges for
    // the topology SYSTEM.md decides, and what the engine's own work (the workers, PostgreSQL,
    // Redis) costs beside it.
    println!(
        "of which the topology (shaped raw / raw) {:.2} and the engine's work (engine / shaped raw) {:.2}",
        shaped / raw,
        rate / shaped
    );
    let issued =
        env.scalar(&format!("select count(*) from card_code where card_id = '{card_id}' and status = 1")).await;
    let per_member = env
        .scalar(&format!(
            "select count(*) from (select member_no from card_code where card_id = '{card_id}' and member_no is not null
             group by member_no having count(*) > 1) m"
        ))
        .await;
    println!("check: {issued} codes issued for {} in stock, {per_member} members above get_limit", args.codes);
    assert_eq!(issued, args.codes.min(args.events) as i64, "exactly the stock");
    assert_eq!(per_member, 0);
    worker.stop(std::time::Duration::from_secs(10)).await;
    conn.close(200, "done".into()).await.ok();
    (rate / raw, rate / shaped)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut env = TestEnv::new_with(|s| {
        if !args.pg_tls {
            loopback_plain(s)
        }
    })
    .await;
    let tls = if args.pg_tls { "libpq's default (TLS when offered)" } else { "plain TCP on loopback" };
    println!("PostgreSQL connections: {tls}");
    if args.ingress {
        ingress::run(&env, args.connections, args.seconds, args.rounds).await;
        env.cleanup().await;
        return;
    }
    if args.orders {
        env.settings.batch_size = args.batch;
        env.settings.prefetch = (args.batch * 2).min(u16::MAX as usize) as u16;
        env.settings.db_max_connections = (2 * args.consumers as u32 + 4).max(8).max(args.connections as u32 / 2);
        orders::run(&env, args.events, args.members, args.consumers, args.connections, args.seconds, args.window).await;
        env.cleanup().await;
        return;
    }
    if args.cards {
        env.settings.db_max_connections = (2 * args.consumers as u32 + 4).max(8);
        flash_sale(&env, &args).await;
        env.cleanup().await;
        return;
    }
    env.settings.batch_size = args.batch;
    env.settings.prefetch = (args.batch * 2).min(u16::MAX as usize) as u16;
    env.settings.db_max_connections = (2 * args.consumers as u32 + 4).max(8);
    let key = env.tenant("10080").await;
    env.rule(
        "10080",
        &key,
        json!({"rule_name": "下单支付", "action_scene": "order_pay", "points_type": "order", "expire_term": 365,
               "per_money": 10, "change_points": 1, "range_days": 0}),
    )
    .await;

    if args.latency {
        latency::run(&env, &key, &args).await;
        env.cleanup().await;
        return;
    }
    if args.scale {
        scale::run(&env, &args.processes, args.events, args.members, args.rate, args.seconds).await;
        env.cleanup().await;
        return;
    }

    let bodies = order_events("bench-", 0..args.events, args.members);

    // `--seed-rows` compares two drains: it implies `--drain`.
    let drain = args.drain || args.seed_rows.is_some();
    println!(
        "bench: {} order events, {} members, {} consumers, batch {}",
        args.events, args.members, args.consumers, args.batch
    );
    let (raw, _) = raw_broker(&env, &bodies, args.window).await;
    println!("raw broker publish+consume: {raw:>9.0} msg/s");

    let worker = if args.analytics {
        analytics::worker(&env, args.consumers, true, args.consumers)
    } else {
        env.worker(args.consumers, std::env::var("NORELAY").is_err(), Arc::default())
    };
    let (conn, channel) = env.channel().await;
    consuming(&worker).await;
    let started = Instant::now();
    publish_all(&channel, env.topology.events_exchange(), "points.earn.order_pay", &bodies, args.window).await;
    let published = started.elapsed().as_secs_f64();
    let n = args.events as i64;
    wait_applied(&env, &channel, Domain::Points, "select count(*) from inbox", n, std::time::Duration::from_secs(600))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let applied = args.events as f64 / elapsed;
    println!("engine publish+apply:       {applied:>9.0} events/s  (published in {published:.1} s, all applied after {elapsed:.1} s)");
    println!("ratio engine / raw broker:  {:>9.2}", applied / raw);
    if args.analytics {
        analytics::freshness(&env).await;
    }

    let mut seeded = 0;
    if drain {
        worker.stop(std::time::Duration::from_secs(10)).await;
        if args.seed_rows.is_some() {
            // The seeded drain starts from a vacuumed and checkpointed database: so do these.
            seed::settle(&env).await;
        }
        let database = cpu::database_of(&env.settings.database_url).to_string();
        let mut ratios = Vec::with_capacity(args.rounds);
        let mut last = None;
        for round in 1..=args.rounds {
            last = Some(drain_round(&env, &channel, &bodies, &args, &database, round).await);
            ratios.push(last.as_ref().expect("just set").1);
        }
        if args.rounds > 1 {
            println!("{}", median_line("drain / raw broker", "rounds", ratios));
        }
        if args.seed_rows.is_some() {
            let (empty, _) = last.expect("at least one round");
            seeded = seed::run(&env, &channel, &bodies, &args, &empty).await;
        }
    } else {
        worker.stop(std::time::Duration::from_secs(10)).await;
    }
    if args.analytics {
        analytics::drain(&env, args.consumers, raw).await;
    }
    // The pipeline run, each round of the empty drain, the seeded drain: each applied the N events once.
    let rounds = if drain { args.rounds as i64 } else { 0 };
    let n = n * (1 + rounds + i64::from(seeded > 0));
    let ledger = env.scalar("select count(*) from points_ledger").await;
    let started = Instant::now();
    let violations = workers::verify::violations(&env.db, None).await.expect("verify");
    println!(
        "check: {ledger} ledger rows for {n} events + {seeded} seeded, {} verify violations (verify took {:.1} s)",
        violations.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(ledger, n + seeded, "every event applied exactly once, beside the seeded rows");
    assert!(violations.is_empty());
    conn.close(200, "done".into()).await.ok();
    env.cleanup().await;
}

#[cfg(test)]
mod tests {
    use super::median_line;

    #[test]
    fn the_median_line_gives_the_middle_and_the_range_of_the_rounds() {
        assert_eq!(
            median_line("drain / raw broker", "rounds", vec![0.94, 0.71, 1.21]),
            "ratio drain / raw broker, median of 3 rounds: 0.94 (from 0.71 to 1.21)"
        );
        // An even count: its upper middle value.
        assert_eq!(
            median_line("x", "sales", vec![0.5, 0.7, 0.6, 0.4]),
            "ratio x, median of 4 sales: 0.60 (from 0.40 to 0.70)"
        );
    }
}
