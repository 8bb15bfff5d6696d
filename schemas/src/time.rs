//! Business time on the wire: the seeds write local times as `YYYY-MM-DD HH:MM:SS` in the
//! tenant's time zone (default Asia/Shanghai); the envelope and the database hold UTC.

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, TimeZone, Timelike, Utc};
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

/// Serialises a UTC time exactly as chrono's `Serialize` does (RFC 3339 with `Z`, and a
/// fraction of as many digits as it needs: none, 3, 6 or 9), for `#[serde(serialize_with)]`.
/// Chrono goes through the formatting machinery and a `String`; this writes the digits into a
/// buffer: about 2 % of an accepted request's instructions for the envelope's `occurred_at`
/// (callgrind, issue 14). Years outside 0–9999 and leap seconds take chrono's own path.
pub fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let (year, nano) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return serializer.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    let mut out = [0u8; 30];
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (at..at + digits).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    let (fraction, digits) = match nano {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut len = 19;
    if digits > 0 {
        put(20, fraction, digits);
        out[19] = b'.';
        len = 20 + digits;
    }
    for (i, b) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (len, b'Z')] {
        out[i] = b;
    }
    serializer.serialize_str(std::str::from_utf8(&out[..len + 1]).expect("ASCII digits and separators"))
}

/// [`rfc3339`] for an optional time (`null` when absent, as chrono's `Option` is written).
pub fn rfc3339_option<S: serde::Serializer>(t: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Fast(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);

    #[derive(serde::Serialize)]
    struct FastOption(#[serde(serialize_with = "rfc3339_option")] Option<DateTime<Utc>>);

    #[test]
    fn rfc3339_writes_what_chrono_writes() {
        let mut times: Vec<DateTime<Utc>> =
            ["2026-11-28T09:30:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z"]
                .iter()
                .map(|t| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc))
                .collect();
        // Every width of fraction, and a spread of instants (a fixed linear congruential walk).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            // Seconds after 1970 up to 9999-12-31, half of them moved back to year 0: 0000–9999.
            let secs = (x >> 16) as i64 % 253_402_300_800;
            let nanos = match x % 4 {
                0 => 0,
                1 => (x >> 8) as u32 % 1000 * 1_000_000,
                2 => (x >> 8) as u32 % 1_000_000 * 1_000,
                _ => (x >> 8) as u32 % 1_000_000_000,
            };
            times.push(DateTime::from_timestamp(secs - 62_167_219_200 * (x % 2) as i64, nanos).unwrap());
        }
        // Outside 0–9999: chrono's path.
        times.push(
            DateTime::parse_from_rfc3339("2026-11-28T09:30:00Z").unwrap().with_timezone(&Utc)
                + chrono::Duration::days(3_000_000),
        );
        for t in times {
            assert_eq!(serde_json::to_string(&Fast(t)).unwrap(), serde_json::to_string(&t).unwrap(), "{t:?}");
            assert_eq!(serde_json::to_string(&FastOption(Some(t))).unwrap(), serde_json::to_string(&Some(t)).unwrap());
        }
        assert_eq!(serde_json::to_string(&FastOption(None)).unwrap(), "null");
    }

    #[test]
    fn local_and_rfc3339_forms_agree() {
        let a = parse_local("2022-06-01 12:00:00", DEFAULT_TIME_ZONE).unwrap();
        let b = parse_local("2022-06-01T04:00:00Z", DEFAULT_TIME_ZONE).unwrap();
        assert_eq!(a, b);
        assert_eq!(format_local(a, DEFAULT_TIME_ZONE), "2022-06-01 12:00:00");
        assert!(parse_local("2022-13-01 00:00:00", DEFAULT_TIME_ZONE).is_none());
    }
}
