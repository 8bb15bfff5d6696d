//! Failpoints the tests arm to hit exact moments deterministically (a crash between commit
//! and ack, a transient database failure). Disarmed they cost one atomic load.

use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Default)]
pub struct Failpoints {
    /// Die (close the connection without acking) right after this many commits.
    pub crash_after_commit: AtomicU32,
    /// Fail this many applies with a transient error before touching the database.
    pub transient_failures: AtomicU32,
}

impl Failpoints {
    /// Takes one shot from a counter: true while it had shots left.
    pub fn take(counter: &AtomicU32) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}
