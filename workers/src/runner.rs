//! Starting and stopping a worker process's tasks: N consumers per domain, the outbox relay
//! and the sweeper.

use std::sync::Arc;

use platform::{broker::Domain, Settings};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{health::Consuming, Deps, Failpoints};

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub consumers: usize,
    pub relay: bool,
    /// Run the sweeper ([`crate::sweep`]).
    pub sweep: bool,
    /// Analytics consumers ([`crate::analytics::consumer`]), 0 for none.
    pub analytics: usize,
}

impl WorkerOptions {
    pub fn from_settings(settings: &Settings) -> WorkerOptions {
        WorkerOptions {
            consumers: settings.consumers.max(1),
            relay: true,
            sweep: true,
            analytics: settings.consumers.max(1),
        }
    }
}

/// A running worker: stop it gracefully, or wait for it.
pub struct WorkerHandle {
    pub deps: Arc<Deps>,
    /// Its consumers that are consuming (what its `/healthz` reports).
    pub consuming: Arc<Consuming>,
    /// How many consumers it started: `consuming` reaches this once all of them consume.
    pub consumers: usize,
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
    let consuming = Arc::new(Consuming::default());
    // Consumers started so far: the next one's index, and in the end how many `consuming` awaits.
    let mut consumers = 0;
    // Card work (stock generation, claims) has its own queue, so a flash sale never queues
    // behind a points backlog or the reverse.
    for index in 0..options.consumers {
        for (domain, index) in [(Domain::Points, index), (Domain::Cards, options.consumers + index)] {
            tracker.spawn(crate::consumer::run(deps.clone(), domain, index, consuming.clone(), shutdown.clone()));
            consumers += 1;
        }
    }
    for _ in 0..options.analytics {
        tracker.spawn(crate::analytics::consumer::run(deps.clone(), consumers, consuming.clone(), shutdown.clone()));
        consumers += 1;
    }
    if options.relay {
        let deps = deps.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move { crate::relay::run(&deps, shutdown).await });
    }
    if options.sweep {
        let deps = deps.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move { crate::sweep::run(&deps, shutdown).await });
    }
    tracker.close();
    WorkerHandle { deps, consuming, consumers, shutdown, tracker }
}

/// Connects everything from settings and starts; what the binary runs.
pub async fn start_from_settings(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<WorkerHandle> {
    let db = platform::db::connect_and_migrate(&settings).await?;
    let redis = platform::cache::Redis::from_settings(&settings)?;
    let options = WorkerOptions::from_settings(&settings);
    let deps = Arc::new(Deps::new(settings, db, redis, Arc::new(Failpoints::default())));
    Ok(start(deps, options, shutdown))
}
