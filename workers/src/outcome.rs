//! The contract every handler answers with: what became of a message ([`Outcome`]) and why it
//! could not be applied ([`ApplyError`], which says itself whether a retry can help).

use platform::status::InboxStatus;
pub use schemas::response::Refusal;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The change was made. `count` is what the kind counts: points for the points handlers,
    /// codes (claims, reversals of claims, generation) or cards (redeem, present) for the card
    /// handlers. The inbox stores it in its `points` column, and the API shows it as `points`
    /// (the wire keeps that name for now).
    Applied { count: i64 },
    /// A business refusal (no rule, limit reached): stored with its kind, acked, not retried.
    Rejected { code: Refusal, reason: String },
    /// The key was applied before; nothing changed.
    Duplicate,
    /// Cannot be applied by any retry (unknown tenant): park it with the reason.
    Poison { reason: String },
}

impl Outcome {
    pub fn refused(code: Refusal, reason: impl Into<String>) -> Outcome {
        Outcome::Rejected { code, reason: reason.into() }
    }

    /// How an applied or rejected outcome is stored in the inbox: (status, count, reason, the
    /// refusal's word). Duplicates and poison are never stored.
    pub fn stored(&self) -> (InboxStatus, i64, Option<&str>, Option<&'static str>) {
        match self {
            Outcome::Applied { count } => (InboxStatus::Applied, *count, None, None),
            Outcome::Rejected { code, reason } => {
                (InboxStatus::Rejected, 0, Some(reason.as_str()), Some(code.as_str()))
            }
            Outcome::Duplicate | Outcome::Poison { .. } => unreachable!("only applied or rejected outcomes are stored"),
        }
    }
}

/// Why a message could not be applied this time.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// Another transaction inserted one of the keys first: roll back and try again.
    #[error("an inbox key was taken concurrently")]
    KeyRace,
}

/// What the consumer does about an [`ApplyError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The database is down, busy or deadlocked: retry, in place and then delayed.
    Transient,
    /// The database refuses it and would again: park it (alone, if it came in a batch).
    Poison,
    /// A key was taken concurrently: retry in place (the retry finds it a duplicate).
    KeyRace,
}

impl ApplyError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ApplyError::KeyRace => ErrorClass::KeyRace,
            ApplyError::Db(e) if platform::db::is_transient(e) => ErrorClass::Transient,
            ApplyError::Db(_) => ErrorClass::Poison,
        }
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() != ErrorClass::Poison
    }
}
