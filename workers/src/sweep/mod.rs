//! The scheduled work: one list of steps ([`STEPS`]) that the sweeper runs every
//! `SWEEP_INTERVAL_MS`. A domain with scheduled work adds a step to the list; the step's code
//! (what is due, and how it is undone or expired) stays in the domain.
//!
//! Every step runs each round, each taking a bounded slice of its work, so no step starves
//! another; a round in which some step found work runs again at once, so a backlog drains
//! without waiting out the interval.

mod steps;

use std::{future::Future, pin::Pin};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::Deps;

/// What a step's run answers: whether it found work (there may be more).
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<bool>> + Send + 'a>>;

/// One kind of scheduled work.
pub struct Step {
    /// Names the step in the logs.
    pub name: &'static str,
    /// Does one bounded slice of the work due at `now` (the business time; tests pass their
    /// own), emitting the step's metrics and log line.
    pub run: for<'a> fn(&'a Deps, DateTime<Utc>) -> StepFuture<'a>,
}

/// Every step, in the order a round runs them.
pub const STEPS: &[Step] = &[
    Step { name: "points expiry and unfreezing", run: steps::points_lots },
    Step { name: "transfer returns", run: steps::transfer_returns },
    Step { name: "card code expiry", run: steps::card_expiry },
    Step { name: "present returns", run: steps::present_returns },
    Step { name: "member levels", run: steps::member_levels },
    Step { name: "stock generation resumption", run: steps::stock_resumption },
    Step { name: "analytics dedup retention", run: steps::analytics_seen },
];

/// Runs one round of every step; true if some step found work.
pub async fn round(deps: &Deps, now: DateTime<Utc>) -> bool {
    let mut busy = false;
    for step in STEPS {
        match (step.run)(deps, now).await {
            Ok(found) => busy |= found,
            Err(e) => tracing::warn!(step = step.name, error = %e, "sweep step failed; retrying next round"),
        }
    }
    busy
}

/// Runs rounds until `shutdown`: at once after a busy round, else after the interval.
pub async fn run(deps: &Deps, shutdown: CancellationToken) {
    loop {
        let busy = round(deps, Utc::now()).await;
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
