//! Unit tests of the settings: defaults, empty values, the admin-token guard, `--help`.
//! They parse flags, never the process environment, so they run in parallel with anything.

use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::*;

fn parse(flags: &[&str]) -> AllArgs {
    let mut argv = vec!["settings"];
    argv.extend_from_slice(flags);
    AllArgs::try_parse_from(argv).expect("flags parse")
}

#[test]
fn redact_hides_passwords_only() {
    assert_eq!(redact("amqp://guest:guest@h:5672/%2f"), "amqp://guest:***@h:5672/%2f");
    assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    assert_eq!(
        redact("amqp://app:s1@n1:5672/%2f,amqp://app:s2@n2:5672/%2f"),
        "amqp://app:***@n1:5672/%2f,amqp://app:***@n2:5672/%2f",
        "each address of a list"
    );
}

#[test]
fn amqp_url_takes_several_addresses_and_names_the_bad_one_without_its_text() {
    let settings = |url: &str| {
        let all = parse(&[&format!("--amqp-url={url}")]);
        Settings::from_parts(all.common, all.api, String::new(), all.workers)
    };
    let two = "amqp://guest:guest@127.0.0.1:5673/%2f, amqp://guest:guest@127.0.0.1:5674/%2f";
    assert_eq!(settings(two).unwrap().amqp_url, two);
    assert_eq!(crate::broker::addresses(two).collect::<Vec<_>>().len(), 2);
    let err = settings("amqp://guest:guest@127.0.0.1:5673/%2f,http://secret@x").unwrap_err().to_string();
    assert!(err.contains("AMQP_URL: address 2 is not an AMQP URI"), "{err}");
    assert!(!err.contains("secret"), "the address's text stays out of the message: {err}");
    let err = settings(" , ").unwrap_err().to_string();
    assert!(err.contains("AMQP_URL names no address"), "{err}");
}

#[test]
fn database_shards_name_the_shards_and_a_worker_serves_one() {
    let url2 = "postgres://u:secret@h2:5433/loyalty";
    let all = parse(&[&format!("--database-shards=s2={url2}, eu_1=postgres://h3/l"), "--worker-shard=s2"]);
    let api = Settings::from_parts(all.common.clone(), all.api.clone(), String::new(), all.workers.clone()).unwrap();
    let names: Vec<(&str, &str)> = api.shards.iter().map(|s| (s.name.as_str(), s.namespace.as_str())).collect();
    assert_eq!(names, [("default", "loyalty"), ("s2", "loyalty-s2"), ("eu_1", "loyalty-eu_1")]);
    assert_eq!((api.shard.as_str(), api.database_url.as_str()), ("default", default::DATABASE_URL));
    let worker = Settings::for_workers(all.common, all.workers).unwrap();
    assert_eq!(
        (worker.shard.as_str(), worker.database_url.as_str(), worker.namespace.as_str()),
        ("s2", url2, "loyalty-s2")
    );
    assert!(!format!("{worker:?}").contains("secret"), "shard URLs are redacted");

    let settings = |shards: &str, worker: &str| {
        let all = parse(&[&format!("--database-shards={shards}"), &format!("--worker-shard={worker}")]);
        Settings::for_workers(all.common, all.workers).map(|_| ()).unwrap_err().to_string()
    };
    assert!(settings("s2", "default").contains("entry 1 is not name="));
    assert!(settings("S2=postgres://h/l", "default").contains("entry 1: a shard's name"));
    assert!(settings("s2=mysql://secret@h/l", "default").contains("entry 1 (s2) is not a postgres"));
    assert!(!settings("s2=mysql://secret@h/l", "default").contains("secret"));
    assert!(settings("default=postgres://h/l", "default").contains("named twice"));
    assert!(settings("s2=postgres://h/l", "s3").contains("WORKER_SHARD=s3 is not a shard"));
}

#[test]
fn redis_cluster_is_a_boolean_and_empty_is_off() {
    let cluster = |flag: &str| parse(&[flag]).common.redis_cluster;
    assert!(cluster("--redis-cluster=true"));
    assert!(!cluster("--redis-cluster=false"));
    assert!(!cluster("--redis-cluster="), "empty is the default");
    assert!(AllArgs::try_parse_from(["settings", "--redis-cluster=yes please"]).is_err());
}

#[test]
fn defaults_are_the_documented_ones() {
    let all = defaults();
    let s = Settings::from_parts(all.common, all.api, String::new(), all.workers).unwrap();
    // The password is the compose file's POSTGRES_PASSWORD and the CI cluster's.
    assert_eq!(s.database_url, "postgres://postgres:postgres@127.0.0.1:5432/loyalty");
    assert_eq!(s.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
    assert_eq!(s.redis_url, "redis://127.0.0.1:6379");
    assert!(!s.redis_cluster);
    assert_eq!(s.api_addr, "127.0.0.1:21100");
    assert_eq!(s.worker_metrics_addr, "127.0.0.1:21101");
    assert!(!s.production);
    assert_eq!(s.namespace, "loyalty");
    assert_eq!((s.db_max_connections, s.consumers, s.prefetch, s.batch_size), (16, 2, 1000, 500));
    assert_eq!((s.max_body_bytes, s.import_max_bytes), (1 << 20, 128 << 20));
    assert_eq!((s.rate_limit_per_second, s.rate_limit_burst), (500, 1000));
    assert_eq!(s.retry_delays, [1000, 5000, 30000].map(Duration::from_millis));
    assert_eq!((s.relay_batch, s.analytics_batch_events), (20, 10_000));
    assert_eq!(s.sweep_interval, Duration::from_secs(5));
    assert!(s.log_json);
}

#[test]
fn an_empty_value_takes_the_default_but_an_empty_metrics_address_turns_metrics_off() {
    let all = parse(&["--db-max-connections=", "--loyalty-namespace=", "--worker-metrics-addr="]);
    assert_eq!(all.common.db_max_connections, 16);
    assert_eq!(all.common.namespace, "loyalty");
    assert_eq!(all.workers.metrics_addr, "");
    assert!(AllArgs::try_parse_from(["settings", "--worker-prefetch=many"]).is_err());
}

#[test]
fn production_needs_an_admin_token_of_its_own() {
    let cases: &[(&[&str], Result<&str, &str>)] = &[
        (&["--loyalty-env=production"], Err("is required")),
        (&["--loyalty-env=prod", "--loyalty-admin-token="], Err("is required")),
        (&["--loyalty-env=production", "--loyalty-admin-token=dev-admin-token"], Err("public development token")),
        (&["--loyalty-env=production", "--loyalty-admin-token=s3cret"], Ok("s3cret")),
        (&[], Ok(DEV_ADMIN_TOKEN)),
        (&["--loyalty-admin-token=dev-admin-token"], Ok(DEV_ADMIN_TOKEN)),
    ];
    for (flags, expected) in cases {
        let all = parse(flags);
        let got = all.api.admin_token(all.common.production());
        match (expected, got) {
            (Ok(want), Ok(token)) => assert_eq!(&token, want, "{flags:?}"),
            (Err(want), Err(e)) => assert!(e.to_string().contains(want), "{flags:?}: {e}"),
            (_, got) => panic!("{flags:?}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn the_workers_need_no_admin_token_in_production() {
    let all = parse(&["--loyalty-env=production"]);
    let s = Settings::for_workers(all.common, all.workers).expect("workers start without a token");
    assert!(s.production);
    assert_eq!(s.admin_token, "");
}

#[test]
fn help_lists_every_variable_with_its_default() {
    let help = AllArgs::command().render_long_help().to_string();
    let variables = [
        ("DATABASE_URL", Some(default::DATABASE_URL)),
        ("AMQP_URL", Some(default::AMQP_URL)),
        ("REDIS_URL", Some(default::REDIS_URL)),
        ("REDIS_CA_FILE", None),
        ("REDIS_CLUSTER", Some("false")),
        ("DATABASE_SHARDS", None),
        ("WORKER_SHARD", Some("default")),
        ("API_ADDR", Some(default::API_ADDR)),
        ("LOYALTY_ADMIN_TOKEN", None),
        ("LOYALTY_ENV", Some("development")),
        ("LOYALTY_NAMESPACE", Some("loyalty")),
        ("DB_MAX_CONNECTIONS", Some("16")),
        ("WORKER_CONSUMERS", Some("2")),
        ("WORKER_PREFETCH", Some("1000")),
        ("WORKER_BATCH_SIZE", Some("500")),
        ("RETRY_DELAYS_MS", Some("1000,5000,30000")),
        ("RELAY_BATCH", Some("20")),
        ("SWEEP_INTERVAL_MS", Some("5000")),
        ("WORKER_METRICS_ADDR", Some(default::WORKER_METRICS_ADDR)),
        ("LOG_FORMAT", Some("json")),
        ("MAX_BODY_BYTES", Some("1048576")),
        ("IMPORT_MAX_BYTES", Some("134217728")),
        ("RATE_LIMIT_PER_SECOND", Some("500")),
        ("RATE_LIMIT_BURST", Some("1000")),
    ];
    for (name, default) in variables {
        assert!(help.contains(&format!("[env: {name}")), "{name} missing from --help:\n{help}");
        if let Some(d) = default {
            assert!(help.contains(&format!("[default: {d}]")), "{name}'s default {d} missing from --help");
        }
    }
}
