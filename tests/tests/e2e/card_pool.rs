//! The card code pool: codes handed out from Redis lists, PostgreSQL the truth behind them.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use deadpool_redis::redis;
use loyalty_tests::{wait_for, TestEnv};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use workers::{cards::pool::CodePool, Deps, WorkerOptions};

use super::cards::{generated, seed_card};

/// A card of `stock` codes valid for ever, generated; returns (api key, card_id).
async fn stocked_card(env: &TestEnv, stock: i64) -> (String, String) {
    let key = env.tenant("10080").await;
    let mut card = seed_card();
    for (k, v) in [("date_type", json!(3)), ("total_quantity", json!(stock))] {
        card[k] = v;
    }
    let (status, body) = env.post("/api/crm/card/10080/create", &key, card).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let card_id = body["data"]["card_id"].as_str().unwrap().to_string();
    let generator = env.worker(1, false, Arc::default());
    wait_for("the stock", Duration::from_secs(20), || async {
        (generated(env, &key, &card_id).await["generated"] == json!(stock)).then_some(())
    })
    .await;
    generator.stop(Duration::from_secs(5)).await;
    (key, card_id)
}

/// Sends `n` single-code claims at once (received_id `{prefix}{i}`, one member each) and waits
/// until every one is answered.
async fn claim_all(env: &Arc<TestEnv>, key: &str, card_id: &str, prefix: &str, n: usize) {
    let mut claims = tokio::task::JoinSet::new();
    for i in 0..n {
        let (env, key, card_id, prefix) = (env.clone(), key.to_string(), card_id.to_string(), prefix.to_string());
        claims.spawn(async move {
            let body = json!({"received_id": format!("{prefix}{i}"), "member_no": format!("{prefix}m{i}"), "out_str": "flash", "card_info": {card_id: 1}});
            let (status, resp) = env.post("/api/crm/card/10080/member/receive", &key, body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
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
    redis::cmd("LLEN").arg(list).query_async(&mut *conn).await.unwrap()
}

/// Every code in the stock issued exactly once, to one applied claim each.
async fn assert_issued_once(env: &TestEnv, card_id: &str, stock: i64) {
    assert_eq!(
        env.scalar(&format!("select count(*) from card_code where card_id = '{card_id}' and status = 1")).await,
        stock,
        "the whole stock is issued"
    );
    assert_eq!(
        env.scalar("select count(*) from inbox where key_kind = 'received_id' and status = 'applied'").await,
        stock,
        "one applied claim per code"
    );
    assert_eq!(
        env.scalar("select count(*) from (select received_id from card_code where received_id is not null group by received_id having count(*) <> 1) c").await,
        0,
        "each applied claim holds exactly one code"
    );
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
    let lost: Vec<i64> = redis::cmd("LPOP").arg(&list).arg(10).query_async(&mut *conn).await.unwrap();
    assert_eq!(lost.len(), 10);
    let issued = env.scalar("select code_id from card_code where status = 1").await;
    let _: i64 = redis::cmd("LPUSH").arg(&list).arg(issued).query_async(&mut *conn).await.unwrap();
    drop(conn);

    claim_all(&env, &key, &card_id, "b", 100).await;
    assert_issued_once(&env, &card_id, 100).await;
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
    assert_eq!(list_len(&env, &list).await, 0);
    worker.stop(Duration::from_secs(5)).await;
    Arc::into_inner(env).expect("claims ended").cleanup().await;
}

#[tokio::test]
async fn claims_are_served_from_postgresql_while_redis_is_unreachable() {
    let env = Arc::new(TestEnv::new().await);
    let (key, card_id) = stocked_card(&env, 30).await;
    // The worker's Redis is a closed port; the API's is the real one.
    let unreachable = platform::cache::redis_pool("redis://127.0.0.1:1").unwrap();
    let deps = Arc::new(Deps::new(env.settings.clone(), env.db.clone(), unreachable, Arc::default()));
    let worker =
        workers::start(deps, WorkerOptions { consumers: 1, relay: false, sweep: false }, CancellationToken::new());

    claim_all(&env, &key, &card_id, "c", 40).await;
    assert_issued_once(&env, &card_id, 30).await;
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
