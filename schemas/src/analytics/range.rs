//! The dashboards' `dr` (date range) and `mode` parameters, read against the tenant's today.
//!
//! `dr` is a preset or an explicit range of local days (both ends included, at most
//! [`MAX_DAYS`] days):
//! - `today`, `yesterday`;
//! - `7d`, `30d`, `90d` (any `Nd`, 1 ≤ N ≤ 366): the last N days, today included;
//! - `this_week` (from Monday), `this_month`, `last_month`;
//! - `YYYY-MM-DD,YYYY-MM-DD` (also with `~` between the two days).
//!
//! `mode` is `by_day`, `by_week` (weeks from Monday) or `by_month`; when absent it follows the
//! range: up to 62 days by day, up to 182 by week, longer by month.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::response::FieldError;

/// The longest range a dashboard answers.
pub const MAX_DAYS: i64 = 366;

/// The presets `dr` accepts besides `Nd` and an explicit range (what the error lists).
pub const PRESETS: &[&str] = &["today", "yesterday", "7d", "30d", "90d", "this_week", "this_month", "last_month"];

/// Local days `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DayRange {
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }
}

/// How a trend groups its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ByDay,
    ByWeek,
    ByMonth,
}

impl Mode {
    pub const WORDS: &'static [&'static str] = &["by_day", "by_week", "by_month"];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ByDay => "by_day",
            Mode::ByWeek => "by_week",
            Mode::ByMonth => "by_month",
        }
    }

    /// The `date_trunc` unit of PostgreSQL.
    pub fn trunc_unit(self) -> &'static str {
        match self {
            Mode::ByDay => "day",
            Mode::ByWeek => "week",
            Mode::ByMonth => "month",
        }
    }

    /// `mode` as asked, or the one the range calls for.
    pub fn parse(mode: Option<&str>, range: DayRange) -> Result<Mode, FieldError> {
        match mode {
            None if range.days() <= 62 => Ok(Mode::ByDay),
            None if range.days() <= 182 => Ok(Mode::ByWeek),
            None => Ok(Mode::ByMonth),
            Some("by_day") => Ok(Mode::ByDay),
            Some("by_week") => Ok(Mode::ByWeek),
            Some("by_month") => Ok(Mode::ByMonth),
            Some(other) => {
                Err(FieldError::new("mode", format!("unknown mode {other:?}; one of {}", Mode::WORDS.join(", "))))
            }
        }
    }

    /// The first day of the bucket holding `day`.
    pub fn bucket(self, day: NaiveDate) -> NaiveDate {
        match self {
            Mode::ByDay => day,
            Mode::ByWeek => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Mode::ByMonth => day.with_day(1).expect("day 1 exists"),
        }
    }

    /// The buckets of `range`, in order (the trend's `tdate`: each bucket's first day, a
    /// week's Monday, a month's 1st; the first may start before the range, whose days alone
    /// are counted).
    pub fn buckets(self, range: DayRange) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut day = range.from;
        while day <= range.to {
            let b = self.bucket(day);
            if out.last() != Some(&b) {
                out.push(b);
            }
            day = day + Days::new(1);
        }
        out
    }
}

/// Reads `dr` against `today` (the tenant's local date).
pub fn parse_dr(dr: &str, today: NaiveDate) -> Result<DayRange, FieldError> {
    let bad = |why: &str| {
        FieldError::new(
            "dr",
            format!(
                "{why}; `dr` is one of {}, `Nd` (1 ≤ N ≤ {MAX_DAYS}) or `YYYY-MM-DD,YYYY-MM-DD`",
                PRESETS.join(", ")
            ),
        )
    };
    let dr = dr.trim();
    let range = match dr {
        "" => return Err(bad("empty")),
        "today" => DayRange { from: today, to: today },
        "yesterday" => {
            let y = today.pred_opt().ok_or_else(|| bad("out of range"))?;
            DayRange { from: y, to: y }
        }
        "this_week" => DayRange { from: Mode::ByWeek.bucket(today), to: today },
        "this_month" => DayRange { from: Mode::ByMonth.bucket(today), to: today },
        "last_month" => {
            let first = Mode::ByMonth.bucket(today);
            let from = first.checked_sub_months(Months::new(1)).ok_or_else(|| bad("out of range"))?;
            DayRange { from, to: first.pred_opt().ok_or_else(|| bad("out of range"))? }
        }
        preset if preset.ends_with('d') && preset[..preset.len() - 1].chars().all(|c| c.is_ascii_digit()) => {
            let n: i64 = preset[..preset.len() - 1].parse().map_err(|_| bad(&format!("unknown range {dr:?}")))?;
            if !(1..=MAX_DAYS).contains(&n) {
                return Err(bad(&format!("{n} days is out of range")));
            }
            DayRange { from: today - Days::new((n - 1) as u64), to: today }
        }
        explicit => {
            let Some((a, b)) = explicit.split_once(',').or_else(|| explicit.split_once('~')) else {
                return Err(bad(&format!("unknown range {dr:?}")));
            };
            let day = |s: &str| {
                NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map_err(|_| bad(&format!("{:?} is not a YYYY-MM-DD day", s.trim())))
            };
            let (from, to) = (day(a)?, day(b)?);
            if from > to {
                return Err(bad(&format!("{from} is after {to}")));
            }
            DayRange { from, to }
        }
    };
    if range.days() > MAX_DAYS {
        return Err(bad(&format!("{} days is more than {MAX_DAYS}", range.days())));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn presets_and_explicit_ranges() {
        let today = d("2026-11-27");
        assert_eq!(parse_dr("today", today).unwrap(), DayRange { from: today, to: today });
        assert_eq!(parse_dr("7d", today).unwrap(), DayRange { from: d("2026-11-21"), to: today });
        assert_eq!(parse_dr("30d", today).unwrap().days(), 30);
        assert_eq!(parse_dr("this_month", today).unwrap().from, d("2026-11-01"));
        assert_eq!(parse_dr("last_month", today).unwrap(), DayRange { from: d("2026-10-01"), to: d("2026-10-31") });
        assert_eq!(parse_dr("this_week", today).unwrap().from, d("2026-11-23"));
        assert_eq!(
            parse_dr("2022-06-10,2022-07-01", today).unwrap(),
            DayRange { from: d("2022-06-10"), to: d("2022-07-01") }
        );
        for bad in [
            "",
            "0d",
            "367d",
            "week",
            "2022-07-01,2022-06-10",
            "2022-06-10",
            "2020-01-01,2022-01-01",
            "2022-02-30,2022-03-01",
        ] {
            let e = parse_dr(bad, today).unwrap_err();
            assert_eq!(e.field, "dr", "{bad}");
        }
    }

    #[test]
    fn modes_follow_the_range_and_bucket_by_monday_and_the_first() {
        let r = DayRange { from: d("2026-11-20"), to: d("2026-12-02") };
        assert_eq!(Mode::parse(None, r).unwrap(), Mode::ByDay);
        assert_eq!(Mode::parse(None, DayRange { from: d("2026-01-01"), to: d("2026-04-01") }).unwrap(), Mode::ByWeek);
        assert_eq!(Mode::parse(None, DayRange { from: d("2026-01-01"), to: d("2026-12-01") }).unwrap(), Mode::ByMonth);
        assert_eq!(Mode::ByDay.buckets(r).len(), 13);
        assert_eq!(Mode::ByWeek.buckets(r), vec![d("2026-11-16"), d("2026-11-23"), d("2026-11-30")]);
        assert_eq!(Mode::ByMonth.buckets(r), vec![d("2026-11-01"), d("2026-12-01")]);
        assert_eq!(Mode::parse(Some("hourly"), r).unwrap_err().field, "mode");
    }
}
