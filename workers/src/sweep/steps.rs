//! The sweep steps: each runs its domain's due work and reports it (metrics, one log line).

use chrono::{DateTime, Utc};
use platform::metric_names::{
    SWEEPER_EXPIRED_LOTS_TOTAL, SWEEPER_RETURNED_TRANSFERS_TOTAL, SWEEPER_UNFROZEN_LOTS_TOTAL,
};

use super::StepFuture;
use crate::{analytics, cards, members, points, Deps};

/// Members (points) or transfers handled per round by one step.
const SLICE: i64 = 500;

/// Due lots expire or unfreeze.
pub fn points_lots(deps: &Deps, now: DateTime<Utc>) -> StepFuture<'_> {
    Box::pin(async move {
        let s = points::sweep::expire_and_unfreeze(&deps.db, now, SLICE).await?;
        if s.expired_lots + s.unfrozen_lots == 0 {
            return Ok(false);
        }
        metrics::counter!(SWEEPER_EXPIRED_LOTS_TOTAL).increment(s.expired_lots as u64);
        metrics::counter!(SWEEPER_UNFROZEN_LOTS_TOTAL).increment(s.unfrozen_lots as u64);
        tracing::info!(
            expired_lots = s.expired_lots,
            expired_points = s.expired_points,
            unfrozen_lots = s.unfrozen_lots,
            "sweep"
        );
        Ok(true)
    })
}

/// Transfers not accepted in time go back to their givers.
pub fn transfer_returns(deps: &Deps, now: DateTime<Utc>) -> StepFuture<'_> {
    Box::pin(async move {
        let n = points::transfer::return_due(&deps.db, now, SLICE).await?;
        if n == 0 {
            return Ok(false);
        }
        metrics::counter!(SWEEPER_RETURNED_TRANSFERS_TOTAL).increment(n as u64);
        tracing::info!(returned_transfers = n, "returned transfers not accepted in time");
        Ok(true)
    })
}

/// Card codes past their validity expire.
pub fn card_expiry(deps: &Deps, now: DateTime<Utc>) -> StepFuture<'_> {
    Box::pin(async move {
        let n = cards::receive::expire_due(&deps.db, now).await?;
        if n == 0 {
            return Ok(false);
        }
        tracing::info!(codes = n, "expired card codes");
        Ok(true)
    })
}

/// Presents not received in time go back to their givers.
pub fn present_returns(deps: &Deps, now: DateTime<Utc>) -> StepFuture<'_> {
    Box::pin(async move {
        let n = cards::present::return_due(&deps.db, now).await?;
        if n == 0 {
            return Ok(false);
        }
        tracing::info!(presents = n, "returned presents not received in time");
        Ok(true)
    })
}

/// Member levels recomputed as their windows slide.
pub fn member_levels(deps: &Deps, now: DateTime<Utc>) -> StepFuture<'_> {
    Box::pin(async move {
        let (checked, changed) = members::levels::sweep(&deps.db, now, SLICE).await?;
        if checked == 0 {
            return Ok(false);
        }
        tracing::info!(members = checked, level_changes = changed, "recomputed member levels");
        Ok(true)
    })
}

/// Stale stock generation resumes. It does not make the round busy: it is a safety net for
/// tasks untouched for a minute, not a backlog to drain at once.
pub fn stock_resumption(deps: &Deps, _now: DateTime<Utc>) -> StepFuture<'_> {
    Box::pin(async move {
        let n = cards::generate::resume_stale(&deps.db).await?;
        if n > 0 {
            tracing::info!(codes = n, "resumed stale card generation");
        }
        Ok(false)
    })
}

/// The analytics consumer's memory of applied event ids is kept for
/// [`analytics::SEEN_RETENTION_DAYS`]; older ids are forgotten a slice at a time.
pub fn analytics_seen(deps: &Deps, now: DateTime<Utc>) -> StepFuture<'_> {
    Box::pin(async move {
        let n = analytics::prune_seen(&deps.db, now, 10 * SLICE).await?;
        if n == 0 {
            return Ok(false);
        }
        tracing::info!(event_ids = n, "forgot analytics event ids past their retention");
        Ok(true)
    })
}
