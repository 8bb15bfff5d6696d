//! The sampled gauges an operator alerts on (`workers::gauges`): queue depth and consumers per
//! work queue and dead-letter queue, and the outbox backlog, read from the real broker and
//! database, and rendered on `/metrics`.

use std::{sync::Arc, time::Duration};

use lapin::{options::BasicPublishOptions, BasicProperties};
use loyalty_tests::{wait_for, TestEnv};
use platform::broker::Domain;

#[tokio::test]
async fn gauges_report_dead_letters_consumers_and_the_outbox_backlog() {
    let env = TestEnv::new().await;
    let (conn, channel) = env.channel().await;
    let dlq = env.topology.dead_letter_queue(Domain::Points);
    for i in 0..3 {
        channel
            .basic_publish(
                "".into(),
                dlq.as_str().into(),
                BasicPublishOptions::default(),
                format!("m{i}").as_bytes(),
                BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }
    // A relay that stopped two minutes ago: one row waiting since then.
    sqlx::query(
        "insert into outbox (crm_id, routing_key, events, event_count, created_at) \
         values ('10080', 'points.produce', '[]'::bytea, 0, now() - interval '2 minutes')",
    )
    .execute(&env.db)
    .await
    .expect("outbox row");
    // A transfer nobody accepted, due an hour ago, not yet returned (no sweeper runs here).
    sqlx::query(
        "insert into points_transfer (crm_id, transfer_no, from_member, points, status, expire_at) \
         values ('10080', 't1', 'm1', 5, 'pending', now() - interval '1 hour')",
    )
    .execute(&env.db)
    .await
    .expect("transfer row");
    let worker = env.worker(1, false, Arc::default());
    // One consumer per family (points, cards): all of them consume.
    let all = worker.consumers;
    assert_eq!(all, 2);
    wait_for("consumers", Duration::from_secs(10), || {
        let n = worker.consuming.count();
        async move { (n == all).then_some(()) }
    })
    .await;

    // The process-wide recorder, installed before the sample so that it records it.
    let metrics = platform::telemetry::metrics();
    let sample = workers::gauges::sample(&worker.deps, &mut None).await.expect("sample");
    let depth = |queue: &str| sample.queues.iter().find(|q| q.queue == queue).cloned().expect(queue);
    let parked = depth(&dlq);
    assert_eq!((parked.kind, parked.messages, parked.consumers), ("dead_letter", 3, 0));
    let work = depth(&env.topology.work_queue(Domain::Points));
    assert_eq!((work.kind, work.messages, work.consumers), ("work", 0, 1));
    assert_eq!(depth(&env.topology.work_queue(Domain::Cards)).consumers, 1);
    assert_eq!(sample.outbox_unsent_rows, 1);
    assert!(sample.outbox_oldest_unsent_seconds >= 120.0, "{sample:?}");
    let lag: std::collections::HashMap<_, _> = sample.sweeper_lag_seconds.iter().copied().collect();
    assert!((3600.0..3700.0).contains(&lag["transfer"]), "{sample:?}");
    assert_eq!((lag["lot"], lag["code"], lag["present"]), (0.0, 0.0, 0.0), "{sample:?}");

    let text = metrics.render();
    let line = text
        .lines()
        .find(|l| l.starts_with("broker_queue_messages{") && l.contains(&format!("queue=\"{dlq}\"")))
        .unwrap_or_else(|| panic!("no gauge for {dlq} in:\n{text}"));
    assert!(line.contains("kind=\"dead_letter\"") && line.ends_with(" 3"), "{line}");
    assert!(text.lines().any(|l| l.starts_with("sweeper_lag_seconds{kind=\"transfer\"} 36")), "{text}");

    worker.stop(Duration::from_secs(10)).await;
    conn.close(200, "done".into()).await.ok();
    env.cleanup().await;
}
