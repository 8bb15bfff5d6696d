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

    // A bad range names the field.
    let (status, body) = l.env.get(&format!("/api/crm/mgr/analyze/{CRM}/points/trend?dr=yesterweek"), &l.key).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("dr"), "{body}");

    // Replaying every event the outbox ever held changes nothing.
    let rows: Vec<(sqlx::types::Json<Vec<AnalyticsEvent>>,)> =
        sqlx::query_as("select events::jsonb from outbox").fetch_all(&l.env.db).await.unwrap();
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
