//! Money on the wire: [`Cents`], integer cents read from a JSON number or string with at most
//! two decimals, and the serde helpers the request bodies of points and cards use to read it.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Largest amount accepted, in cents (10 billion yuan): far above any order, far below overflow.
const MAX_AMOUNT_CENTS: i64 = 1_000_000_000_000;

/// Money as integer cents. Accepts a JSON number or a numeric string with at most two decimals,
/// so `99.9`, `"99.90"` and `100` all work and no float rounding ever reaches the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    pub fn parse(text: &str) -> Result<Cents, String> {
        let text = text.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!frac.is_empty() && !digits(frac)) {
            return Err(format!("`{text}` is not a non-negative amount"));
        }
        if frac.len() > 2 {
            return Err(format!("`{text}` has more than two decimals"));
        }
        let whole: i64 = whole.parse().map_err(|_| format!("`{text}` is too large"))?;
        let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
        let cents = whole.checked_mul(100).and_then(|c| c.checked_add(frac));
        match cents {
            Some(c) if c <= MAX_AMOUNT_CENTS => Ok(Cents(c)),
            _ => Err(format!("`{text}` is too large")),
        }
    }

    /// The amount as the seed writes it (`99.90`).
    pub fn to_decimal_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// An amount as [`Cents::parse`] bounds it (0 to 10 billion yuan): what a broker payload, whose
/// amount is already cents, is checked against.
pub(crate) fn check_amount(field: &str, amount: Cents) -> Result<(), crate::FieldError> {
    if amount.0 < 0 || amount.0 > MAX_AMOUNT_CENTS {
        return Err(crate::FieldError::new(field, format!("must be 0 to {MAX_AMOUNT_CENTS} cents")));
    }
    Ok(())
}

/// Reads an optional amount from a JSON value: `null` is none, a number or a string is parsed
/// (see [`Cents::parse`]). `expected` names, in the error for any other JSON value, what it
/// should have been: points and cards word it differently, and each keeps its API's message.
pub(crate) fn amount_from_json(value: &Value, expected: &str) -> Result<Option<Cents>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => Cents::parse(&n.to_string()).map(Some),
        Value::String(s) => Cents::parse(s).map(Some),
        other => Err(format!("expected {expected}, found {other}")),
    }
}

fn de_optional<'de, D: Deserializer<'de>>(d: D, expected: &str) -> Result<Option<Cents>, D::Error> {
    let value = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    amount_from_json(&value, expected).map_err(serde::de::Error::custom)
}

/// Deserializes an optional amount of a points body (see [`Cents`]).
pub(crate) fn de_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cents>, D::Error> {
    de_optional(d, "a number")
}

/// Deserializes an optional amount of a card body (see [`Cents`]).
pub(crate) fn de_card_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cents>, D::Error> {
    de_optional(d, "an amount")
}

/// Deserializes a required amount (see [`Cents`]).
pub(crate) fn de_required_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Cents, D::Error> {
    de_amount(d)?.ok_or_else(|| serde::de::Error::custom("expected an amount"))
}

/// Writes cents as yuan (`200` → `2.0`), the form the API reads, so stored amounts read back.
pub(crate) fn ser_yuan<S: serde::Serializer>(c: &Cents, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(c.0 as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_parse_numbers_and_strings() {
        for (text, want) in [
            ("100", Some(10000)),
            ("99.9", Some(9990)),
            ("0.01", Some(1)),
            ("1.234", None),
            ("-1", None),
            ("abc", None),
            ("", None),
        ] {
            assert_eq!(Cents::parse(text).ok().map(|c| c.0), want, "case {text:?}");
        }
        assert_eq!(Cents(9990).to_decimal_string(), "99.90");
    }

    #[test]
    fn points_and_cards_word_a_wrong_amount_as_before() {
        #[derive(Debug, Deserialize)]
        struct Points {
            #[serde(default, deserialize_with = "de_amount")]
            amount: Option<Cents>,
        }
        #[derive(Debug, Deserialize)]
        struct Card {
            #[serde(default, deserialize_with = "de_card_amount")]
            amount: Option<Cents>,
        }
        let wrong = serde_json::json!({"amount": true});
        let points = serde_json::from_value::<Points>(wrong.clone()).unwrap_err().to_string();
        assert_eq!(points, "expected a number, found true");
        let card = serde_json::from_value::<Card>(wrong).unwrap_err().to_string();
        assert_eq!(card, "expected an amount, found true");
        let both = serde_json::json!({"amount": "12.5"});
        assert_eq!(serde_json::from_value::<Points>(both.clone()).unwrap().amount, Some(Cents(1250)));
        assert_eq!(serde_json::from_value::<Card>(both).unwrap().amount, Some(Cents(1250)));
        assert_eq!(serde_json::from_value::<Card>(serde_json::json!({})).unwrap().amount, None);
    }
}
