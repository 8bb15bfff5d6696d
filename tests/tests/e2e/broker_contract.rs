//! The broker contract: `/asyncapi.json` is served without a key; a command published straight
//! to the broker is checked as its HTTP request is (an invalid one is parked, the reason naming
//! the field); and the README's pika example (`examples/publish_pika.py`) gets an event applied
//! once, however often it publishes it.

use std::{collections::HashMap, path::PathBuf, time::Duration};

use axum::http::{Method, StatusCode};
use loyalty_tests::{login_rule, wait_for, TestEnv};
use platform::broker::{dlq, Domain};
use schemas::{Envelope, MessageKind};
use serde_json::{json, Value};

#[tokio::test]
async fn the_asyncapi_document_is_served_without_a_key() {
    let env = TestEnv::new().await;
    let (status, body) = env.call(Method::GET, "/asyncapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["asyncapi"], "3.0.0");
    assert_eq!(body["channels"]["events"]["address"], "{namespace}.events");
    env.cleanup().await;
}

/// One invalid command per kind (and the checks a payload type alone would miss: a negative
/// amount in cents, an unknown field, a key longer than the request's id field, a key the
/// ingress would have derived otherwise), with the text its parking reason must contain.
fn invalid_commands() -> Vec<(MessageKind, String, Value, &'static str)> {
    use MessageKind::*;
    let long = "x".repeat(300);
    vec![
        (PointsEarn, "e1".into(), json!({"member_no": "", "action_scene": "user_login"}), "invalid member_no"),
        (
            PointsEarn,
            "e2".into(),
            json!({"member_no": "m1", "action_scene": "order_pay", "amount": -5}),
            "invalid amount",
        ),
        (
            PointsEarn,
            "e3".into(),
            json!({"member_no": "m1", "action_scene": "user_login", "foo": 1}),
            "unknown field `foo`",
        ),
        (
            PointsConsume,
            "c1".into(),
            json!({"member_no": "m1", "action_scene": "user_discount", "points": 0}),
            "invalid points",
        ),
        (PointsReverse, "r1".into(), json!({"origin_event_no": ""}), "invalid origin_event_no"),
        (
            PointsReverse,
            "r2".into(),
            json!({"origin_event_no": "r2"}),
            "invalid origin_event_no: must name another event",
        ),
        (PointsTransfer, "t1".into(), json!({"member_no": "m1", "points": -1}), "invalid points"),
        (PointsAccept, "a1".into(), json!({"transfer_no": "", "member_no": "m2"}), "invalid transfer_no"),
        (
            PointsAccept,
            "t1".into(),
            json!({"transfer_no": "t1", "member_no": "m2"}),
            "invalid idempotency_key: must be `t1/m2`",
        ),
        (PointsFreeze, "f1".into(), json!({"member_no": "m1", "points": 0}), "invalid points"),
        (PointsUnfreeze, "u1".into(), json!({"origin_event_no": "f1", "operator": long}), "invalid operator"),
        (CardsGenerate, "c1/g1".into(), json!({"card_id": "", "generate_id": "g1"}), "invalid card_id"),
        (
            CardsReceive,
            "rc1".into(),
            json!({"member_no": "m1", "out_str": "", "card_info": {"c1": 1}}),
            "invalid out_str",
        ),
        (
            CardsRedeem,
            "rd1".into(),
            json!({"member_no": "m1", "card_id": "c1", "card_code": "x", "redeem_channel": "", "redeem_extra": ""}),
            "invalid redeem_channel",
        ),
        (CardsRedeemReverse, "rd1".into(), json!({"redeem_id": ""}), "invalid redeem_id"),
        (
            CardsPresent,
            "p1".into(),
            json!({"member_no": "m1", "card_id": "c1", "card_code": "x", "presant_extra": long}),
            "invalid presant_extra",
        ),
        (CardsPresentReceive, "p1/m2".into(), json!({"member_no": "m2", "present_id": ""}), "invalid present_id"),
        (CardsReceiveReverse, "rc1".into(), json!({"received_id": ""}), "invalid received_id"),
        (
            PointsAdjust,
            "x1".into(),
            json!({"member_no": "m1", "direction": "incr", "points": 1, "pattern": 6}),
            "invalid pattern",
        ),
        (PointsOrder, "o1".into(), json!({"member_no": "m1"}), "missing field `deal`"),
        (
            PointsOrderStep,
            "o2/cancel".into(),
            json!({"order_no": "o1", "step": {"step": "cancel"}}),
            "invalid idempotency_key",
        ),
    ]
}

#[tokio::test]
async fn an_invalid_command_published_straight_to_the_broker_is_parked_naming_the_field() {
    let env = TestEnv::new().await;
    env.tenant("10080").await;
    let worker = env.default_worker();
    let (conn, channel) = env.channel().await;
    let commands = invalid_commands();
    let mut want = HashMap::new();
    for (kind, key, payload, reason) in &commands {
        let e = Envelope::new(*kind, "10080".into(), key.clone(), chrono::Utc::now(), payload.clone());
        let id = e.message_id.to_string();
        let body = serde_json::to_vec(&e).unwrap();
        let exchange = env.topology.events_exchange();
        loyalty_tests::publish_confirmed(&channel, exchange, kind.as_str(), &id, kind.as_str(), &body).await;
        want.insert(id, (*kind, *reason));
    }
    // Every kind is covered.
    for kind in MessageKind::ALL {
        assert!(commands.iter().any(|c| c.0 == *kind), "{kind:?} has no invalid command");
    }
    let parked = wait_for("every invalid command to be parked", Duration::from_secs(20), || async {
        let mut all = dlq::list(&env.settings.amqp_url, &env.topology, Domain::Points, 100).await.unwrap();
        all.extend(dlq::list(&env.settings.amqp_url, &env.topology, Domain::Cards, 100).await.unwrap());
        (all.len() == want.len()).then_some(all)
    })
    .await;
    for p in &parked {
        let (kind, reason) = want[p.message_id.as_deref().unwrap()];
        assert_eq!(p.class, "poison", "{kind:?}: {p:?}");
        assert!(p.reason.contains(reason), "{kind:?}: `{}` does not say `{reason}`", p.reason);
    }
    assert_eq!(env.scalar("select count(*) from inbox").await, 0, "nothing was applied");
    conn.close(200, "done".into()).await.ok();
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}

/// The virtualenv's python with pika: made under `$HOME/.cache/loyalty-venv` if absent (as
/// `.ci/run` does). `None` only when python3 itself is missing.
async fn pika_python() -> Option<PathBuf> {
    let venv = PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/loyalty-venv");
    let python = venv.join("bin/python3");
    let has_pika = |python: PathBuf| async move {
        tokio::process::Command::new(python).args(["-c", "import pika"]).status().await.is_ok_and(|s| s.success())
    };
    if has_pika(python.clone()).await {
        return Some(python);
    }
    if tokio::process::Command::new("python3").arg("--version").output().await.is_err() {
        eprintln!("SKIPPED the pika example test: python3 is not installed (install it to run this test)");
        return None;
    }
    let made = tokio::process::Command::new("python3").args(["-m", "venv"]).arg(&venv).status().await.unwrap();
    assert!(made.success(), "python3 -m venv {}", venv.display());
    let pip = tokio::process::Command::new(venv.join("bin/pip")).args(["install", "-q", "pika"]).status().await;
    assert!(pip.unwrap().success(), "pip install pika into {}", venv.display());
    assert!(has_pika(python.clone()).await, "pika is not importable from {}", python.display());
    Some(python)
}

/// Runs the example with these extra variables; returns (success, stdout, stderr).
async fn run_example(python: &PathBuf, env: &TestEnv, vars: &[(&str, &str)]) -> (bool, String, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/publish_pika.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .env("AMQP_URL", &env.settings.amqp_url)
        .env("LOYALTY_NAMESPACE", &env.settings.namespace)
        .env("CRM_ID", "10080")
        .envs(vars.iter().copied())
        .output()
        .await
        .expect("run the example");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_pika_example_gets_an_event_applied_once_however_often_it_is_published() {
    let Some(python) = pika_python().await else { return };
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, login_rule()).await;
    // Declares the topology, as a running system has, before the example publishes.
    let (conn, _channel) = env.channel().await;
    let worker = env.default_worker();
    let event = [("EVENT_NO", "pika-1"), ("MEMBER_NO", "m7"), ("ACTION_SCENE", "user_login")];
    for _ in 0..2 {
        let (ok, stdout, stderr) = run_example(&python, &env, &event).await;
        assert!(ok, "the example failed: {stdout} {stderr}");
        assert!(stdout.contains("\"status\": \"queued\""), "{stdout}");
    }
    wait_for("the event to apply and its repeat to count as a duplicate", Duration::from_secs(15), || async {
        (env.scalar("select duplicates::bigint from inbox where idem_key = 'pika-1' and status = 'applied'").await == 1)
            .then_some(())
    })
    .await;
    assert_eq!(env.scalar("select count(*) from points_ledger where event_no = 'pika-1'").await, 1, "applied once");
    assert_eq!(env.scalar("select points from member_balance where member_no = 'm7'").await, 1);
    // Its outcome can be looked up over HTTP, as an HTTP-posted event's.
    let (status, body) = env.get("/api/crm/mgr/points/10080/events/pika-1", &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "applied", "{body}");

    // A message no queue takes comes back to the mandatory publisher, which says so and fails.
    let (ok, _, stderr) = run_example(&python, &env, &[("EVENT_NO", "pika-2"), ("ROUTING_KEY", "nowhere.x")]).await;
    assert!(!ok && stderr.contains("returned"), "{stderr}");
    conn.close(200, "done".into()).await.ok();
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}
