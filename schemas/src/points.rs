//! Points (seed 000): what the points endpoints take and the broker carries. Split by concern:
//! `rules.rs`: earn rules and rule management, `spend_rules.rs`: spend rules and `quote_spend`,
//! `commands.rs`: the earn, consume, reverse, transfer/accept and freeze/unfreeze bodies and payloads.

// The files split the module by concern; callers name everything through the re-exports below,
// one path per item (`schemas::points::EarnPayload`).
mod commands;
mod rules;
mod spend_rules;

#[cfg(test)]
mod tests;

/// Largest number of points one rule, event or command may name.
pub(crate) const MAX_POINTS: i64 = 1_000_000_000;

pub use commands::{
    order_item_amounts, AcceptPayload, AcceptRequest, ConsumePayload, ConsumeRequest, EarnEventRequest, EarnPayload,
    FreezePayload, FreezeRequest, MovePayload, ReversePayload, ReverseRequest, TransferPayload, TransferRequest,
    UnfreezePayload, UnfreezeRequest,
};
pub use rules::{
    CreateProduceRule, DeleteRules, PointsType, ProduceRule, QueryRules, RuleType, UpdateProduceRule,
    BUILTIN_CONSUME_SCENES, BUILTIN_PRODUCE_SCENES,
};
pub use spend_rules::{quote_spend, ConsumeRule, ConsumeTier, CreateConsumeRule, UpdateConsumeRule};
