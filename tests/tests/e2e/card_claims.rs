//! Card claims: applied a batch at a time, their codes handed out from the Redis pool with
//! PostgreSQL the truth behind it.

use std::{sync::Arc, time::Duration};

use deadpool_redis::redis;
use loyalty_tests::{wait_for, TestEnv};
use schemas::{cards::ReceivePayload, Envelope, MessageKind};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use workers::{
    cards::{pool::CodePool, receive},
    outcome::Outcome,
    Deps, WorkerOptions,
};

/// A card of `stock` codes valid for ever, generated; returns (api key, card_id).
async fn stocked_card(env: &TestEnv, stock: i64) -> (String, String) {
    let key = env.tenant("10080").await;
    let card_id = stocked_card_of(env, &key, stock, 0).await;
    (key, card_id)
}

/// Another card of the tenant: `stock` codes, `get_limit` per member.
async fn stocked_card_of(env: &TestEnv, key: &str, stock: i64, get_limit: i64) -> String {
    let generator = env.worker(1, false, Arc::default());
    let overrides = [("date_type", json!(3)), ("total_quantity", json!(stock)), ("get_limit", json!(get_limit))];
    let card_id = env.card_in_stock(key, "10080", &overrides).await;
    generator.stop(Duration::from_secs(5)).await;
    card_id
}

/// Sends `n` single-code claims at once (received_id `{prefix}{i}`, one member each) and waits
/// until every one is answered.
async fn claim_all(env: &Arc<TestEnv>, key: &str, card_id: &str, prefix: &str, n: usize) {
    let mut claims = tokio::task::JoinSet::new();
    for i in 0..n {
        let (env, key, card_id, prefix) = (env.clone(), key.to_string(), card_id.to_string(), prefix.to_string());
        claims.spawn(async move {
            let body = json!({"received_id": format!("{prefix}{i}"), "member_no": format!("{prefix}m{i}"), "out_str": "flash", "card_info": {card_id: 1}});
            env.post_accepted("/api/crm/card/10080/member/receive", &key, body).await;
        });
    }
    while let Some(r) = claims.join_next().await {
        r.unwrap();
    }
    let like = format!("{prefix}%");
    wait_for("every claim answered", Duration::from_secs(30), || async {
        let answered: i64 =
            sqlx::query_scalar("select count(*) from inbox where key_kind = 'received_id' and idem_key like $1")
                .bind(&like)
                .fetch_one(&env.db)
                .await
                .unwrap();
        (answered == n as i64).then_some(())
    })
    .await;
}

async fn list_len(env: &TestEnv, list: &str) -> i64 {
    let mut conn = env.redis.get().await.unwrap();
    redis::cmd("LLEN").arg(list).query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn a_batch_of_claims_is_served_in_order_each_all_or_nothing_within_limits() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let a = stocked_card_of(&env, &key, 3, 2).await;
    let b = stocked_card_of(&env, &key, 1, 0).await;
    let claim = |id: &str, member: &str, cards: &[(&str, i64)]| {
        let card_info = cards.iter().map(|(c, n)| (c.to_string(), *n)).collect();
        Envelope::new(
            MessageKind::CardsReceive,
            "10080".into(),
            id.into(),
            chrono::Utc::now(),
            ReceivePayload { member_no: member.into(), out_str: "pos".into(), card_info },
        )
    };
    let batch = vec![
        claim("c1", "m1", &[(&a, 1), (&b, 1)]),
        claim("c2", "m2", &[(&a, 1), (&b, 1)]),
        claim("c3", "m1", &[(&a, 1)]),
        claim("c4", "m1", &[(&a, 1)]),
        claim("c5", "m3", &[(&a, 2)]),
        claim("c1", "m1", &[(&a, 1), (&b, 1)]),
        claim("c6", "m3", &[(&a, 1)]),
    ];
    let deps = env.deps(Arc::default());
    let tenants = deps.rules.get(&env.db, &["10080".to_string()]).await.unwrap();
    // Card A's pool loaded beforehand by a claim that then failed and gave its code back: the
    // batch empties the list, reloads it and meets the codes it already holds again.
    let mut tx = env.db.begin().await.unwrap();
    let first = deps.codes.take(&mut tx, "10080", &a, 1).await.unwrap();
    tx.rollback().await.unwrap();
    deps.codes.give_back("10080", &a, &first).await;
    assert_eq!(list_len(&env, &deps.codes.key("10080", &a)).await, 3);

    let outcomes = receive::apply_batch(&env.db, &deps.codes, &tenants, &batch).await.unwrap();
    let reason = |i: usize| match &outcomes[i] {
        Outcome::Rejected { reason, .. } => reason.clone(),
        other => panic!("claim {i}: {other:?}"),
    };
    assert_eq!(outcomes[0], Outcome::Applied { count: 2 });
    assert!(reason(1).contains(&format!("card {b} is sold out (0 left, 1 asked)")), "{}", reason(1));
    assert_eq!(outcomes[2], Outcome::Applied { count: 1 });
    assert!(reason(3).contains("get_limit 2 per member reached (2 received)"), "{}", reason(3));
    assert!(reason(4).contains(&format!("card {a} is sold out (1 left, 2 asked)")), "{}", reason(4));
    assert_eq!(outcomes[5], Outcome::Duplicate);
    assert_eq!(outcomes[6], Outcome::Applied { count: 1 }, "the refused claims took nothing");
    let held: Vec<(String, String, i64)> = sqlx::query_as(
        "select member_no, card_id, count(*) from card_code where member_no is not null group by 1, 2 order by 1, 2",
    )
    .fetch_all(&env.db)
    .await
    .unwrap();
    let mut expected = vec![("m1".to_string(), a.clone(), 2), ("m1".into(), b.clone(), 1), ("m3".into(), a.clone(), 1)];
    expected.sort();
    assert_eq!(held, expected);
    assert_eq!(env.scalar("select sum(received)::bigint from card_member").await, 4, "counters as issued");
    assert_eq!(
        env.scalar("select count(*) from card_member where member_no = 'm2'").await,
        0,
        "a claim refused writes no counter"
    );
    assert_eq!(env.scalar("select duplicates::bigint from inbox where idem_key = 'c1'").await, 1);
    assert_eq!(env.scalar("select count(*) from inbox where key_kind = 'received_id'").await, 6);
    assert_eq!(env.scalar("select count(*) from card_code where status = 0").await, 0);

    // The same batch again: every claim a duplicate, nothing changes.
    let again = receive::apply_batch(&env.db, &deps.codes, &tenants, &batch).await.unwrap();
    assert!(again.iter().all(|o| *o == Outcome::Duplicate), "{again:?}");
    assert_eq!(env.scalar("select count(*) from card_code where status = 1").await, 4);
    env.cleanup().await;
}

/// The counter of a member's first claim of a card is created by the batch's last statements,
/// not locked beforehand: a concurrent batch that created it first makes the insert fail, and
/// the batch runs again, finds the counter and keeps `get_limit`.
#[tokio::test]
async fn a_counter_created_by_a_concurrent_batch_is_found_and_the_limit_kept() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let card = stocked_card_of(&env, &key, 3, 1).await;
    let deps = env.deps(Arc::default());
    let tenants = deps.rules.get(&env.db, &["10080".to_string()]).await.unwrap();
    let claim = Envelope::new(
        MessageKind::CardsReceive,
        "10080".into(),
        "first-claim".into(),
        chrono::Utc::now(),
        ReceivePayload { member_no: "m1".into(), out_str: "pos".into(), card_info: [(card.clone(), 1)].into() },
    );

    // Another batch's transaction, not committed yet: it has issued m1 their one code.
    let mut other = env.db.begin().await.unwrap();
    sqlx::query("insert into card_member (crm_id, member_no, card_id, received) values ('10080', 'm1', $1, 1)")
        .bind(&card)
        .execute(&mut *other)
        .await
        .unwrap();
    let batch = {
        let (db, codes, claim) = (env.db.clone(), deps.codes.clone(), claim.clone());
        tokio::spawn(async move { receive::apply_batch(&db, &codes, &tenants, &[claim]).await })
    };
    // The batch saw no counter, served the claim, and now waits on the other insert.
    wait_for("the batch's counter insert waits on the other batch", Duration::from_secs(20), || async {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&env.db)
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;
    other.commit().await.unwrap();

    let outcomes = batch.await.unwrap().unwrap();
    match &outcomes[0] {
        Outcome::Rejected { reason, .. } => {
            assert!(reason.contains("get_limit 1 per member reached (1 received)"), "{reason}")
        }
        other => panic!("expected the limit, got {other:?}"),
    }
    assert_eq!(env.scalar("select count(*) from card_code where status = 1").await, 0, "no code issued");
    assert_eq!(env.scalar("select count(*) from card_code where status = 0").await, 3, "the stock intact");
    assert_eq!(env.scalar("select received::bigint from card_member where member_no = 'm1'").await, 1);
    env.cleanup().await;
}

#[tokio::test]
async fn codes_come_from_the_redis_pool_and_codes_lost_from_it_are_found_again() {
    let env = Arc::new(TestEnv::new().await);
    let (key, card_id) = stocked_card(&env, 100).await;
    let list = CodePool::new(env.redis.clone(), &env.settings.namespace).key("10080", &card_id);
    let worker = env.worker(2, false, Arc::default());

    claim_all(&env, &key, &card_id, "a", 1).await;
    assert_eq!(list_len(&env, &list).await, 99, "the first claim loaded the pool from PostgreSQL and took one");

    // A worker that popped ten codes and died before its claim committed: they are gone from
    // Redis but still in stock. And a stale entry: the code already issued, pushed back.
    let mut conn = env.redis.get().await.unwrap();
    let lost: Vec<i64> = redis::cmd("LPOP").arg(&list).arg(10).query_async(&mut conn).await.unwrap();
    assert_eq!(lost.len(), 10);
    let issued = env.scalar("select code_id from card_code where status = 1").await;
    let _: i64 = redis::cmd("LPUSH").arg(&list).arg(issued).query_async(&mut conn).await.unwrap();
    drop(conn);

    claim_all(&env, &key, &card_id, "b", 100).await;
    env.assert_issued_once(&card_id, 100).await;
    let refused: Vec<String> =
        sqlx::query_scalar("select reason from inbox where key_kind = 'received_id' and status = 'rejected'")
            .fetch_all(&env.db)
            .await
            .unwrap();
    assert_eq!(refused.len(), 1, "101 claims for 100 codes: {refused:?}");
    assert!(refused[0].contains("sold out"), "{refused:?}");
    let lost_issued =
        env.scalar(&format!("select count(*) from card_code where status = 1 and code_id in ({})", join(&lost))).await;
    assert_eq!(lost_issued, 10, "the codes lost from Redis were issued all the same");
    // What the list may still hold are stale entries (codes loaded while a claim held them),
    // dropped when popped; never a code in stock.
    let mut conn = env.redis.get().await.unwrap();
    let left: Vec<i64> = redis::cmd("LRANGE").arg(&list).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
    if !left.is_empty() {
        assert_eq!(
            env.scalar(&format!("select count(*) from card_code where status <> 1 and code_id in ({})", join(&left)))
                .await,
            0,
            "{left:?}"
        );
    }
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("claims ended").cleanup().await;
}

#[tokio::test]
async fn claims_are_served_from_postgresql_while_redis_is_unreachable() {
    let env = Arc::new(TestEnv::new().await);
    let (key, card_id) = stocked_card(&env, 30).await;
    // The worker's Redis is a closed port; the API's is the real one.
    let unreachable = platform::cache::Redis::single("redis://127.0.0.1:1", None).unwrap();
    let deps = Arc::new(Deps::new(env.settings.clone(), env.db.clone(), unreachable, Arc::default()));
    let worker = workers::start(
        deps,
        WorkerOptions { consumers: 1, relay: false, sweep: false, analytics: 0 },
        CancellationToken::new(),
    );

    claim_all(&env, &key, &card_id, "c", 40).await;
    env.assert_issued_once(&card_id, 30).await;
    assert_eq!(
        env.scalar("select count(*) from inbox where key_kind = 'received_id' and status = 'rejected' and reason like '%sold out%'").await,
        10
    );
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("claims ended").cleanup().await;
}

fn join(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}
