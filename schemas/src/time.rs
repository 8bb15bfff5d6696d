//! Business time on the wire: the seeds write local times as `YYYY-MM-DD HH:MM:SS` in the
//! tenant's time zone (default Asia/Shanghai); the envelope and the database hold UTC.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The time zone of a tenant that did not choose one (the seeds' brands are in China).
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

const LOCAL_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Parses a time as the seeds write it (`2022-06-01 12:00:00`, local to `tz`) or as RFC 3339.
pub fn parse_local(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(text.trim(), LOCAL_FORMAT).ok()?;
    // An ambiguous local time (a DST fold) takes the earlier instant; a skipped one is invalid.
    tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

/// Formats a UTC instant as the seeds show it, in the tenant's zone.
pub fn format_local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format(LOCAL_FORMAT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_rfc3339_forms_agree() {
        let a = parse_local("2022-06-01 12:00:00", DEFAULT_TIME_ZONE).unwrap();
        let b = parse_local("2022-06-01T04:00:00Z", DEFAULT_TIME_ZONE).unwrap();
        assert_eq!(a, b);
        assert_eq!(format_local(a, DEFAULT_TIME_ZONE), "2022-06-01 12:00:00");
        assert!(parse_local("2022-13-01 00:00:00", DEFAULT_TIME_ZONE).is_none());
    }
}
