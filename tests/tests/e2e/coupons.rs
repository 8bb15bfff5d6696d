//! DM Hub coupons (seed 002 §13 under `/loyalty/v1`) over the cards engine: cards read as
//! coupons (the mapping table of the README), draws through the claim (once per key, within
//! `drawLimit`), member coupons and their statuses, redemption; and the redemption conditions
//! an order context brings (store, minimum spend, items, other offers, other coupons on the
//! same order), through the native redeem and the DM Hub one.

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use loyalty_tests::TestEnv;
use serde_json::{json, Value};

fn error_code(body: &Value) -> Value {
    body["error"]["code"].clone()
}

#[tokio::test]
async fn cards_read_as_dm_hub_coupons_with_the_documented_mapping() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let worker = env.worker(1, false, Arc::default());
    let voucher = env
        .coupon(
            &key,
            "10080",
            &[
                ("card_type", json!(0)),
                ("date_type", json!(2)),
                ("start_day_count", json!(5)),
                ("expire_day_count", json!(5)),
                ("get_limit", json!(100)),
                ("store_codes", json!("s1, s2")),
                ("cash_amount", json!(10)),
                ("cash_condition", json!(100)),
                ("qty_condition", json!(2)),
                ("use_with_other_coupon", json!(true)),
                ("discount", Value::Null),
            ],
        )
        .await;
    let channels = json!([{"couponId": "wx1", "couponChannel": "online", "url": null},
                          {"couponId": "pos1", "couponChannel": "offline", "url": "https://pos"}]);
    let mut extra = loyalty_tests::seed_card()["extra_info"].clone();
    extra["channels"] = channels.clone();
    let discount = env
        .coupon(
            &key,
            "10080",
            &[
                ("card_type", json!(1)),
                ("date_type", json!(1)),
                ("begin_time", json!(1655481600)),
                ("end_time", json!(1655740799)),
                ("discount", json!(0.8)),
                ("cash_condition", Value::Null),
                ("extra_info", extra),
            ],
        )
        .await;
    let gift = env.coupon(&key, "10080", &[("card_type", json!(4)), ("total_quantity", json!(3))]).await;
    let shipping = env.coupon(&key, "10080", &[("card_type", json!(3)), ("total_quantity", json!(0))]).await;

    let (status, v) = env.loyalty(Method::GET, &format!("/coupon/{voucher}"), &key, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({
            "channels": [{"couponId": voucher, "couponChannel": "offline", "url": "/page/card/"}],
            "couponId": voucher, "couponLabel": "满100减10", "couponName": "满100减10",
            "couponSubLabel": "618满100减10", "couponType": 1, "drawLimit": 100, "note": "适用说明",
            "rule": {"amountLimit": 100.0, "discount": null, "freeFee": 10.0, "goodsLimit": null, "qtyLimit": 2,
                     "storeCodes": ["s1", "s2"], "useWithOtherCoupon": true, "useWithOtherOffer": false},
            "total": 10, "store": 10, "validDate": {"startDays": 5, "validDays": 5}, "validType": 2
        })
    );
    // The seed's key order, as DM Hub writes it.
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.first().map(|k| k.as_str()), Some("channels"), "{keys:?}");

    let (_, d) = env.loyalty(Method::GET, &format!("/coupon/{discount}"), &key, None).await;
    assert_eq!(d["couponType"], json!(2), "{d}");
    assert_eq!(d["validType"], json!(1));
    // begin 2022-06-18 00:00 and end 2022-06-20 23:59:59 in Asia/Shanghai: local dates.
    assert_eq!(d["validDate"], json!({"startDate": "2022-06-18", "endDate": "2022-06-20"}));
    assert_eq!(d["rule"]["discount"], json!(0.8));
    assert_eq!(d["rule"]["amountLimit"], Value::Null);
    assert_eq!(d["rule"]["freeFee"], Value::Null);
    assert_eq!(d["channels"], channels);
    let (_, g) = env.loyalty(Method::GET, &format!("/coupon/{gift}"), &key, None).await;
    assert_eq!(
        (g["couponType"].clone(), g["validType"].clone(), g["validDate"].clone()),
        (json!(3), json!(3), json!({}))
    );
    assert_eq!(g["channels"][0]["couponChannel"], json!("online"), "no store codes: online");
    assert_eq!((g["total"].clone(), g["store"].clone()), (json!(3), json!(3)));
    let (_, s) = env.loyalty(Method::GET, &format!("/coupon/{shipping}"), &key, None).await;
    assert_eq!(s["couponType"], json!(1), "free shipping is a voucher: {s}");

    // Paged, newest last by default; needTotal adds records and pages.
    let (status, page) = env.loyalty(Method::GET, "/coupon?rows=3&page=1&needTotal=true", &key, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<&str> = page["rows"].as_array().unwrap().iter().map(|r| r["couponId"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![voucher.as_str(), discount.as_str(), gift.as_str()]);
    assert_eq!((page["records"].clone(), page["total"].clone()), (json!(4), json!(2)));
    let (_, last) = env.loyalty(Method::GET, "/coupon?rows=3&page=2&sord=desc", &key, None).await;
    assert_eq!(last["rows"][0]["couponId"], json!(voucher), "{last}");
    assert!(last.get("records").is_none());

    // By channel: the channels set on the card, or the one its store codes imply.
    let by = |q: &str| {
        let (env, key, q) = (&env, &key, q.to_string());
        async move {
            let (status, v) =
                env.loyalty(Method::GET, &format!("/couponService/getCouponByChannel?{q}"), key, None).await;
            assert_eq!(status, StatusCode::OK, "{q}: {v}");
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["couponId"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by("channel=offline").await, vec![voucher.clone(), discount.clone()]);
    assert_eq!(by("channel=offline&couponId=pos1").await, vec![discount.clone()]);
    assert_eq!(by("channel=online&couponId=wx1").await, vec![discount.clone()]);
    assert_eq!(by(&format!("channel=online&couponId={gift}")).await, vec![gift.clone()]);
    assert!(by(&format!("channel=offline&couponId={gift}")).await.is_empty());

    // A removed card leaves the list but is still read by id (codes held keep naming it).
    let (status, _) = env.post("/api/crm/card/10080/remove", &key, json!({"card_id": gift})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = env.loyalty(Method::GET, "/coupon?needTotal=true", &key, None).await;
    assert_eq!(page["records"], json!(3), "{page}");
    let (status, _) = env.loyalty(Method::GET, &format!("/coupon/{gift}"), &key, None).await;
    assert_eq!(status, StatusCode::OK);

    // Bad input names the field in the seed's shape; unknown coupons are 404.
    for (path, want_status, field) in [
        ("/couponService/getCouponByChannel?channel=shop", StatusCode::BAD_REQUEST, "channel"),
        ("/couponService/getCouponByChannel", StatusCode::BAD_REQUEST, "channel"),
        ("/coupon?rows=0", StatusCode::BAD_REQUEST, "rows"),
        ("/coupon?sidx=title", StatusCode::BAD_REQUEST, "sidx"),
        ("/coupon/nope", StatusCode::NOT_FOUND, "nope"),
    ] {
        let (status, body) = env.loyalty(Method::GET, path, &key, None).await;
        assert_eq!(status, want_status, "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap_or("").contains(field), "{path}: {body}");
    }
    // Another tenant sees none of them.
    let other = env.tenant("20090").await;
    let (status, _) = env.loyalty(Method::GET, &format!("/coupon/{voucher}"), &other, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_coupon_is_drawn_once_per_key_within_its_draw_limit_and_redeemed_once() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    let worker = env.worker(2, false, Arc::default());
    let id = env
        .member(&key, json!({"name": "a", "membershipCode": "m-a"}), json!([{"type": "wechat", "value": "w1"}]))
        .await;
    let other = env.member(&key, json!({"name": "b"}), json!([{"type": "wechat", "value": "w2"}])).await;
    let card = env
        .coupon(
            &key,
            "10080",
            &[
                ("card_type", json!(0)),
                ("get_limit", json!(2)),
                ("date_type", json!(2)),
                ("start_day_count", json!(0)),
                ("expire_day_count", json!(30)),
                ("total_quantity", json!(5)),
            ],
        )
        .await;
    let draw = |key_header: Option<&str>, body: Value| {
        let (env, key) = (env.clone(), key.clone());
        let header = key_header.map(str::to_string);
        async move {
            let mut req = axum::http::Request::builder()
                .method(Method::POST)
                .uri(format!("/loyalty/v1/membership/{id}/coupon/draw?access_token={key}"))
                .header("content-type", "application/json");
            if let Some(h) = header {
                req = req.header("idempotency-key", h);
            }
            loyalty_tests::send(env.router(), req.body(axum::body::Body::from(body.to_string())).unwrap()).await
        }
    };

    // The same key, five times at once: one claim, one code, the same answer.
    let same = futures_util::future::join_all((0..5).map(|_| draw(Some("d1"), json!({"couponId": card})))).await;
    let first = &same[0].1;
    assert_eq!(same[0].0, StatusCode::OK, "{first}");
    for (status, body) in &same {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["couponCode"], first["couponCode"], "one code for one key");
    }
    assert_eq!(env.scalar("select received::bigint from card_member").await, 1);
    assert_eq!(first["status"], json!("normal"));
    assert_eq!(first["membershipId"], json!(id));
    assert_eq!(first["couponId"], json!(card));
    assert_eq!(first["dateRedeem"], Value::Null);
    assert!(first["dateDraw"].as_str().unwrap().ends_with('Z'), "UTC: {first}");
    assert_eq!(first["rule"]["freeFee"], json!(10.0));
    let code1 = first["couponCode"].as_str().unwrap().to_string();
    // The body's externalId is the same key as the header.
    let (status, again) = draw(None, json!({"couponId": card, "externalId": "d1"})).await;
    assert_eq!((status, again["couponCode"].clone()), (StatusCode::OK, json!(code1)));

    // Without a key every request is a new draw, up to drawLimit (get_limit 2).
    let (status, second) = draw(None, json!({"couponId": card})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let code2 = second["couponCode"].as_str().unwrap().to_string();
    assert_ne!(code1, code2);
    let (status, third) = draw(None, json!({"couponId": card})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{third}");
    assert_eq!(error_code(&third), json!("409000"));
    assert_eq!(third["error"]["refusal"], json!("limit_reached"));
    assert!(third["error"]["message"].as_str().unwrap().contains("get_limit 2"), "{third}");
    let (_, coupon) = env.loyalty(Method::GET, &format!("/coupon/{card}"), &key, None).await;
    assert_eq!(coupon["store"], json!(3), "two drawn of five: {coupon}");

    // The member's coupons, by status.
    let list = |q: &str| {
        let (env, key, q) = (env.clone(), key.clone(), q.to_string());
        async move {
            let (status, v) = env.loyalty(Method::GET, &format!("/membership/{id}/coupon{q}"), &key, None).await;
            assert_eq!(status, StatusCode::OK, "{q}: {v}");
            v
        }
    };
    let all = list("?needTotal=true").await;
    assert_eq!((all["records"].clone(), all["rows"].as_array().unwrap().len()), (json!(2), 2), "{all}");
    assert_eq!(all["rows"][0]["couponCode"], json!(code1), "in draw order");
    assert_eq!(list("?status=normal").await["rows"].as_array().unwrap().len(), 2);
    assert!(list("?status=used").await["rows"].as_array().unwrap().is_empty());
    let (status, one) = env.loyalty(Method::GET, &format!("/membershipCoupon/{code1}"), &key, None).await;
    assert_eq!(
        (status, one["couponCode"].clone(), one["status"].clone()),
        (StatusCode::OK, json!(code1), json!("normal"))
    );

    // Redeem: once; the same key answers the first outcome again; without a key a second
    // redemption is refused as already redeemed.
    let redeem = |code: &str, body: Value| {
        let (env, key, code) = (env.clone(), key.clone(), code.to_string());
        async move { env.loyalty(Method::POST, &format!("/membershipCoupon/{code}/redeem"), &key, Some(body)).await }
    };
    let (status, used) = redeem(&code1, json!({"membershipId": id, "externalId": "r1"})).await;
    assert_eq!(status, StatusCode::OK, "{used}");
    assert_eq!(used["status"], json!("used"));
    assert!(used["dateRedeem"].as_str().unwrap().ends_with('Z'), "{used}");
    let (status, repeat) = redeem(&code1, json!({"membershipId": id, "externalId": "r1"})).await;
    assert_eq!((status, repeat["status"].clone()), (StatusCode::OK, json!("used")), "{repeat}");
    let (status, twice) = redeem(&code1, json!({"membershipId": id})).await;
    assert_eq!(
        (status, twice["error"]["refusal"].clone()),
        (StatusCode::CONFLICT, json!("already_redeemed")),
        "{twice}"
    );
    assert_eq!(env.scalar("select count(*) from card_redeem where redeem_channel = 'dmhub'").await, 1);
    assert_eq!(list("?status=used").await["rows"][0]["couponCode"], json!(code1));
    assert_eq!(list("?status=normal").await["rows"].as_array().unwrap().len(), 1);
    // Not the holder's: refused with the reason.
    let (status, theirs) = redeem(&code2, json!({"membershipId": other})).await;
    assert_eq!(
        (status, theirs["error"]["refusal"].clone()),
        (StatusCode::CONFLICT, json!("not_the_holder")),
        "{theirs}"
    );

    // A coupon valid from three days after the draw is notStarted, and refused until then.
    let later = env
        .coupon(
            &key,
            "10080",
            &[("date_type", json!(2)), ("start_day_count", json!(3)), ("expire_day_count", json!(5))],
        )
        .await;
    let (status, soon) = draw(None, json!({"couponId": later})).await;
    assert_eq!((status, soon["status"].clone()), (StatusCode::OK, json!("notStarted")), "{soon}");
    assert!(soon["startDate"].as_str().is_some() && soon["endDate"].as_str().is_some(), "{soon}");
    assert_eq!(list("?status=notStarted").await["rows"][0]["couponId"], json!(later));
    let (status, early) = redeem(soon["couponCode"].as_str().unwrap(), json!({"membershipId": id})).await;
    assert_eq!(
        (status, early["error"]["refusal"].clone()),
        (StatusCode::CONFLICT, json!("outside_validity")),
        "{early}"
    );

    // Bad input, in the seed's shape, naming the field; unknown things are 404.
    for (path, body, want, code, field) in [
        (format!("/membership/{id}/coupon/draw"), json!({}), StatusCode::BAD_REQUEST, "400005", "couponId"),
        (
            format!("/membership/{id}/coupon/draw"),
            json!({"couponId": "a b"}),
            StatusCode::BAD_REQUEST,
            "400001",
            "couponId",
        ),
        (
            format!("/membership/{id}/coupon/draw"),
            json!({"couponId": card, "x": 1}),
            StatusCode::BAD_REQUEST,
            "400001",
            "x",
        ),
        (
            format!("/membership/{id}/coupon/draw?wait_ms=60000"),
            json!({"couponId": card}),
            StatusCode::BAD_REQUEST,
            "400001",
            "wait_ms",
        ),
        ("/membership/999999/coupon/draw".into(), json!({"couponId": card}), StatusCode::NOT_FOUND, "404000", "999999"),
        (format!("/membership/{id}/coupon/draw"), json!({"couponId": "nope"}), StatusCode::NOT_FOUND, "404000", "nope"),
        ("/membershipCoupon/nope/redeem".into(), json!({"membershipId": id}), StatusCode::NOT_FOUND, "404000", "nope"),
        (format!("/membershipCoupon/{code2}/redeem"), json!({}), StatusCode::BAD_REQUEST, "400005", "membershipId"),
        (
            format!("/membershipCoupon/{code2}/redeem"),
            json!({"membershipId": 0}),
            StatusCode::BAD_REQUEST,
            "400001",
            "membershipId",
        ),
        (
            format!("/membershipCoupon/{code2}/redeem"),
            json!({"membershipId": id, "amount": "1.234"}),
            StatusCode::BAD_REQUEST,
            "400001",
            "amount",
        ),
        (
            format!("/membershipCoupon/{code2}/redeem"),
            json!({"membershipId": id, "items": [{"sku": "a", "amount": 1, "qty": 0}]}),
            StatusCode::BAD_REQUEST,
            "400001",
            "items[0].qty",
        ),
    ] {
        let (status, body) = env.loyalty(Method::POST, &path, &key, Some(body)).await;
        assert_eq!((status, error_code(&body)), (want, json!(code)), "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap_or("").contains(field), "{path}: {body}");
    }
    let (status, body) = env.loyalty(Method::GET, &format!("/membership/{id}/coupon?status=gone"), &key, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = env.loyalty(Method::GET, "/membershipCoupon/nope", &key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing of the refused requests changed the member's coupons.
    assert_eq!(list("?needTotal=true").await["records"], json!(3));
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("done").cleanup().await;
}

#[tokio::test]
async fn an_order_context_enforces_the_cards_redemption_conditions() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    let worker = env.worker(2, false, Arc::default());
    // A: stores s1/s2, minimum spend 100, 2 items, alone (no other offers, no other coupons).
    let a = env
        .coupon(
            &key,
            "10080",
            &[
                ("store_codes", json!("s1, s2")),
                ("cash_condition", json!(100)),
                ("qty_condition", json!(2)),
                ("total_quantity", json!(20)),
            ],
        )
        .await;
    // B and C combine with other coupons; D1 and D2 do not; none has other conditions.
    let b = env.coupon(&key, "10080", &[("cash_condition", Value::Null), ("use_with_other_coupon", json!(true))]).await;
    let c = env.coupon(&key, "10080", &[("cash_condition", Value::Null), ("use_with_other_coupon", json!(true))]).await;
    let d1 = env.coupon(&key, "10080", &[("cash_condition", Value::Null)]).await;
    let d2 = env.coupon(&key, "10080", &[("cash_condition", Value::Null)]).await;
    let codes_a = env.claim(&key, "10080", "m", &a, 10).await;
    let codes_b = env.claim(&key, "10080", "m", &b, 3).await;
    let codes_c = env.claim(&key, "10080", "m", &c, 2).await;
    let code_d1 = env.claim(&key, "10080", "m", &d1, 1).await.remove(0);
    let code_d2 = env.claim(&key, "10080", "m", &d2, 1).await.remove(0);

    let redeem = |card: &str, code: &str, redeem_id: &str, context: Value| {
        let (env, key) = (env.clone(), key.clone());
        let mut body = json!({"member_no": "m", "card_id": card, "card_code": code, "redeem_channel": "pos",
                              "redeem_id": redeem_id, "redeem_extra": ""});
        for (k, v) in context.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        async move { env.post("/api/crm/card/10080/member/redeem?wait_ms=5000", &key, body).await }
    };
    let good = json!({"store_code": "s2", "amount": "100.00", "items": [{"sku": "x", "amount": 60, "qty": 1}, {"sku": "y", "amount": 40, "qty": 1}]});
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };
    // Each condition refused with its numbers (422: the order can never meet it as it is).
    let cases = [
        ("another store", with("store_code", json!("s9")), "redeemable only at stores s1, s2, not at s9"),
        ("no store", with("store_code", Value::Null), "names no store_code"),
        (
            "below the minimum spend",
            with("amount", json!(99.99)),
            "minimum spend 100.00 (cash_condition) not met: the order's amount is 99.99",
        ),
        (
            "the items' sum below it",
            with("amount", Value::Null)
                .as_object()
                .cloned()
                .map(|mut o| {
                    o.insert("items".into(), json!([{"sku": "x", "amount": 50, "qty": 2}]));
                    Value::Object(o)
                })
                .unwrap(),
            "the order's amount is 50.00",
        ),
        (
            "too few items",
            with("items", json!([{"sku": "x", "amount": 100, "qty": 1}])),
            "needs 2 items (qty_condition): the order has 1",
        ),
        ("no items", with("items", Value::Null), "names no items"),
        ("another offer", with("with_other_offer", json!(true)), "use_with_other_offer is false"),
    ];
    for (i, (case, context, why)) in cases.iter().enumerate() {
        let (status, got) = redeem(&a, &codes_a[0], &format!("refused-{i}"), context.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {got}");
        assert_eq!(got["code"], json!(42207), "{case}: {got}");
        assert!(got["msg"].as_str().unwrap().contains(why), "{case}: {got}");
    }
    assert_eq!(env.scalar("select count(*) from card_redeem").await, 0, "refusals change nothing");
    // Met, with the amount standing for itself or as the items' sum.
    let (status, got) = redeem(&a, &codes_a[0], "met-1", good.clone()).await;
    assert_eq!((status, got["data"]["status"].clone()), (StatusCode::OK, json!("applied")), "{got}");
    let (status, got) = redeem(&a, &codes_a[1], "met-2", with("amount", Value::Null)).await;
    assert_eq!((status, got["data"]["status"].clone()), (StatusCode::OK, json!("applied")), "{got}");
    assert_eq!(env.scalar("select amount_cents from card_redeem where redeem_id = 'met-2'").await, 10_000);
    // No context: today's rules, the conditions are not looked at.
    let (status, got) = redeem(&a, &codes_a[2], "bare", json!({})).await;
    assert_eq!((status, got["data"]["status"].clone()), (StatusCode::OK, json!("applied")), "{got}");

    // Several coupons on one order: B then C combine; A (alone) is refused after them.
    let on = |order: &str| json!({"order_no": order, "store_code": "s1", "amount": 100, "items": [{"sku": "x", "amount": 100, "qty": 2}]});
    let (_, got) = redeem(&b, &codes_b[0], "o1-b", on("o1")).await;
    assert_eq!(got["data"]["status"], json!("applied"), "{got}");
    let (_, got) = redeem(&c, &codes_c[0], "o1-c", on("o1")).await;
    assert_eq!(got["data"]["status"], json!("applied"), "{got}");
    let (status, got) = redeem(&a, &codes_a[3], "o1-a", on("o1")).await;
    assert_eq!((status, got["code"].clone()), (StatusCode::CONFLICT, json!(40915)), "{got}");
    assert!(got["msg"].as_str().unwrap().contains("order o1 already has 2 redeemed"), "{got}");
    // A first, then B: B is refused because A does not combine; once A's redemption is
    // reversed, B goes through.
    let (_, got) = redeem(&a, &codes_a[4], "o2-a", on("o2")).await;
    assert_eq!(got["data"]["status"], json!("applied"), "{got}");
    let (status, got) = redeem(&b, &codes_b[1], "o2-b", on("o2")).await;
    assert_eq!((status, got["code"].clone()), (StatusCode::CONFLICT, json!(40915)), "{got}");
    assert!(got["msg"].as_str().unwrap().contains(&format!("code {} of card {a}", codes_a[4])), "{got}");
    let (_, back) =
        env.post("/api/crm/card/10080/member/redeem_reverse?wait_ms=5000", &key, json!({"redeem_id": "o2-a"})).await;
    assert_eq!(back["data"]["status"], json!("applied"), "{back}");
    let (_, got) = redeem(&b, &codes_b[1], "o2-b-again", on("o2")).await;
    assert_eq!(got["data"]["status"], json!("applied"), "{got}");
    // Two coupons that do not combine, redeemed on one order at the same instant: one only.
    let (x, y) = tokio::join!(redeem(&d1, &code_d1, "o3-d1", on("o3")), redeem(&d2, &code_d2, "o3-d2", on("o3")));
    let applied = [&x.1, &y.1].iter().filter(|g| g["data"]["status"] == json!("applied")).count();
    assert_eq!(applied, 1, "{} {}", x.1, y.1);
    assert_eq!(env.scalar("select count(*) from card_redeem where order_no = 'o3'").await, 1);

    // The DM Hub redeem carries the same context, in its own words.
    let id =
        env.member(&key, json!({"name": "m", "membershipCode": "m"}), json!([{"type": "wechat", "value": "m"}])).await;
    let dm = |code: &str, body: Value| {
        let (env, key, code) = (env.clone(), key.clone(), code.to_string());
        async move { env.loyalty(Method::POST, &format!("/membershipCoupon/{code}/redeem"), &key, Some(body)).await }
    };
    let (status, got) = dm(
        &codes_a[5],
        json!({"membershipId": id, "storeCode": "s9", "amount": 100, "items": [{"sku": "x", "amount": 100, "qty": 2}]}),
    )
    .await;
    assert_eq!((status, got["error"]["refusal"].clone()), (StatusCode::CONFLICT, json!("condition_not_met")), "{got}");
    assert!(got["error"]["message"].as_str().unwrap().contains("not at s9"), "{got}");
    let (status, got) = dm(&codes_a[5], json!({"membershipId": id, "storeCode": "s1", "amount": 100, "items": [{"sku": "x", "amount": 100, "qty": 2}], "orderNo": "o4"})).await;
    assert_eq!((status, got["status"].clone()), (StatusCode::OK, json!("used")), "{got}");
    assert_eq!(env.scalar("select count(*) from card_redeem where order_no = 'o4' and store_code = 's1'").await, 1);

    // The native redeem names a bad context field.
    for (context, field) in [
        (json!({"items": [{"sku": "x", "amount": 1, "qty": 0}]}), "items[0].qty"),
        (json!({"amount": "1.234"}), "amount"),
        (json!({"store_code": " "}), "store_code"),
        (json!({"order_no": "a b"}), "order_no"),
    ] {
        let (status, got) = redeem(&a, &codes_a[6], "bad", context.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{context}: {got}");
        assert_eq!(got["data"]["field"], json!(field), "{context}: {got}");
    }
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("done").cleanup().await;
}
