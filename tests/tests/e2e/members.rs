//! Members (seed 002 under `/loyalty/v1`): profiles with the seed's example bodies, custom
//! attributes, identities and their rules, the lookups, the point and experience logs read from
//! the ledger, erasure, the concurrent bind of one mobile, and seed 000's member feeds.

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use chrono::Utc;
use loyalty_tests::{wait_for, TestEnv};
use serde_json::{json, Value};

use crate::ledger::Ledger;

/// Seed 002 §2's request body.
fn seed_create() -> Value {
    json!({
        "membership": {"name": "test", "cm_test2": true, "gender": 1, "birthday": "1988-01-01", "cm_test3": "true"},
        "identities": [{"type": "wechat", "value": "123456", "name": "cm_test"}]
    })
}

fn error_code(body: &Value) -> Value {
    body["error"]["code"].clone()
}

#[tokio::test]
async fn the_seeds_create_read_update_and_list_answer_the_seeds_shapes() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let (status, created) = env.loyalty(Method::POST, "/membershipAndIdentities", &key, Some(seed_create())).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    for (field, want) in [
        ("name", json!("test")),
        ("gender", json!(1)),
        ("birthday", json!("1988-01-01")),
        ("createMethod", json!("外部系统导入")),
        ("point", json!(0)),
        ("mobile", Value::Null),
        ("membershipCode", Value::Null),
        ("level", Value::Null),
    ] {
        assert_eq!(created[field], want, "{field}: {created}");
    }
    // Every built-in of the seed's answer is there, and the unknown cm_ keys are not.
    let seed_keys = [
        "address",
        "balance",
        "birthday",
        "createChannel",
        "createMethod",
        "customerId",
        "dateCreated",
        "dateJoin",
        "educationBackgro",
        "email",
        "familyName",
        "gender",
        "id",
        "idCard",
        "img",
        "income",
        "industry",
        "givenName",
        "lastUpdated",
        "level",
        "membershipCode",
        "mobile",
        "name",
        "point",
        "source",
        "contentName",
        "campaignId",
        "country",
        "province",
        "city",
        "county",
    ];
    for k in seed_keys {
        assert!(created.get(k).is_some(), "{k} missing: {created}");
    }
    assert!(created.get("cm_test2").is_none());
    let date = created["dateCreated"].as_str().unwrap();
    assert!(date.ends_with('Z') && date.len() == 20, "UTC ISO: {date}");
    let id = created["id"].as_i64().unwrap();

    // GET, with the key as a Bearer token too.
    let (status, one) = env.call(Method::GET, &format!("/loyalty/v1/membership/{id}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], id);

    // PUT: seed §4's body; source is kept unless forceUpdate=true.
    let (status, _) = env
        .loyalty(Method::PUT, &format!("/membership/{id}"), &key, Some(json!({"source": "wechat", "campaignId": "c1"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, updated) = env
        .loyalty(
            Method::PUT,
            &format!("/membership/{id}?forceUpdate=false"),
            &key,
            Some(json!({"name": "test1", "gender": 0, "email": "111@test.com", "source": "app"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (&updated["name"], &updated["gender"], &updated["email"]),
        (&json!("test1"), &json!(0), &json!("111@test.com"))
    );
    assert_eq!(updated["source"], "wechat", "kept without forceUpdate");
    let (_, forced) = env
        .loyalty(Method::PUT, &format!("/membership/{id}?forceUpdate=true"), &key, Some(json!({"source": "app"})))
        .await;
    assert_eq!(forced["source"], "app", "overwritten with forceUpdate");
    assert_eq!(forced["campaignId"], "c1");

    // The list, paged the seed's way.
    env.member(&key, json!({"name": "second"}), json!([{"type": "wechat", "value": "222"}])).await;
    let (status, page) =
        env.loyalty(Method::GET, "/membership?rows=1&page=2&sord=asc&needTotal=true", &key, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["rows"].as_array().unwrap().len(), 1);
    assert_eq!(page["rows"][0]["name"], "second");
    assert_eq!((&page["records"], &page["total"]), (&json!(2), &json!(2)));
    let (_, page) = env.loyalty(Method::GET, "/membership?sidx=id&sord=desc", &key, None).await;
    assert_eq!(page["rows"][0]["name"], "second");
    assert!(page.get("records").is_none(), "no total unless asked");

    // Another tenant sees none of them; no key is 401 in the seed's shape.
    let other = env.tenant("20090").await;
    let (status, _) = env.loyalty(Method::GET, &format!("/membership/{id}"), &other, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = env.call(Method::GET, "/loyalty/v1/membership", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["message"].is_string(), "{body}");
    env.cleanup().await;
}

#[tokio::test]
async fn custom_attributes_are_declared_and_values_checked_against_them() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    for decl in [
        json!({"code": "c_vip", "name": "VIP", "type": "boolean"}),
        json!({"code": "c_size", "name": "尺码", "type": "enum", "options": ["S", "M", "L"]}),
        json!({"code": "c_驱蚊器", "name": "驱蚊器", "type": "number"}),
        json!({"code": "c_since", "name": "since", "type": "datetime"}),
    ] {
        let (status, body) = env.loyalty(Method::POST, "/settings/attributes", &key, Some(decl)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Bad declarations name their field.
    for (decl, field) in [
        (json!({"code": "vip", "name": "x", "type": "text"}), "code"),
        (json!({"code": "c_x", "name": "x", "type": "enum"}), "options"),
        (json!({"code": "c_x", "name": "x", "type": "colour"}), "type"),
        (json!({"code": "c_vip", "name": "again", "type": "text"}), "already declared"),
    ] {
        let (status, body) = env.loyalty(Method::POST, "/settings/attributes", &key, Some(decl.clone())).await;
        assert!(status.is_client_error(), "{decl}: {status} {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{decl}: {body}");
    }
    let id = env
        .member(
            &key,
            json!({"name": "a", "c_vip": true, "c_size": "M", "c_驱蚊器": 3, "c_since": "2016-11-11T11:11:11"}),
            json!([{"type": "wechat", "value": "w1"}]),
        )
        .await;
    let (_, m) = env.loyalty(Method::GET, &format!("/membership/{id}"), &key, None).await;
    assert_eq!((&m["c_vip"], &m["c_size"], &m["c_驱蚊器"]), (&json!(true), &json!("M"), &json!(3)));
    assert_eq!(m["c_since"], "2016-11-11T11:11:11Z");
    // A wrong type, a value outside the enum, an undeclared c_ key: 400 naming the attribute.
    for (body, field) in [
        (json!({"c_vip": "yes"}), "c_vip"),
        (json!({"c_size": "XL"}), "c_size"),
        (json!({"c_驱蚊器": "3"}), "c_驱蚊器"),
        (json!({"c_nope": 1}), "c_nope"),
        (json!({"gender": "male"}), "gender"),
        (json!({"dateJoin": "yesterday"}), "dateJoin"),
        (json!({"point": 100}), "point"),
    ] {
        let (status, answer) = env.loyalty(Method::PUT, &format!("/membership/{id}"), &key, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(error_code(&answer), "400001", "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{body}: {answer}");
    }
    // Missing parts of the create body: 400005 naming them.
    for (body, field) in [
        (json!({"identities": [{"type": "wechat", "value": "1"}]}), "membership"),
        (json!({"membership": {"name": "x"}}), "identities"),
        (json!({"membership": {"name": "x"}, "identities": [{"type": "wechat"}]}), "identities[0].value"),
        (json!({"membership": {"name": "x"}, "identities": [{"type": "qq", "value": "1"}]}), "identities[0].type"),
    ] {
        let (status, answer) = env.loyalty(Method::POST, "/membershipAndIdentities", &key, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{body}: {answer}");
    }
    // Deleting a declaration removes the values.
    let (status, _) = env.loyalty(Method::DELETE, "/settings/attributes/c_vip", &key, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, m) = env.loyalty(Method::GET, &format!("/membership/{id}"), &key, None).await;
    assert!(m.get("c_vip").is_none(), "{m}");
    let stored = env.scalar(&format!("select count(*) from member where id = {id} and custom ? 'c_vip'")).await;
    assert_eq!(stored, 0);
    env.cleanup().await;
}

#[tokio::test]
async fn identities_bind_look_up_delete_and_keep_the_mobile_unique() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let a = env
        .member(
            &key,
            json!({"name": "a", "mobile": "13800000001"}),
            json!([{"type": "wechat", "value": "1111111111", "name": "cm_test2"}]),
        )
        .await;
    let b =
        env.member(&key, json!({"name": "b"}), json!([{"type": "wechat", "value": "333", "name": "cm_test2"}])).await;
    // The profile's mobile is an identity too.
    let (_, found) = env
        .loyalty(Method::GET, "/membershipService/getMembershipByIdentity?type=mobile&value=13800000001", &key, None)
        .await;
    assert_eq!(found["membership"]["id"], a, "{found}");
    assert_eq!(found["identities"].as_array().unwrap().len(), 2, "{found}");

    // Seed §6: bind.
    let (status, bound) = env
        .loyalty(
            Method::POST,
            &format!("/membership/{b}/bindIdentity"),
            &key,
            Some(json!([{"type": "wechat", "value": "666", "name": "cm_test1"}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bound}");
    assert_eq!(bound, json!([{"name": "cm_test1", "type": "wechat", "value": "666"}]));
    // A's mobile bound to B: refused, and nothing changed.
    let (status, refused) = env
        .loyalty(
            Method::POST,
            &format!("/membership/{b}/bindIdentity"),
            &key,
            Some(json!([{"type": "mobile", "value": "13800000001"}])),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(!refused.to_string().contains("13800000001"), "no personal data in errors: {refused}");
    let (_, b_now) = env.loyalty(Method::GET, &format!("/membership/{b}"), &key, None).await;
    assert_eq!(b_now["mobile"], Value::Null);
    // A wechat openid may be shared (not unique).
    let (status, _) = env
        .loyalty(
            Method::POST,
            &format!("/membership/{b}/bindIdentity"),
            &key,
            Some(json!([{"type": "wechat", "value": "1111111111"}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Seed §8: by a list, each member once, in the list's order.
    let (status, list) = env
        .loyalty(Method::POST, "/membershipService/listMembershipByIdentities", &key, Some(json!([{"type": "wechat", "value": "666"}, {"type": "wechat", "value": "333"}, {"type": "wechat", "value": "1111111111"}])))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<i64> =
        list["rows"].as_array().unwrap().iter().map(|r| r["membership"]["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![b, a]);

    // Seed §9: updateMobile.
    let (status, moved) = env
        .loyalty(
            Method::PUT,
            "/membershipService/updateMobile",
            &key,
            Some(json!({"oldMobile": "13800000001", "newMobile": "13900000002", "membershipId": a})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["mobile"], "13900000002");
    let old = env.scalar("select count(*) from member_identity where type = 'mobile' and value = '13800000001'").await;
    assert_eq!(old, 0, "the old mobile identity is gone");
    let (status, _) = env
        .loyalty(
            Method::PUT,
            "/membershipService/updateMobile",
            &key,
            Some(json!({"oldMobile": "1", "newMobile": "13900000003", "membershipId": a})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "not the member's mobile");

    // Seed §17: by MD5 (common; tmall takes either case), and not found: HTTP 200 with 409200.
    let digest: String = sqlx::query_scalar("select md5('13900000002')").fetch_one(&env.db).await.unwrap();
    let (status, hit) = env
        .loyalty(
            Method::GET,
            &format!("/membershipService/getMembershipIdentityByMd5?md5type=common&md5value={digest}"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{hit}");
    assert_eq!(
        (&hit["membershipId"], &hit["type"], &hit["value"], &hit["md5value"]),
        (&json!(a), &json!("mobile"), &json!("13900000002"), &json!(digest))
    );
    let (status, hit) = env
        .loyalty(
            Method::GET,
            &format!("/membershipService/getMembershipIdentityByMd5?md5type=tmall&md5value={}", digest.to_uppercase()),
            &key,
            None,
        )
        .await;
    assert_eq!((status, &hit["membershipId"]), (StatusCode::OK, &json!(a)));
    let (status, miss) = env
        .loyalty(
            Method::GET,
            &format!("/membershipService/getMembershipIdentityByMd5?md5type=common&md5value={}", "0".repeat(32)),
            &key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(miss, json!({"error": {"code": "409200", "message": "Not found"}}));
    // The lookup is an index, not a scan.
    let mut conn = env.db.acquire().await.unwrap();
    sqlx::query("set enable_seqscan = off").execute(&mut *conn).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "explain select id from member_identity where crm_id = '10080' and md5 = 'x' order by id limit 1",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(plan.join("\n").contains("member_identity_md5"), "{plan:?}");
    drop(conn);

    // Seed §14: delete. The mobile clears `mobile`; a missing one 409225; the last one 409224.
    let (status, ok) = env
        .loyalty(Method::DELETE, &format!("/membership/identity/{a}?type=mobile&value=13900000002"), &key, None)
        .await;
    assert_eq!((status, ok), (StatusCode::OK, json!({"result": "success"})));
    let (_, a_now) = env.loyalty(Method::GET, &format!("/membership/{a}"), &key, None).await;
    assert_eq!(a_now["mobile"], Value::Null);
    let (status, missing) =
        env.loyalty(Method::DELETE, &format!("/membership/identity/{a}?type=wechat&value=nope"), &key, None).await;
    assert_eq!(
        (status, missing),
        (StatusCode::CONFLICT, json!({"error": {"code": 409225, "message": "Identity not found"}}))
    );
    let (status, last) = env
        .loyalty(Method::DELETE, &format!("/membership/identity/{a}?type=wechat&value=1111111111"), &key, None)
        .await;
    assert_eq!(
        (status, last),
        (StatusCode::CONFLICT, json!({"error": {"code": 409224, "message": "Identity is last one"}}))
    );
    let left = env.scalar(&format!("select count(*) from member_identity where member_id = {a}")).await;
    assert_eq!(left, 1, "the refused delete changed nothing");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_binds_of_one_mobile_have_exactly_one_winner() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    for round in 0..20 {
        let x = env.member(&key, json!({"name": "x"}), json!([{"type": "wechat", "value": format!("x{round}")}])).await;
        let y = env.member(&key, json!({"name": "y"}), json!([{"type": "wechat", "value": format!("y{round}")}])).await;
        let mobile = format!("1370000{round:04}");
        let bind = |id: i64| {
            let (env, key, mobile) = (env.clone(), key.clone(), mobile.clone());
            tokio::spawn(async move {
                env.loyalty(
                    Method::POST,
                    &format!("/membership/{id}/bindIdentity"),
                    &key,
                    Some(json!([{"type": "mobile", "value": mobile}])),
                )
                .await
                .0
            })
        };
        let (sx, sy) = (bind(x), bind(y));
        let mut statuses = vec![sx.await.unwrap(), sy.await.unwrap()];
        statuses.sort();
        assert_eq!(statuses, vec![StatusCode::OK, StatusCode::CONFLICT], "round {round}");
        let holders = env.scalar(&format!("select count(*) from member where mobile = '{mobile}'")).await;
        let identities = env
            .scalar(&format!("select count(*) from member_identity where type = 'mobile' and value = '{mobile}'"))
            .await;
        assert_eq!((holders, identities), (1, 1), "round {round}");
    }
    Arc::try_unwrap(env).ok().expect("one owner").cleanup().await;
}

#[tokio::test]
async fn the_point_and_exp_logs_read_the_ledger_and_point_is_the_available_balance() {
    let l = Ledger::new("10080").await;
    let env = &l.env;
    let id = env
        .member(&l.key, json!({"name": "p", "membershipCode": "m-1"}), json!([{"type": "wechat", "value": "p"}]))
        .await;
    let now = Utc::now();
    l.earn("e1", "m-1", "order_pay", 119, now).await;
    l.spend("e2", "m-1", Some(5), None, now).await;
    let (_, m) = env.loyalty(Method::GET, &format!("/membership/{id}"), &l.key, None).await;
    assert_eq!(m["point"], 114, "{m}");
    let (status, log) = env
        .loyalty(Method::GET, &format!("/membership/{id}/point?rows=20&page=1&sord=asc&needTotal=true"), &l.key, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!((&log["records"], &log["total"]), (&json!(2), &json!(1)));
    let spend = &log["rows"][1];
    for (field, want) in [
        ("oldPoint", json!(119)),
        ("newPoint", json!(114)),
        ("leftPoint", json!(114)),
        ("point", json!(5)),
        ("type", json!(-1)),
        ("pattern", json!(1)),
        ("externalId", json!("e2")),
        ("membershipId", json!(id)),
    ] {
        assert_eq!(spend[field], want, "{field}: {spend}");
    }
    let earn = &log["rows"][0];
    assert_eq!(
        (&earn["oldPoint"], &earn["newPoint"], &earn["leftPoint"], &earn["pattern"]),
        (&json!(0), &json!(119), &json!(114), &json!(2)),
        "{earn}"
    );
    assert!(earn["expireDate"].as_str().unwrap().ends_with('Z'));
    let (_, exp) =
        env.loyalty(Method::GET, &format!("/membership/{id}/exp/changeLogs?needTotal=true"), &l.key, None).await;
    assert_eq!(exp["records"], 1, "{exp}");
    assert_eq!(
        (&exp["rows"][0]["expValue"], &exp["rows"][0]["oldExp"], &exp["rows"][0]["newExp"]),
        (&json!(119), &json!(0), &json!(119))
    );
    // A ledger member without a profile keeps working, and stays profile-less.
    l.earn("e3", "nobody", "order_pay", 10, now).await;
    assert_eq!(env.scalar("select count(*) from member").await, 1);
    // Seed 000's history filter by mobile: the member holding it.
    let (_, _) =
        env.loyalty(Method::PUT, &format!("/membership/{id}"), &l.key, Some(json!({"mobile": "13600000000"}))).await;
    let (status, h) = env
        .post("/api/crm/mgr/points/10080/history", &l.key, json!({"event_type": "produce", "mobile": "13600000000"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["data"]["total"], 1);
    assert_eq!(h["data"]["items"][0]["member_no"], "m-1");
    let (_, h) = env
        .post("/api/crm/mgr/points/10080/history", &l.key, json!({"event_type": "produce", "mobile": "13611111111"}))
        .await;
    assert_eq!(h["data"]["total"], 0);
    l.env.cleanup().await;
}

#[tokio::test]
async fn erasing_a_member_removes_the_profile_and_keeps_the_ledger_under_a_pseudonym() {
    let l = Ledger::new("10080").await;
    let env = &l.env;
    let id = env
        .member(&l.key, json!({"name": "e", "membershipCode": "m-9", "mobile": "13500000000", "email": "e@x.cn", "idCard": "110101199001011234"}), json!([{"type": "wechat", "value": "e"}]))
        .await;
    l.earn("r1", "m-9", "order_pay", 50, Utc::now()).await;
    let (status, erased) = env.loyalty(Method::POST, &format!("/membership/{id}/erase"), &l.key, None).await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    let alias = erased["pseudonym"].as_str().unwrap().to_string();
    assert!(alias.starts_with("erased-"));
    assert_eq!(env.scalar("select count(*) from member").await, 0);
    assert_eq!(env.scalar("select count(*) from member_identity").await, 0);
    assert_eq!(env.scalar("select count(*) from points_ledger where member_no = 'm-9'").await, 0);
    assert_eq!(env.scalar(&format!("select count(*) from points_ledger where member_no = '{alias}'")).await, 1);
    assert_eq!(env.scalar(&format!("select points from member_balance where member_no = '{alias}'")).await, 50);
    assert_eq!(env.scalar(&format!("select count(*) from member_erasure where member_id = {id}")).await, 1);
    l.verify_clean("after the erasure").await;
    let (status, _) = env.loyalty(Method::GET, &format!("/membership/{id}"), &l.key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The membershipCode used again by a new profile, which earns and is erased in turn: its
    // ledger gets a pseudonym of its own (it was a 500: the first alias's balance row collided).
    let again = env
        .member(&l.key, json!({"name": "e2", "membershipCode": "m-9"}), json!([{"type": "wechat", "value": "e2"}]))
        .await;
    l.earn("r2", "m-9", "order_pay", 30, Utc::now()).await;
    let (status, erased) = env.loyalty(Method::POST, &format!("/membership/{again}/erase"), &l.key, None).await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    let second = erased["pseudonym"].as_str().unwrap().to_string();
    assert_ne!(second, alias);
    assert_eq!(env.scalar(&format!("select points from member_balance where member_no = '{second}'")).await, 30);
    assert_eq!(env.scalar(&format!("select points from member_balance where member_no = '{alias}'")).await, 50);
    l.verify_clean("after the second erasure").await;
    l.env.cleanup().await;
}

#[tokio::test]
async fn the_member_feeds_page_profiles_by_creation_and_update() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let start = Utc::now().timestamp() - 1;
    for i in 0..5 {
        env.member(
            &key,
            json!({"name": format!("f{i}"), "source": "wechat"}),
            json!([{"type": "wechat", "value": format!("f{i}")}]),
        )
        .await;
    }
    let end = Utc::now().timestamp() + 3600;
    // An answer covers rows up to its watermark (whole seconds, at most now): wait for it to pass
    // the members' writes.
    let feed = |page: i64| {
        env.post("/api/crm/mgr/member/10080/info/increment", &key, json!({"page_id": page, "page_size": 2, "order_by": "create_time", "order_asc": 1, "time_start": start, "time_end": end}))
    };
    wait_for("the watermark to pass the writes", Duration::from_secs(10), || async {
        (feed(1).await.1["data"]["total"] == 5).then_some(())
    })
    .await;
    let mut names = Vec::new();
    for page in 1..=3 {
        let (status, body) = feed(page).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["total"], 5);
        names.extend(body["data"]["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()));
    }
    assert_eq!(names, ["f0", "f1", "f2", "f3", "f4"]);
    let (status, body) = env
        .post(
            "/api/crm/mgr/member/10080/source/increment",
            &key,
            json!({"page_id": 1, "order_by": "update_time", "time_start": start, "time_end": end}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 5);
    assert_eq!(body["data"]["items"][0]["source"], "wechat");
    let (status, _) = env
        .post(
            "/api/crm/mgr/member/10080/source/increment",
            &key,
            json!({"page_id": 0, "order_by": "update_time", "time_start": start, "time_end": end}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    env.cleanup().await;
}

#[tokio::test]
async fn app_push_devices_link_by_member_id_then_mobile_else_anonymous() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let a = env
        .member(&key, json!({"name": "a", "mobile": "13800000009"}), json!([{"type": "wechat", "value": "a"}]))
        .await;
    let device = |push_id: &str, extra: Value| {
        let mut body = json!({"provider": "jpush", "appKey": "k1", "pushId": push_id, "os": "android"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    for (push_id, extra, want) in [
        ("d1", json!({"membershipId": a}), json!(a)),
        ("d2", json!({"membershipId": "999999", "mobile": "13800000009"}), json!(a)),
        ("d3", json!({"mobile": "13900000000"}), Value::Null),
        ("d4", json!({}), Value::Null),
    ] {
        let (status, body) = env.loyalty(Method::POST, "/appPush/register", &key, Some(device(push_id, extra))).await;
        assert_eq!(status, StatusCode::OK, "{push_id}: {body}");
        assert_eq!(body["membershipId"], want, "{push_id}: {body}");
        assert_eq!(
            (&body["pushId"], &body["os"], &body["provider"], &body["appKey"]),
            (&json!(push_id), &json!("android"), &json!("jpush"), &json!("k1"))
        );
    }
    assert_eq!(env.scalar("select count(*) from member_push_device where member_id is null").await, 2);
    // The seed's two errors.
    let (status, body) = env
        .loyalty(Method::POST, "/appPush/register", &key, Some(json!({"appKey": "k", "pushId": "p", "os": "ios"})))
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"error": {"code": "400005", "message": "Missing field provider!"}}))
    );
    let (status, body) = env
        .loyalty(
            Method::POST,
            "/appPush/register",
            &key,
            Some(json!({"provider": "getui", "appKey": "k", "pushId": "p", "os": "winphone"})),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"error": {"code": "400001", "message": "Invalid os(winphone)!"}}))
    );
    env.cleanup().await;
}
