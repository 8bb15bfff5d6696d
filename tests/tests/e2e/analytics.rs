//! Analytics (issue 10): a scripted day of points events through the workers' handlers, the
//! outbox relay and the analytics consumer, then every dashboard series checked against the
//! ledger; a local day boundary in Asia/Shanghai that is not the UTC one; a replayed stream that
//! changes nothing; and `analytics rebuild` equal to what the consumer built.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use loyalty_tests::wait_for;
use schemas::analytics::AnalyticsEvent;
use serde_json::Value;
use sqlx::PgPool;

use crate::ledger::Ledger;

const CRM: &str = "an1";

/// 23:30 on 1 May in Shanghai (15:30 UTC).
fn late() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 15, 30, 0).unwrap()
}

/// 00:30 on 2 May in Shanghai: the same UTC day as [`late`], the next local day.
fn early() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 16, 30, 0).unwrap()
}

/// Every aggregate row of the tenant, sorted (to compare before and after).
async fn snapshot(
    db: &PgPool,
) -> (Vec<(NaiveDate, String, String, String, i64, i64)>, Vec<(NaiveDate, String, String, String)>) {
    let sums = sqlx::query_as(
        "select day, series, dim, dim2, points, events from analytics_day where crm_id = $1 order by 1, 2, 3, 4",
    )
    .bind(CRM)
    .fetch_all(db)
    .await
    .unwrap();
    let members = sqlx::query_as(
        "select day, series, dim, member_no from analytics_member_day where crm_id = $1 order by 1, 2, 3, 4",
    )
    .bind(CRM)
    .fetch_all(db)
    .await
    .unwrap();
    (sums, members)
}

/// The ledger's own figure for a series on a Shanghai day: (points, events, distinct members).
async fn from_ledger(db: &PgPool, event_type: Option<&str>, day: &str) -> (i64, i64, i64) {
    sqlx::query_as(
        "select coalesce(sum(points), 0)::bigint, count(*), count(distinct member_no) from points_ledger
          where crm_id = $1 and ($2::text is null or event_type = $2)
            and (occurred_at at time zone 'Asia/Shanghai')::date = $3::date",
    )
    .bind(CRM)
    .bind(event_type)
    .bind(day)
    .fetch_one(db)
    .await
    .unwrap()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}")).iter().map(|x| x.as_i64().unwrap()).collect()
}

#[tokio::test]
async fn a_scripted_day_is_counted_per_shanghai_day_replays_change_nothing_and_a_rebuild_equals_it() {
    let l = Ledger::new(CRM).await;
    let (late, early) = (late(), early());
    // 1 May (local): two earns. 2 May (local, same UTC day): earns, a spend, a transfer accepted.
    l.earn("e1", "m1", "order_pay", 100, late).await;
    l.earn("e2", "m2", "order_pay", 60, late).await;
    l.earn("e3", "m1", "user_login", 0, early).await;
    l.earn("e4", "m3", "order_pay", 200, early).await;
    l.spend("s1", "m1", Some(50), None, early).await;
    l.give("t1", "m3", 30, early).await;
    l.accept("t1", "m2", early).await;
    // 31 days later every lot left expires (occurred at each lot's expiry: 31 May local).
    let swept = l.sweep(late + chrono::Duration::days(31)).await;
    assert!(swept.expired_lots > 0, "lots expired: {swept:?}");

    let worker = l.env.analytics_worker(1);
    let expected: i64 = l.env.scalar("select coalesce(sum(event_count), 0)::bigint from outbox").await;
    wait_for("every analytics event counted", Duration::from_secs(30), || async {
        let seen = l.env.scalar("select count(*) from analytics_seen").await;
        (seen == expected).then_some(())
    })
    .await;
    let built = snapshot(&l.env.db).await;

    // The trend, by day over the two local days: the UTC day is split in two.
    let (status, body) = l
        .env
        .get(&format!("/api/crm/mgr/analyze/{CRM}/points/trend?dr=2026-05-01,2026-05-02&crm_id={CRM}"), &l.key)
        .await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["mode"], "by_day");
    assert_eq!(d["tdate"], serde_json::json!(["2026-05-01", "2026-05-02"]));
    assert_eq!(ints(&d["prod_points"]), vec![160, 201], "{d}");
    assert_eq!(ints(&d["prod_points_user"]), vec![2, 2]);
    assert_eq!(ints(&d["consume_points"]), vec![0, 50]);
    assert_eq!(ints(&d["total_transfer"]), vec![0, 1]);
    assert_eq!(ints(&d["total_accept_user"]), vec![0, 1]);
    // Every series of the seed, each day, against the ledger.
    for (i, day) in ["2026-05-01", "2026-05-02"].iter().enumerate() {
        for (series, event_type, sign) in [
            ("prod_points", Some("produce"), 1),
            ("consume_points", Some("consume"), -1),
            ("expire_points", Some("expire"), -1),
        ] {
            let (points, _, users) = from_ledger(&l.env.db, event_type, day).await;
            assert_eq!(ints(&d[series])[i], sign * points, "{series} {day}");
            assert_eq!(ints(&d[format!("{series}_user")])[i], users, "{series}_user {day}");
        }
        for (series, event_type) in [
            ("total_prod", Some("produce")),
            ("total_consume", Some("consume")),
            ("total_expire", Some("expire")),
            ("total_transfer", Some("transfer")),
            ("total_accept", Some("accept")),
            ("total_active", None),
        ] {
            let (_, events, users) = from_ledger(&l.env.db, event_type, day).await;
            assert_eq!(ints(&d[series])[i], events, "{series} {day}");
            assert_eq!(ints(&d[format!("{series}_user")])[i], users, "{series}_user {day}");
        }
    }

    // The expiries, on their own day; and the liability now equals the balances.
    let (status, body) =
        l.env.get(&format!("/api/crm/mgr/analyze/{CRM}/points/total?dr=2026-05-01,2026-06-30"), &l.key).await;
    assert_eq!(status, 200, "{body}");
    let expired = l
        .env
        .scalar(&format!("select coalesce(sum(points), 0)::bigint from points_ledger where crm_id = '{CRM}' and event_type = 'expire'"))
        .await;
    assert!(expired < 0);
    assert_eq!(body["data"]["expire_points"].as_i64().unwrap(), -expired, "{body}");
    assert_eq!(body["data"]["prod_points"], 361);
    assert_eq!(body["data"]["prod_points_user"], 3, "distinct over the range, not a sum of days");
    let held = l
        .env
        .scalar(&format!("select coalesce(sum(points), 0)::bigint from member_balance where crm_id = '{CRM}'"))
        .await;
    assert_eq!(body["data"]["liability"].as_i64().unwrap(), held);
    let (status, trend) = l
        .env
        .get(&format!("/api/crm/mgr/analyze/{CRM}/points/trend?dr=2026-05-01,2026-06-30&mode=by_month"), &l.key)
        .await;
    assert_eq!(status, 200);
    assert_eq!(ints(&trend["data"]["liability"]).last().copied(), Some(held), "{trend}");

    // The distribution by source.
    let (status, body) = l
        .env
        .get(&format!("/api/crm/mgr/analyze/{CRM}/points/distr?dr=2026-05-01,2026-05-02&types=source"), &l.key)
        .await;
    assert_eq!(status, 200, "{body}");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result[0]["item"], "order_pay");
    assert_eq!(result[0]["counts"], 360);
    assert!(!result[0]["label"].as_str().unwrap().is_empty());
    assert_eq!(body["data"]["from_date"], "2026-05-01");

    // The export: the trend by day as CSV, a header line first.
    let req = axum::http::Request::get(format!("/api/crm/mgr/analyze/{CRM}/points/export?dr=2026-05-01,2026-05-03"))
        .header("authorization", format!("Bearer {}", l.key))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(l.env.router(), req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three days: {csv}");
    assert!(lines[0].starts_with("tdate,prod_points,prod_points_user,total_prod,"));
    let day2: Vec<&str> = lines[2].split(',').collect();
    assert_eq!((day2[0], day2[1], day2[2], day2[4]), ("2026-05-02", "201", "2", "50"), "{csv}");
    assert!(lines[3].starts_with("2026-05-03,0,0,0,"));

    // A bad range names the field.
    let (status, body) = l.env.get(&format!("/api/crm/mgr/analyze/{CRM}/points/trend?dr=yesterweek"), &l.key).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("dr"), "{body}");

    // Replaying every event the outbox ever held changes nothing.
    let rows: Vec<(sqlx::types::Json<Vec<AnalyticsEvent>>,)> =
        sqlx::query_as("select convert_from(events, 'UTF8')::jsonb from outbox").fetch_all(&l.env.db).await.unwrap();
    let events: Vec<AnalyticsEvent> = rows.into_iter().flat_map(|r| r.0 .0).collect();
    assert_eq!(events.len() as i64, expected);
    let counted = workers::analytics::consumer::apply(&worker.deps, events).await.unwrap();
    assert_eq!(counted, 0, "every event was seen");
    // And through the broker: the relay sends every row again.
    sqlx::query("update outbox set sent_at = null").execute(&l.env.db).await.unwrap();
    wait_for("the relay resent every row", Duration::from_secs(30), || async {
        (l.env.scalar("select count(*) from outbox where sent_at is null").await == 0).then_some(())
    })
    .await;
    let (_conn, channel) = l.env.channel().await;
    let ready = || async {
        let passive = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
        let q = l.env.topology.analytics_queue();
        channel.queue_declare(q.as_str().into(), passive, Default::default()).await.unwrap().message_count()
    };
    wait_for("the analytics queue drained", Duration::from_secs(30), || async { (ready().await == 0).then_some(()) })
        .await;
    worker.stop(Duration::from_secs(10)).await;
    // Nothing was handed back on the way out: every resent message was consumed and acked.
    assert_eq!(ready().await, 0);
    assert_eq!(snapshot(&l.env.db).await, built, "a replay changed the aggregates");

    // A rebuild from the ledger equals what the consumer built, and twice is once.
    for _ in 0..2 {
        workers::analytics::rebuild::rebuild(&l.env.db, CRM, None, NaiveDate::from_ymd_opt(2026, 6, 30)).await.unwrap();
        assert_eq!(snapshot(&l.env.db).await, built, "the rebuild differs from the live aggregates");
    }
    l.env.cleanup().await;
}

/// The text of the element with `id` in a dumped DOM (`<span … id="x">text</span>`).
fn text_of(dom: &str, id: &str) -> String {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the page"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap();
    rest[start..start + end].trim().to_string()
}

/// Headless Chromium (Debian's `chromium`) with `args` and then `url`; answers stdout.
async fn chromium(args: &[&str], url: &str) -> String {
    let out = tokio::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .args(args)
        .arg(url)
        .output()
        .await
        .expect("chromium is installed (.ci/run installs it)");
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn card_dashboards_count_claims_presents_and_redemptions_and_the_page_shows_the_apis_figures() {
    let env = std::sync::Arc::new(loyalty_tests::TestEnv::new().await);
    let crm = "an2";
    let key = env.tenant(crm).await;
    let worker = env.analytics_worker(1);
    let card = |title: &str| {
        [
            ("date_type", serde_json::json!(3)),
            ("total_quantity", serde_json::json!(10)),
            ("weekdays", Value::Null),
            ("monthdays", Value::Null),
            ("title", serde_json::json!(title)),
        ]
    };
    let a = env.card_in_stock(&key, crm, &card("满100减10")).await;
    let b = env.card_in_stock(&key, crm, &card("新人券")).await;
    let post = |path: &str, body: Value| {
        let (env, key) = (env.clone(), key.clone());
        let path = format!("/api/crm/card/{crm}/member/{path}?wait_ms=5000");
        async move {
            let (_, resp) = env.post(&path, &key, body).await;
            assert_eq!(resp["data"]["status"], "applied", "{path}: {resp}");
            resp
        }
    };
    post(
        "receive",
        serde_json::json!({"received_id": "r1", "member_no": "m1", "out_str": "app", "card_info": {a.clone(): 2}}),
    )
    .await;
    post(
        "receive",
        serde_json::json!({"received_id": "r2", "member_no": "m2", "out_str": "618大促", "card_info": {a.clone(): 1}}),
    )
    .await;
    post(
        "receive",
        serde_json::json!({"received_id": "r3", "member_no": "m3", "out_str": "app", "card_info": {b.clone(): 1}}),
    )
    .await;
    let codes = |member: &'static str| {
        let env = env.clone();
        let key = key.clone();
        async move {
            let (_, mine) = env.get(&format!("/api/crm/card/{crm}/member/card_list?member_no={member}"), &key).await;
            mine["data"]["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["card_code"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let (m1, m2) = (codes("m1").await, codes("m2").await);
    let given =
        post("present", serde_json::json!({"member_no": "m1", "card_id": a, "card_code": m1[0], "presant_extra": ""}))
            .await;
    let present_id = given["data"]["present_id"].as_str().unwrap().to_string();
    post("present_receive", serde_json::json!({"member_no": "m9", "present_id": present_id})).await;
    let redeem = |member: &str, code: &str, id: &str, channel: &str| serde_json::json!({"member_no": member, "card_id": a, "card_code": code, "redeem_channel": channel, "redeem_id": id, "redeem_extra": ""});
    post("redeem", redeem("m9", &m1[0], "x1", "小程序")).await;
    post("redeem", redeem("m2", &m2[0], "x2", "pos")).await;

    wait_for("every analytics event counted", Duration::from_secs(30), || async {
        let expected = env.scalar("select coalesce(sum(event_count), 0)::bigint from outbox").await;
        let unsent = env.scalar("select count(*) from outbox where sent_at is null").await;
        let seen = env.scalar("select count(*) from analytics_seen").await;
        (unsent == 0 && seen == expected).then_some(())
    })
    .await;

    // card_trend over today, all cards, against the card tables.
    let (status, body) = env.get(&format!("/api/crm/dashbord/{crm}/card_trend?dr=today"), &key).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    let claimed =
        env.scalar(&format!("select count(*) from card_code where crm_id = '{crm}' and received_id is not null")).await;
    let redeemed = env.scalar(&format!("select count(*) from card_redeem where crm_id = '{crm}'")).await;
    let presented = env.scalar(&format!("select count(*) from card_present where crm_id = '{crm}'")).await;
    assert_eq!((claimed, redeemed, presented), (4, 2, 1));
    assert_eq!(d["receive_num"], claimed, "{d}");
    assert_eq!(d["receive_member_num"], 3, "m1, m2, m3 (m9 received a present, not a claim)");
    assert_eq!(d["redeem_num"], redeemed);
    assert_eq!(d["redeem_member_num"], 2);
    assert_eq!(d["present_num"], presented);
    assert_eq!(d["present_member_num"], 1);
    assert_eq!(ints(&d["receive_num_list"]), vec![4]);
    assert_eq!(ints(&d["redeem_member_num_list"]), vec![2]);
    assert_eq!(d["tdate"].as_array().unwrap().len(), 1);
    // One card.
    let (_, body) = env.get(&format!("/api/crm/dashbord/{crm}/card_trend?dr=7d&card_id={b}"), &key).await;
    assert_eq!(body["data"]["receive_num"], 1, "{body}");
    assert_eq!(body["data"]["redeem_num"], 0);
    assert_eq!(ints(&body["data"]["receive_num_list"]).len(), 7);

    // card_channel: claims by out_str, redemptions by redeem_channel.
    let (_, body) = env.get(&format!("/api/crm/dashbord/{crm}/card_channel?dr=today"), &key).await;
    assert_eq!(
        body["data"]["receive_channel_list"],
        serde_json::json!([{"channel_name": "app", "receive_num": 3}, {"channel_name": "618大促", "receive_num": 1}]),
        "{body}"
    );
    let redeem_channels = body["data"]["redeem_channel_list"].as_array().unwrap();
    assert_eq!(redeem_channels.len(), 2);
    assert!(redeem_channels.contains(&serde_json::json!({"channel_name": "小程序", "redeem_num": 1})));

    // card_top: by claims and by redemptions, with titles, rate and cost (cost_type 1, 2 yuan).
    let (_, body) = env.get(&format!("/api/crm/dashbord/{crm}/card_top?dr=today"), &key).await;
    let top = &body["data"];
    assert_eq!(top["receive_top"][0]["card_id"], a.as_str(), "{top}");
    assert_eq!(top["receive_top"][0]["receive_num"], 3);
    assert_eq!(top["receive_top"][0]["title"], "满100减10");
    assert_eq!(top["receive_top"][1]["title"], "新人券");
    assert_eq!(top["redeem_top"].as_array().unwrap().len(), 1);
    assert_eq!(top["redeem_top"][0]["receive_num"], 2, "the seed names the redemption count receive_num too");
    assert!((top["redeem_top"][0]["redeem_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(top["redeem_top"][0]["redeem_cost"], 4.0);

    // A rebuild of today from the card tables equals what the consumer built (m1 claimed the
    // code m9 now holds).
    let tables = |crm: &'static str| {
        let env = env.clone();
        async move {
            let sums: Vec<(NaiveDate, String, String, String, i64, i64)> = sqlx::query_as(
                "select day, series, dim, dim2, points, events from analytics_day where crm_id = $1 order by 1, 2, 3, 4",
            )
            .bind(crm)
            .fetch_all(&env.db)
            .await
            .unwrap();
            let members: Vec<(NaiveDate, String, String, String)> = sqlx::query_as(
                "select day, series, dim, member_no from analytics_member_day where crm_id = $1 order by 1, 2, 3, 4",
            )
            .bind(crm)
            .fetch_all(&env.db)
            .await
            .unwrap();
            (sums, members)
        }
    };
    let built = tables("an2").await;
    let rebuilt = workers::analytics::rebuild::rebuild(&env.db, crm, None, None).await.unwrap();
    assert_eq!(rebuilt.days, 1, "from the first claim's day to today: {rebuilt:?}");
    assert_eq!(tables("an2").await, built);

    // The page, in Chromium: a signed link opens it; its figures are the API's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = env.router();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, link) = env.post(&format!("/api/crm/dashbord/{crm}/page_link"), &key, serde_json::json!({})).await;
    assert_eq!(status, 200, "{link}");
    let url = format!("http://{addr}{}", link["data"]["url"].as_str().unwrap());
    let dom = chromium(&["--dump-dom"], &url).await;
    assert!(dom.contains("<svg"), "charts are drawn: {dom}");
    assert!(!dom.contains("<script"), "no JavaScript");
    let (_, total) = env.get(&format!("/api/crm/mgr/analyze/{crm}/points/total?dr=30d"), &key).await;
    let (_, cards) = env.get(&format!("/api/crm/dashbord/{crm}/card_trend?dr=30d"), &key).await;
    for (id, api) in [
        ("receive_num", &cards["data"]["receive_num"]),
        ("redeem_num", &cards["data"]["redeem_num"]),
        ("present_num", &cards["data"]["present_num"]),
        ("prod_points", &total["data"]["prod_points"]),
        ("liability", &total["data"]["liability"]),
    ] {
        assert_eq!(text_of(&dom, id), api.to_string(), "#{id} on the page");
    }
    assert!(dom.contains("新人券") && dom.contains("满100减10"), "the top cards are listed");
    // Without the link's session: the key form, not the figures.
    let anonymous = chromium(&["--dump-dom"], &format!("http://{addr}/dashboard/{crm}")).await;
    assert!(anonymous.contains("name=\"api_key\"") && !anonymous.contains("id=\"receive_num\""), "{anonymous}");
    // A forged link opens nothing.
    let forged = chromium(&["--dump-dom"], &format!("http://{addr}/dashboard/{crm}/enter?t=9999999999.00")).await;
    assert!(!forged.contains("id=\"receive_num\""));
    let shot = std::env::temp_dir().join("loyalty-dashboard.png");
    chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=1100,1600"], &url).await;
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "a screenshot at {}", shot.display());

    server.abort();
    worker.stop(Duration::from_secs(10)).await;
    std::sync::Arc::try_unwrap(env).ok().expect("the only reference").cleanup().await;
}

#[tokio::test]
async fn an_unreadable_analytics_message_is_parked_with_its_reason() {
    let env = loyalty_tests::TestEnv::new().await;
    let worker = env.analytics_worker(1);
    let (conn, channel) = env.channel().await;
    let props = platform::broker::headers::persistent_json("bad-1", "points.produce");
    channel
        .basic_publish(
            env.topology.analytics_exchange().as_str().into(),
            "points.produce".into(),
            Default::default(),
            b"{\"not\": \"an array\"}",
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let dlq = env.topology.analytics_dead_letter_queue();
    let parked = wait_for("the message parked", Duration::from_secs(20), || async {
        channel.basic_get(dlq.as_str().into(), lapin::options::BasicGetOptions { no_ack: true }).await.unwrap()
    })
    .await;
    let reason = platform::broker::headers::get(&parked.delivery.properties, platform::broker::headers::PARK_REASON)
        .and_then(platform::broker::headers::as_string)
        .unwrap_or_default();
    assert!(reason.contains("not a JSON array of analytics events"), "{reason}");
    assert_eq!(env.scalar("select count(*) from analytics_seen").await, 0);
    worker.stop(Duration::from_secs(10)).await;
    conn.close(200, "done".into()).await.ok();
    env.cleanup().await;
}

/// A backlog read in one delivery batch is applied in transactions of at most
/// `ANALYTICS_BATCH_EVENTS` events, whole messages each, and every event counts once. The
/// transactions are told apart by the `xmin` of the `analytics_seen` rows they inserted.
#[tokio::test]
async fn a_backlog_is_applied_in_transactions_of_at_most_analytics_batch_events() {
    let env = loyalty_tests::TestEnv::new_with(|s| s.analytics_batch_events = 10).await;
    env.tenant("an4").await;
    let (conn, channel) = env.channel().await;
    env.topology.declare(&channel).await.unwrap();
    let mut row = 0;
    for message in 0..30 {
        let events: Vec<AnalyticsEvent> = (0..4)
            .map(|_| {
                row += 1;
                AnalyticsEvent::PointsConsume(schemas::analytics::PointsLedgerRow {
                    event_id: uuid::Uuid::now_v7(),
                    crm_id: "an4".into(),
                    member_no: format!("m{}", row % 7),
                    event_no: format!("e{row}"),
                    origin_event_no: None,
                    event_type: "consume".into(),
                    action_scene: "order_pay".into(),
                    rule_id: None,
                    points: -10,
                    amount: None,
                    store_code: None,
                    cost_center: None,
                    campagin_code: None,
                    occurred_at: late(),
                    trace: None,
                })
            })
            .collect();
        let props = platform::broker::headers::persistent_json(&format!("backlog-{message}"), "points.consume");
        // One unreadable message among them: parked, and acked with the run it falls in.
        let body =
            if message == 15 { br#"[{"kind": "nonsense"}]"#.to_vec() } else { serde_json::to_vec(&events).unwrap() };
        channel
            .basic_publish(
                env.topology.analytics_exchange().as_str().into(),
                "points.consume".into(),
                Default::default(),
                &body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let worker = env.analytics_worker(1);
    wait_for("the 116 readable events counted", Duration::from_secs(30), || async {
        (env.scalar("select count(*) from analytics_seen").await == 116).then_some(())
    })
    .await;
    let per_transaction: Vec<i64> =
        sqlx::query_scalar("select count(*) from analytics_seen group by xmin::text::bigint order by 1 desc")
            .fetch_all(&env.db)
            .await
            .unwrap();
    assert!(per_transaction[0] <= 10, "a transaction applied more than the cap: {per_transaction:?}");
    assert!(per_transaction.len() >= 12, "{per_transaction:?}");
    let (points, events): (i64, i64) = sqlx::query_as(
        "select sum(points)::bigint, sum(events)::bigint from analytics_day where crm_id = 'an4' and series = 'points.consume'",
    )
    .fetch_one(&env.db)
    .await
    .unwrap();
    assert_eq!((points, events), (-1160, 116));
    let dlq = env.topology.analytics_dead_letter_queue();
    wait_for("the unreadable message parked", Duration::from_secs(20), || async {
        channel.basic_get(dlq.as_str().into(), lapin::options::BasicGetOptions { no_ack: true }).await.unwrap()
    })
    .await;
    worker.stop(Duration::from_secs(10)).await;
    // Every message was acked: none is ready again after the consumer left.
    let passive = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
    let queue = env.topology.analytics_queue();
    let left = channel.queue_declare(queue.as_str().into(), passive, Default::default()).await.unwrap();
    assert_eq!(left.message_count(), 0);
    conn.close(200, "done".into()).await.ok();
    env.cleanup().await;
}

/// The sweeper forgets applied event ids past the retention, oldest first, a slice at a time,
/// and keeps the newer ones (so a late copy of a recent event is still a duplicate). The ids of
/// three tenants, none of them registered: the sweep walks the tenants of the table itself.
#[tokio::test]
async fn the_sweeper_forgets_event_ids_past_their_retention_and_keeps_the_rest() {
    let env = loyalty_tests::TestEnv::new().await;
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let retention = chrono::Duration::days(workers::analytics::SEEN_RETENTION_DAYS);
    let id_at = |t: DateTime<Utc>| {
        let ms = t.timestamp_millis() as u64;
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000))
    };
    let old: Vec<uuid::Uuid> = (1..=5).map(|d| id_at(now - retention - chrono::Duration::days(d))).collect();
    let kept = [id_at(now - retention + chrono::Duration::seconds(1)), id_at(now)];
    for (i, id) in old.iter().chain(&kept).enumerate() {
        sqlx::query("insert into analytics_seen (event_id, crm_id) values ($1, $2)")
            .bind(id)
            .bind(format!("c{}", i % 3))
            .execute(&env.db)
            .await
            .unwrap();
    }
    assert_eq!(workers::analytics::prune_seen(&env.db, now, 3).await.unwrap(), 3, "one slice");
    assert_eq!(workers::analytics::prune_seen(&env.db, now, 3).await.unwrap(), 2, "the rest of the old ones");
    assert_eq!(workers::analytics::prune_seen(&env.db, now, 3).await.unwrap(), 0, "nothing more is due");
    let left: Vec<uuid::Uuid> =
        sqlx::query_scalar("select event_id from analytics_seen order by event_id").fetch_all(&env.db).await.unwrap();
    assert_eq!(left, kept.to_vec());
}
