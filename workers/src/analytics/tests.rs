use chrono::{TimeZone, Utc};
use schemas::analytics::{AnalyticsEvent, CardReceived, PointsLedgerRow};
use uuid::Uuid;

use super::{consumer::by_events, facts, first_id_at, ACTIVE};

fn ledger_row(event_type: &str, points: i64) -> PointsLedgerRow {
    PointsLedgerRow {
        event_id: Uuid::now_v7(),
        crm_id: "c1".into(),
        member_no: "m1".into(),
        event_no: "e1".into(),
        origin_event_no: None,
        event_type: event_type.into(),
        action_scene: "order_pay".into(),
        rule_id: None,
        points,
        amount: None,
        store_code: None,
        cost_center: None,
        campagin_code: None,
        occurred_at: Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
        trace: None,
    }
}

#[test]
fn a_points_event_counts_in_its_kind_by_scene_and_in_active() {
    let f = facts(&AnalyticsEvent::PointsConsume(ledger_row("consume", -30)));
    assert_eq!(f.len(), 2);
    assert_eq!(
        (f[0].series.as_str(), f[0].dim.as_str(), f[0].points, f[0].events),
        ("points.consume", "order_pay", -30, 1)
    );
    assert_eq!((f[1].series.as_str(), f[1].dim.as_str(), f[1].points), (ACTIVE, "", -30));
    assert!(f.iter().all(|f| f.member_dim.is_empty() && f.member_no.as_deref() == Some("m1")));
}

#[test]
fn a_claim_counts_its_codes_by_card_and_channel() {
    let e = AnalyticsEvent::CardsReceive(CardReceived {
        event_id: Uuid::now_v7(),
        crm_id: "c1".into(),
        member_no: "m1".into(),
        card_id: "k1".into(),
        quantity: 3,
        received_id: "r1".into(),
        channel: "618".into(),
        occurred_at: Utc::now(),
        trace: None,
    });
    let f = facts(&e);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].series.as_str(), f[0].dim.as_str(), f[0].dim2.as_str(), f[0].events),
        ("cards.receive", "k1", "618", 3)
    );
    assert_eq!(f[0].member_dim, "k1");
}

#[test]
fn the_first_id_of_a_millisecond_sorts_below_every_id_made_then_and_above_every_earlier_one() {
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let first = first_id_at(at);
    let ms = |t: chrono::DateTime<Utc>| {
        let ms = t.timestamp_millis() as u64;
        uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000)
    };
    for _ in 0..100 {
        assert!(Uuid::new_v7(ms(at)) >= first);
        assert!(Uuid::new_v7(ms(at - chrono::Duration::milliseconds(1))) < first);
    }
    // Byte order is what PostgreSQL compares.
    assert!(Uuid::new_v7(ms(at)).as_bytes() >= first.as_bytes());
}

#[test]
fn a_delivery_batch_is_applied_in_runs_of_whole_messages_up_to_the_cap() {
    // Runs keep the messages' order and cover each once; a run goes past the cap only when it is
    // one message (never split: it is acked whole); empty (parked) messages join a run.
    assert_eq!(by_events(&[4, 3, 3, 5, 0, 1], 7), [0..2, 2..3, 3..6]);
    assert_eq!(by_events(&[9, 2, 12, 1], 10), [0..1, 1..2, 2..3, 3..4]);
    let whole = by_events(&[0, 0, 10, 0], 10);
    assert_eq!((whole.len(), whole[0].clone()), (1, 0..4));
    assert_eq!(by_events(&[190; 500], 10_000).len(), 10);
    assert!(by_events(&[190; 500], 10_000).iter().all(|r| r.len() == 52 || r.len() == 32));
    assert_eq!(by_events(&[], 10), Vec::<std::ops::Range<usize>>::new());
}
