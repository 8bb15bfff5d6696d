//! Seed 001's points activities: the ten endpoints in the seed's shapes, and the bonuses they
//! award on paid orders (table-driven through the worker's own earn apply, then end to end
//! through the queue: a bonus reversed by a seed 000 reversal).

use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, TimeZone, Utc};
use loyalty_tests::{wait_for, TestEnv};
use schemas::{money::Cents, points::EarnPayload, Envelope, MessageKind};
use serde_json::{json, Value};
use workers::{outcome::Outcome, points::earn::apply_batch};

fn all_goods(name: &str) -> Value {
    json!({"relate_product_type": 2, "name": name, "expire_type": 2, "start_time": 0, "end_time": 0, "shop_id": 5})
}

#[tokio::test]
async fn the_ten_endpoints_in_the_seeds_shapes() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;

    // create: the seed's answer, `deleted` 1 (enabled).
    let (status, body) = env
        .activity(
            "create",
            &key,
            json!({"activity": all_goods("日常积分"), "pointsConsumption": {"type": 1, "amount": 100, "points": 1},
                   "shareMessage": {"title": "分享"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["errcode"].as_i64(), body["errmsg"].as_str()), (Some(0), Some("ok")), "{body}");
    let a = &body["data"]["activity"];
    let id = a["id"].as_i64().unwrap();
    assert_eq!(
        (a["activity_type"].as_i64(), a["deleted"].as_i64(), a["shop_sub_id"].as_i64()),
        (Some(4), Some(1), Some(0))
    );
    let pc = &body["data"]["pointsConsumption"];
    assert_eq!(
        (pc["activity_id"].as_i64(), pc["type"].as_i64(), pc["amount"].as_i64()),
        (Some(id), Some(1), Some(100))
    );
    let pc_id = pc["id"].as_i64().unwrap();

    // get: the activity with its rule; an absent block is `[]`, as the seed shows.
    let (status, got) = env.activity("get", &key, json!({"id": id, "shop_id": 5})).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["data"]["pointsConsumption"]["id"].as_i64(), Some(pc_id));
    assert_eq!(got["data"]["shareMessage"]["title"], "分享");
    assert_eq!(got["data"]["news"], json!([]));
    // Another merchant's view: not found.
    let (status, other) = env.activity("get", &key, json!({"id": id, "shop_id": 6})).await;
    assert_eq!((status, other["errcode"].as_i64()), (StatusCode::NOT_FOUND, Some(40400)), "{other}");

    // list: paging from 0, sortStr on id.
    for n in 0..3 {
        env.create_activity(&key, all_goods(&format!("a{n}")), json!({"type": 2, "amount": 50, "points": 3})).await;
    }
    let (status, list) = env
        .activity(
            "find-points-consumption-list",
            &key,
            json!({"shop_id": 5, "page": 1, "count": 3, "sortStr": {"id": "desc"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["page"], json!({"per_page": 3, "total_count": 4, "current_page": 1, "total_page": 2}));
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"].as_i64(), Some(id), "the oldest comes last newest-first");

    // to-update: the fields sent replace the stored ones; the rule's id must be the activity's.
    let (status, upd) = env
        .activity(
            "to-update",
            &key,
            json!({"activity": {"id": id, "name": "改名", "expire_type": 1, "start_time": 1000, "end_time": 2000, "shop_id": 5},
                   "pointsConsumption": {"id": pc_id, "points": 9}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{upd}");
    assert_eq!(upd["data"]["activity"]["name"], "改名");
    assert_eq!(upd["data"]["activity"]["pointsConsumption"]["points"].as_i64(), Some(9));
    assert_eq!(upd["data"]["pointsConsumption"]["amount"].as_i64(), Some(100), "unsent fields stay");
    let (status, bad) = env
        .activity(
            "to-update",
            &key,
            json!({"activity": {"id": id, "name": "x", "expire_type": 2, "start_time": 0, "end_time": 0, "shop_id": 5},
                   "pointsConsumption": {"id": pc_id + 100}}),
        )
        .await;
    assert_eq!(
        (status, bad["data"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("pointsConsumption.id"))
    );

    // disable / enable: the seed's `deleted` 2 / 1.
    let (_, off) = env.activity("general-disable", &key, json!({"id": id, "shop_id": 5})).await;
    assert_eq!(off["data"]["deleted"].as_i64(), Some(2), "{off}");
    let (_, on) = env.activity("general-enable", &key, json!({"id": id, "shop_id": 5})).await;
    assert_eq!(on["data"]["deleted"].as_i64(), Some(1), "{on}");

    // goods: create, a second link of the same SKU refused, list, delete.
    let goods =
        json!({"points_consumption_id": id, "product_id": 45, "shop_id": 5, "product_sku_id": 24, "shop_sub_id": 43});
    let (status, g) = env.activity("create-points-consumption-goods", &key, goods.clone()).await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(
        (g["data"]["product_sku_id"].as_i64(), g["data"]["points_consumption_id"].as_i64()),
        (Some(24), Some(id))
    );
    let goods_id = g["data"]["id"].as_i64().unwrap();
    let (status, again) = env.activity("create-points-consumption-goods", &key, goods).await;
    assert_eq!((status, again["errcode"].as_i64()), (StatusCode::CONFLICT, Some(40900)), "{again}");
    let (_, gl) = env
        .activity("find-points-consumption-goods-list", &key, json!({"shop_id": 5, "points_consumption_id": id}))
        .await;
    assert_eq!(gl["page"]["total_count"].as_i64(), Some(1), "{gl}");
    assert_eq!(gl["data"][0]["id"].as_i64(), Some(goods_id));
    let (status, del) = env.activity("del-points-consumption-goods", &key, json!({"id": goods_id, "shop_id": 5})).await;
    assert_eq!((status, del["errcode"].as_i64(), &del["data"]), (StatusCode::OK, Some(0), &Value::Null), "{del}");

    // general-del: gone from get and the list.
    let (status, del) = env.activity("general-del", &key, json!({"id": id, "shop_id": 5})).await;
    assert_eq!((status, &del["data"]), (StatusCode::OK, &Value::Null), "{del}");
    let (status, _) = env.activity("get", &key, json!({"id": id, "shop_id": 5})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every write is in the audit log.
    let audited = env.scalar("select count(*) from audit_log where entity like 'points_activity%'").await;
    assert_eq!(
        audited,
        4 + 1 + 2 + 2 + 1,
        "4 creates, an update, disable and enable, goods create and delete, a delete"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let ok = json!({"activity": all_goods("n"), "pointsConsumption": {"type": 1, "amount": 100, "points": 1}});
    let with = |path: &str, v: Value| {
        let mut b = ok.clone();
        *b.pointer_mut(path).unwrap() = v;
        b
    };
    let without = |block: &str, f: &str| {
        let mut b = ok.clone();
        b[block].as_object_mut().unwrap().remove(f);
        b
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no name", without("activity", "name"), "activity.name"),
        ("blank name", with("/activity/name", json!(" ")), "activity.name"),
        ("relate_product_type 3", with("/activity/relate_product_type", json!(3)), "activity.relate_product_type"),
        ("no shop_id", without("activity", "shop_id"), "activity.shop_id"),
        ("type 0", with("/pointsConsumption/type", json!(0)), "pointsConsumption.type"),
        ("amount 0", with("/pointsConsumption/amount", json!(0)), "pointsConsumption.amount"),
        ("no points", without("pointsConsumption", "points"), "pointsConsumption.points"),
        ("a name of the wrong type", with("/activity/name", json!(5)), "activity.name"),
        (
            "an unknown field",
            {
                let mut b = ok.clone();
                b["activity"]["colour"] = json!("red");
                b
            },
            "colour",
        ),
        ("no pointsConsumption", json!({"activity": all_goods("n")}), "pointsConsumption"),
        (
            "window ends before it starts",
            {
                let mut b = with("/activity/expire_type", json!(1));
                b["activity"]["start_time"] = json!(2000);
                b["activity"]["end_time"] = json!(1000);
                b
            },
            "activity.end_time",
        ),
    ];
    for (name, body, field) in cases {
        let (status, answer) = env.activity("create", &key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {answer}");
        assert_eq!(answer["errcode"].as_i64(), Some(42200), "{name}: {answer}");
        assert_eq!(answer["data"]["field"].as_str(), Some(field), "{name}: {answer}");
        assert!(answer["errmsg"].as_str().unwrap().contains(field), "{name}: {answer}");
    }
    for (body, field) in [
        (json!({"shop_id": 5, "count": 101}), "count"),
        (json!({"shop_id": 5, "page": -1}), "page"),
        (json!({"shop_id": 5, "sortStr": {"name": "asc"}}), "sortStr"),
        (json!({"page": 0}), "shop_id"),
    ] {
        let (status, answer) = env.activity("find-points-consumption-list", &key, body.clone()).await;
        assert_eq!(
            (status, answer["data"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {answer}"
        );
    }
    let (status, answer) =
        env.call(axum::http::Method::POST, "/points-consumption/get", None, Some(json!({"id": 1, "shop_id": 5}))).await;
    assert_eq!((status, answer["errcode"].as_i64()), (StatusCode::UNAUTHORIZED, Some(40100)), "{answer}");
    let (status, answer) = env.activity("get", &key, json!("not an object")).await;
    assert!(status.is_client_error() && answer["errcode"].as_i64() != Some(0), "{answer}");
    env.cleanup().await;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap()
}

fn order(crm: &str, no: &str, amount: &str, store: &str, items: Value, at: DateTime<Utc>) -> Envelope<EarnPayload> {
    let payload = EarnPayload {
        member_no: "m".into(),
        action_scene: "order_pay".into(),
        amount: Some(Cents::parse(amount).unwrap()),
        order_items: Some(items),
        store_code: Some(store.into()),
        cost_center: None,
        campagin_code: None,
        operator: None,
        event_desc: None,
        pay_method: None,
    };
    Envelope::new(MessageKind::PointsEarn, crm.into(), no.into(), at, payload)
}

/// Each order against a hand computation. The tenant: seed 000's order_pay rule 10 points per
/// 50 yuan; activity A 5 points per every 100 yuan of the order (all stores, no time limit);
/// activity B 7 points once when the linked SKU 24 reaches 100 yuan, store 43 only; activity C
/// like A but its window is over; activity D like A but disabled.
#[tokio::test]
async fn activities_award_on_paid_orders() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, json!({"rule_name": "下单", "action_scene": "order_pay", "points_type": "order", "expire_term": 30, "per_money": 50, "change_points": 10, "range_days": 0})).await;
    let a = env.create_activity(&key, all_goods("A"), json!({"type": 1, "amount": 100, "points": 5})).await;
    let b = env
        .create_activity(
            &key,
            json!({"relate_product_type": 1, "name": "B", "expire_type": 2, "start_time": 0, "end_time": 0, "shop_id": 5, "shop_sub_id": 43}),
            json!({"type": 2, "amount": 100, "points": 7}),
        )
        .await;
    let (status, g) = env
        .activity(
            "create-points-consumption-goods",
            &key,
            json!({"points_consumption_id": b, "product_id": 1, "shop_id": 5, "product_sku_id": 24, "shop_sub_id": 43}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    let past = t0().timestamp() - 1000;
    env.create_activity(
        &key,
        json!({"relate_product_type": 2, "name": "C", "expire_type": 1, "start_time": past - 1000, "end_time": past, "shop_id": 5}),
        json!({"type": 1, "amount": 100, "points": 5}),
    )
    .await;
    let d = env.create_activity(&key, all_goods("D"), json!({"type": 1, "amount": 100, "points": 5})).await;
    env.activity("general-disable", &key, json!({"id": d, "shop_id": 5})).await;

    let lines = |sku24: &str| json!([{"sku": "24", "amount": sku24, "qty": 1, "line_id": "1"}, {"sku": "25", "amount": "130", "qty": 2, "line_id": "2"}]);
    // (case, amount, store, the SKU 24 line, points, the ledger's explanations)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, i64, Vec<String>);
    let cases: Vec<Case<'_>> = vec![
        (
            "all three count",
            "250",
            "43",
            "120",
            50 + 10 + 7,
            vec![
                "order_pay rule 1: floor(250.00 / 50) × 10 = 50".into(),
                format!("activity {a}: floor(order 250.00 / 100) × 5 = 10"),
                format!("activity {b}: linked goods 120.00 ≥ 100 → 7"),
            ],
        ),
        ("another store: B does not apply", "250", "44", "120", 50 + 10, vec![]),
        ("linked goods below B's threshold", "250", "43", "80", 50 + 10, vec![]),
        ("below every activity", "99", "43", "99", 10, vec!["order_pay rule 1: floor(99.00 / 50) × 10 = 10".into()]),
    ];
    let tenants = platform::rules::load(&env.db, &["10080".to_string()]).await.unwrap();
    assert_eq!(tenants["10080"].activities.len(), 3, "A, B and C are live (D is disabled)");
    for (n, (name, amount, store, sku24, points, explain)) in cases.into_iter().enumerate() {
        let no = format!("o{n}");
        let ev = order("10080", &no, amount, store, lines(sku24), t0());
        let got = apply_batch(&env.db, &tenants, &[ev]).await.unwrap();
        assert_eq!(got, vec![Outcome::Applied { count: points }], "{name}");
        let rows: Vec<(String, Option<String>, i64, Option<String>)> = sqlx::query_as(
            "select action_scene, campagin_code, points, explain from points_ledger where event_no = $1 order by auto_id",
        )
        .bind(&no)
        .fetch_all(&env.db)
        .await
        .unwrap();
        assert_eq!(rows.iter().map(|r| r.2).sum::<i64>(), points, "{name}: {rows:?}");
        for r in rows.iter().skip(1) {
            assert_eq!(r.0, "campaign", "{name}: a bonus is its own campaign entry");
            assert!(r.1.as_deref().is_some_and(|c| c == a.to_string() || c == b.to_string()), "{name}: {rows:?}");
        }
        if !explain.is_empty() {
            let got: Vec<String> = rows.iter().map(|r| r.3.clone().unwrap_or_default()).collect();
            assert_eq!(got, explain, "{name}");
        }
    }
    let violations = workers::verify::violations(&env.db, None).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    env.cleanup().await;
}

/// Through the queue: an order earns its base and an activity's bonus in one apply; seed 000's
/// reversal takes both back; the history and the analytics outbox show the bonus.
#[tokio::test]
async fn a_bonus_is_reversed_with_its_order() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, json!({"rule_name": "下单", "action_scene": "order_pay", "points_type": "order", "expire_term": 30, "per_money": 50, "change_points": 10, "range_days": 0})).await;
    let a = env.create_activity(&key, all_goods("A"), json!({"type": 1, "amount": 100, "points": 5})).await;
    let worker = env.default_worker();
    let (status, body) = env
        .event("10080", &key, json!({"event_no": "o1", "member_no": "m", "action_scene": "order_pay", "amount": "200", "store_code": "43"}), 10_000)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["points"].as_i64(), Some(40 + 10), "{body}");

    let (status, history) = env
        .post(
            "/api/crm/mgr/points/10080/history",
            &key,
            json!({"event_type": "produce", "member_no": "m", "action_scene": "campaign"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let item = &history["data"]["items"][0];
    assert_eq!(
        (item["points"].as_i64(), item["campagin_code"].as_str()),
        (Some(10), Some(a.to_string().as_str())),
        "{history}"
    );

    let (status, body) = env
        .post(
            "/api/crm/mgr/points/10080/reverse?wait_ms=10000",
            &key,
            json!({"event_no": "r1", "origin_event_no": "o1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["points"].as_i64(), Some(50), "the base and the bonus: {body}");
    let points = env.scalar("select points from member_balance where crm_id = '10080' and member_no = 'm'").await;
    assert_eq!(points, 0);
    let fully = env.scalar("select count(*) from points_ledger where event_no = 'o1' and reverse_status = 2").await;
    assert_eq!(fully, 2, "both entries fully reversed");
    wait_for("the bonus in the analytics outbox", Duration::from_secs(10), || async {
        let n = env
            .scalar("select count(*) from outbox where routing_key = 'points.produce' and convert_from(events, 'UTF8')::jsonb @> '[{\"action_scene\": \"campaign\"}]'")
            .await;
        (n > 0).then_some(())
    })
    .await;
    let violations = workers::verify::violations(&env.db, None).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}
