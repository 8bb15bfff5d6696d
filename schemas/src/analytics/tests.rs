//! Each analytics variant serializes to the very object the workers build with `json!` today
//! (the literals below copy the workers' shapes by hand), and reads back to itself.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 6, 30, 15).unwrap() + chrono::Duration::microseconds(123_456)
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n)
}

/// The typed event gives exactly `want`, and `want` reads back to the typed event.
fn same(event: AnalyticsEvent, want: Value) {
    assert_eq!(serde_json::to_value(&event).unwrap(), want, "{event:?}");
    let back: AnalyticsEvent = serde_json::from_value(want.clone()).unwrap();
    assert_eq!(back, event, "round trip of {want}");
    let text: AnalyticsEvent = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
    assert_eq!(text, event, "round trip through text");
}

#[test]
fn points_produce_matches_the_earn_worker() {
    let e = PointsProduced {
        event_id: id(1),
        crm_id: "crm1".into(),
        member_no: "m1".into(),
        event_no: "e1".into(),
        event_type: "produce".into(),
        action_scene: "order_pay".into(),
        rule_id: 7,
        points: 20,
        amount: Some(Cents(9990)),
        store_code: Some("s1".into()),
        cost_center: None,
        campagin_code: Some("c1".into()),
        expire_time: at() + chrono::Duration::days(30),
        unfreeze_time: Some(at() + chrono::Duration::days(3)),
        occurred_at: at(),
        message_id: id(2),
        trace: None,
    };
    // workers/src/points/earn.rs
    let want = json!({
        "event_id": id(1),
        "kind": "points.produce",
        "crm_id": "crm1",
        "member_no": "m1",
        "event_no": "e1",
        "event_type": "produce",
        "action_scene": "order_pay",
        "rule_id": 7,
        "points": 20,
        "amount": Some(Cents(9990)).map(|a| a.to_decimal_string()),
        "store_code": Some("s1"),
        "cost_center": None::<String>,
        "campagin_code": Some("c1"),
        "expire_time": at() + chrono::Duration::days(30),
        "unfreeze_time": Some(at() + chrono::Duration::days(3)),
        "occurred_at": at(),
        "message_id": id(2),
    });
    assert_eq!(want["amount"], "99.90");
    assert_eq!(want["cost_center"], Value::Null);
    same(AnalyticsEvent::PointsProduce(e.clone()), want.clone());

    // No amount, not frozen: both stay as explicit nulls.
    let bare = PointsProduced { amount: None, unfreeze_time: None, ..e };
    let mut want_bare = want;
    want_bare["amount"] = Value::Null;
    want_bare["unfreeze_time"] = Value::Null;
    same(AnalyticsEvent::PointsProduce(bare), want_bare);
}

/// The ledger row of `event_type`, and the object `ledger::analytics` builds of it.
fn ledger_row(event_type: &str, origin: Option<&str>, amount: Option<i64>) -> (PointsLedgerRow, Value) {
    let row = PointsLedgerRow {
        event_id: id(3),
        crm_id: "crm1".into(),
        member_no: "m1".into(),
        event_no: "e2".into(),
        origin_event_no: origin.map(String::from),
        event_type: event_type.into(),
        action_scene: "user_discount".into(),
        rule_id: None,
        points: -50,
        amount: amount.map(Cents),
        store_code: None,
        cost_center: Some("cc".into()),
        campagin_code: None,
        occurred_at: at(),
        trace: None,
    };
    // workers/src/points/ledger.rs `analytics()`
    let want = json!({
        "event_id": id(3),
        "kind": format!("points.{}", event_type),
        "crm_id": "crm1",
        "member_no": "m1",
        "event_no": "e2",
        "origin_event_no": origin,
        "event_type": event_type,
        "action_scene": "user_discount",
        "rule_id": None::<i64>,
        "points": -50,
        "amount": amount.map(|c| Cents(c).to_decimal_string()),
        "store_code": None::<String>,
        "cost_center": Some("cc"),
        "campagin_code": None::<String>,
        "occurred_at": at(),
    });
    (row, want)
}

#[test]
fn every_points_ledger_kind_matches_the_ledger() {
    // Every event_type the workers write to the ledger (consume, reverse, freeze, transfer, sweep).
    for (event_type, variant) in [
        ("consume", AnalyticsEvent::PointsConsume as fn(PointsLedgerRow) -> AnalyticsEvent),
        ("reverse_produce", AnalyticsEvent::PointsReverseProduce),
        ("reverse_consume", AnalyticsEvent::PointsReverseConsume),
        ("freeze", AnalyticsEvent::PointsFreeze),
        ("unfreeze", AnalyticsEvent::PointsUnfreeze),
        ("transfer", AnalyticsEvent::PointsTransfer),
        ("accept", AnalyticsEvent::PointsAccept),
        ("transfer_return", AnalyticsEvent::PointsTransferReturn),
        ("expire", AnalyticsEvent::PointsExpire),
    ] {
        for (origin, amount) in [(None, None), (Some("e1"), Some(1205))] {
            let (row, want) = ledger_row(event_type, origin, amount);
            assert_eq!(AnalyticsEvent::points_ledger(row.clone()), Ok(variant(row.clone())), "{event_type}");
            same(variant(row), want);
        }
    }
    let (row, _) = ledger_row("produce", None, None);
    assert!(AnalyticsEvent::points_ledger(row).is_err(), "an earn has its own shape");
}

#[test]
fn cards_receive_and_its_reverse() {
    // workers/src/cards/receive.rs
    same(
        AnalyticsEvent::CardsReceive(CardReceived {
            event_id: id(4),
            crm_id: "crm1".into(),
            member_no: "m1".into(),
            card_id: "card1".into(),
            quantity: 2,
            received_id: "r1".into(),
            channel: "app".into(),
            occurred_at: at(),
            trace: None,
        }),
        json!({
            "event_id": id(4), "kind": "cards.receive", "crm_id": "crm1", "member_no": "m1",
            "card_id": "card1", "quantity": 2_i64, "received_id": "r1", "channel": "app",
            "occurred_at": at(),
        }),
    );
    same(
        AnalyticsEvent::CardsReceiveReverse(CardReceiveReversed {
            event_id: id(5),
            crm_id: "crm1".into(),
            member_no: "m1".into(),
            received_id: "r1".into(),
            codes: 3,
            occurred_at: at(),
            trace: None,
        }),
        json!({"event_id": id(5), "kind": "cards.receive_reverse", "crm_id": "crm1",
            "member_no": "m1", "received_id": "r1", "codes": 3_i64, "occurred_at": at()}),
    );
}

#[test]
fn cards_expire_with_and_without_a_member() {
    // workers/src/cards/receive.rs `expire_due`: the member is null for an unclaimed code.
    for member in [Some("m1"), None] {
        same(
            AnalyticsEvent::CardsExpire(CardExpired {
                event_id: id(6),
                crm_id: "crm1".into(),
                member_no: member.map(String::from),
                card_id: "card1".into(),
                card_code: "code1".into(),
                occurred_at: at(),
                trace: None,
            }),
            json!({"event_id": id(6), "kind": "cards.expire", "crm_id": "crm1", "member_no": member,
                   "card_id": "card1", "card_code": "code1", "occurred_at": at()}),
        );
    }
}

#[test]
fn cards_redeem_and_its_reverse() {
    // workers/src/cards/redeem.rs
    same(
        AnalyticsEvent::CardsRedeem(CardRedeemed {
            event_id: id(7),
            crm_id: "crm1".into(),
            member_no: "m1".into(),
            card_id: "card1".into(),
            card_code: "code1".into(),
            redeem_id: "rd1".into(),
            channel: "pos".into(),
            occurred_at: at(),
            trace: None,
        }),
        json!({"event_id": id(7), "kind": "cards.redeem", "crm_id": "crm1", "member_no": "m1",
            "card_id": "card1", "card_code": "code1", "redeem_id": "rd1", "channel": "pos", "occurred_at": at()}),
    );
    for rollback in [1, 2] {
        same(
            AnalyticsEvent::CardsRedeemReverse(CardRedeemReversed {
                event_id: id(8),
                crm_id: "crm1".into(),
                member_no: "m1".into(),
                card_id: "card1".into(),
                card_code: "code1".into(),
                redeem_id: "rd1".into(),
                rollback_status: rollback,
                occurred_at: at(),
                trace: None,
            }),
            json!({"event_id": id(8), "kind": "cards.redeem_reverse", "crm_id": "crm1", "member_no": "m1",
                "card_id": "card1", "card_code": "code1", "redeem_id": "rd1", "rollback_status": rollback,
                "occurred_at": at()}),
        );
    }
}

#[test]
fn cards_present_receive_and_return() {
    // workers/src/cards/present.rs
    same(
        AnalyticsEvent::CardsPresent(CardPresented {
            event_id: id(9),
            crm_id: "crm1".into(),
            member_no: "m1".into(),
            card_id: "card1".into(),
            card_code: "code1".into(),
            present_id: "p1".into(),
            occurred_at: at(),
            trace: None,
        }),
        json!({"event_id": id(9), "kind": "cards.present", "crm_id": "crm1",
            "member_no": "m1", "card_id": "card1", "card_code": "code1", "present_id": "p1", "occurred_at": at()}),
    );
    same(
        AnalyticsEvent::CardsPresentReceive(CardPresentReceived {
            event_id: id(10),
            crm_id: "crm1".into(),
            member_no: "m2".into(),
            from_member: "m1".into(),
            card_id: "card1".into(),
            present_id: "p1".into(),
            occurred_at: at(),
            trace: None,
        }),
        json!({"event_id": id(10), "kind": "cards.present_receive",
            "crm_id": "crm1", "member_no": "m2", "from_member": "m1", "card_id": "card1",
            "present_id": "p1", "occurred_at": at()}),
    );
    same(
        AnalyticsEvent::CardsPresentReturn(CardPresentReturned {
            event_id: id(11),
            crm_id: "crm1".into(),
            member_no: "m1".into(),
            card_id: "card1".into(),
            present_id: "p1".into(),
            occurred_at: at(),
            trace: None,
        }),
        json!({"event_id": id(11), "kind": "cards.present_return",
            "crm_id": "crm1", "member_no": "m1", "card_id": "card1", "present_id": "p1", "occurred_at": at()}),
    );
}

#[test]
fn every_event_answers_its_id_and_unknown_kinds_are_refused() {
    let (row, _) = ledger_row("expire", None, None);
    assert_eq!(AnalyticsEvent::PointsExpire(row).event_id(), id(3));
    let event = AnalyticsEvent::CardsPresentReturn(CardPresentReturned {
        event_id: id(12),
        crm_id: "crm1".into(),
        member_no: "m1".into(),
        card_id: "card1".into(),
        present_id: "p1".into(),
        occurred_at: at(),
        trace: None,
    });
    assert_eq!(event.event_id(), id(12));
    let unknown = json!({"event_id": id(13), "kind": "cards.unknown", "crm_id": "crm1"});
    assert!(serde_json::from_value::<AnalyticsEvent>(unknown).is_err());
}

/// `KINDS` names every variant, no more: each is a `kind` of the derived schema, whose `oneOf`
/// has one entry per variant.
#[test]
fn kinds_lists_every_variant() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(AnalyticsEvent::schema()).unwrap();
    let variants = schema["oneOf"].as_array().expect("oneOf");
    assert_eq!(variants.len(), AnalyticsEvent::KINDS.len(), "{schema}");
    let text = schema.to_string();
    for kind in AnalyticsEvent::KINDS {
        assert!(text.contains(&format!("\"{kind}\"")), "{kind} is not a kind of {schema}");
    }
}

/// The optional `trace` of an event: absent when `None` (the sweeper's events keep their shape),
/// an object with `traceparent` and `request_id` otherwise.
#[test]
fn the_trace_of_an_event_is_an_optional_object() {
    let trace = crate::trace::TraceContext {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        request_id: Some("req-1".into()),
    };
    let event = AnalyticsEvent::CardsReceiveReverse(CardReceiveReversed {
        event_id: id(5),
        crm_id: "crm1".into(),
        member_no: "m1".into(),
        received_id: "r1".into(),
        codes: 3,
        occurred_at: at(),
        trace: Some(trace),
    });
    same(
        event,
        json!({
            "event_id": id(5), "kind": "cards.receive_reverse", "crm_id": "crm1", "member_no": "m1",
            "received_id": "r1", "codes": 3_i64, "occurred_at": at(),
            "trace": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "request_id": "req-1"},
        }),
    );
}
