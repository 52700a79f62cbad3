//! Calendar arithmetic: Unix seconds to a date and time of day and back.
//!
//! The logger's timestamps (`2026-11-21 18:02:33+0800`) and the daytime
//! service's `asctime` text both need the civil (proleptic Gregorian) date of
//! a Unix time; time-zone rules need the way back. Howard Hinnant's
//! `civil_from_days` / `days_from_civil` algorithms do both, without a date
//! crate. A [`CivilTime`] is wall-clock time at some UTC offset (zero for
//! [`CivilTime::from_unix`]; the [`TimeZone`](super::TimeZone) gives others).
//! Tests are at the bottom of this file.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Abbreviated weekday names, Sunday first (`asctime` order).
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Abbreviated month names, January first.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A date and time of day, to the second, at a known offset from UTC.
///
/// ```
/// use gyre::log::CivilTime;
///
/// let t = CivilTime::from_unix(1_000_000_000);
/// assert_eq!(t.log_stamp(), "2001-09-09 01:46:40+0000");
/// assert_eq!(t.asctime(), "Sun Sep  9 01:46:40 2001");
/// let east = CivilTime::from_unix_at(1_000_000_000, 8 * 3600);
/// assert_eq!(east.log_stamp(), "2001-09-09 09:46:40+0800");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// The year (proleptic Gregorian; may be negative in theory).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59.
    pub second: u32,
    /// 0 (Sunday) to 6 (Saturday).
    pub weekday: u32,
    /// Seconds east of UTC of this wall-clock time (`+0800` is 28800).
    pub utc_offset: i32,
}

impl CivilTime {
    /// The UTC time `secs` seconds after 1970-01-01 00:00:00 (negative: before).
    pub fn from_unix(secs: i64) -> CivilTime {
        CivilTime::from_unix_at(secs, 0)
    }

    /// The wall-clock time `utc_offset` seconds east of UTC at the instant
    /// `secs` seconds after the epoch.
    pub fn from_unix_at(secs: i64, utc_offset: i32) -> CivilTime {
        let secs = secs.saturating_add(i64::from(utc_offset));
        let days = secs.div_euclid(DAY);
        let rem = secs.rem_euclid(DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday (4).
            weekday: (days + 4).rem_euclid(7) as u32,
            utc_offset,
        }
    }

    /// The log timestamp, Twisted's `%Y-%m-%d %H:%M:%S%z`:
    /// `2026-11-21 18:02:33+0000`, `2026-11-21 13:02:33-0500`.
    pub fn log_stamp(&self) -> String {
        let sign = if self.utc_offset < 0 { '-' } else { '+' };
        let minutes = self.utc_offset.unsigned_abs() / 60;
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{sign}{:02}{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            minutes / 60,
            minutes % 60
        )
    }

    /// C's `asctime` without the newline: `Sun Nov 22 00:30:49 2026`
    /// (the day of the month is padded with a space: `Mon Nov  2 …`).
    pub fn asctime(&self) -> String {
        format!(
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            WEEKDAYS[self.weekday as usize],
            MONTHS[self.month as usize - 1],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
}

/// Seconds since the Unix epoch of `time` (negative before 1970), rounded
/// down to the second.
pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            // -1.5 s is in the second that starts at -2.
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

/// The (year, month, day) of the day `days` after 1970-01-01.
///
/// Hinnant's algorithm: shift to eras of 400 years starting on 0000-03-01, so
/// that the leap day is the last day of a year and every era is alike.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March-based) year
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number (days after 1970-01-01) of `year`-`month`-`day`: the
/// inverse of [`civil_from_days`], by the same era arithmetic.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 }); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The inverse of `civil_from_days`, written the naive way, to cross-check it.
    fn days_from_civil_naive(year: i64, month: u32, day: u32) -> i64 {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let mut days = 0i64;
        if year >= 1970 {
            for y in 1970..year {
                days += if leap(y) { 366 } else { 365 };
            }
        } else {
            for y in year..1970 {
                days -= if leap(y) { 366 } else { 365 };
            }
        }
        for m in 1..month {
            days += month_days[m as usize - 1] + i64::from(m == 2 && leap(year));
        }
        days + i64::from(day) - 1
    }

    /// The epoch is Thursday 1970-01-01 00:00:00.
    #[test]
    fn epoch() {
        let t = CivilTime::from_unix(0);
        assert_eq!(t.log_stamp(), "1970-01-01 00:00:00+0000");
        assert_eq!(t.asctime(), "Thu Jan  1 00:00:00 1970");
    }

    /// Known timestamps render as `date -u` shows them.
    #[test]
    fn known_timestamps() {
        // date -u -d @1795285353
        assert_eq!(
            CivilTime::from_unix(1_795_285_353).log_stamp(),
            "2026-11-21 18:22:33+0000"
        );
        assert_eq!(
            CivilTime::from_unix(1_795_307_449).asctime(),
            "Sun Nov 22 00:30:49 2026"
        );
        assert_eq!(
            CivilTime::from_unix(1_000_000_000).asctime(),
            "Sun Sep  9 01:46:40 2001"
        );
        assert_eq!(
            CivilTime::from_unix(2_147_483_647).log_stamp(),
            "2038-01-19 03:14:07+0000"
        );
        assert_eq!(
            CivilTime::from_unix(-1).log_stamp(),
            "1969-12-31 23:59:59+0000"
        );
        assert_eq!(
            CivilTime::from_unix(-2_208_988_800).asctime(),
            "Mon Jan  1 00:00:00 1900"
        );
    }

    /// Leap days exist in leap years (2000, 2024) and not in century non-leap years (1900, 2100).
    #[test]
    fn leap_years() {
        let day = |y, m, d| days_from_civil_naive(y, m, d);
        assert_eq!(civil_from_days(day(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(civil_from_days(day(2024, 2, 29) + 1), (2024, 3, 1));
        assert_eq!(civil_from_days(day(2000, 2, 29)), (2000, 2, 29));
        assert_eq!(civil_from_days(day(2100, 2, 28) + 1), (2100, 3, 1));
        assert_eq!(civil_from_days(day(1900, 2, 28) + 1), (1900, 3, 1));
        assert_eq!(civil_from_days(day(2023, 12, 31) + 1), (2024, 1, 1));
        // 2024-02-29 was a Thursday; 2000-02-29 a Tuesday.
        assert_eq!(CivilTime::from_unix(day(2024, 2, 29) * DAY).weekday, 4);
        assert_eq!(
            CivilTime::from_unix(day(2000, 2, 29) * DAY + 86_399).asctime(),
            "Tue Feb 29 23:59:59 2000"
        );
    }

    /// Every day from 1900 to 2400 converts to the date the naive calendar gives.
    #[test]
    fn agrees_with_naive_calendar() {
        let start = days_from_civil_naive(1900, 1, 1);
        let mut expected = (1900i64, 1u32, 1u32);
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for days in start..days_from_civil_naive(2400, 1, 1) {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            assert_eq!(days_from_civil(expected.0, expected.1, expected.2), days);
            let (y, m, d) = expected;
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            expected = if d < len {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    /// System times convert to whole Unix seconds, rounding down, also before 1970.
    #[test]
    fn system_time_seconds() {
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1500)), 1);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1500)), -2);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(3)), -3);
    }
}
