//! Limits on what one client may send: the request body size (`MAX_BODY_BYTES`, answered 413),
//! the CSV import's size (`IMPORT_MAX_BYTES`, streamed, never held whole).

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode};
use http_body_util::{Full, StreamBody};
use loyalty_tests::{http, seed_card, serve, TestEnv};
use serde_json::json;

/// A card whose codes are imported (generate_type 2); returns its id.
async fn imported_card(env: &TestEnv, key: &str) -> String {
    let mut card = seed_card();
    for (k, v) in [("date_type", json!(3)), ("total_quantity", json!(0)), ("generate_type", json!(2))] {
        card[k] = v;
    }
    let (status, body) = env.post("/api/crm/card/10080/create", key, card).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["card_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_30_mb_body_is_answered_413_naming_the_limit() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let addr = serve(env.router()).await;
    // 30 MB of JSON: an event with a huge event_desc, sent by a real client (Content-Length).
    let body =
        json!({"event_no": "big", "member_no": "m1", "action_scene": "user_login", "event_desc": "x".repeat(30 << 20)});
    let req = Request::post("/api/crm/mgr/points/10080/events")
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let (status, _, resp) = http(addr, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    assert_eq!(resp["code"], json!(41300), "{resp}");
    assert!(resp["msg"].as_str().unwrap().contains("MAX_BODY_BYTES"), "{resp}");
    // Just under the limit is read (and judged on its content).
    let small =
        json!({"event_no": "small", "member_no": "m1", "action_scene": "user_login", "event_desc": "x".repeat(1000)});
    let req = Request::post("/api/crm/mgr/points/10080/events")
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(small.to_string())))
        .unwrap();
    let (status, _, resp) = http(addr, req).await;
    assert_ne!(status, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    env.cleanup().await;
}

/// A CSV body of unknown length (chunked), generated as it is sent: 100,000 lines in 1,000
/// chunks, imported as it streams; the same stream past `IMPORT_MAX_BYTES` is cut with a 413 and
/// imports nothing; an announced length over the limit is refused before reading.
#[tokio::test]
async fn the_csv_import_streams_and_its_size_is_limited() {
    const LINES: usize = 100_000;
    let env = TestEnv::new_with(|s| s.import_max_bytes = 2 << 20).await;
    let key = env.tenant("10080").await;
    let card_id = imported_card(&env, &key).await;
    let addr = serve(env.router()).await;
    let csv_stream = |lines: usize, prefix: &'static str| {
        let chunks = (0..1000).map(move |c| {
            let text: String = (0..lines / 1000).map(|i| format!("{prefix}{:08}\n", c * (lines / 1000) + i)).collect();
            Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(text)))
        });
        StreamBody::new(futures_util::stream::iter(chunks))
    };
    let import = |generate_id: &str| {
        Request::post(format!("/api/crm/card/10080/import?card_id={card_id}&generate_id={generate_id}"))
            .header("host", addr.to_string())
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "text/csv")
    };

    let started = std::time::Instant::now();
    let (status, _, resp) = http(addr, import("stream-1").body(csv_stream(LINES, "CODE")).unwrap()).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!((resp["data"]["imported"].clone(), resp["data"]["duplicates"].clone()), (json!(LINES), json!(0)));
    println!("imported {LINES} streamed lines (1.3 MB) in {took:?}");
    let count = format!("select count(*) from card_code where card_id = '{card_id}'");
    assert_eq!(env.scalar(&count).await, LINES as i64);

    // 200,000 lines of 13 bytes: 2.6 MB, over the 2 MiB limit, without a length to refuse it by.
    let (status, _, resp) = http(addr, import("stream-2").body(csv_stream(2 * LINES, "MORE")).unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    assert!(resp["msg"].as_str().unwrap().contains("IMPORT_MAX_BYTES"), "{resp}");
    assert_eq!(env.scalar(&count).await, LINES as i64, "a cut import imports nothing");

    // An announced length over the limit: refused before the body is read.
    let big = Bytes::from("X1\n".repeat((2 << 20) / 3 + 10));
    let (status, _, resp) = http(addr, import("sized").body(Full::new(big)).unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    assert_eq!(resp["code"], json!(41300));
    // A small one still goes through the ordinary checks.
    let (status, resp) = env
        .call_raw(
            Method::POST,
            &format!("/api/crm/card/10080/import?card_id={card_id}&generate_id=small"),
            Some(&key),
            Some("A1\nA1\nbad code\n".into()),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let d = &resp["data"];
    assert_eq!((d["imported"].clone(), d["duplicates"].clone(), d["invalid"].clone()), (json!(1), json!(1), json!(1)));
    env.cleanup().await;
}

/// A tenant with a small bucket (3 at once, 1 per second) is answered 429 with `Retry-After` and
/// the IETF `RateLimit` / `RateLimit-Policy` headers once the bucket is empty; another tenant,
/// on the default bucket, is not affected.
#[tokio::test]
async fn a_tenant_over_its_rate_limit_gets_429_and_another_tenant_does_not() {
    let env = TestEnv::new().await;
    let small = env.tenant("10080").await;
    let other = env.tenant("10081").await;
    let admin = loyalty_tests::ADMIN_TOKEN;
    let limit = "/api/admin/tenants/10080/rate_limit";
    let (status, resp) = env.call(Method::PUT, limit, Some(admin), Some(json!({"per_second": 0, "burst": 3}))).await;
    assert_eq!((status, resp["data"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("per_second")));
    let (status, _) = env
        .call(
            Method::PUT,
            "/api/admin/tenants/nope/rate_limit",
            Some(admin),
            Some(json!({"per_second": 1, "burst": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, resp) = env.call(Method::PUT, limit, Some(admin), Some(json!({"per_second": 1, "burst": 3}))).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (_, resp) = env.call(Method::GET, limit, Some(admin), None).await;
    assert_eq!(resp["data"], json!({"per_second": 1, "burst": 3}));
    let (_, resp) = env.call(Method::GET, "/api/admin/tenants/10081/rate_limit", Some(admin), None).await;
    assert_eq!(resp["data"], json!({"per_second": 500, "burst": 1000}), "the default");

    let addr = serve(env.router()).await;
    let get = |crm_id: &str, key: &str| {
        Request::get(format!("/api/crm/mgr/points/{crm_id}/scene_info"))
            .header("host", addr.to_string())
            .header("authorization", format!("Bearer {key}"))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap()
    };
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(http(addr, get("10080", &small)).await);
    }
    let limited = answers.iter().filter(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
    let passed = answers.iter().filter(|(s, _, _)| *s == StatusCode::OK).count();
    println!("tenant 10080 (burst 3, 1/s): {passed} passed, {limited} limited of 10 requests");
    assert_eq!(passed + limited, 10);
    // The bucket's 3, plus at most one token refilled while the requests were sent.
    assert!((3..=4).contains(&passed), "{passed} passed");
    assert!(answers[..3].iter().all(|(s, _, _)| *s == StatusCode::OK));
    let (_, first, _) = &answers[0];
    assert_eq!(first["ratelimit-policy"], "\"tenant\";q=3;w=3");
    assert_eq!(first["ratelimit"], "\"tenant\";r=2;t=1");
    let (_, headers, body) = answers.iter().find(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS).unwrap();
    assert_eq!(body["code"], json!(42900), "{body}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["ratelimit-policy"], "\"tenant\";q=3;w=3");
    assert_eq!(headers["ratelimit"].to_str().unwrap(), format!("\"tenant\";r=0;t={retry_after}"));

    // The other tenant, meanwhile, on the default bucket.
    for _ in 0..10 {
        let (status, headers, body) = http(addr, get("10081", &other)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["ratelimit-policy"], "\"tenant\";q=1000;w=2");
    }
    // After Retry-After, the small tenant is served again.
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    let (status, _, body) = http(addr, get("10080", &small)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    env.cleanup().await;
}
