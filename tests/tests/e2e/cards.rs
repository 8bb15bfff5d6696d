//! Card definitions and stock generation (seed 003).

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use loyalty_tests::{redis_database, seed_card, wait_for, TestEnv};
use serde_json::{json, Value};

/// How many explicit ANALYZEs `card_code` has had in this test's database.
const CODES_ANALYZED: &str = "select analyze_count from pg_stat_user_tables where relname = 'card_code'";

#[tokio::test]
async fn cards_are_created_listed_removed_and_their_stock_generated_once() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let worker = env.worker(1, false, Arc::default());
    let (status, body) = env.post("/api/crm/card/10080/create", &key, seed_card()).await;
    assert_eq!(status, StatusCode::OK, "the seed's example: {body}");
    assert_eq!(body["msg"], json!("创建卡券成功"));
    let card_id = body["data"]["card_id"].as_str().unwrap().to_string();
    assert_eq!(card_id.len(), 32);
    assert_eq!(body["data"]["generate_info"]["total"], json!(10000));
    assert_eq!(body["data"]["extra_info"]["menu_jump_path"], json!("/page/custom/"));
    assert_eq!(body["data"]["begin_time"], json!(1655481600));

    let info = wait_for("10,000 codes", Duration::from_secs(30), || async {
        let info = env.generate_info(&key, "10080", &card_id).await;
        (info["generated"] == json!(10000)).then_some(info)
    })
    .await;
    assert_eq!(info["un_generate"], json!(0));
    // A flash sale follows a generation: the codes' statistics are refreshed when it ends, so
    // the claims' plans see the stock (an explicit ANALYZE, not autovacuum's).
    wait_for("card_code analyzed after the generation", Duration::from_secs(10), || async {
        (env.scalar(CODES_ANALYZED).await >= 1).then_some(())
    })
    .await;

    // More stock, twice with the same generate_id: generated once.
    let stock = json!({"card_id": card_id, "quantity": 25000, "generate_id": "g-1"});
    let (status, first) = env.post("/api/crm/card/10080/add/stock", &key, stock.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, again) = env.post("/api/crm/card/10080/add/stock", &key, stock).await;
    assert_eq!(first["data"]["auto_id"], again["data"]["auto_id"], "the same task: {again}");
    wait_for("35,000 codes", Duration::from_secs(60), || async {
        (env.generate_info(&key, "10080", &card_id).await["generated"] == json!(35000)).then_some(())
    })
    .await;
    assert_eq!(env.scalar(&format!("select count(*) from card_code where card_id = '{card_id}'")).await, 35000);
    assert_eq!(
        env.scalar(&format!("select count(distinct card_code) from card_code where card_id = '{card_id}'")).await,
        35000,
        "no code twice"
    );
    let (_, detail) =
        env.call(Method::GET, &format!("/api/crm/card/10080/detail?card_id={card_id}"), Some(&key), None).await;
    assert_eq!(detail["data"]["total_quantity"], json!(35000));

    // List with the seed's filters, then remove (soft).
    let mut voucher = seed_card();
    voucher["card_type"] = json!(0);
    voucher["total_quantity"] = json!(0);
    voucher["scene"] = json!("pos");
    env.post("/api/crm/card/10080/create", &key, voucher).await;
    for (query, want) in
        [("", 2), ("?card_type=1", 1), ("?card_type=0&scene=pos", 1), ("?source=1", 0), ("?page_id=2&page_size=1", 2)]
    {
        let (status, body) = env.call(Method::GET, &format!("/api/crm/card/10080/list{query}"), Some(&key), None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body["data"]["total"], json!(want), "{query}: {body}");
    }
    let (status, _) = env.call(Method::GET, "/api/crm/card/10080/list?card_type=x", Some(&key), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = env.post("/api/crm/card/10080/remove", &key, json!({"card_id": card_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = env.call(Method::GET, "/api/crm/card/10080/list", Some(&key), None).await;
    assert_eq!(body["data"]["total"], json!(1), "a removed card is not listed");
    let (status, _) = env.post("/api/crm/card/10080/add/stock", &key, json!({"card_id": card_id, "quantity": 1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "no stock for a removed card");
    let (status, _) = env.post("/api/crm/card/10080/remove", &key, json!({"card_id": "nope"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn card_fields_are_validated() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let with = |field: &str, value: Value| {
        let mut c = seed_card();
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = seed_card();
        c.as_object_mut().unwrap().remove(field);
        c
    };
    let cases = vec![
        ("card_type 5", with("card_type", json!(5)), "card_type"),
        ("no title", without("title"), "title"),
        ("empty title", with("title", json!("")), "title"),
        ("source 3", with("source", json!(3)), "source"),
        ("date_type 4", with("date_type", json!(4)), "date_type"),
        ("date_type 1 without end_time", with("end_time", Value::Null), "end_time"),
        ("end before begin", with("end_time", json!(1655481599)), "end_time"),
        ("date_type 2 without its counts", with("date_type", json!("2")), "start_day_count"),
        ("weekday 7", with("weekdays", json!("0,7")), "weekdays"),
        ("monthday 0", with("monthdays", json!("0,5")), "monthdays"),
        ("monthday 32", with("monthdays", json!("32")), "monthdays"),
        ("day window reversed", with("day_begin_time", json!(86399)), "day_end_time"),
        ("day_end_time past the day", with("day_end_time", json!(86400)), "day_end_time"),
        ("discount 0 on a discount card", with("discount", json!(0)), "discount"),
        ("discount above 1", with("discount", json!(1.5)), "discount"),
        ("negative quantity", with("total_quantity", json!(-1)), "total_quantity"),
        ("generate_type 3", with("generate_type", json!(3)), "generate_type"),
        ("cost_type 3", with("cost_type", json!(3)), "cost_type"),
        ("negative cost_value", with("cost_value", json!(-1)), "cost_value"),
        ("extra_info not an object", with("extra_info", json!("x")), "extra_info"),
        (
            "extra_info without bg_color",
            with("extra_info", json!({"jump_now_path": "/", "custom_menu_name": "m", "menu_jump_path": "/"})),
            "extra_info.bg_color",
        ),
        ("notice too long", with("notice", json!("x".repeat(33))), "notice"),
        ("an unknown field", with("colour", json!("red")), "colour"),
    ];
    for (case, body, field) in cases {
        let (status, resp) = env.post("/api/crm/card/10080/create", &key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {resp}");
        assert_eq!(resp["data"]["field"], json!(field), "{case}: {resp}");
    }
    let mut voucher = with("card_type", json!(0));
    voucher["cash_amount"] = json!(0);
    let (status, resp) = env.post("/api/crm/card/10080/create", &key, voucher).await;
    assert_eq!(
        (status, resp["data"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("cash_amount")),
        "a voucher without an amount"
    );
    for (case, body, field) in [
        ("quantity 0", json!({"card_id": "abc", "quantity": 0}), "quantity"),
        ("no card_id", json!({"quantity": 5}), "card_id"),
    ] {
        let (status, resp) = env.post("/api/crm/card/10080/add/stock", &key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {resp}");
        assert_eq!(resp["data"]["field"], json!(field), "{case}: {resp}");
    }
    let (status, _) = env.post("/api/crm/card/10080/add/stock", &key, json!({"card_id": "nope", "quantity": 5})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.cleanup().await;
}

#[tokio::test]
async fn a_flash_sale_issues_exactly_the_stock_once_per_code_within_limits() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    let a = env.worker(1, false, Arc::default());
    let b = env.worker(1, false, Arc::default());
    let overrides = [
        ("total_quantity", json!(50)),
        ("get_limit", json!(1)),
        ("date_type", json!(2)),
        ("start_day_count", json!(0)),
        ("expire_day_count", json!(7)),
    ];
    let card_id = env.card_in_stock(&key, "10080", &overrides).await;

    // 100 members claim twice each, 200 claims at once, on two workers.
    env.flash_claims(&key, &card_id, 0..200, 100).await;
    assert_eq!(
        env.scalar("select count(*) from inbox where key_kind = 'received_id' and status = 'applied'").await,
        50
    );
    assert_eq!(
        env.scalar(&format!("select count(*) from card_code where card_id = '{card_id}' and status = 1")).await,
        50,
        "exactly the stock"
    );
    assert_eq!(
        env.scalar(&format!("select count(*) from card_code where card_id = '{card_id}' and status = 0")).await,
        0
    );
    assert_eq!(
        env.scalar("select count(*) from (select member_no from card_code where member_no is not null group by member_no having count(*) > 1) m").await,
        0,
        "no member above get_limit 1"
    );
    assert_eq!(env.scalar("select count(*) from card_member where received > 1").await, 0);
    let reasons: Vec<String> =
        sqlx::query_scalar("select reason from inbox where key_kind = 'received_id' and status = 'rejected'")
            .fetch_all(&env.db)
            .await
            .unwrap();
    assert_eq!(reasons.len(), 150);
    assert!(reasons.iter().all(|r| r.contains("sold out") || r.contains("get_limit 1 per member")), "{reasons:?}");
    let valid_days = env
        .scalar(&format!(
            "select max(extract(day from valid_end - valid_begin))::bigint from card_code where card_id = '{card_id}'"
        ))
        .await;
    assert_eq!(valid_days, 7, "date_type 2: valid 7 days from receipt");

    // The same received_id again changes nothing.
    let winner: String =
        sqlx::query_scalar("select idem_key from inbox where key_kind = 'received_id' and status = 'applied' limit 1")
            .fetch_one(&env.db)
            .await
            .unwrap();
    let member: String = sqlx::query_scalar("select member_no from inbox where idem_key = $1")
        .bind(&winner)
        .fetch_one(&env.db)
        .await
        .unwrap();
    let (status, again) = env
        .post(
            "/api/crm/card/10080/member/receive?wait_ms=5000",
            &key,
            json!({"received_id": winner, "member_no": member, "out_str": "flash", "card_info": {card_id.clone(): 1}}),
        )
        .await;
    assert_eq!((status, again["data"]["status"].clone()), (StatusCode::OK, json!("duplicate")), "{again}");
    let (_, mine) = env
        .call(
            Method::GET,
            &format!("/api/crm/card/10080/member/card_list?member_no={member}&code_status=1"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(mine["data"]["total"], json!(1), "{mine}");
    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("claims ended").cleanup().await;
}

#[tokio::test]
async fn a_code_is_redeemed_once_even_from_two_tills_and_a_reversal_frees_it() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    let worker = env.worker(2, false, Arc::default());
    let card_id = env
        .card_in_stock(
            &key,
            "10080",
            &[
                ("date_type", json!(3)),
                ("total_quantity", json!(10)),
                ("use_limit", json!(1)),
                ("weekdays", Value::Null),
                ("monthdays", Value::Null),
            ],
        )
        .await;
    let (_, got) = env
        .post(
            "/api/crm/card/10080/member/receive?wait_ms=5000",
            &key,
            json!({"received_id": "r1", "member_no": "m", "out_str": "app", "card_info": {card_id.clone(): 2}}),
        )
        .await;
    assert_eq!(got["data"]["status"], json!("applied"), "{got}");
    let (_, mine) =
        env.call(Method::GET, "/api/crm/card/10080/member/card_list?member_no=m&code_status=1", Some(&key), None).await;
    let codes: Vec<String> = mine["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["card_code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 2, "{mine}");

    // Two tills scan the same code at the same instant.
    let scan = |redeem_id: &str, code: &str| {
        let (env, key) = (env.clone(), key.clone());
        let body = json!({"member_no": "m", "card_id": card_id, "card_code": code, "redeem_channel": "pos", "redeem_id": redeem_id, "redeem_extra": "已核销"});
        async move { env.post("/api/crm/card/10080/member/redeem?wait_ms=5000", &key, body).await.1 }
    };
    let (a, b) = tokio::join!(scan("till-1", &codes[0]), scan("till-2", &codes[0]));
    let statuses =
        [a["data"]["status"].as_str().unwrap().to_string(), b["data"]["status"].as_str().unwrap().to_string()];
    assert_eq!(statuses.iter().filter(|s| *s == "applied").count(), 1, "exactly one redeems: {a} {b}");
    let refused = if statuses[0] == "applied" { &b } else { &a };
    assert!(refused["data"]["reason"].as_str().unwrap().contains("already redeemed"), "{refused}");
    assert_eq!(refused["code"], json!(40903), "the refusal is an error: {refused}");

    // use_limit 1: the member's second code is refused; another member cannot use the code.
    let second = scan("till-3", &codes[1]).await;
    assert!(second["data"]["reason"].as_str().unwrap_or("").contains("use_limit 1"), "{second}");
    let (_, other) = env
        .post("/api/crm/card/10080/member/redeem?wait_ms=5000", &key, json!({"member_no": "x", "card_id": card_id, "card_code": codes[1], "redeem_channel": "pos", "redeem_id": "till-4", "redeem_extra": ""}))
        .await;
    assert!(other["data"]["reason"].as_str().unwrap_or("").contains("not the member's"), "{other}");

    // The sale is cancelled: the redemption is reversed, the code is usable again, once.
    let winner = if statuses[0] == "applied" { "till-1" } else { "till-2" };
    let (_, back) =
        env.post("/api/crm/card/10080/member/redeem_reverse?wait_ms=5000", &key, json!({"redeem_id": winner})).await;
    assert_eq!(back["data"]["status"], json!("applied"), "{back}");
    let (_, again) =
        env.post("/api/crm/card/10080/member/redeem_reverse?wait_ms=5000", &key, json!({"redeem_id": winner})).await;
    assert_eq!(again["data"]["status"], json!("duplicate"), "{again}");
    assert_eq!(
        env.scalar(
            "select rollback_status::bigint from card_redeem where redeem_id = 'till-1' or redeem_id = 'till-2'"
        )
        .await,
        1
    );
    let redo = scan("till-5", &codes[0]).await;
    assert_eq!(redo["data"]["status"], json!("applied"), "{redo}");
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("done").cleanup().await;
}

#[tokio::test]
async fn a_presented_code_changes_hands_or_comes_back_after_the_time_out() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    let worker = env.worker(1, false, Arc::default());
    let card_id = env
        .card_in_stock(
            &key,
            "10080",
            &[
                ("date_type", json!(3)),
                ("total_quantity", json!(10)),
                ("weekdays", Value::Null),
                ("monthdays", Value::Null),
            ],
        )
        .await;
    env.post(
        "/api/crm/card/10080/member/receive?wait_ms=5000",
        &key,
        json!({"received_id": "r1", "member_no": "giver", "out_str": "app", "card_info": {card_id.clone(): 2}}),
    )
    .await;
    let (_, mine) =
        env.call(Method::GET, "/api/crm/card/10080/member/card_list?member_no=giver", Some(&key), None).await;
    let codes: Vec<String> = mine["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["card_code"].as_str().unwrap().to_string())
        .collect();
    let post = |path: &str, body: Value| {
        let (env, key) = (env.clone(), key.clone());
        let path = format!("/api/crm/card/10080/member/{path}?wait_ms=5000");
        async move { env.post(&path, &key, body).await.1 }
    };
    let redeem = |member: &str, code: &str, id: &str| json!({"member_no": member, "card_id": card_id, "card_code": code, "redeem_channel": "pos", "redeem_id": id, "redeem_extra": ""});

    // Present → received by a friend: the giver can no longer redeem it, the friend can.
    let given = post(
        "present",
        json!({"member_no": "giver", "card_id": card_id, "card_code": codes[0], "presant_extra": "分享好券"}),
    )
    .await;
    assert_eq!(given["data"]["status"], json!("applied"), "{given}");
    let present_id = given["data"]["present_id"].as_str().unwrap().to_string();
    let own = post("present_receive", json!({"member_no": "giver", "present_id": present_id})).await;
    assert!(own["data"]["reason"].as_str().unwrap_or("").contains("cannot receive their own"), "{own}");
    let during = post("redeem", redeem("giver", &codes[0], "x0")).await;
    assert!(during["data"]["reason"].as_str().unwrap_or("").contains("being presented"), "{during}");
    let got = post("present_receive", json!({"member_no": "friend", "present_id": present_id})).await;
    assert_eq!(got["data"]["status"], json!("applied"), "{got}");
    let twice = post("present_receive", json!({"member_no": "friend", "present_id": present_id})).await;
    assert_eq!(twice["data"]["status"], json!("duplicate"), "the same present_id by the same friend: {twice}");
    let late = post("present_receive", json!({"member_no": "third", "present_id": present_id})).await;
    assert!(late["data"]["reason"].as_str().unwrap_or("").contains("already received"), "{late}");
    let by_giver = post("redeem", redeem("giver", &codes[0], "x1")).await;
    assert!(by_giver["data"]["reason"].as_str().unwrap_or("").contains("not the member's"), "{by_giver}");
    let by_friend = post("redeem", redeem("friend", &codes[0], "x2")).await;
    assert_eq!(by_friend["data"]["status"], json!("applied"), "{by_friend}");
    let again = post("redeem", redeem("friend", &codes[0], "x2")).await;
    assert_eq!(again["data"]["status"], json!("duplicate"), "the same redeem_id again: {again}");
    let get = |path: String| {
        let (env, key) = (env.clone(), key.clone());
        async move { env.call(Method::GET, &format!("/api/crm/card/10080/member/{path}"), Some(&key), None).await }
    };
    let (status, detail) = get(format!("present_detail?present_id={present_id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(
        (detail["data"]["status"].clone(), detail["data"]["to_member_no"].clone()),
        (json!("received"), json!("friend")),
        "{detail}"
    );
    let (_, card) = get(format!("card_detail?member_no=friend&card_id={card_id}&card_code={}", codes[0])).await;
    assert_eq!(card["data"]["code_status"], json!(3), "{card}");
    assert!(card["data"]["redeem_time"].is_string() && card["data"]["present_time"].is_string(), "{card}");
    assert_eq!(card["data"]["out_str"], json!("app"));
    let (_, claim) = get("receive_detail?received_id=r1".into()).await;
    assert_eq!(claim["data"].as_array().map(Vec::len), Some(2), "{claim}");
    let (status, _) = get(format!("card_detail?member_no=giver&card_id={card_id}&card_code={}", codes[0])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer the giver's");
    assert_eq!(
        env.scalar("select received::bigint from card_member where member_no = 'friend'").await,
        0,
        "a present does not count toward get_limit"
    );

    // A present nobody receives comes back to the giver after the time-out (24 h by default).
    let given =
        post("present", json!({"member_no": "giver", "card_id": card_id, "card_code": codes[1], "presant_extra": ""}))
            .await;
    let present_id = given["data"]["present_id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now();
    assert_eq!(workers::cards::present::return_due(&env.db, now + chrono::Duration::hours(23)).await.unwrap(), 0);
    assert_eq!(workers::cards::present::return_due(&env.db, now + chrono::Duration::hours(25)).await.unwrap(), 1);
    assert_eq!(
        workers::cards::present::return_due(&env.db, now + chrono::Duration::hours(25)).await.unwrap(),
        0,
        "returned once"
    );
    let status = env.scalar(&format!("select status::bigint from card_code where card_code = '{}'", codes[1])).await;
    assert_eq!(status, 1, "available to the giver again");
    let too_late = post("present_receive", json!({"member_no": "friend", "present_id": present_id})).await;
    assert!(too_late["data"]["reason"].as_str().unwrap_or("").contains("already returned"), "{too_late}");
    let back = post("redeem", redeem("giver", &codes[1], "x3")).await;
    assert_eq!(back["data"]["status"], json!("applied"), "{back}");
    let (_, given) = get("present_list?member_no=giver".into()).await;
    assert_eq!(given["data"]["total"], json!(2), "{given}");
    let (_, pending) = get("present_list?member_no=giver&received=0".into()).await;
    assert_eq!(pending["data"]["total"], json!(1), "the returned one: {pending}");
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("done").cleanup().await;
}

#[tokio::test]
async fn a_reversed_claim_obsoletes_its_codes_and_restores_stock_and_codes_expire_once() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    let worker = env.worker(1, false, Arc::default());
    let card_id = env
        .card_in_stock(
            &key,
            "10080",
            &[
                ("date_type", json!(2)),
                ("start_day_count", json!(0)),
                ("expire_day_count", json!(7)),
                ("total_quantity", json!(2)),
                ("get_limit", json!(2)),
            ],
        )
        .await;
    let claim = |id: &str, member: &str| {
        let (env, key) = (env.clone(), key.clone());
        let body = json!({"received_id": id, "member_no": member, "out_str": "app", "card_info": {card_id.clone(): 2}});
        async move { env.post("/api/crm/card/10080/member/receive?wait_ms=5000", &key, body).await.1 }
    };
    assert_eq!(claim("r1", "m").await["data"]["status"], json!("applied"));
    assert!(claim("r2", "n").await["data"]["reason"].as_str().unwrap().contains("sold out"));
    let (_, back) =
        env.post("/api/crm/card/10080/member/receive_reverse?wait_ms=5000", &key, json!({"received_id": "r1"})).await;
    assert_eq!(
        (back["data"]["status"].clone(), back["data"]["points"].clone()),
        (json!("applied"), json!(2)),
        "{back}"
    );
    assert_eq!(
        env.scalar("select count(*) from card_code where received_id = 'r1' and status = 5").await,
        2,
        "obsolete"
    );
    assert_eq!(
        env.scalar("select received::bigint from card_member where member_no = 'm'").await,
        0,
        "the receive count is given back"
    );
    assert_eq!(claim("r3", "n").await["data"]["status"], json!("applied"), "the stock is restored");
    assert_eq!(claim("r4", "m").await["data"]["reason"].as_str().map(|r| r.contains("sold out")), Some(true));

    // Codes valid 7 days from receipt expire once, with a record.
    let now = chrono::Utc::now();
    assert_eq!(workers::cards::receive::expire_due(&env.db, now + chrono::Duration::days(6)).await.unwrap(), 0);
    assert_eq!(workers::cards::receive::expire_due(&env.db, now + chrono::Duration::days(8)).await.unwrap(), 2);
    assert_eq!(workers::cards::receive::expire_due(&env.db, now + chrono::Duration::days(9)).await.unwrap(), 0, "once");
    assert_eq!(env.scalar("select count(*) from card_code_expired where member_no = 'n'").await, 2);
    assert_eq!(env.scalar("select count(*) from card_code where received_id = 'r3' and status = 4").await, 2);
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("done").cleanup().await;
}

#[tokio::test]
async fn flushing_redis_in_the_middle_of_1000_claims_keeps_the_totals_exact() {
    // A logical database of its own: the flush takes this test's pool lists and rule caches,
    // not those of the tests running beside it.
    let env = Arc::new(TestEnv::new_with(|s| s.redis_url = redis_database(&s.redis_url, 1)).await);
    let key = env.tenant("10080").await;
    let a = env.worker(1, false, Arc::default());
    let b = env.worker(1, false, Arc::default());
    let overrides = [("date_type", json!(3)), ("total_quantity", json!(600)), ("get_limit", json!(1))];
    let card_id = env.card_in_stock(&key, "10080", &overrides).await;
    let mut claims = tokio::task::JoinSet::new();
    for i in 0..1000 {
        if i == 500 {
            // Everything the workers keep in Redis (the code pool, the rule cache) goes, with
            // half of the claims sent and many of them in flight. The flush runs on a thread of
            // its own with a blocking connection: this test's one-thread runtime also runs the
            // 500 claims in flight and both workers, and on a loaded two-core machine an async
            // connect from it missed the pool's 500 ms deadline again and again.
            let url = env.settings.redis_url.clone();
            tokio::task::spawn_blocking(move || {
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                loop {
                    let flushed = deadpool_redis::redis::Client::open(url.as_str())
                        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
                        .and_then(|mut c| deadpool_redis::redis::cmd("FLUSHDB").query::<()>(&mut c));
                    match flushed {
                        Ok(()) => break,
                        Err(e) => assert!(std::time::Instant::now() < deadline, "the flush: {e}"),
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .await
            .unwrap();
        }
        let (env, key, card_id) = (env.clone(), key.clone(), card_id.clone());
        claims.spawn(async move {
            let body = json!({"received_id": format!("r{i}"), "member_no": format!("m{}", i % 800), "out_str": "flash", "card_info": {card_id: 1}});
            // A 503 ("retry later") under the burst is answered as a client must: the same
            // request again, with the same received_id; every claim is accepted once in the end.
            env.post_accepted("/api/crm/card/10080/member/receive", &key, body).await;
        });
    }
    while let Some(r) = claims.join_next().await {
        r.unwrap();
    }
    wait_for("every claim answered", Duration::from_secs(60), || async {
        (env.scalar("select count(*) from inbox where key_kind = 'received_id'").await == 1000).then_some(())
    })
    .await;
    env.assert_issued_once(&card_id, 600).await;
    assert_eq!(env.scalar("select count(*) from (select member_no from card_code where member_no is not null group by member_no having count(*) > 1) m").await, 0);
    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("claims ended").cleanup().await;
}

/// Sends one member operation to a worker that crashes right after committing it (before the
/// ack), lets a healthy worker take the redelivery, and waits until the inbox has counted that
/// redelivery as a duplicate of the key. Returns the 202 answer.
async fn across_a_crash(
    env: &TestEnv,
    key: &str,
    operation: &str,
    body: Value,
    idem_key: impl Fn(&Value) -> String,
) -> Value {
    use std::sync::atomic::Ordering::SeqCst;
    let failpoints = Arc::new(workers::Failpoints::default());
    failpoints.crash_after_commit.store(1, SeqCst);
    let doomed = env.worker(1, false, failpoints.clone());
    let (status, answer) = env.post(&format!("/api/crm/card/10080/member/{operation}"), key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    wait_for("the failpoint to fire", Duration::from_secs(10), || async {
        (failpoints.crash_after_commit.load(SeqCst) == 0).then_some(())
    })
    .await;
    doomed.stop(Duration::from_secs(5)).await;
    let survivor = env.worker(1, false, Arc::default());
    let idem_key = idem_key(&answer);
    wait_for(&format!("the redelivery of {operation} to be recognised"), Duration::from_secs(10), || async {
        let duplicates: Option<i32> = sqlx::query_scalar("select duplicates from inbox where idem_key = $1")
            .bind(&idem_key)
            .fetch_optional(&env.db)
            .await
            .unwrap();
        (duplicates == Some(1)).then_some(())
    })
    .await;
    survivor.stop(Duration::from_secs(5)).await;
    answer
}

#[tokio::test]
async fn claim_present_receive_and_redeem_committed_before_a_crash_are_applied_once_on_redelivery() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let generator = env.worker(1, false, Arc::default());
    let overrides =
        [("date_type", json!(3)), ("total_quantity", json!(5)), ("weekdays", Value::Null), ("monthdays", Value::Null)];
    let card_id = env.card_in_stock(&key, "10080", &overrides).await;
    generator.stop(Duration::from_secs(5)).await;
    let code_of = |status: i16| {
        let db = env.db.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select card_code from card_code where member_no = 'm' and status = $1 order by code_id limit 1",
            )
            .bind(status)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };

    let claim = json!({"received_id": "c1", "member_no": "m", "out_str": "app", "card_info": {card_id.clone(): 2}});
    across_a_crash(&env, &key, "receive", claim, |_| "c1".into()).await;
    assert_eq!(env.scalar("select count(*) from card_code where member_no = 'm'").await, 2, "two codes, issued once");
    assert_eq!(env.scalar("select received::bigint from card_member where member_no = 'm'").await, 2);

    let gift = json!({"member_no": "m", "card_id": card_id, "card_code": code_of(1).await, "presant_extra": ""});
    let given = across_a_crash(&env, &key, "present", gift, |a| a["data"]["present_id"].as_str().unwrap().into()).await;
    let present_id = given["data"]["present_id"].as_str().unwrap().to_string();
    assert_eq!(env.scalar("select count(*) from card_present").await, 1, "one present");

    let take = json!({"member_no": "friend", "present_id": present_id});
    across_a_crash(&env, &key, "present_receive", take, |_| format!("{present_id}/friend")).await;
    assert_eq!(env.scalar("select count(*) from card_code where member_no = 'friend' and status = 1").await, 1);
    assert_eq!(env.scalar("select count(*) from card_present where status = 'received'").await, 1);

    let redeem = json!({"member_no": "m", "card_id": card_id, "card_code": code_of(1).await, "redeem_channel": "pos", "redeem_id": "d1", "redeem_extra": ""});
    across_a_crash(&env, &key, "redeem", redeem, |_| "d1".into()).await;
    assert_eq!(env.scalar("select count(*) from card_code where member_no = 'm' and status = 3").await, 1);
    assert_eq!(env.scalar("select used::bigint from card_member where member_no = 'm'").await, 1, "redeemed once");
    assert_eq!(env.scalar("select count(*) from card_redeem").await, 1);
    env.cleanup().await;
}

#[tokio::test]
async fn codes_are_imported_from_csv_with_duplicates_refused_and_counted() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let mut card = seed_card();
    for (k, v) in [("date_type", json!(3)), ("total_quantity", json!(0)), ("generate_type", json!(2))] {
        card[k] = v;
    }
    let (_, body) = env.post("/api/crm/card/10080/create", &key, card).await;
    let card_id = body["data"]["card_id"].as_str().unwrap().to_string();
    let import = |generate_id: &str, csv: &str| {
        let path = format!("/api/crm/card/10080/import?card_id={card_id}&generate_id={generate_id}");
        let (env, key, csv) = (&env, key.clone(), csv.to_string());
        async move { env.call_raw(Method::POST, &path, Some(&key), Some(csv), false).await }
    };
    let (status, first) = import("f1", "card_code\nAAA111\nBBB222\nAAA111\nhas space\nCCC333,extra column\n").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let d = &first["data"];
    assert_eq!(
        (d["imported"].clone(), d["duplicates"].clone(), d["invalid"].clone()),
        (json!(3), json!(1), json!(1)),
        "{first}"
    );
    assert_eq!(d["invalid_lines"], json!([5]));
    assert!(env.scalar(CODES_ANALYZED).await >= 1, "the import refreshed card_code's statistics before answering");
    let (_, second) = import("f2", "BBB222\nCCC333\nDDD444\n").await;
    assert_eq!(
        (second["data"]["imported"].clone(), second["data"]["duplicates"].clone()),
        (json!(1), json!(2)),
        "{second}"
    );
    let (_, again) = import("f2", "EEE555\n").await;
    assert_eq!(again["data"]["imported"], json!(1), "the same generate_id imports nothing more: {again}");
    assert_eq!(env.scalar(&format!("select count(*) from card_code where card_id = '{card_id}'")).await, 4);
    let (_, detail) =
        env.call(Method::GET, &format!("/api/crm/card/10080/detail?card_id={card_id}"), Some(&key), None).await;
    assert_eq!(
        (detail["data"]["total_quantity"].clone(), detail["data"]["generate_info"]["generated"].clone()),
        (json!(4), json!(4)),
        "{detail}"
    );
    let (status, resp) =
        env.post("/api/crm/card/10080/add/stock", &key, json!({"card_id": card_id, "quantity": 5})).await;
    assert_eq!(
        (status, resp["data"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("card_id")),
        "imported cards take no generated stock"
    );
    let (status, _) = env
        .call_raw(Method::POST, "/api/crm/card/10080/import?card_id=nope", Some(&key), Some("X1".into()), false)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.cleanup().await;
}
