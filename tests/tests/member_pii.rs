//! Personal data (`mobile`, `idCard`, `email`, `address`, `birthday`) never appears in the logs
//! (at TRACE, everything every crate writes), in the analytics outbox or in an error answer,
//! through every member write, lookup, refusal and the erasure.
//!
//! A test binary of its own, like `request_log`: it installs a global subscriber.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use axum::http::{Method, StatusCode};
use loyalty_tests::TestEnv;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const MOBILE: &str = "13712345678";
const NEW_MOBILE: &str = "13787654321";
const EMAIL: &str = "secret.person@example.cn";
const ID_CARD: &str = "110101199003071234";
const ADDRESS: &str = "幸福路88号";
const BIRTHDAY: &str = "1990-03-07";

#[tokio::test]
async fn no_personal_value_reaches_a_log_line_an_analytics_event_or_an_error() {
    let sink = Captured::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");

    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let (status, _) =
        env.loyalty(Method::POST, "/settings/level", &key, Some(json!({"name": "base", "priority": 0}))).await;
    assert_eq!(status, StatusCode::OK);
    let profile = json!({"name": "p", "membershipCode": "m-p", "mobile": MOBILE, "email": EMAIL, "idCard": ID_CARD,
                         "address": ADDRESS, "birthday": BIRTHDAY});
    let id = env.member(&key, profile, json!([{"type": "wechat", "value": "w"}])).await;
    let mut answers = Vec::new();
    for (method, path, body) in [
        (Method::PUT, format!("/membership/{id}"), Some(json!({"email": EMAIL, "address": ADDRESS}))),
        // Refusals: a malformed email and birthday, and another member taking the mobile.
        (Method::PUT, format!("/membership/{id}"), Some(json!({"email": "no-at-sign-13712345678"}))),
        (Method::PUT, format!("/membership/{id}"), Some(json!({"birthday": "1990-03-07x"}))),
        (
            Method::POST,
            "/membershipAndIdentities".to_string(),
            Some(json!({"membership": {"mobile": MOBILE}, "identities": [{"type": "wechat", "value": "x"}]})),
        ),
        (Method::GET, format!("/membershipService/getMembershipByIdentity?type=mobile&value={MOBILE}"), None),
        (
            Method::PUT,
            "/membershipService/updateMobile".to_string(),
            Some(json!({"oldMobile": MOBILE, "newMobile": NEW_MOBILE, "membershipId": id})),
        ),
        (Method::DELETE, format!("/membership/identity/{id}?type=mobile&value={NEW_MOBILE}"), None),
        (Method::POST, format!("/membership/{id}/erase"), None),
    ] {
        let (status, body) = env.loyalty(method.clone(), &path, &key, body).await;
        answers.push((format!("{method} {path}"), status, body));
    }
    assert!(answers.iter().any(|(_, s, _)| *s == StatusCode::CONFLICT), "a refusal was exercised: {answers:?}");
    for (what, status, body) in &answers {
        if status.is_client_error() {
            let text = body.to_string();
            for value in [MOBILE, NEW_MOBILE, EMAIL, ID_CARD, ADDRESS, BIRTHDAY, "13712345678"] {
                assert!(!text.contains(value), "{what}: the error quotes personal data: {text}");
            }
        }
    }
    let outbox: Vec<String> =
        sqlx::query_scalar("select convert_from(events, 'UTF8') from outbox").fetch_all(&env.db).await.unwrap();
    assert!(!outbox.is_empty(), "the join emitted a level change");
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("member created") && logs.contains("member erased"), "the log was captured");
    for value in [MOBILE, NEW_MOBILE, EMAIL, ID_CARD, ADDRESS, BIRTHDAY] {
        assert!(!logs.contains(value), "a log line holds personal data ({value})");
        assert!(!outbox.iter().any(|e| e.contains(value)), "an analytics event holds personal data ({value})");
    }
    env.cleanup().await;
}
