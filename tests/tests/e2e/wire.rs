//! The wire contract of commands (issue 9 items 1 and 2): a refusal known within `wait_ms` is an
//! error with its refusal code and HTTP status, success carries the seed's msg, a duplicate
//! answers like the first answer, and every outcome can be looked up by its dedupe key with the
//! same answer.

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use loyalty_tests::TestEnv;
use serde_json::{json, Value};

use crate::ledger::Ledger;

/// (HTTP status, code, msg, data.status) of an answer.
fn verdict(answer: &(StatusCode, Value)) -> (StatusCode, i64, String, String) {
    let (status, body) = answer;
    (
        *status,
        body["code"].as_i64().unwrap_or_else(|| panic!("no code: {body}")),
        body["msg"].as_str().unwrap_or_default().to_string(),
        body["data"]["status"].as_str().unwrap_or_default().to_string(),
    )
}

/// Asserts an answer is the refusal `code` (its HTTP status the code's first three digits), with
/// the reason as msg and the stored outcome under data.
fn assert_refused(answer: &(StatusCode, Value), code: i64, reason: &str, case: &str) {
    let (status, got, msg, data_status) = verdict(answer);
    let body = &answer.1;
    assert_eq!((status.as_u16() as i64, got), (code / 100, code), "{case}: {body}");
    assert!(msg.contains(reason), "{case}: msg {msg:?} should contain {reason:?}");
    // A duplicate's refusal is its first outcome's, under `first`.
    let outcome = if data_status == "duplicate" { &body["data"]["first"] } else { &body["data"] };
    assert_eq!(outcome["reason"].as_str(), Some(msg.as_str()), "{case}: the reason is the msg: {body}");
    assert!(matches!(data_status.as_str(), "rejected" | "duplicate"), "{case}: {body}");
}

/// Asserts an answer is a success with the given msg.
fn assert_applied(answer: &(StatusCode, Value), msg: &str, case: &str) {
    let (status, code, got, data_status) = verdict(answer);
    assert_eq!((status, code, got.as_str()), (StatusCode::OK, 0, msg), "{case}: {}", answer.1);
    assert!(matches!(data_status.as_str(), "applied" | "duplicate"), "{case}: {}", answer.1);
}

#[tokio::test]
async fn card_refusals_are_errors_and_every_card_outcome_can_be_looked_up() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    let worker = env.worker(2, false, Arc::default());
    let card_id = env
        .card_in_stock(
            &key,
            "10080",
            &[
                ("date_type", json!(3)),
                ("total_quantity", json!(3)),
                ("weekdays", Value::Null),
                ("monthdays", Value::Null),
            ],
        )
        .await;
    let post = |path: &str, body: Value| {
        let (env, key) = (env.clone(), key.clone());
        let path = format!("/api/crm/card/10080/member/{path}?wait_ms=5000");
        async move { env.post(&path, &key, body).await }
    };
    let lookup = |kind: &str, k: &str| {
        let (env, key) = (env.clone(), key.clone());
        let path = format!("/api/crm/card/10080/outcomes/{kind}/{k}");
        async move { env.call(Method::GET, &path, Some(&key), None).await }
    };

    // A claim: the seed's msg. The next claim finds it sold out: an error.
    let claim = |id: &str, member: &str| json!({"received_id": id, "member_no": member, "out_str": "app", "card_info": {card_id.clone(): 2}});
    let first = post("receive", claim("r1", "m")).await;
    assert_applied(&first, "领券成功", "a claim");
    let sold_out = post("receive", claim("r2", "n")).await;
    assert_refused(&sold_out, 40901, "sold out", "claim sold out");

    // A client retry after a time-out answers the first answer, marked duplicate.
    let retry = post("receive", claim("r1", "m")).await;
    assert_applied(&retry, "领券成功", "a retried claim");
    assert_eq!(
        (retry.1["data"]["status"].clone(), retry.1["data"]["duplicate"].clone()),
        (json!("duplicate"), json!(true))
    );
    assert_eq!(retry.1["data"]["first"]["message_id"], first.1["data"]["message_id"], "{retry:?}");
    let retry = post("receive", claim("r2", "n")).await;
    assert_refused(&retry, 40901, "sold out", "a retried refused claim");
    assert_eq!(retry.1["data"]["duplicate"], json!(true), "{retry:?}");

    let (_, mine) =
        env.call(Method::GET, "/api/crm/card/10080/member/card_list?member_no=m&code_status=1", Some(&key), None).await;
    let codes: Vec<String> = mine["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["card_code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 2, "{mine}");
    let redeem = |member: &str, code: &str, id: &str| json!({"member_no": member, "card_id": card_id, "card_code": code, "redeem_channel": "pos", "redeem_id": id, "redeem_extra": ""});

    // Two tills at once: exactly one code 0; the other is "already redeemed".
    let (a, b) = tokio::join!(
        post("redeem", redeem("m", &codes[0], "till-1")),
        post("redeem", redeem("m", &codes[0], "till-2"))
    );
    let winners: Vec<&str> =
        [(&a, "till-1"), (&b, "till-2")].iter().filter(|(r, _)| r.1["code"] == json!(0)).map(|(_, id)| *id).collect();
    assert_eq!(winners.len(), 1, "exactly one till redeems: {a:?} {b:?}");
    let (winner, loser, lost) =
        if winners[0] == "till-1" { ("till-1", "till-2", &b) } else { ("till-2", "till-1", &a) };
    assert_applied(if winner == "till-1" { &a } else { &b }, "核销成功", "the winning till");
    assert_refused(lost, 40903, "already redeemed", "the losing till");
    // Redeeming the code a second time, later: the same error.
    assert_refused(&post("redeem", redeem("m", &codes[0], "till-3")).await, 40903, "already redeemed", "redeem twice");
    assert_refused(
        &post("redeem", redeem("x", &codes[1], "till-4")).await,
        42202,
        "not the member's",
        "another member's code",
    );

    // A present and the giver receiving it: 422.
    let given =
        post("present", json!({"member_no": "m", "card_id": card_id, "card_code": codes[1], "presant_extra": ""}))
            .await;
    assert_applied(&given, "转增成功", "a present");
    let present_id = given.1["data"]["present_id"].as_str().unwrap().to_string();
    let own = post("present_receive", json!({"member_no": "m", "present_id": present_id})).await;
    assert_refused(&own, 42204, "cannot receive their own", "the giver receives");
    // Reversals: a redemption, and a claim with nothing to reverse.
    assert_applied(&post("redeem_reverse", json!({"redeem_id": winner})).await, "冲正成功", "redeem_reverse");
    let nothing = post("receive_reverse", json!({"received_id": "r2"})).await;
    assert_refused(&nothing, 40909, "no codes to reverse", "receive_reverse of a refused claim");

    // Every outcome by its key, answered as it was.
    assert_applied(&lookup("received_id", "r1").await, "领券成功", "lookup received_id");
    assert_refused(&lookup("received_id", "r2").await, 40901, "sold out", "lookup a refused claim");
    assert_applied(&lookup("redeem_id", winner).await, "核销成功", "lookup redeem_id");
    assert_refused(&lookup("redeem_id", loser).await, 40903, "already redeemed", "lookup the losing till");
    assert_applied(&lookup("redeem_reverse", winner).await, "冲正成功", "lookup redeem_reverse");
    assert_refused(&lookup("receive_reverse", "r2").await, 40909, "no codes", "lookup receive_reverse");
    let by_present = lookup("present_id", &present_id).await;
    assert_applied(&by_present, "转增成功", "lookup present_id");
    assert_eq!(by_present.1["data"]["present_id"], json!(present_id));
    assert_refused(
        &lookup("present_receive", &format!("{present_id}/m")).await,
        42204,
        "own",
        "lookup present_receive",
    );
    let task = lookup("generate_id", &format!("{card_id}/initial")).await;
    assert_eq!(
        (task.0, task.1["code"].clone(), task.1["data"]["points"].clone()),
        (StatusCode::OK, json!(0), json!(3)),
        "{task:?}"
    );
    let unknown = lookup("redeem_id", "never").await;
    assert_eq!((unknown.0, unknown.1["code"].clone()), (StatusCode::NOT_FOUND, json!(40400)), "{unknown:?}");
    let unknown = lookup("generate_id", "no-slash").await;
    assert_eq!((unknown.0, unknown.1["code"].clone()), (StatusCode::NOT_FOUND, json!(40400)), "{unknown:?}");
    let bad = lookup("event_no", "e1").await;
    assert_eq!(
        (bad.0, bad.1["data"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("key_kind")),
        "{bad:?}"
    );

    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("done").cleanup().await;
}

#[tokio::test]
async fn points_refusals_are_errors_and_points_outcomes_can_be_looked_up() {
    let l = Ledger::new("10080").await;
    let (env, key) = (&l.env, l.key.as_str());
    let worker = env.worker(1, false, Arc::default());
    let p = "/api/crm/mgr/points/10080";
    let post = |path: &str, body: Value| {
        let path = format!("{p}/{path}?wait_ms=5000");
        async move { env.post(&path, key, body).await }
    };
    let lookup = |kind: &str, k: &str| {
        let path = format!("{p}/outcomes/{kind}/{k}");
        async move { env.get(&path, key).await }
    };

    let earn = json!({"event_no": "e1", "member_no": "m", "action_scene": "order_pay", "amount": 100});
    assert_applied(&post("events", earn.clone()).await, "OK", "an earn");
    let retry = post("events", earn).await;
    assert_applied(&retry, "OK", "a retried earn");
    assert_eq!(retry.1["data"]["duplicate"], json!(true), "{retry:?}");
    let no_rule =
        post("events", json!({"event_no": "e2", "member_no": "m", "action_scene": "nowhere", "amount": 1})).await;
    assert_refused(&no_rule, 42201, "no earn rule", "an earn without a rule");

    // Spending more than the balance.
    let spend = json!({"event_no": "s1", "member_no": "m", "action_scene": "user_discount", "points": 5000});
    assert_refused(&post("consume", spend.clone()).await, 40907, "insufficient points", "spend too much");
    assert_refused(&post("consume", spend).await, 40907, "insufficient points", "a retried refused spend");
    assert_refused(&lookup("event_no", "s1").await, 40907, "insufficient points", "lookup the spend");
    assert_refused(&env.get(&format!("{p}/events/s1"), key).await, 40907, "insufficient", "GET events/{event_no}");
    assert_applied(&lookup("event_no", "e1").await, "OK", "lookup the earn");
    let reverse = json!({"event_no": "r1", "origin_event_no": "e1", "points": 500});
    assert_refused(&post("reverse", reverse).await, 40910, "cannot reverse 500", "reverse more than left");

    // A transfer, and the giver accepting it.
    assert_applied(
        &post("transfer", json!({"transfer_no": "t1", "member_no": "m", "points": 10})).await,
        "OK",
        "a transfer",
    );
    let own = post("accept", json!({"transfer_no": "t1", "member_no": "m"})).await;
    assert_refused(&own, 42204, "own transfer", "the giver accepts");
    assert_applied(&lookup("transfer_no", "t1").await, "OK", "lookup transfer_no");
    assert_refused(&lookup("accept", "t1/m").await, 42204, "own transfer", "lookup accept");
    let unknown = lookup("transfer_no", "t9").await;
    assert_eq!((unknown.0, unknown.1["code"].clone()), (StatusCode::NOT_FOUND, json!(40400)), "{unknown:?}");
    let bad = lookup("received_id", "r1").await;
    assert_eq!(bad.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");

    worker.stop(Duration::from_secs(5)).await;
    l.env.cleanup().await;
}
