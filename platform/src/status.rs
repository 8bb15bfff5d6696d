//! The states stored in status columns, as Rust enums that encode and decode themselves
//! (`sqlx::Type`), so handlers and queries name a state instead of writing `status = 3`.
//!
//! Numbers and words are the ones the migrations document and the seeds' wire shows (card
//! codes and redemptions are small integers in seed 003; the rest are words), so no stored
//! row changes. SQL text may still spell a state as a literal where a partial index is defined
//! on it (`where status = 0`): a bound parameter would hide the predicate from the planner's
//! generic plan. Such literals carry a comment naming the variant, and the tests below pin the
//! numbers.

use std::fmt;

/// A card code's life (migration `cards`): 0 in stock → 1 held by a member → 2 presenting →
/// back to 1 (the friend, or the giver after the time-out) · 1 → 3 redeemed → 1 (reversed) ·
/// 1 → 4 expired · any → 5 obsolete (receive reversed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum CodeStatus {
    InStock = 0,
    Available = 1,
    Presenting = 2,
    Redeemed = 3,
    Expired = 4,
    Obsolete = 5,
}

impl CodeStatus {
    pub const ALL: &'static [CodeStatus] = &[
        CodeStatus::InStock,
        CodeStatus::Available,
        CodeStatus::Presenting,
        CodeStatus::Redeemed,
        CodeStatus::Expired,
        CodeStatus::Obsolete,
    ];

    /// The number stored and shown on the wire.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The state a wire number names, if any.
    pub fn from_code(n: i64) -> Option<CodeStatus> {
        CodeStatus::ALL.iter().copied().find(|s| i64::from(s.code()) == n)
    }
}

/// A redemption's reversal state (`card_redeem.rollback_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum RollbackStatus {
    /// The redemption stands.
    Standing = 0,
    /// Reversed; the code is available again.
    Restored = 1,
    /// Reversed, but the code had expired meanwhile, so it stays expired.
    Expired = 2,
}

/// How much of a ledger row has been reversed (`points_ledger.reverse_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum ReverseStatus {
    None = 0,
    Partly = 1,
    Fully = 2,
}

/// Implements the text column type for an enum whose states are stored as words: encoded and
/// decoded through `&str`, so the column stays plain `text` with its `check` constraint
/// (a PostgreSQL enum type would need a migration of every row and an `alter type` per new state).
macro_rules! text_status {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every state, in the order of its life.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored in the column.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;

            fn from_str(s: &str) -> Result<$name, UnknownState> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err(UnknownState { column: stringify!($name), value: other.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        // Arrays bind as `text[]`, as the batch statements' `unnest($n::text[])` expects.
        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }

            fn array_compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::postgres::PgHasArrayType>::array_compatible(ty)
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'_, sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl sqlx::Decode<'_, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<$name, sqlx::error::BoxDynError> {
                Ok(<&str as sqlx::Decode<'_, sqlx::Postgres>>::decode(value)?.parse()?)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// A stored word that no variant names: a row written by a newer build, or a typo in SQL.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not a state of {column}")]
pub struct UnknownState {
    column: &'static str,
    value: String,
}

text_status! {
    /// What the inbox recorded for a key (`inbox.status`).
    InboxStatus {
        /// Reserved by the ingress before the message is applied.
        Pending => "pending",
        Applied => "applied",
        /// A business refusal (no rule, limit reached, sold out …), stored as the outcome.
        Rejected => "rejected",
    }
}

text_status! {
    /// A card present (`card_present.status`).
    PresentStatus {
        Pending => "pending",
        Received => "received",
        /// Not received in time: the code went back to the giver.
        Returned => "returned",
    }
}

text_status! {
    /// A points transfer in escrow (`points_transfer.status`).
    TransferStatus {
        Pending => "pending",
        Accepted => "accepted",
        /// Not accepted in time: the points went back to the giver.
        Returned => "returned",
    }
}

text_status! {
    /// What a ledger row records (`points_ledger.event_type`). Credits are positive, debits
    /// negative.
    LedgerEventType {
        Produce => "produce",
        Consume => "consume",
        Transfer => "transfer",
        /// A transfer that was not accepted in time, back to the giver.
        TransferReturn => "transfer_return",
        Accept => "accept",
        ReverseProduce => "reverse_produce",
        ReverseConsume => "reverse_consume",
        /// Points that pay back a debt left by a reversal of spent points.
        SettleDebt => "settle_debt",
        Expire => "expire",
        Freeze => "freeze",
        Unfreeze => "unfreeze",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_numbers_are_the_migrations() {
        let numbers: Vec<i16> = CodeStatus::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 5]);
        assert_eq!(CodeStatus::from_code(3), Some(CodeStatus::Redeemed));
        assert_eq!(CodeStatus::from_code(6), None);
        assert_eq!(RollbackStatus::Expired as i16, 2);
        assert_eq!(ReverseStatus::Fully as i16, 2);
    }

    #[test]
    fn words_round_trip_and_unknown_words_are_named() {
        for s in LedgerEventType::ALL {
            assert_eq!(s.as_str().parse::<LedgerEventType>().unwrap(), *s);
        }
        for s in InboxStatus::ALL {
            assert_eq!(s.as_str().parse::<InboxStatus>().unwrap(), *s);
        }
        let e = "expired".parse::<LedgerEventType>().unwrap_err();
        assert_eq!(e.to_string(), "\"expired\" is not a state of LedgerEventType");
        assert_eq!(serde_json::to_value(PresentStatus::Returned).unwrap(), "returned");
    }
}
