//! The incremental feeds: paging while events are applied returns every row exactly once.

use std::{collections::HashSet, sync::Arc, time::Duration};

use axum::http::StatusCode;
use loyalty_tests::{login_rule, TestEnv};
use serde_json::{json, Value};

#[tokio::test]
async fn paging_the_history_feed_while_1000_events_apply_returns_each_row_once() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    env.rule("10080", &key, login_rule()).await;
    let worker = env.worker(2, false, Arc::default());
    let start = chrono::Utc::now().timestamp() - 1;
    let mut writer = Some({
        let (env, key) = (env.clone(), key.clone());
        tokio::spawn(async move {
            for i in 0..1000 {
                let event = json!({"event_no": format!("e{i}"), "member_no": format!("m{}", i % 37), "action_scene": "user_login"});
                env.post_accepted("/api/crm/mgr/points/10080/events", &key, event).await;
            }
        })
    });
    // One consumer of the feed, paging oldest first, window after window, as the README says.
    let mut seen: Vec<i64> = Vec::new();
    let mut window_start = start;
    // The feed must catch up within 30 s of the last row's commit. Until then the writer and
    // the workers set the pace (on a loaded machine 1,000 events have taken minutes), bounded
    // by a generous overall limit so a stuck run still ends.
    let mut caught_up_by: Option<tokio::time::Instant> = None;
    let overall = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let far_future = chrono::Utc::now().timestamp() + 3600;
        let mut page = 1;
        let watermark = loop {
            let (status, body) = env
                .post(
                    "/api/crm/mgr/points/10080/history/increment",
                    &key,
                    json!({"page_id": page, "page_size": 50, "order_by": "create_time", "order_asc": 1, "time_start": window_start, "time_end": far_future}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let items = body["data"]["items"].as_array().unwrap();
            seen.extend(items.iter().map(|i: &Value| i["auto_id"].as_i64().unwrap()));
            if (items.len() as i64) < 50 {
                break body["data"]["watermark"].as_i64().unwrap();
            }
            page += 1;
        };
        window_start = watermark;
        let applied = env.scalar("select count(*) from points_ledger").await;
        if writer.as_ref().is_some_and(|w| w.is_finished()) {
            // A writer that failed fails the test now, not at the overall limit.
            writer.take().unwrap().await.unwrap();
        }
        if writer.is_none() && applied == 1000 {
            if seen.len() as i64 >= applied {
                break;
            }
            let by = *caught_up_by.get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_secs(30));
            assert!(tokio::time::Instant::now() < by, "feed did not catch up in 30 s: saw {} of {applied}", seen.len());
        }
        assert!(tokio::time::Instant::now() < overall, "1000 events not applied in 10 min: {applied}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    assert_eq!(seen.len(), 1000, "every row once");
    worker.stop(Duration::from_secs(5)).await;

    // Field checks.
    for (case, body, field) in [
        ("no page_id", json!({"order_by": "create_time", "time_start": 0, "time_end": 10}), "page_id"),
        (
            "page_size 1",
            json!({"page_id": 1, "page_size": 1, "order_by": "create_time", "time_start": 0, "time_end": 10}),
            "page_size",
        ),
        (
            "page_size 501",
            json!({"page_id": 1, "page_size": 501, "order_by": "create_time", "time_start": 0, "time_end": 10}),
            "page_size",
        ),
        ("order_by points", json!({"page_id": 1, "order_by": "points", "time_start": 0, "time_end": 10}), "order_by"),
        ("no time_end", json!({"page_id": 1, "order_by": "create_time", "time_start": 0}), "time_end"),
        (
            "end before start",
            json!({"page_id": 1, "order_by": "create_time", "time_start": 10, "time_end": 5}),
            "time_end",
        ),
    ] {
        let (status, resp) = env.post("/api/crm/mgr/points/10080/summary/increment", &key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {resp}");
        assert_eq!(resp["data"]["field"], json!(field), "{case}: {resp}");
    }
    let (status, body) = env
        .post("/api/crm/mgr/points/10080/summary/increment", &key, json!({"page_id": 1, "page_size": 100, "order_by": "update_time", "order_asc": 1, "time_start": 0, "time_end": chrono::Utc::now().timestamp() + 10}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["total"], json!(37), "one summary per member: {body}");
    Arc::into_inner(env).expect("the writer ended").cleanup().await;
}
