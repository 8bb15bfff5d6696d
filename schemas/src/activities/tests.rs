use super::*;

fn activity(relate: i64, kind: i64, amount: i64, points: i64) -> Activity {
    Activity {
        id: 62,
        name: "a".into(),
        shop_sub_id: 0,
        relate_product_type: relate,
        expire_type: 2,
        start_time: 0,
        end_time: 0,
        kind,
        amount,
        points,
        skus: vec!["24".into()],
    }
}

#[test]
fn bonus_per_amount_threshold_goods_store_window() {
    let items = vec![("24".to_string(), Cents(12_000)), ("25".to_string(), Cents(8_000))];
    let order = Some(Cents(20_000));
    // type 1 over the whole order: floor(200 / 50) × 5.
    let (p, why) = activity(2, 1, 50, 5).bonus(0, None, order, &items).unwrap();
    assert_eq!((p, why.as_str()), (20, "activity 62: floor(order 200.00 / 50) × 5 = 20"));
    // type 1 over the linked goods only: floor(120 / 50) × 5.
    assert_eq!(activity(1, 1, 50, 5).bonus(0, None, order, &items).unwrap().0, 10);
    // type 2 once at the threshold.
    assert_eq!(activity(2, 2, 200, 7).bonus(0, None, order, &items).unwrap().0, 7);
    assert!(activity(1, 2, 200, 7)
        .bonus(0, None, order, &items)
        .unwrap_err()
        .contains("linked goods 120.00 is below 200"));
    // The store must match when the activity names one.
    let mut a = activity(2, 1, 50, 5);
    a.shop_sub_id = 43;
    assert!(a.bonus(0, Some("44"), order, &items).is_err());
    assert!(a.bonus(0, None, order, &items).is_err());
    assert_eq!(a.bonus(0, Some("43"), order, &items).unwrap().0, 20);
    // The window is inclusive at both ends.
    let mut w = activity(2, 1, 50, 5);
    (w.expire_type, w.start_time, w.end_time) = (1, 100, 200);
    assert!(w.bonus(99, None, order, &items).is_err());
    assert!(w.bonus(100, None, order, &items).is_ok());
    assert!(w.bonus(200, None, order, &items).is_ok());
    assert!(w.bonus(201, None, order, &items).unwrap_err().contains("outside its window"));
}

#[test]
fn create_names_the_missing_or_bad_field() {
    let body = |v: serde_json::Value| serde_json::from_value::<ActivityBody>(v).unwrap();
    let ok = serde_json::json!({
        "activity": {"relate_product_type": 2, "name": "n", "expire_type": 2, "start_time": 0, "end_time": 0, "shop_id": 5},
        "pointsConsumption": {"type": 1, "amount": 100, "points": 1}
    });
    assert!(body(ok.clone()).into_new().is_ok());
    let mut v = ok.clone();
    v["activity"].as_object_mut().unwrap().remove("name");
    assert_eq!(body(v).into_new().unwrap_err().field, "activity.name");
    let mut v = ok.clone();
    v["pointsConsumption"]["type"] = 3.into();
    assert_eq!(body(v).into_new().unwrap_err().field, "pointsConsumption.type");
    let mut v = ok;
    v["activity"]["expire_type"] = 1.into();
    assert_eq!(body(v).into_new().unwrap_err().field, "activity.end_time");
}
