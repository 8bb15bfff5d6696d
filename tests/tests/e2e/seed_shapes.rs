//! The shapes seeds 000 and 003 give, end to end (issue 9, items 3–5): the member card queries
//! field for field, the history's event types and the descriptions of the rows the system
//! writes, the card table design's extra fields, and imports as Excel saves them.

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use chrono::Utc;
use loyalty_tests::{seed_card, TestEnv};
use serde_json::{json, Value};

use crate::ledger::{t0, Ledger};

/// Asserts that `object` carries every field the seed shows, and returns it.
fn has_seed_fields<'a>(what: &str, object: &'a Value, fields: &[&str]) -> &'a Value {
    let missing: Vec<&&str> = fields.iter().filter(|f| object.get(**f).is_none()).collect();
    assert!(missing.is_empty(), "{what} lacks the seed's {missing:?}: {object}");
    object
}

/// A local time as the seed writes it: `2021-08-19 15:42:19`.
fn is_seed_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok())
}

const MEMBER_CARD: &[&str] = &[
    "auto_id",
    "crm_id",
    "received_id",
    "card_id",
    "member_no",
    "card_code",
    "start_time",
    "end_time",
    "out_str",
    "code_status",
    "received_time",
    "redeem_time",
    "present_time",
    "expired_time",
    "obsoleted_time",
    "create_time",
    "update_time",
];
const CODE_RECORD: &[&str] = &[
    "auto_id",
    "crm_id",
    "card_code",
    "card_id",
    "member_no",
    "card_code_status",
    "card_code_preuse_status",
    "create_time",
    "update_time",
];
const CLAIMED_CARD: &[&str] = &[
    "auto_id",
    "instance_id",
    "received_id",
    "card_id",
    "member_no",
    "card_code",
    "start_time",
    "end_time",
    "out_str",
    "code_status",
    "received_time",
    "redeem_time",
    "present_time",
    "expired_time",
    "obsoleted_time",
    "create_time",
    "update_time",
];
const PRESENT: &[&str] = &[
    "auto_id",
    "instance_id",
    "from_member_no",
    "to_member_no",
    "card_id",
    "card_code",
    "present_id",
    "present_extra",
    "present_time",
    "received_time",
    "go_back_time",
    "create_time",
    "update_time",
];

#[tokio::test]
async fn member_card_queries_answer_seed_003s_shapes() {
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
                ("total_quantity", json!(10)),
                ("weekdays", Value::Null),
                ("monthdays", Value::Null),
            ],
        )
        .await;
    let (_, got) = env
        .post(
            "/api/crm/card/10080/member/receive?wait_ms=5000",
            &key,
            json!({"received_id": "r1", "member_no": "giver", "out_str": "sim_data", "card_info": {card_id.clone(): 2}}),
        )
        .await;
    assert_eq!(got["code"], json!(0), "{got}");
    let get = |path: String| {
        let (env, key) = (env.clone(), key.clone());
        async move {
            let (status, body) =
                env.call(Method::GET, &format!("/api/crm/card/10080/member/{path}"), Some(&key), None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body
        }
    };

    // card_list: `data.result`, each code with the seed's fields and times.
    let list = get("card_list?member_no=giver&code_status=1&page_id=1&page_size=20".into()).await;
    assert_eq!(list["msg"], json!("获取用户卡券列表成功"));
    assert_eq!(list["data"]["total"], json!(2), "{list}");
    let result = list["data"]["result"].as_array().expect("data.result");
    assert_eq!(result.len(), 2);
    for code in result {
        has_seed_fields("a card_list item", code, MEMBER_CARD);
        assert!(code["auto_id"].is_i64(), "{code}");
        assert_eq!((code["crm_id"].clone(), code["received_id"].clone()), (json!("10080"), json!("r1")));
        assert_eq!((code["out_str"].clone(), code["code_status"].clone()), (json!("sim_data"), json!(1)));
        for t in ["start_time", "end_time", "received_time", "expired_time", "create_time", "update_time"] {
            assert!(is_seed_time(&code[t]), "{t} as the seed shows it: {code}");
        }
        assert_eq!(code["expired_time"], code["end_time"], "a code expires at the end of its validity");
        for t in ["redeem_time", "present_time", "obsoleted_time"] {
            assert!(code[t].is_null(), "{t}: {code}");
        }
    }
    let codes: Vec<String> = result.iter().map(|c| c["card_code"].as_str().unwrap().to_string()).collect();

    // receive_detail: an array of {card_code, card_info}, one per code the claim issued.
    let claim = get("receive_detail?received_id=r1".into()).await;
    assert_eq!(claim["msg"], json!("获取卡券领取详情成功"));
    let issued = claim["data"].as_array().expect("data is the seed's array");
    assert_eq!(issued.len(), 2, "{claim}");
    for one in issued {
        let code = has_seed_fields("receive_detail's card_code", &one["card_code"], CODE_RECORD);
        let info = has_seed_fields("receive_detail's card_info", &one["card_info"], CLAIMED_CARD);
        assert_eq!((code["card_code_status"].clone(), code["card_code_preuse_status"].clone()), (json!(1), json!(1)));
        assert_eq!(code["card_code"], info["card_code"]);
        assert_eq!(code["auto_id"], info["auto_id"]);
        assert_eq!((info["instance_id"].clone(), info["member_no"].clone()), (json!("10080"), json!("giver")));
        assert!(is_seed_time(&info["start_time"]) && is_seed_time(&info["end_time"]), "{info}");
    }

    // A present, pending: go_back_time (the rollback) is null, the scheduled return has its field.
    let post = |path: &str, body: Value| {
        let (env, key) = (env.clone(), key.clone());
        let path = format!("/api/crm/card/10080/member/{path}?wait_ms=5000");
        async move { env.post(&path, &key, body).await.1 }
    };
    let given = post(
        "present",
        json!({"member_no": "giver", "card_id": card_id, "card_code": codes[0], "presant_extra": "好券分享"}),
    )
    .await;
    let first_present = given["data"]["present_id"].as_str().expect("present_id").to_string();
    let detail = get(format!("present_detail?present_id={first_present}")).await;
    assert_eq!(detail["msg"], json!("获取用户转增记录成功"));
    let p = has_seed_fields("present_detail", &detail["data"], PRESENT);
    assert!(p["auto_id"].is_i64(), "{p}");
    assert_eq!((p["instance_id"].clone(), p["present_extra"].clone()), (json!("10080"), json!("好券分享")));
    assert!(p["go_back_time"].is_null() && p["to_member_no"].is_null() && p["received_time"].is_null(), "{p}");
    assert!(is_seed_time(&p["go_back_due_time"]) && is_seed_time(&p["present_time"]), "{p}");

    // Received by a friend: still no rollback; the friend finds it by member_no.
    let took = post("present_receive", json!({"member_no": "friend", "present_id": first_present})).await;
    assert_eq!(took["code"], json!(0), "{took}");
    let friends = get("present_list?member_no=friend".into()).await;
    assert_eq!(friends["data"]["total"], json!(1), "the receiver's member_no finds the present: {friends}");
    let p = has_seed_fields("a present_list item", &friends["data"]["data"][0], PRESENT);
    assert_eq!((p["present_id"].as_str(), p["to_member_no"].as_str()), (Some(first_present.as_str()), Some("friend")));
    assert!(is_seed_time(&p["received_time"]) && p["go_back_time"].is_null(), "{p}");
    let received = get("present_list?member_no=friend&received=1".into()).await;
    assert_eq!(received["data"]["total"], json!(1), "{received}");

    // Not received in time: it goes back, and go_back_time says when.
    let given =
        post("present", json!({"member_no": "giver", "card_id": card_id, "card_code": codes[1], "presant_extra": ""}))
            .await;
    let second_present = given["data"]["present_id"].as_str().expect("present_id").to_string();
    let pending = get(format!("present_detail?present_id={second_present}")).await;
    assert!(pending["data"]["go_back_time"].is_null(), "{pending}");
    let back_at = Utc::now() + chrono::Duration::hours(25);
    assert_eq!(workers::cards::present::return_due(&env.db, back_at).await.unwrap(), 1);
    let returned = get(format!("present_detail?present_id={second_present}")).await;
    assert_eq!(returned["data"]["status"], json!("returned"));
    assert_eq!(
        returned["data"]["go_back_time"],
        json!(schemas::time::format_local(back_at, schemas::time::DEFAULT_TIME_ZONE))
    );
    let gave = get("present_list?member_no=giver".into()).await;
    assert_eq!(gave["data"]["total"], json!(2), "{gave}");
    let autos: Vec<i64> =
        gave["data"]["data"].as_array().unwrap().iter().map(|p| p["auto_id"].as_i64().unwrap()).collect();
    assert!(autos[0] > autos[1], "newest first: {autos:?}");
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("done").cleanup().await;
}

#[tokio::test]
async fn the_history_answers_seed_000s_event_types_and_describes_what_the_system_wrote() {
    let l = Ledger::new("10080").await;
    let t = t0();
    let day = chrono::Duration::days(1);
    l.earn("e1", "m", "order_pay", 30, t).await;
    l.earn("e2", "m", "frozen_pay", 20, t).await;
    l.give("g1", "m", 5, t).await;
    // A reversal of spent points leaves a debt, which the next earning settles.
    l.earn("d1", "d", "order_pay", 30, t).await;
    l.spend("d2", "d", Some(20), None, t).await;
    l.reverse("d3", "d1", None, t).await;
    l.earn("d4", "d", "order_pay", 30, t).await;
    // The sign convention: a member's rows, freeze and unfreeze aside, sum to its points.
    let sums_to_points = |when: &'static str| {
        let l = &l;
        async move {
            for member in ["m", "d"] {
                let rows: i64 = sqlx::query_scalar(
                    "select coalesce(sum(points), 0)::bigint from points_ledger
                     where member_no = $1 and event_type not in ('freeze', 'unfreeze')",
                )
                .bind(member)
                .fetch_one(&l.env.db)
                .await
                .unwrap();
                assert_eq!(rows, l.held(member).await.0, "member {member}, {when}");
            }
        }
    };
    l.sweep(t + day * 3).await; // e2 unfreezes, g1 goes back
    sums_to_points("before expiry").await;
    l.sweep(t + day * 30).await; // e1, e2 and d4's rest expire
    sums_to_points("after expiry").await;
    let history = |body: Value| {
        let env = &l.env;
        let key = l.key.clone();
        async move {
            let (status, page) = env.post("/api/crm/mgr/points/10080/history", &key, body).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            page["data"].clone()
        }
    };
    let descs = |page: &Value| -> Vec<(String, i64, String)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["event_type"].as_str().unwrap().into(),
                    i["points"].as_i64().unwrap(),
                    i["event_desc"].as_str().unwrap_or("").into(),
                )
            })
            .collect()
    };
    let asc = |event_type: &str, member: &str| json!({"event_type": event_type, "member_no": member, "order_by": "auto_id", "order_asc": 1});

    // The seed's own example, word for word.
    let earned = history(asc("produce", "m")).await;
    assert_eq!(
        descs(&earned),
        vec![
            ("produce".into(), 30, "用户多了30积分,无冻结时间".into()),
            ("produce".into(), 20, "用户多了20积分,冻结3天".into())
        ]
    );
    // `expired` is the seed's word, `expire` its alias; rows say `expired`.
    let expired = history(asc("expired", "m")).await;
    assert_eq!(expired, history(asc("expire", "m")).await);
    let mut rows = descs(&expired);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("expired".into(), -30, "用户少了30积分,积分过期".into()),
            ("expired".into(), -20, "用户少了20积分,积分过期".into())
        ]
    );
    assert_eq!(
        descs(&history(asc("transfer_return", "m")).await),
        vec![("transfer_return".into(), 5, "用户多了5积分,转赠超时未被领取,退回".into())]
    );
    assert_eq!(
        descs(&history(asc("unfreeze", "m")).await),
        vec![("unfreeze".into(), 20, "用户20积分解冻,冻结时间已到".into())]
    );
    let settled = history(asc("settle_debt", "d")).await;
    assert_eq!(descs(&settled), vec![("settle_debt".into(), -20, "用户少了20积分,抵还冲正欠下的积分".into())]);
    assert_eq!(settled["items"][0]["event_no"], json!("d4"), "the earning that settled it");

    l.verify_clean("seed history").await;
    l.env.cleanup().await;
}

#[tokio::test]
async fn cards_take_the_table_designs_fields_and_imports_fill_the_declared_quantity() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let mut card = seed_card();
    card["total_quantity"] = json!(0);
    let (_, plain) = env.post("/api/crm/card/10080/create", &key, card.clone()).await;
    let d = &plain["data"];
    assert_eq!(
        (d["use_with_other_offer"].clone(), d["use_with_other_coupon"].clone(), d["qty_condition"].clone()),
        (json!(false), json!(false), json!(0)),
        "the defaults: {plain}"
    );
    for (k, v) in
        [("use_with_other_offer", json!(true)), ("use_with_other_coupon", json!(true)), ("qty_condition", json!(2))]
    {
        card[k] = v;
    }
    let (status, created) = env.post("/api/crm/card/10080/create", &key, card.clone()).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let card_id = created["data"]["card_id"].as_str().unwrap();
    let (_, detail) = env.get(&format!("/api/crm/card/10080/detail?card_id={card_id}"), &key).await;
    let d = &detail["data"];
    assert_eq!(
        (d["use_with_other_offer"].clone(), d["use_with_other_coupon"].clone(), d["qty_condition"].clone()),
        (json!(true), json!(true), json!(2)),
        "{detail}"
    );
    for (field, value) in [
        ("qty_condition", json!(-1)),
        ("qty_condition", json!(32768)),
        ("qty_condition", json!("many")),
        ("use_with_other_offer", json!("yes")),
        ("use_with_other_coupon", json!(1)),
    ] {
        let mut bad = card.clone();
        bad[field] = value.clone();
        let (status, body) = env.post("/api/crm/card/10080/create", &key, bad).await;
        assert_eq!(
            (status, body["data"]["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(field)),
            "{field} {value}: {body}"
        );
    }

    // An imported card declared at 10: the imports fill it, and only more than 10 raise it.
    for (k, v) in [("date_type", json!(3)), ("total_quantity", json!(10)), ("generate_type", json!(2))] {
        card[k] = v;
    }
    let (_, body) = env.post("/api/crm/card/10080/create", &key, card).await;
    let card_id = body["data"]["card_id"].as_str().unwrap().to_string();
    let import = |generate_id: &str, csv: String| {
        let path = format!("/api/crm/card/10080/import?card_id={card_id}&generate_id={generate_id}");
        let (env, key) = (&env, key.clone());
        async move {
            let (status, body) = env.call_raw(Method::POST, &path, Some(&key), Some(csv), false).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["data"].clone()
        }
    };
    let quantities = || async {
        let (_, d) = env.get(&format!("/api/crm/card/10080/detail?card_id={card_id}"), &key).await;
        (d["data"]["total_quantity"].clone(), d["data"]["generate_info"].clone())
    };
    // Excel's "CSV UTF-8": a BOM, a header, CRLF line ends, quotes where a field needs them.
    let mut excel = "\u{feff}card_code,note\r\n".to_string();
    for i in 1..=4 {
        excel.push_str(&format!("\"X{i}\",\"batch 1, part {i}\"\r\n"));
    }
    let first = import("f1", excel).await;
    assert_eq!((first["imported"].clone(), first["invalid"].clone()), (json!(4), json!(0)), "{first}");
    assert_eq!(
        env.scalar(&format!("select count(*) from card_code where card_id = '{card_id}' and card_code = 'X1'")).await,
        1,
        "the BOM is not part of the first code"
    );
    assert_eq!(quantities().await, (json!(10), json!({"generated": 4, "un_generate": 6, "total": 10})));
    let rest: String = (5..=10).map(|i| format!("X{i}\r\n")).collect();
    import("f2", rest).await;
    assert_eq!(
        quantities().await,
        (json!(10), json!({"generated": 10, "un_generate": 0, "total": 10})),
        "declared 10, imported 10"
    );
    import("f3", "X11\nX12\n".into()).await;
    assert_eq!(
        quantities().await,
        (json!(12), json!({"generated": 12, "un_generate": 0, "total": 12})),
        "more than declared"
    );
    env.cleanup().await;
}
