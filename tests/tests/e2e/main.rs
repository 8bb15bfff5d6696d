//! End-to-end tests against the real PostgreSQL, RabbitMQ and Redis. Each test builds its own
//! environment (database, broker namespace, Redis prefix), so they run in parallel.

mod activities;
mod analytics;
mod audit;
mod auth;
mod broker_contract;
mod card_claims;
mod cards;
mod cluster;
mod copy_rows;
mod coupons;
mod earn_rules;
mod feeds;
mod gauges;
mod health;
mod idempotency;
mod ledger;
mod ledger_props;
mod level_rules;
mod limits;
mod member_levels;
mod member_props;
mod members;
mod orders;
mod outbox;
mod pipeline;
mod redis_cluster;
mod schema;
mod seed_shapes;
mod shards;
mod status;
mod tenant_move;
mod tls;
mod validation;
mod wire;
