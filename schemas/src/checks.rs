//! The field checks every request body shares, points and cards alike: client keys, scene codes,
//! text lengths, integer ranges, paging, and integers the seeds sometimes send as strings.
//! Their messages are what the API answers in `FieldError`, so their wording is part of the API.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::FieldError;

/// Deserializes an optional integer that the seeds sometimes type as Text (`"page_id": "2"`).
pub fn de_lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        // `2.0` is an integer to JSON Schema (and to a client generated from the OpenAPI).
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {n}"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, found `{s}`"))),
        Some(other) => Err(serde::de::Error::custom(format!("expected an integer, found {other}"))),
    }
}

/// An identifier chosen by the client: 1–64 printable characters, no spaces.
pub fn check_key(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    // Keys the system composes (an acceptance: transfer_no/member_no) may be longer.
    let max = if field == "idempotency_key" { 129 } else { 64 };
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(field, "must not contain spaces or control characters"));
    }
    Ok(())
}

/// A key of the points ledger (`event_no`, `origin_event_no`, the key of a points incr/decr):
/// a client key ([`check_key`]) outside the prefix of orders' ledger keys. An order's ledger
/// rows carry `deal/{orderNo}`: a native event under that key would be taken back by the
/// order's refunds, and a native reversal of it would take back points the order's steps do
/// not know of.
pub fn check_ledger_key(field: &str, value: &str) -> Result<(), FieldError> {
    check_key(field, value)?;
    if value.starts_with(crate::orders::ORDER_EVENT_PREFIX) {
        return Err(FieldError::new(
            field,
            format!(
                "must not start with {}: that is an order's key (take an order's points back with \
                 POST /loyalty/v1/dealService/refund or /cancel)",
                crate::orders::ORDER_EVENT_PREFIX
            ),
        ));
    }
    Ok(())
}

/// A scene code: lowercase letters, digits and `_`, starting with a letter, at most 64.
pub fn check_scene(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be 1-64 of a-z, 0-9 and _, starting with a letter"))
    }
}

/// At most `max` characters (any content, empty included).
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    check_text(field, value, 0, max)
}

/// `min` to `max` characters, where the minimum counts the text without surrounding spaces (so
/// `"  "` is empty); `min` 0 is the same as [`check_len`].
pub fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let n = value.trim().chars().count();
    if n < min || value.chars().count() > max {
        return Err(FieldError::new(
            field,
            if min > 0 {
                format!("must be {min}-{max} characters")
            } else {
                format!("must be at most {max} characters")
            },
        ));
    }
    Ok(())
}

/// The free-text fields most requests carry: who did it and why.
pub fn check_note(operator: Option<&str>, event_desc: Option<&str>) -> Result<(), FieldError> {
    if let Some(op) = operator {
        check_len("operator", op, 128)?;
    }
    if let Some(desc) = event_desc {
        check_len("event_desc", desc, 512)?;
    }
    Ok(())
}

/// `min..=max`, both inclusive.
pub fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), FieldError> {
    if value < min || value > max {
        return Err(FieldError::new(field, format!("must be between {min} and {max}")));
    }
    Ok(())
}

/// Page number and size with the seeds' defaults, checked.
pub fn paging(
    page_id: Option<i64>,
    page_size: Option<i64>,
    default_size: i64,
    max_size: i64,
) -> Result<(i64, i64), FieldError> {
    let page = page_id.unwrap_or(1);
    let size = page_size.unwrap_or(default_size);
    check_range("page_id", page, 1, 1_000_000)?;
    check_range("page_size", size, 1, max_size)?;
    Ok((page, size))
}

/// A message's `idempotency_key` where the ingress derives it from the payload (an acceptance's
/// `transfer_no/member_no`, a reversal's id, …): a message published straight to the broker must
/// carry the same key, or its deduplication would differ from an HTTP request's.
pub fn check_derived_key(key: &str, expected: &str) -> Result<(), FieldError> {
    if key != expected {
        return Err(FieldError::new("idempotency_key", format!("must be `{expected}` for this payload")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_points_and_cards_return() {
        let msg = |r: Result<(), FieldError>| r.unwrap_err().message;
        assert_eq!(msg(check_len("operator", &"x".repeat(129), 128)), "must be at most 128 characters");
        assert_eq!(msg(check_text("subtitle", &"x".repeat(129), 0, 128)), "must be at most 128 characters");
        assert_eq!(msg(check_text("title", "  ", 1, 64)), "must be 1-64 characters", "blank counts as empty");
        assert_eq!(msg(check_range("quantity", 0, 1, 100)), "must be between 1 and 100");
        assert_eq!(msg(check_key("event_no", "")), "must not be empty");
        assert_eq!(msg(check_key("event_no", "a b")), "must not contain spaces or control characters");
        assert!(msg(check_ledger_key("origin_event_no", "deal/o1")).starts_with("must not start with deal/"));
        assert!(msg(check_ledger_key("externalId", "deal/o1")).contains("dealService/refund"));
        assert_eq!(msg(check_ledger_key("event_no", "a b")), "must not contain spaces or control characters");
        assert_eq!(check_ledger_key("event_no", "o1"), Ok(()));
        assert_eq!(check_key("received_id", "deal/o1"), Ok(()), "only the ledger's keys exclude the orders'");
        assert_eq!(paging(None, None, 10, 100), Ok((1, 10)));
        assert_eq!(paging(Some(0), None, 10, 100).unwrap_err().field, "page_id");
    }
}
