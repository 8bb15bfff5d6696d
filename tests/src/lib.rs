//! The test harness: a fresh environment per test (its own PostgreSQL database, its own broker
//! namespace of exchanges and queues, its own Redis key prefix), the API router to call with
//! `oneshot`, workers to start and stop, and waiting on conditions with a deadline.

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
    Router,
};
use deadpool_redis::redis;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use platform::{
    broker::{Domain, Topology},
    Settings,
};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use workers::{Deps, Failpoints, WorkerHandle, WorkerOptions};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The seed's example earn rule (下单支付).
pub fn seed_rule() -> Value {
    json!({
        "rule_name": "下单支付", "action_scene": "order_pay", "points_type": "order", "expire_term": 30,
        "per_money": 50, "change_points": 10, "freeze_term": 3, "max_points": 30, "max_times": 10, "range_days": 1
    })
}

/// An event rule: 1 point per sign-in (登录), no daily limit.
pub fn login_rule() -> Value {
    json!({"rule_name": "登录", "action_scene": "user_login", "points_type": "event", "expire_term": 30, "change_points": 1, "range_days": 0})
}

/// Seed 003's example body of card `create`.
pub fn seed_card() -> Value {
    json!({
        "card_type": 1, "title": "满100减10", "subtitle": "618满100减10", "source": 2, "scene": "web",
        "notice": "适用说明", "rule": "使用须知", "date_type": 1, "begin_time": 1655481600, "end_time": 1655740799,
        "start_day_count": null, "expire_day_count": null, "weekdays": "0,1,6", "monthdays": "1,11,18,28",
        "day_begin_time": 0, "day_end_time": 86399, "total_quantity": 10000, "get_limit": 0, "use_limit": 0,
        "can_give_friend": true, "generate_type": 1, "generate_file": null, "cash_amount": 10, "cash_condition": 100,
        "discount": 0.9, "icon": "aa/bb/cc.jpg", "store_codes": "store_01, store_02", "cost_center": "NO12312513",
        "cost_type": 1, "cost_value": 2,
        "extra_info": {"bg_color": "#1111111", "jump_now_path": "/page/card/", "custom_menu_name": "卡券", "menu_jump_path": "/page/custom/"}
    })
}

/// One test's world.
pub struct TestEnv {
    pub settings: Settings,
    pub db: PgPool,
    pub redis: platform::cache::Redis,
    pub state: api::AppState,
    pub topology: Topology,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        TestEnv::new_with(|_| {}).await
    }

    /// A fresh environment whose settings `configure` adjusts first.
    pub async fn new_with(configure: impl FnOnce(&mut Settings)) -> TestEnv {
        if std::env::var("TEST_LOG").is_ok() {
            platform::telemetry::init_logging(false);
        } else {
            // ERROR lines only, through the harness's capture: a failing test prints them (the
            // cause of an `internal error` answer among them, which the client never sees), a
            // passing one does not. Threads the test starts inherit its capture. (A test binary
            // with a subscriber of its own installs it before the first `TestEnv`.) Not lapin's own:
            // it logs a connection closed while a channel closes (every shutdown) as an error,
            // and what matters of its errors reaches the code that logs them.
            let _ = tracing_subscriber::fmt()
                .with_env_filter("error,lapin=off")
                .with_ansi(false)
                .with_test_writer()
                .try_init();
        }
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let mut settings = Settings::from_env().expect("settings");
        let base =
            std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432".into());
        settings.database_url = format!("{base}/lt_{id}");
        settings.namespace = format!("t{id}");
        settings.admin_token = ADMIN_TOKEN.into();
        settings.retry_delays =
            vec![Duration::from_millis(100), Duration::from_millis(200), Duration::from_millis(300)];
        settings.batch_size = 100;
        settings.prefetch = 200;
        settings.db_max_connections = 8;
        // One database unless the test adds shards (`configure`), whatever DATABASE_SHARDS says.
        settings.shards = vec![platform::settings::Shard {
            name: platform::settings::DEFAULT_SHARD.into(),
            database_url: settings.database_url.clone(),
            namespace: settings.namespace.clone(),
        }];
        configure(&mut settings);
        let db = platform::db::connect_and_migrate(&settings).await.expect("database");
        let shard_dbs = platform::db::connect_shards(&settings).await.expect("shard databases");
        let redis = platform::cache::Redis::from_settings(&settings).expect("redis");
        let state = api::AppState::with_shards(settings.clone(), db.clone(), redis.clone(), shard_dbs);
        let topology = state.topology.clone();
        TestEnv { settings, db, redis, state, topology }
    }

    pub fn router(&self) -> Router {
        api::app(self.state.clone())
    }

    /// Calls the API; returns the status and the JSON body (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_raw(method, path, token, body.map(|b| b.to_string()), true).await
    }

    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        json_type: bool,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if json_type {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(body.map_or_else(Body::empty, Body::from)).expect("request");
        send(self.router(), req).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Posts a command and insists on 202, answering a 503 ("not queued, retry with the same
    /// key") as the API asks a client to: the same request again, until a minute has passed.
    /// For bursts of commands, where a loaded broker may miss the 5 s confirm deadline.
    pub async fn post_accepted(&self, path: &str, token: &str, body: Value) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (status, resp) = self.post(path, token, body.clone()).await;
            if status == StatusCode::SERVICE_UNAVAILABLE && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
            assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
            return resp;
        }
    }

    /// A flash sale's burst: single-code claims `r{i}` of tenant 10080's `card_id` for i in
    /// `ids`, by member `m{i % members}`, all sent at once (each accepted in the end, see
    /// [`TestEnv::post_accepted`]); returns once every claim up to `ids.end` is answered.
    pub async fn flash_claims(self: &Arc<Self>, key: &str, card_id: &str, ids: std::ops::Range<usize>, members: usize) {
        let mut sent = tokio::task::JoinSet::new();
        for i in ids.clone() {
            let (env, key, card_id) = (self.clone(), key.to_string(), card_id.to_string());
            sent.spawn(async move {
                let body = json!({"received_id": format!("r{i}"), "member_no": format!("m{}", i % members), "out_str": "flash", "card_info": {card_id: 1}});
                env.post_accepted("/api/crm/card/10080/member/receive", &key, body).await;
            });
        }
        while let Some(r) = sent.join_next().await {
            r.unwrap();
        }
        wait_for(&format!("claims up to r{} answered", ids.end - 1), Duration::from_secs(60), || async {
            (self.scalar("select count(*) from inbox where key_kind = 'received_id'").await == ids.end as i64)
                .then_some(())
        })
        .await;
    }

    /// Every code of `card_id`'s stock issued exactly once, to one applied claim each, and no
    /// other claim applied.
    pub async fn assert_issued_once(&self, card_id: &str, stock: i64) {
        assert_eq!(
            self.scalar(&format!("select count(*) from card_code where card_id = '{card_id}' and status = 1")).await,
            stock,
            "the whole stock is issued"
        );
        assert_eq!(
            self.scalar("select count(*) from inbox where key_kind = 'received_id' and status = 'applied'").await,
            stock,
            "one applied claim per code"
        );
        assert_eq!(
            self.scalar("select count(*) from (select received_id from card_code where received_id is not null group by received_id having count(*) <> 1) c").await,
            0,
            "each applied claim holds exactly one code"
        );
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// Creates a tenant; returns its API key.
    pub async fn tenant(&self, crm_id: &str) -> String {
        let (status, body) = self
            .post("/api/admin/tenants", ADMIN_TOKEN, json!({"crm_id": crm_id, "name": format!("brand {crm_id}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create tenant: {body}");
        body["data"]["api_key"].as_str().expect("api_key").to_string()
    }

    /// Saves an earn rule; returns its id.
    pub async fn rule(&self, crm_id: &str, key: &str, rule: Value) -> i64 {
        let (status, body) = self.post(&format!("/api/crm/mgr/points/{crm_id}/rules/produce_scene"), key, rule).await;
        assert_eq!(status, StatusCode::OK, "save rule: {body}");
        body["data"]["rule_id"].as_i64().expect("rule_id")
    }

    /// Posts an event; returns status and body.
    pub async fn event(&self, crm_id: &str, key: &str, event: Value, wait_ms: u64) -> (StatusCode, Value) {
        self.post(&format!("/api/crm/mgr/points/{crm_id}/events?wait_ms={wait_ms}"), key, event).await
    }

    pub fn deps(&self, failpoints: Arc<Failpoints>) -> Arc<Deps> {
        Arc::new(Deps::new(self.settings.clone(), self.db.clone(), self.redis.clone(), failpoints))
    }

    /// Starts a worker process's parts (consumers + relay) serving `shard` (its database, queues
    /// and Redis keys), as `WORKER_SHARD` does.
    pub fn shard_worker(&self, shard: &str, consumers: usize) -> WorkerHandle {
        // The shard's state holds its settings (its database and namespace) and its pool.
        let state = self.state.of_shard(shard).expect("a shard of the environment");
        let deps = Arc::new(Deps::new((*state.settings).clone(), state.db.clone(), self.redis.clone(), Arc::default()));
        workers::start(
            deps,
            WorkerOptions { consumers, relay: true, sweep: false, analytics: 0 },
            CancellationToken::new(),
        )
    }

    /// Starts a worker (consumers + relay) sharing this environment.
    pub fn worker(&self, consumers: usize, relay: bool, failpoints: Arc<Failpoints>) -> WorkerHandle {
        workers::start(
            self.deps(failpoints),
            WorkerOptions { consumers, relay, sweep: false, analytics: 0 },
            CancellationToken::new(),
        )
    }

    /// Starts a worker with the outbox relay and `analytics` analytics consumers (one consumer
    /// per work queue besides).
    pub fn analytics_worker(&self, analytics: usize) -> WorkerHandle {
        workers::start(
            self.deps(Arc::default()),
            WorkerOptions { consumers: 1, relay: true, sweep: false, analytics },
            CancellationToken::new(),
        )
    }

    pub fn default_worker(&self) -> WorkerHandle {
        self.worker(1, true, Arc::default())
    }

    /// A raw broker channel (with confirms) for publishing or inspecting directly.
    pub async fn channel(&self) -> (lapin::Connection, lapin::Channel) {
        let conn = platform::broker::connect(&self.settings.amqp_url, "loyalty-test").await.expect("broker");
        let channel = conn.create_channel().await.expect("channel");
        channel.confirm_select(Default::default()).await.expect("confirms");
        self.topology.declare(&channel).await.expect("topology");
        (conn, channel)
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.db).await.expect(sql)
    }

    /// Deletes this test's queues, exchanges, Redis keys and databases (every shard's).
    pub async fn cleanup(self) {
        let shards: Vec<api::AppState> =
            std::iter::once(self.state.clone()).chain(self.state.shards.iter().cloned()).collect();
        if let Ok(conn) = platform::broker::connect(&self.settings.amqp_url, "loyalty-test-cleanup").await {
            if let Ok(ch) = conn.create_channel().await {
                for t in shards.iter().map(|s| &s.topology) {
                    let mut queues = vec![t.analytics_queue(), t.analytics_dead_letter_queue()];
                    for &d in Domain::ALL {
                        queues.push(t.work_queue(d));
                        queues.push(t.dead_letter_queue(d));
                        queues.extend(t.retry_delays.iter().map(|&delay| t.retry_queue(d, delay)));
                    }
                    for q in queues {
                        ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await.ok();
                    }
                    for e in [t.events_exchange(), &t.analytics_exchange()] {
                        ch.exchange_delete(e.into(), ExchangeDeleteOptions::default()).await.ok();
                    }
                }
            }
            conn.close(200, "cleanup".into()).await.ok();
        }
        if let Ok(mut conn) = self.redis.get().await {
            // The shards' namespaces begin with this one's.
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.settings.namespace))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        }
        // The first is this environment's own database (`self.db`).
        for shard in &shards {
            shard.db.close().await;
            platform::db::drop_database(&shard.settings.database_url).await.ok();
        }
    }
}

/// The rows of `crm_id` in `table` of `db` (any database: a shard's, a move's target).
pub async fn tenant_rows(db: &PgPool, table: &str, crm_id: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table} where crm_id = $1"))
        .bind(crm_id)
        .fetch_one(db)
        .await
        .expect("a count")
}

/// Publishes `body` straight to the broker as a publisher other than the api would (the
/// engine's properties: persistent JSON, `message_id`, `type` = `kind`; mandatory), to `exchange`
/// under `routing_key`, and asserts the broker's positive confirm (`channel` has confirms on,
/// as [`TestEnv::channel`] makes it).
pub async fn publish_confirmed(
    channel: &lapin::Channel,
    exchange: &str,
    routing_key: &str,
    message_id: &str,
    kind: &str,
    body: &[u8],
) {
    let options = lapin::options::BasicPublishOptions { mandatory: true, ..Default::default() };
    let props = platform::broker::headers::persistent_json(message_id, kind);
    let confirm = channel
        .basic_publish(exchange.into(), routing_key.into(), options, body, props)
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(confirm.is_ack(), "the broker refused {message_id} ({kind}) to {exchange} {routing_key}");
}

/// Runs `scripts/{name}` of the repository with `args` (the multi-node setups of issue 16:
/// `cluster`, `redis-cluster`, `pg-shard`); asserts that it succeeded and answers its standard
/// output, trimmed.
pub async fn script(name: &str, args: &[&str]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts").join(name);
    let out = tokio::process::Command::new(path).args(args).output().await.expect("the script runs");
    assert!(out.status.success(), "scripts/{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
}

/// The card helpers every card test shares.
impl TestEnv {
    /// A card of `crm_id`: seed 003's example with `overrides`, created, and its stock
    /// (`total_quantity` codes) generated by a worker the caller runs. Answers its `card_id`.
    pub async fn card_in_stock(&self, key: &str, crm_id: &str, overrides: &[(&str, Value)]) -> String {
        let mut card = seed_card();
        for (k, v) in overrides {
            card[*k] = v.clone();
        }
        let stock = card["total_quantity"].clone();
        let (status, body) = self.post(&format!("/api/crm/card/{crm_id}/create"), key, card).await;
        assert_eq!(status, StatusCode::OK, "create: {body}");
        let card_id = body["data"]["card_id"].as_str().expect("card_id").to_string();
        wait_for("the stock", Duration::from_secs(20), || async {
            (self.generate_info(key, crm_id, &card_id).await["generated"] == stock).then_some(())
        })
        .await;
        card_id
    }

    /// A card's `generate_info` (`generated`, `un_generate`, `total`).
    pub async fn generate_info(&self, key: &str, crm_id: &str, card_id: &str) -> Value {
        let path = format!("/api/crm/card/{crm_id}/detail?card_id={card_id}");
        let (status, body) = self.call(Method::GET, &path, Some(key), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["generate_info"].clone()
    }
}

/// The member helpers (seed 002's `/loyalty/v1`) every member test shares.
impl TestEnv {
    /// Calls a `/loyalty/v1` path with the key as seed 002 sends it (`?access_token=`).
    pub async fn loyalty(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.call(method, &format!("/loyalty/v1{path}{sep}access_token={key}"), None, body).await
    }

    /// Creates a member with `membership` and `identities` (seed 002 §2); answers its id.
    pub async fn member(&self, key: &str, membership: Value, identities: Value) -> i64 {
        let body = json!({"membership": membership, "identities": identities});
        let (status, body) = self.loyalty(Method::POST, "/membershipAndIdentities", key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "create member: {body}");
        body["id"].as_i64().expect("id")
    }
}

/// The coupon helpers (seed 002 §13 over the cards) the coupon tests share.
impl TestEnv {
    /// A card of `crm_id` with its codes in stock, valid for ever and redeemable any day unless
    /// `overrides` say otherwise (seed 003's example card otherwise).
    pub async fn coupon(&self, key: &str, crm_id: &str, overrides: &[(&str, Value)]) -> String {
        let mut all: Vec<(&str, Value)> = vec![
            ("date_type", json!(3)),
            ("total_quantity", json!(10)),
            ("weekdays", Value::Null),
            ("monthdays", Value::Null),
            ("store_codes", Value::Null),
        ];
        all.extend(overrides.iter().cloned());
        self.card_in_stock(key, crm_id, &all).await
    }

    /// A native claim of `quantity` codes of `card_id` for `member_no`; answers the codes.
    pub async fn claim(&self, key: &str, crm_id: &str, member_no: &str, card_id: &str, quantity: i64) -> Vec<String> {
        let received_id = uuid::Uuid::new_v4().simple().to_string();
        let (_, got) = self
            .post(
                &format!("/api/crm/card/{crm_id}/member/receive?wait_ms=5000"),
                key,
                json!({"received_id": received_id, "member_no": member_no, "out_str": "app", "card_info": {card_id: quantity}}),
            )
            .await;
        assert_eq!(got["data"]["status"], json!("applied"), "claim: {got}");
        let codes: Vec<String> = sqlx::query_scalar(
            "select card_code from card_code where crm_id = $2 and received_id = $1 order by code_id",
        )
        .bind(&received_id)
        .bind(crm_id)
        .fetch_all(&self.db)
        .await
        .expect("codes");
        assert_eq!(codes.len() as i64, quantity);
        codes
    }
}

/// The activity helpers (seed 001's `/points-consumption/`) every activity test shares.
impl TestEnv {
    /// Posts to `/points-consumption/{op}` with the key as `?access_token=`.
    pub async fn activity(&self, op: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, &format!("/points-consumption/{op}?access_token={key}"), None, Some(body)).await
    }

    /// Creates an activity from the `activity` and `pointsConsumption` blocks; answers its id.
    pub async fn create_activity(&self, key: &str, activity: Value, consumption: Value) -> i64 {
        let (status, body) =
            self.activity("create", key, json!({"activity": activity, "pointsConsumption": consumption})).await;
        assert_eq!(status, StatusCode::OK, "create activity: {body}");
        body["data"]["activity"]["id"].as_i64().expect("id")
    }
}

/// The order helpers (seed 002 §11 and §5 under `/loyalty/v1`) the order tests share.
impl TestEnv {
    /// An `order_pay` rule of 1 point per yuan (no limits, no freeze, 30-day expiry).
    pub async fn point_per_yuan(&self, crm_id: &str, key: &str) -> i64 {
        self.rule(
            crm_id,
            key,
            json!({"rule_name": "下单", "action_scene": "order_pay", "points_type": "order", "expire_term": 30,
                   "per_money": 1, "change_points": 1, "range_days": 0}),
        )
        .await
    }

    /// A member's available points as `GET /loyalty/v1/membership/{id}` shows them.
    pub async fn member_points(&self, key: &str, id: i64) -> i64 {
        let (status, m) = self.loyalty(Method::GET, &format!("/membership/{id}"), key, None).await;
        assert_eq!(status, StatusCode::OK, "{m}");
        m["point"].as_i64().expect("point")
    }
}

/// An order body with every field the seed's table requires: `lines` are (lineId,
/// priceSubTotal in yuan).
pub fn deal_body(order_no: &str, member: Value, paid: &str, lines: &[(&str, &str)]) -> Value {
    let mut body = json!({
        "orderNo": order_no, "salesChannel": "mini-program", "store": "store_01", "type": "normal",
        "dateOrder": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(), "amountDiscount": 0,
        "amountTotal": paid, "amountPaid": paid, "paymentTerm": "wechat", "paymentNo": format!("pay-{order_no}"),
        "shippingMethod": "express", "contactName": "张三", "contactTel": "13800000000",
        "shippingProvince": "上海", "shippingCity": "上海", "shippingCounty": "浦东",
        "shippingStreet": "张江", "shippingAddress": "1号",
        "dealLines": lines.iter().map(|(id, amount)| json!({
            "lineId": id, "productName": format!("product {id}"), "skuId": format!("sku-{id}"),
            "qty": 1, "priceUnit": amount, "priceSubTotal": amount
        })).collect::<Vec<_>>(),
    });
    match member {
        Value::Number(_) => body["membershipId"] = member,
        other => body["identities"] = other,
    }
    body
}

/// Sends a request to a router (the api's, or a worker's `/healthz` one); returns the status
/// and the JSON body (Null when empty or not JSON).
pub async fn send(router: Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = router.oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 10 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Serves `router` on a local port, as the binary serves it (a real HTTP server); the server
/// lives as long as the test's runtime.
pub async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    addr
}

/// One request over a real HTTP/1.1 connection to `addr` (the client sets `Content-Length` for a
/// body of known size, streams one of unknown size chunked); returns the status, the headers and
/// the JSON body (Null when empty or not JSON).
pub async fn http<B>(addr: std::net::SocketAddr, req: Request<B>) -> (StatusCode, axum::http::HeaderMap, Value)
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.expect("a response");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The same Redis server, logical database `db`: for a test that flushes its database without
/// flushing the other tests' keys.
pub fn redis_database(url: &str, db: u8) -> String {
    let server = match url.rsplit_once('/') {
        Some((server, tail)) if tail.chars().all(|c| c.is_ascii_digit()) && server.ends_with(|c: char| c != '/') => {
            server
        }
        _ => url.trim_end_matches('/'),
    };
    format!("{server}/{db}")
}

/// Waits until `check` returns `Some`, polling, or panics with `what` after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < end, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::redis_database;

    #[test]
    fn redis_database_replaces_or_appends_the_database_number() {
        assert_eq!(redis_database("redis://127.0.0.1:6379", 1), "redis://127.0.0.1:6379/1");
        assert_eq!(redis_database("redis://127.0.0.1:6379/", 1), "redis://127.0.0.1:6379/1");
        assert_eq!(redis_database("redis://127.0.0.1:6379/0", 1), "redis://127.0.0.1:6379/1");
        assert_eq!(redis_database("redis://redis:6379/12", 3), "redis://redis:6379/3");
    }
}
