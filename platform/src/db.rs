//! The PostgreSQL pool and the migrations.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    ConnectOptions, Connection, PgConnection, PgPool,
};

use crate::Settings;

/// The migrations of `migrations/`, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Creates the database if it does not exist, connects a pool, and runs the migrations.
///
/// sqlx's migrator holds an advisory lock while it runs, so N processes starting together
/// apply each migration once.
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<PgPool> {
    let options =
        PgConnectOptions::from_str(&settings.database_url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    create_database_if_missing(&options).await?;
    let pool = pool(options, settings.db_max_connections).await?;
    MIGRATOR.run(&pool).await.context("running migrations")?;
    Ok(pool)
}

/// [`connect_and_migrate`] for each shard of `DATABASE_SHARDS` (the shards after `default`, in
/// their order).
pub async fn connect_shards(settings: &Settings) -> anyhow::Result<Vec<PgPool>> {
    let mut pools = Vec::new();
    for shard in settings.every_shard().skip(1) {
        pools.push(connect_and_migrate(&shard).await.with_context(|| format!("shard {}", shard.shard))?);
    }
    Ok(pools)
}

async fn pool(options: PgConnectOptions, max: u32) -> anyhow::Result<PgPool> {
    // A session left idle inside a transaction (a cancelled task, sqlx issue #4393) is ended by
    // the server instead of holding row locks for ever.
    let options = options.options([("idle_in_transaction_session_timeout", "30000"), ("lock_timeout", "10000")]);
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    let mut admin =
        options.clone().database("postgres").connect().await.context("connecting to PostgreSQL (database postgres)")?;
    let exists =
        sqlx::query_scalar!(r#"select exists (select 1 from pg_database where datname = $1) as "exists!""#, name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        // Two instances may race here; the loser's "already exists" is fine.
        if let Err(e) = sqlx::query(&format!("create database \"{quoted}\"")).execute(&mut admin).await {
            let duplicate = e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "42P04" || c == "23505");
            if !duplicate {
                return Err(e).context(format!("creating database {name}"));
            }
        }
    }
    admin.close().await.ok();
    Ok(())
}

/// Drops a database (tests only use it, to clean up after themselves).
pub async fn drop_database(database_url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(database_url)?;
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    let mut admin: PgConnection = options.database("postgres").connect().await?;
    let quoted = name.replace('"', "\"\"");
    sqlx::query(&format!("drop database if exists \"{quoted}\" with (force)")).execute(&mut admin).await?;
    Ok(())
}

/// Refreshes the planner's statistics of `table` after a bulk load, best effort (a failure is
/// logged). A card's stock is generated or imported just before its flash sale: with no
/// statistics yet the planner took the claims' lookup of candidate codes through the stock
/// index, filtering every code of the card (5 ms a statement instead of 0.2 ms, issue 14),
/// where autovacuum's analyze would come only later.
pub async fn refresh_statistics(db: &PgPool, table: &'static str) {
    if let Err(e) = sqlx::query(&format!("analyze {table}")).execute(db).await {
        tracing::warn!(table, error = %e, "analyze after a bulk load failed; the planner keeps older statistics");
    }
}

/// Whether the error is `constraint` refusing a row whose key exists (SQLSTATE 23505): the
/// collision of an optimistic insert with a concurrent transaction.
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    e.as_database_error().is_some_and(|d| d.code().as_deref() == Some("23505") && d.constraint() == Some(constraint))
}

/// Whether an error is worth retrying as it is: a deadlock, a serialization failure, a lost
/// or refused connection, a pool time-out. Anything else is a bug or bad data.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| transient_sqlstate(&c)),
        _ => false,
    }
}

/// The SQLSTATEs that say "this attempt failed, the same statement can succeed again":
/// 40001 serialization, 40P01 deadlock, 55P03 lock timeout, 57P01..03 admin shutdown, 08xxx
/// connection exceptions, 53xxx insufficient resources, and 25P03 / 25P04, the server ending a
/// session that sat idle in a transaction (`idle_in_transaction_session_timeout`, set in
/// [`connect_and_migrate`]) or ran past `transaction_timeout`: a worker starved of CPU between
/// two statements of a batch, not a bad message (one was parked as poison for it once).
fn transient_sqlstate(code: &str) -> bool {
    matches!(code, "40001" | "40P01" | "55P03" | "25P03" | "25P04")
        || code.starts_with("57P")
        || code.starts_with("08")
        || code.starts_with("53")
}

#[cfg(test)]
mod tests {
    use super::transient_sqlstate;

    #[test]
    fn lost_sessions_and_lock_conflicts_are_transient_and_bad_data_is_not() {
        for code in ["40001", "40P01", "55P03", "57P01", "57P03", "08006", "53300", "25P03", "25P04"] {
            assert!(transient_sqlstate(code), "{code}");
        }
        // unique violation, check violation, invalid text, undefined table, read-only transaction
        for code in ["23505", "23514", "22P02", "42P01", "25006"] {
            assert!(!transient_sqlstate(code), "{code}");
        }
    }
}
