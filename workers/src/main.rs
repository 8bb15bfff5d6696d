//! The `workers` binary: runs the consumers and the relay, or an operator command.

use clap::{Parser, Subcommand};
use platform::{
    broker::{dlq, Domain, Topology},
    settings::{CommonArgs, WorkerArgs, LOG_FILTER_HELP},
    Settings,
};
use tokio_util::sync::CancellationToken;

/// mimalloc: glibc's malloc and free were a sixth of the api's CPU under load (issue 14).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "workers", version, about = "Loyalty engine workers and operator commands", after_help = LOG_FILTER_HELP)]
struct Cli {
    /// Every setting is an environment variable (or the flag of the same name, given before
    /// the subcommand); `--help` lists them. The workers read no admin token.
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    workers: WorkerArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume and apply events until SIGTERM/SIGINT (the default).
    Run,
    /// Parked (dead-lettered) messages.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Check that every balance equals its lots and its ledger; exits 1 on any violation.
    Verify {
        #[arg(long)]
        crm_id: Option<String>,
    },
    /// The dashboards' aggregates.
    Analytics {
        #[command(subcommand)]
        action: AnalyticsAction,
    },
    /// A tenant's data as a whole.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
}

#[derive(Subcommand)]
enum TenantAction {
    /// Move a tenant's rows, ids kept, in one transaction on each side: from DATABASE_URL to
    /// another installation's database (`--to`, created and migrated if missing), or from its
    /// shard to another shard of this one (`--to-shard`). Pause the tenant's traffic and let the
    /// queues drain first (README "Scaling out"); needs a superuser on both databases.
    Move {
        #[arg(long)]
        crm_id: String,
        /// The target database's URL (another installation's database).
        #[arg(long, conflicts_with = "to_shard", required_unless_present = "to_shard")]
        to: Option<String>,
        /// The target shard of this installation (DATABASE_SHARDS): the tenant's keys and limits
        /// stay in the directory, which then names the new shard.
        #[arg(long)]
        to_shard: Option<String>,
    },
}

#[derive(Subcommand)]
enum AnalyticsAction {
    /// Recompute a tenant's aggregates from the ledger and the card tables, day by day in its
    /// time zone (idempotent). Rebuild days the analytics stream has delivered.
    Rebuild {
        #[arg(long)]
        crm_id: String,
        /// First local day (YYYY-MM-DD); default: the tenant's first recorded day.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last local day (YYYY-MM-DD); default: today.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// Show parked messages with their reason and attempts (they stay parked).
    List {
        /// The queue family: points.
        #[arg(long, default_value = "points")]
        queue: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Move parked messages back to their work queue.
    Replay {
        #[arg(long, default_value = "points")]
        queue: String,
        #[arg(long, default_value_t = usize::MAX)]
        limit: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::for_workers(cli.common, cli.workers)?;
    platform::telemetry::init_logging(settings.log_json);
    let result = command(cli.command.unwrap_or(Command::Run), settings).await;
    // The last log lines and spans out before the process ends (the log writer is a thread).
    platform::telemetry::shutdown();
    result
}

async fn command(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Run => run(settings).await,
        Command::Dlq { action } => {
            let topology = Topology::new(&settings.namespace, settings.retry_delays.clone());
            let domain =
                |q: &str| Domain::parse(q).ok_or_else(|| anyhow::anyhow!("unknown queue {q:?}; known: points"));
            match action {
                DlqAction::List { queue, limit } => {
                    for message in dlq::list(&settings.amqp_url, &topology, domain(&queue)?, limit).await? {
                        println!("{}", serde_json::to_string(&message)?);
                    }
                }
                DlqAction::Replay { queue, limit } => {
                    let report = dlq::replay(&settings.amqp_url, &topology, domain(&queue)?, limit, true).await?;
                    println!("{}", serde_json::to_string(&report)?);
                }
            }
            Ok(())
        }
        Command::Analytics { action: AnalyticsAction::Rebuild { crm_id, from, to } } => {
            let db = platform::db::connect_and_migrate(&settings).await?;
            let rebuilt = workers::analytics::rebuild::rebuild(&db, &crm_id, from, to).await?;
            println!("{}", serde_json::to_string(&rebuilt)?);
            Ok(())
        }
        Command::Tenant { action: TenantAction::Move { crm_id, to, to_shard } } => {
            let moved = match (to, to_shard) {
                (_, Some(shard)) => workers::tenant_move::move_to_shard(&settings, &crm_id, &shard).await?,
                (Some(url), None) => {
                    let source = platform::db::connect_and_migrate(&settings).await?;
                    let target = workers::tenant_move::connect_target(&settings, &url).await?;
                    workers::tenant_move::move_tenant(&source, &target, &crm_id).await?
                }
                (None, None) => unreachable!("clap requires --to or --to-shard"),
            };
            println!("{}", serde_json::to_string(&moved)?);
            if !moved.left_behind.is_empty() {
                anyhow::bail!(
                    "tenant {crm_id} gained rows during the move, still in the source: {:?} (pause its traffic and run the move again for them)",
                    moved.left_behind
                );
            }
            Ok(())
        }
        Command::Verify { crm_id } => {
            // Every shard (DATABASE_URL and DATABASE_SHARDS), tenant by tenant, so a long check
            // shows its progress.
            let mut violations = Vec::new();
            for shard in settings.every_shard() {
                let db = platform::db::connect_and_migrate(&shard).await?;
                let crm_ids = match &crm_id {
                    Some(c) => vec![c.clone()],
                    None => workers::verify::tenants(&db).await?,
                };
                let mut progress =
                    platform::progress::Progress::new(&format!("verify {}", shard.shard), Some(crm_ids.len() as u64));
                let before = violations.len();
                for c in &crm_ids {
                    violations.extend(workers::verify::violations(&db, Some(c)).await?);
                    progress.inc(1);
                }
                let found = violations.len() - before;
                progress.finish(&format!("shard {}: {} tenant(s), {found} violation(s)", shard.shard, crm_ids.len()));
            }
            for v in &violations {
                println!("{}", serde_json::to_string(v)?);
            }
            if violations.is_empty() {
                println!("verify: every balance equals its lots and its ledger");
                Ok(())
            } else {
                eprintln!("verify: {} violation(s)", violations.len());
                platform::telemetry::shutdown();
                std::process::exit(1);
            }
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(?settings, "starting workers");
    platform::telemetry::metrics();
    let shutdown = CancellationToken::new();
    let metrics_addr = settings.worker_metrics_addr.clone();
    let handle = workers::runner::start_from_settings(settings, shutdown.clone()).await?;
    let gauges = {
        let (deps, stop) = (handle.deps.clone(), shutdown.clone());
        tokio::spawn(async move { workers::gauges::run(&deps, stop).await })
    };
    if !metrics_addr.is_empty() {
        // Prometheus scrapes each worker process here (with --scale, each container its own),
        // and /healthz says whether its consumers consume. A second worker process on the same
        // host finds the port taken: it still works, it just is not scraped (set
        // WORKER_METRICS_ADDR per process to scrape each).
        match tokio::net::TcpListener::bind(&metrics_addr).await {
            Ok(listener) => {
                let app = workers::health::router(handle.consuming.clone());
                let stop = shutdown.clone();
                tokio::spawn(
                    async move { axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await },
                );
                tracing::info!(addr = %metrics_addr, "serving /metrics and /healthz");
            }
            Err(e) => tracing::warn!(addr = %metrics_addr, error = %e, "not serving /metrics"),
        }
    }
    platform::shutdown::signal().await;
    tracing::info!("shutting down: finishing in-flight batches");
    handle.stop(std::time::Duration::from_secs(30)).await;
    gauges.await.ok();
    Ok(())
}
