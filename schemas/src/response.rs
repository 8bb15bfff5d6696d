//! The native API's response envelope `{"code", "msg", "data"}`.

use serde::{Deserialize, Serialize};

/// `code` 0 is success; an error carries a non-zero code and a message a person can act on.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiResponse<T> {
    pub code: i32,
    pub msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

impl<T> ApiResponse<T> {
    pub fn ok(msg: impl Into<String>, data: T) -> Self {
        ApiResponse { code: 0, msg: msg.into(), data: Some(data) }
    }
}

/// The field a client got wrong, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }

    /// The error of a field inside an object at path `at` (`dealLines[0].`): the path is put
    /// before the field's name here, on the error path only, so that reading a valid body
    /// formats no names (issue 14: a twentieth of `/deal`'s instructions did).
    pub fn within(mut self, at: &str) -> Self {
        if !at.is_empty() {
            self.field.insert_str(0, at);
        }
        self
    }
}

impl<T> ApiResponse<T> {
    /// An answer with a given code: a refusal carries its code, its reason and the stored
    /// outcome.
    pub fn with_code(code: i32, msg: impl Into<String>, data: T) -> Self {
        ApiResponse { code, msg: msg.into(), data: Some(data) }
    }
}

/// Why the workers refused a business operation: each kind has a stable wire `code`, and the
/// HTTP status is the code's first three digits, by one rule:
/// - **409** — the request conflicts with the current state of what it names (sold out, a limit
///   reached, already redeemed, too few points, outside a time window): the same request may
///   succeed against another state;
/// - **422** — the request can never succeed as asked (it names nothing that exists, a code
///   the member does not hold, a scene without a rule, the giver accepting their own gift).
///
/// The workers store the kind with the outcome (inbox column `refusal`, the [`Refusal::as_str`]
/// word); the api maps it to the answer. Codes are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// A refusal stored before refusal kinds existed (no `refusal` in its inbox row).
    Unclassified,
    SoldOut,
    LimitReached,
    AlreadyRedeemed,
    CodeNotAvailable,
    OutsideValidity,
    OutsideRedeemWindow,
    InsufficientPoints,
    NoPointsUsable,
    AlreadyReversed,
    ExceedsReversible,
    AlreadySettled,
    TimedOut,
    NothingFrozen,
    CardRemoved,
    NoRule,
    NotTheHolder,
    NotFound,
    OwnGift,
    NotGiftable,
    BelowThreshold,
    NotCombinable,
    ConditionNotMet,
    /// Seed 004: the member's level rule refuses it (pay method, recharge, spending at this
    /// level, points with a coupon).
    LevelRule,
}

impl Refusal {
    pub const ALL: &'static [Refusal] = &[
        Refusal::Unclassified,
        Refusal::SoldOut,
        Refusal::LimitReached,
        Refusal::AlreadyRedeemed,
        Refusal::CodeNotAvailable,
        Refusal::OutsideValidity,
        Refusal::OutsideRedeemWindow,
        Refusal::InsufficientPoints,
        Refusal::NoPointsUsable,
        Refusal::AlreadyReversed,
        Refusal::ExceedsReversible,
        Refusal::AlreadySettled,
        Refusal::TimedOut,
        Refusal::NothingFrozen,
        Refusal::CardRemoved,
        Refusal::NoRule,
        Refusal::NotTheHolder,
        Refusal::NotFound,
        Refusal::OwnGift,
        Refusal::NotGiftable,
        Refusal::BelowThreshold,
        Refusal::NotCombinable,
        Refusal::ConditionNotMet,
        Refusal::LevelRule,
    ];

    /// (wire code, stored word, meaning): the one table the code, the README and the OpenAPI
    /// description read.
    fn entry(self) -> (i32, &'static str, &'static str) {
        match self {
            Refusal::Unclassified => (40900, "refused", "refused (an outcome stored before refusal codes)"),
            Refusal::SoldOut => (40901, "sold_out", "the card is sold out (claim)"),
            Refusal::LimitReached => {
                (40902, "limit_reached", "a per-member limit is reached: get_limit, use_limit, max_times, max_points")
            }
            Refusal::AlreadyRedeemed => (40903, "already_redeemed", "the code is already redeemed"),
            Refusal::CodeNotAvailable => (
                40904,
                "code_not_available",
                "the code is not available: not received, being presented, expired or obsolete",
            ),
            Refusal::OutsideValidity => {
                (40905, "outside_validity", "outside the validity window (not valid yet, or expired)")
            }
            Refusal::OutsideRedeemWindow => {
                (40906, "outside_redeem_window", "outside the card's weekdays, monthdays or hours of redemption")
            }
            Refusal::InsufficientPoints => {
                (40907, "insufficient_points", "insufficient points (spend, transfer, freeze)")
            }
            Refusal::NoPointsUsable => {
                (40908, "no_points_usable", "no points are usable on this payable amount (spend by amount)")
            }
            Refusal::AlreadyReversed => {
                (40909, "already_reversed", "already reversed (an event, a claim or a redemption)")
            }
            Refusal::ExceedsReversible => {
                (40910, "exceeds_reversible", "more points than are left to reverse of the origin event")
            }
            Refusal::AlreadySettled => {
                (40911, "already_settled", "the present or transfer is already accepted or returned")
            }
            Refusal::TimedOut => (40912, "timed_out", "the present or transfer timed out; it goes back to the giver"),
            Refusal::NothingFrozen => (40913, "nothing_frozen", "the origin event has no frozen points to release"),
            Refusal::CardRemoved => (40914, "card_removed", "the card is removed: it takes no new claims"),
            Refusal::NoRule => (42201, "no_rule", "no earn or spend rule for the action_scene"),
            Refusal::NotTheHolder => (42202, "not_the_holder", "the code is not the member's"),
            Refusal::NotFound => (
                42203,
                "not_found",
                "it names nothing that exists: code, card, claim, redemption, present, transfer, origin event, generation task",
            ),
            Refusal::OwnGift => (42204, "own_gift", "the giver cannot accept their own present or transfer"),
            Refusal::NotGiftable => (42205, "not_giftable", "the card cannot be given to a friend (can_give_friend)"),
            Refusal::BelowThreshold => {
                (42206, "below_threshold", "the amount earns nothing: below every rule's per_money")
            }
            Refusal::NotCombinable => (
                40915,
                "not_combinable",
                "another coupon is redeemed on the same order_no and one of the two cannot be combined (use_with_other_coupon)",
            ),
            Refusal::ConditionNotMet => (
                42207,
                "condition_not_met",
                "the order context does not meet the card's conditions: store_codes, cash_condition (minimum spend), qty_condition (items), use_with_other_offer",
            ),
            Refusal::LevelRule => (
                42208,
                "level_rule",
                "the member's level rule refuses it: pay method, recharge, spending at this level, points with a coupon",
            ),
        }
    }

    /// The wire `code`.
    pub fn code(self) -> i32 {
        self.entry().0
    }

    /// The HTTP status: 409 or 422 (the code's first three digits).
    pub fn http_status(self) -> u16 {
        (self.code() / 100) as u16
    }

    /// The word stored in the inbox.
    pub fn as_str(self) -> &'static str {
        self.entry().1
    }

    pub fn meaning(self) -> &'static str {
        self.entry().2
    }

    /// The kind a stored word names; an absent or unknown word is [`Refusal::Unclassified`].
    pub fn from_stored(word: Option<&str>) -> Refusal {
        Refusal::ALL.iter().copied().find(|r| Some(r.as_str()) == word).unwrap_or(Refusal::Unclassified)
    }

    /// The table of codes, as Markdown (the OpenAPI description and the README show it).
    pub fn markdown_table() -> String {
        let mut table = String::from("| code | HTTP | refusal | meaning |\n|---|---|---|---|\n");
        for r in Refusal::ALL {
            table.push_str(&format!("| {} | {} | `{}` | {} |\n", r.code(), r.http_status(), r.as_str(), r.meaning()));
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::Refusal;

    #[test]
    fn refusal_codes_are_unique_and_name_their_status() {
        let mut codes: Vec<i32> = Refusal::ALL.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Refusal::ALL.len());
        for r in Refusal::ALL {
            assert!(matches!(r.http_status(), 409 | 422), "{r:?}");
            assert_eq!(Refusal::from_stored(Some(r.as_str())), *r);
        }
        assert_eq!(Refusal::from_stored(None), Refusal::Unclassified);
        assert_eq!(Refusal::AlreadyRedeemed.code(), 40903);
    }
}
