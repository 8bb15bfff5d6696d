//! Starting and stopping a worker process's tasks: N consumers and the outbox relay.

use std::sync::Arc;

use platform::{broker::Domain, Settings};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{Deps, Failpoints};

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub consumers: usize,
    pub relay: bool,
    /// Run the expiry / unfreeze sweeper.
    pub sweep: bool,
}

impl WorkerOptions {
    pub fn from_settings(settings: &Settings) -> WorkerOptions {
        WorkerOptions { consumers: settings.consumers.max(1), relay: true, sweep: true }
    }
}

/// A running worker: stop it gracefully, or wait for it.
pub struct WorkerHandle {
    pub deps: Arc<Deps>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl WorkerHandle {
    /// Stops taking new batches, finishes the ones in flight, and returns when all tasks ended
    /// (or after `grace`, leaving the rest to be redelivered).
    pub async fn stop(self, grace: std::time::Duration) {
        self.shutdown.cancel();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!("worker tasks did not stop within the grace period");
        }
    }
}

/// Starts the consumers and the relay on the shared dependencies.
pub fn start(deps: Arc<Deps>, options: WorkerOptions, shutdown: CancellationToken) -> WorkerHandle {
    let tracker = TaskTracker::new();
    // Card work (stock generation, claims) has its own queue, so a flash sale never queues
    // behind a points backlog or the reverse.
    for index in 0..options.consumers {
        tracker.spawn(crate::consumer::run(deps.clone(), Domain::Points, index, shutdown.clone()));
        tracker.spawn(crate::consumer::run(deps.clone(), Domain::Cards, options.consumers + index, shutdown.clone()));
    }
    if options.relay {
        let deps = deps.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move { crate::relay::run(&deps, shutdown).await });
    }
    if options.sweep {
        let deps = deps.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move { sweep_loop(&deps, shutdown).await });
    }
    tracker.close();
    WorkerHandle { deps, shutdown, tracker }
}

/// Connects everything from settings and starts; what the binary runs.
pub async fn start_from_settings(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<WorkerHandle> {
    let db = platform::db::connect_and_migrate(&settings).await?;
    let redis = platform::cache::redis_pool(&settings.redis_url)?;
    let options = WorkerOptions::from_settings(&settings);
    let deps = Arc::new(Deps::new(settings, db, redis, Arc::new(Failpoints::default())));
    Ok(start(deps, options, shutdown))
}

/// The scheduled work, every `SWEEP_INTERVAL_MS` by the injected clock: due lots expire or
/// unfreeze, transfers and presents not taken in time go back, card codes expire, stale stock
/// generation resumes. A round that found work runs again at once (each step takes a bounded
/// slice), so a backlog drains without waiting out the interval and no step starves another.
async fn sweep_loop(deps: &Deps, shutdown: CancellationToken) {
    loop {
        let mut busy = false;
        match crate::points::sweep::run_once(&deps.db, deps.clock.now(), 500).await {
            Ok(s) if s.expired_lots + s.unfrozen_lots + s.returned_transfers > 0 => {
                busy = true;
                metrics::counter!("sweeper_expired_lots_total").increment(s.expired_lots as u64);
                metrics::counter!("sweeper_unfrozen_lots_total").increment(s.unfrozen_lots as u64);
                metrics::counter!("sweeper_returned_transfers_total").increment(s.returned_transfers as u64);
                tracing::info!(
                    expired_lots = s.expired_lots,
                    expired_points = s.expired_points,
                    unfrozen_lots = s.unfrozen_lots,
                    returned_transfers = s.returned_transfers,
                    "sweep"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; retrying"),
        }
        match crate::cards::receive::expire_due(&deps.db, deps.clock.now()).await {
            Ok(0) => {}
            Ok(n) => {
                busy = true;
                tracing::info!(codes = n, "expired card codes");
            }
            Err(e) => tracing::warn!(error = %e, "expiring card codes failed"),
        }
        match crate::cards::present::return_due(&deps.db, deps.clock.now()).await {
            Ok(0) => {}
            Ok(n) => {
                busy = true;
                tracing::info!(presents = n, "returned presents not received in time");
            }
            Err(e) => tracing::warn!(error = %e, "returning presents failed"),
        }
        match crate::cards::generate::resume_stale(&deps.db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(codes = n, "resumed stale card generation"),
            Err(e) => tracing::warn!(error = %e, "resuming card generation failed"),
        }
        if shutdown.is_cancelled() {
            return;
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(deps.settings.sweep_interval) => {}
        }
    }
}
