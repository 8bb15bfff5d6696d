//! Issue 16, item 1: the engine on a three-node RabbitMQ cluster (`scripts/cluster`, started by
//! the test if it is not up: nodes on ports 5681-5683 beside the standalone broker). The api and
//! a worker are given the three addresses in `AMQP_URL`; while earn events are posted at a
//! steady rate, each node in turn is killed (`kill -9` of its Erlang VM) and started again.
//! Afterwards every event the api accepted is applied exactly once, nothing is parked, and
//! `verify` is clean. Printed: the longest gap between accepted requests (the failover pause)
//! and the 503s the clients answered by sending again.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use loyalty_tests::{login_rule, script, wait_for, TestEnv};
use platform::broker::{dlq, Domain};
use serde_json::json;

#[tokio::test]
async fn events_posted_while_each_cluster_node_is_killed_and_restarted_are_applied_exactly_once() {
    script("cluster", &["up"]).await;
    let url = script("cluster", &["url"]).await;
    let env = TestEnv::new_with(|s| s.amqp_url = url.clone()).await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, login_rule()).await;
    let worker = env.worker(2, true, Arc::default());
    let queue = env.topology.work_queue(Domain::Points);
    // The worker's consumers declare the topology as they connect.
    wait_for("the work queue to have a replica on each node", Duration::from_secs(30), || {
        let queue = queue.clone();
        async move {
            let members = script("cluster", &["members", &queue]).await;
            ["lrabbit1@localhost", "lrabbit2@localhost", "lrabbit3@localhost"]
                .iter()
                .all(|node| members.contains(node))
                .then_some(())
        }
    })
    .await;
    let env = Arc::new(env);

    let stop = Arc::new(AtomicBool::new(false));
    let retried = Arc::new(AtomicUsize::new(0));
    // When each request was accepted (202), for the longest pause; and the accepted event_nos.
    let accepted_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..8 {
        let (env, key, stop, retried, accepted_at, accepted) =
            (env.clone(), key.clone(), stop.clone(), retried.clone(), accepted_at.clone(), accepted.clone());
        clients.spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let event_no = format!("c{client}-{i}");
                let event =
                    json!({"event_no": event_no, "member_no": format!("m{}", i % 30), "action_scene": "user_login"});
                // A 503 means "not queued, or not known to be: send it again with the same
                // key", which the clients do until it is accepted.
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let (status, body) = env.event("10080", &key, event.clone(), 0).await;
                    if status == StatusCode::ACCEPTED {
                        break;
                    }
                    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                    assert!(Instant::now() < deadline, "{event_no} not accepted within a minute: {body}");
                    retried.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                accepted_at.lock().unwrap().push(Instant::now());
                accepted.lock().unwrap().push(event_no);
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
    let count = || accepted.lock().unwrap().len();
    // Each node in turn, so that whichever nodes the publisher's and the consumers' connections
    // are on, each of those connections loses its node once.
    for node in ["1", "2", "3"] {
        let before = count();
        wait_for("events accepted before the kill", Duration::from_secs(60), || async {
            (count() >= before + 300).then_some(())
        })
        .await;
        script("cluster", &["kill", node]).await;
        let killed = count();
        wait_for("events accepted with the node down", Duration::from_secs(60), || async {
            (count() >= killed + 300).then_some(())
        })
        .await;
        script("cluster", &["start", node]).await;
        println!("node {node} killed after {killed} accepted events and started again");
    }
    wait_for("events accepted after the last restart", Duration::from_secs(60), {
        let target = count() + 300;
        move || async move { (count() >= target).then_some(()) }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    while let Some(r) = clients.join_next().await {
        r.unwrap();
    }

    let accepted = accepted.lock().unwrap().clone();
    let n = accepted.len() as i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while env.scalar("select count(*) from inbox").await < n {
        if Instant::now() >= deadline {
            // Say what is missing and where the messages are, so that a failure tells a lost
            // message from a consumer that stopped taking them.
            let applied: Vec<String> =
                sqlx::query_scalar("select idem_key from inbox").fetch_all(&env.db).await.unwrap();
            let applied: std::collections::HashSet<String> = applied.into_iter().collect();
            let missing: Vec<&String> = accepted.iter().filter(|e| !applied.contains(*e)).collect();
            let (conn, channel) = env.channel().await;
            let passive = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
            let work = channel.queue_declare(queue.as_str().into(), passive, Default::default()).await;
            let work = work.map(|q| (q.message_count(), q.consumer_count()));
            conn.close(200, "done".into()).await.ok();
            panic!(
                "after 120 s, {} of {n} accepted events applied; {} missing, the first {:?}; the work queue \
                 (ready messages, consumers): {work:?}; the worker's consumers consuming: {}",
                applied.len(),
                missing.len(),
                &missing[..missing.len().min(10)],
                worker.consuming.count()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut times = accepted_at.lock().unwrap().clone();
    times.sort();
    let pause = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    println!(
        "{n} events accepted, {} 503s answered by sending again; the longest pause between accepted requests: {pause:?}",
        retried.load(Ordering::SeqCst)
    );
    assert_eq!(env.scalar("select count(*) from inbox").await, n, "one outcome per event, none extra");
    assert_eq!(env.scalar("select count(*) from points_ledger").await, n, "each accepted event applied");
    assert_eq!(env.scalar("select count(distinct event_no) from points_ledger").await, n, "and applied once");
    let parked = dlq::list(&env.settings.amqp_url, &env.topology, Domain::Points, 10).await.unwrap();
    assert!(parked.is_empty(), "nothing parked: {parked:?}");
    let violations = workers::verify::violations(&env.db, None).await.unwrap();
    assert!(violations.is_empty(), "verify: {violations:?}");
    worker.stop(Duration::from_secs(10)).await;
    Arc::into_inner(env).expect("tasks ended").cleanup().await;
}
