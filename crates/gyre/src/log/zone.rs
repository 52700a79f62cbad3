//! Local time: the offset from UTC at any instant, as the C library works
//! it out, so that log lines carry the same `+0800` or `-0500` as
//! Twisted's (which asks the C library through Python's `time.localtime`).
//!
//! The zone comes from `TZ` the way glibc reads it:
//! * unset: `/etc/localtime`;
//! * empty: UTC;
//! * `:name` or `name`: a compiled zone file, `name` under `$TZDIR`
//!   (default `/usr/share/zoneinfo`) unless it is an absolute path;
//! * otherwise a POSIX rule such as `EST5EDT,M3.2.0,M11.1.0` or `<+0530>-5:30`;
//! * anything unusable: UTC, as the C library falls back.
//!
//! Zone files are RFC 8536 TZif files (version 1 to 4): the transitions
//! they list, then the POSIX rule in their footer for times after the last
//! one. Leap-second records are skipped: like glibc with the usual
//! (`right/`-less) zones, times are POSIX times. Tests at the bottom, and
//! `tests/logging.rs` compares with Python's `time.localtime` for many
//! instants in several zones.

use std::path::{Path, PathBuf};

use super::civil::{CivilTime, days_from_civil};

/// Seconds in an hour.
const HOUR: i32 = 3600;

/// How far local time is from UTC, instant by instant.
///
/// ```
/// use gyre::log::TimeZone;
///
/// let new_york = TimeZone::from_tz("EST5EDT,M3.2.0,M11.1.0");
/// // 2026-01-15 12:00:00 UTC is winter; 2026-07-15 12:00:00 UTC summer.
/// assert_eq!(new_york.utc_offset(1_768_478_400), -5 * 3600);
/// assert_eq!(new_york.utc_offset(1_784_116_800), -4 * 3600);
/// assert_eq!(new_york.civil(1_784_116_800).log_stamp(), "2026-07-15 08:00:00-0400");
/// assert_eq!(TimeZone::utc().utc_offset(1_784_116_800), 0);
/// ```
#[derive(Debug, Clone)]
pub struct TimeZone {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Utc,
    Rule(PosixRule),
    File(ZoneFile),
}

impl TimeZone {
    /// UTC: offset zero at every instant.
    pub fn utc() -> TimeZone {
        TimeZone { kind: Kind::Utc }
    }

    /// The process's local zone, read as glibc reads it:
    ///
    /// * `TZ` unset: `/etc/localtime`;
    /// * `TZ` empty: UTC;
    /// * `:name` or `name`: a compiled zone file, `name` under `$TZDIR`
    ///   (default `/usr/share/zoneinfo`) unless it is an absolute path;
    /// * otherwise a POSIX rule such as `EST5EDT,M3.2.0,M11.1.0` or
    ///   `<+0530>-5:30`;
    /// * anything unusable: UTC.
    pub fn local() -> TimeZone {
        match std::env::var_os("TZ") {
            None => zone_file(Path::new("/etc/localtime")).unwrap_or_else(TimeZone::utc),
            Some(value) => TimeZone::from_tz(&value.to_string_lossy()),
        }
    }

    /// The zone a `TZ` variable holding `value` gives (empty: UTC; a zone
    /// name; a POSIX rule). What cannot be used gives UTC.
    pub fn from_tz(value: &str) -> TimeZone {
        if value.is_empty() {
            return TimeZone::utc();
        }
        if let Some(name) = value.strip_prefix(':') {
            return zone_file(&zone_path(name)).unwrap_or_else(TimeZone::utc);
        }
        if let Some(zone) = zone_file(&zone_path(value)) {
            return zone;
        }
        match PosixRule::parse(value) {
            Some(rule) => TimeZone {
                kind: Kind::Rule(rule),
            },
            None => TimeZone::utc(),
        }
    }

    /// The zone of a compiled zone file's contents (RFC 8536), or `None`
    /// if they are not one.
    pub fn from_tzif(bytes: &[u8]) -> Option<TimeZone> {
        ZoneFile::parse(bytes).map(|file| TimeZone {
            kind: Kind::File(file),
        })
    }

    /// Seconds east of UTC at the instant `unix_secs` seconds after the epoch.
    pub fn utc_offset(&self, unix_secs: i64) -> i32 {
        match &self.kind {
            Kind::Utc => 0,
            Kind::Rule(rule) => rule.offset(unix_secs),
            Kind::File(file) => file.offset(unix_secs),
        }
    }

    /// The wall-clock time in this zone at `unix_secs`.
    pub fn civil(&self, unix_secs: i64) -> CivilTime {
        CivilTime::from_unix_at(unix_secs, self.utc_offset(unix_secs))
    }
}

/// Where a zone name's file is: `$TZDIR/name` (default
/// `/usr/share/zoneinfo`), or the name itself if it is absolute.
fn zone_path(name: &str) -> PathBuf {
    if name.starts_with('/') {
        return PathBuf::from(name);
    }
    let dir = std::env::var_os("TZDIR").unwrap_or_else(|| "/usr/share/zoneinfo".into());
    Path::new(&dir).join(name)
}

/// The zone in the file at `path`, if it is readable and a zone file.
fn zone_file(path: &Path) -> Option<TimeZone> {
    TimeZone::from_tzif(&std::fs::read(path).ok()?)
}

/// A compiled zone file: transitions, the local time types they switch
/// to, and the rule for times after the last transition.
#[derive(Debug, Clone)]
struct ZoneFile {
    /// Transition instants, ascending.
    transitions: Vec<i64>,
    /// For each transition, the index of its type in `types`.
    type_of: Vec<u8>,
    /// (offset east of UTC, is daylight saving time) of each type; never empty.
    types: Vec<(i32, bool)>,
    /// The footer's rule, for instants after the last transition.
    footer: Option<PosixRule>,
}

/// The counts in a TZif header, in file order.
struct Counts {
    version: u8,
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

impl Counts {
    /// The header at the start of `b`.
    fn read(b: &[u8]) -> Option<Counts> {
        if b.get(..4)? != b"TZif" {
            return None;
        }
        let count = |i: usize| -> Option<usize> {
            let at = 20 + 4 * i;
            let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
            usize::try_from(u32::from_be_bytes(raw)).ok()
        };
        Some(Counts {
            version: *b.get(4)?,
            isut: count(0)?,
            isstd: count(1)?,
            leap: count(2)?,
            time: count(3)?,
            types: count(4)?,
            chars: count(5)?,
        })
    }

    /// Length of the data block that follows the header, with times of
    /// `width` bytes (4 in version 1's block, 8 in the second).
    fn data_len(&self, width: usize) -> usize {
        self.time * (width + 1)
            + self.types * 6
            + self.chars
            + self.leap * (width + 4)
            + self.isstd
            + self.isut
    }
}

/// A TZif header is 44 bytes.
const HEADER: usize = 44;

impl ZoneFile {
    fn parse(b: &[u8]) -> Option<ZoneFile> {
        let first = Counts::read(b)?;
        let (counts, data, width) = if first.version >= b'2' {
            let second_at = HEADER + first.data_len(4);
            let second = Counts::read(b.get(second_at..)?)?;
            (second, second_at + HEADER, 8)
        } else {
            (first, HEADER, 4)
        };
        let block = b.get(data..data + counts.data_len(width))?;
        if counts.types == 0 {
            return None;
        }
        let times = &block[..counts.time * width];
        let transitions: Vec<i64> = times
            .chunks_exact(width)
            .map(|c| match width {
                8 => i64::from_be_bytes(c.try_into().expect("8 bytes")),
                _ => i64::from(i32::from_be_bytes(c.try_into().expect("4 bytes"))),
            })
            .collect();
        let type_of = block[counts.time * width..counts.time * (width + 1)].to_vec();
        if type_of.iter().any(|&t| usize::from(t) >= counts.types) {
            return None;
        }
        let infos = &block[counts.time * (width + 1)..][..counts.types * 6];
        let types = infos
            .chunks_exact(6)
            .map(|c| (i32::from_be_bytes([c[0], c[1], c[2], c[3]]), c[4] != 0))
            .collect();
        // Version 2+: "\n<POSIX rule>\n" after the second data block.
        let footer = if width == 8 {
            let rest = &b[data + counts.data_len(8)..];
            rest.strip_prefix(b"\n")
                .and_then(|r| r.split(|&c| c == b'\n').next())
                .and_then(|r| std::str::from_utf8(r).ok())
                .filter(|r| !r.is_empty())
                .and_then(PosixRule::parse)
        } else {
            None
        };
        Some(ZoneFile {
            transitions,
            type_of,
            types,
            footer,
        })
    }

    /// glibc's choice: before the first transition (or with none), the
    /// first standard-time type; after the last, the footer's rule if
    /// there is one; otherwise the type of the latest transition.
    fn offset(&self, t: i64) -> i32 {
        match self.transitions.first() {
            Some(&first) if t >= first => {}
            _ => {
                let standard = self.types.iter().find(|(_, dst)| !dst);
                return standard.unwrap_or(&self.types[0]).0;
            }
        }
        let i = self.transitions.partition_point(|&x| x <= t) - 1;
        if i + 1 == self.transitions.len()
            && let Some(rule) = &self.footer
        {
            return rule.offset(t);
        }
        self.types[usize::from(self.type_of[i])].0
    }
}

/// A POSIX `TZ` rule: standard offset, and optionally daylight saving
/// time with the days it starts and ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PosixRule {
    /// Standard time, seconds east of UTC.
    standard: i32,
    summer: Option<Summer>,
}

/// Daylight saving time in a POSIX rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Summer {
    /// Seconds east of UTC while it is in effect.
    offset: i32,
    start: (Day, i32),
    end: (Day, i32),
}

/// A day of the year in a POSIX rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Day {
    /// `Jn`: day 1 to 365, February 29 never counted.
    Julian(u16),
    /// `n`: day 0 to 365, February 29 counted in leap years.
    Zero(u16),
    /// `Mm.w.d`: weekday `d` (0 Sunday) of week `w` (5: the last) of month `m`.
    Month(u32, u32, u32),
}

/// Reads a POSIX rule left to right.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.at += usize::from(hit);
        hit
    }

    fn number(&mut self, max_digits: usize) -> Option<u32> {
        let start = self.at;
        while self.at - start < max_digits && self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .parse()
            .ok()
    }

    /// A zone abbreviation: three or more letters, or `<…>` quoted.
    fn name(&mut self) -> Option<()> {
        if self.eat(b'<') {
            let close = self.s[self.at..].iter().position(|&c| c == b'>')?;
            self.at += close + 1;
            return (close >= 3).then_some(());
        }
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.at += 1;
        }
        (self.at - start >= 3).then_some(())
    }

    /// `[+-]hh[:mm[:ss]]` in seconds; hours up to `max_hours`.
    fn duration(&mut self, max_hours: u32) -> Option<i32> {
        let negative = if self.eat(b'-') {
            true
        } else {
            self.eat(b'+');
            false
        };
        let hours = self.number(3)?;
        let mut secs = i32::try_from(hours.min(max_hours)).ok()? * HOUR;
        if hours > max_hours {
            return None;
        }
        for unit in [60, 1] {
            if !self.eat(b':') {
                break;
            }
            let part = self.number(2)?;
            if part > 59 {
                return None;
            }
            secs += i32::try_from(part).ok()? * unit;
        }
        Some(if negative { -secs } else { secs })
    }

    /// `Jn`, `n` or `Mm.w.d`, then an optional `/time` (default 02:00).
    fn change(&mut self) -> Option<(Day, i32)> {
        let day = if self.eat(b'J') {
            let n = self.number(3)?;
            (1..=365)
                .contains(&n)
                .then_some(Day::Julian(u16::try_from(n).ok()?))?
        } else if self.eat(b'M') {
            let m = self.number(2)?;
            self.eat(b'.').then_some(())?;
            let w = self.number(1)?;
            self.eat(b'.').then_some(())?;
            let d = self.number(1)?;
            ((1..=12).contains(&m) && (1..=5).contains(&w) && d <= 6)
                .then_some(Day::Month(m, w, d))?
        } else {
            let n = self.number(3)?;
            (n <= 365).then_some(Day::Zero(u16::try_from(n).ok()?))?
        };
        let time = if self.eat(b'/') {
            self.duration(167)?
        } else {
            2 * HOUR
        };
        Some((day, time))
    }
}

impl PosixRule {
    /// `std offset [dst [offset] [,start[/time],end[/time]]]`, leniently as
    /// glibc reads it: a bad standard part makes the whole value unusable
    /// (`None`), but after it, a missing or bad summer name or bad dates
    /// leave standard time alone, and a summer name with no dates (or a
    /// lone `,`) gets the United States' dates, `M3.2.0,M11.1.0` (glibc
    /// takes them from `posixrules`, which is New York's file).
    fn parse(text: &str) -> Option<PosixRule> {
        let mut c = Cursor {
            s: text.as_bytes(),
            at: 0,
        };
        c.name()?;
        // POSIX offsets count west of UTC: EST5 is UTC-5.
        let standard = -c.duration(24)?;
        let only_standard = PosixRule {
            standard,
            summer: None,
        };
        if c.peek().is_none() || c.name().is_none() {
            return Some(only_standard);
        }
        let offset = match c.peek() {
            Some(b'+' | b'-' | b'0'..=b'9') => match c.duration(24) {
                Some(west) => -west,
                None => return Some(only_standard),
            },
            _ => standard + HOUR,
        };
        let us = (
            (Day::Month(3, 2, 0), 2 * HOUR),
            (Day::Month(11, 1, 0), 2 * HOUR),
        );
        let (start, end) = if c.peek().is_none() || &c.s[c.at..] == b"," {
            us
        } else {
            let dates = (|| {
                c.eat(b',').then_some(())?;
                let start = c.change()?;
                c.eat(b',').then_some(())?;
                Some((start, c.change()?))
            })();
            match dates {
                Some(dates) => dates,
                None => return Some(only_standard),
            }
        };
        Some(PosixRule {
            standard,
            summer: Some(Summer { offset, start, end }),
        })
    }

    /// Summer or standard time at `t`, decided as glibc decides: the
    /// changes of `t`'s year in UTC, start in standard time and end in
    /// summer time, and summer between them (or, when the end comes first
    /// in the year, outside them).
    fn offset(&self, t: i64) -> i32 {
        let Some(summer) = &self.summer else {
            return self.standard;
        };
        let year = CivilTime::from_unix(t).year;
        let start = change_instant(year, summer.start) - i64::from(self.standard);
        let end = change_instant(year, summer.end) - i64::from(summer.offset);
        let in_summer = if start > end {
            // Southern hemisphere: summer spans the new year.
            t < end || t >= start
        } else {
            start <= t && t < end
        };
        if in_summer {
            summer.offset
        } else {
            self.standard
        }
    }
}

/// Seconds from the epoch to `change` in `year`, reading the local
/// wall-clock time as if it were UTC. For 1970 and earlier, glibc counts
/// from 1970-01-01 whatever the year (the day within the year still
/// follows that year's calendar), so rules put every earlier instant
/// before both 1970 changes; this does the same, so that offsets before
/// 1970 match the C library's.
fn change_instant(year: i64, (day, time): (Day, i32)) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let jan1 = days_from_civil(year, 1, 1);
    let day_in_year = match day {
        Day::Julian(n) => i64::from(n) - 1 + i64::from(leap && n >= 60),
        Day::Zero(n) => i64::from(n),
        Day::Month(m, w, d) => {
            let first = days_from_civil(year, m, 1);
            let next = if m == 12 {
                days_from_civil(year + 1, 1, 1)
            } else {
                days_from_civil(year, m + 1, 1)
            };
            // 1970-01-01 was a Thursday (4).
            let weekday = (first + 4).rem_euclid(7);
            let mut day = first + (i64::from(d) - weekday).rem_euclid(7) + i64::from(w - 1) * 7;
            while day >= next {
                day -= 7;
            }
            day - jan1
        }
    };
    let base = if year > 1970 { jan1 } else { 0 };
    (base + day_in_year) * 86_400 + i64::from(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instants (UTC) used below; `date -u -d @N` shows them.
    const WINTER_2026: i64 = 1_768_478_400; // 2026-01-15 12:00:00
    const SUMMER_2026: i64 = 1_784_116_800; // 2026-07-15 12:00:00

    /// Rules without summer time are a fixed offset; POSIX signs are west-positive.
    #[test]
    fn fixed_rules() {
        assert_eq!(TimeZone::from_tz("UTC0").utc_offset(SUMMER_2026), 0);
        assert_eq!(
            TimeZone::from_tz("<+0530>-5:30").utc_offset(WINTER_2026),
            5 * HOUR + 1800
        );
        assert_eq!(TimeZone::from_tz("EST5").utc_offset(SUMMER_2026), -5 * HOUR);
    }

    /// US rules: second Sunday of March 02:00 EST to first Sunday of November 02:00 EDT.
    #[test]
    fn us_transitions_2026() {
        let ny = TimeZone::from_tz("EST5EDT,M3.2.0,M11.1.0");
        // 2026-03-08 07:00:00 UTC is 02:00 EST, the change.
        let start = 1_772_953_200;
        assert_eq!(ny.utc_offset(start - 1), -5 * HOUR);
        assert_eq!(ny.utc_offset(start), -4 * HOUR);
        // 2026-11-01 06:00:00 UTC is 02:00 EDT, back to EST.
        let end = 1_793_512_800;
        assert_eq!(ny.utc_offset(end - 1), -4 * HOUR);
        assert_eq!(ny.utc_offset(end), -5 * HOUR);
        // No dates given: the same US rule.
        assert_eq!(TimeZone::from_tz("EST5EDT").utc_offset(start), -4 * HOUR);
    }

    /// Southern hemisphere: summer spans the new year.
    #[test]
    fn southern_summer() {
        let sydney = TimeZone::from_tz("AEST-10AEDT,M10.1.0,M4.1.0/3");
        assert_eq!(sydney.utc_offset(WINTER_2026), 11 * HOUR);
        assert_eq!(sydney.utc_offset(SUMMER_2026), 10 * HOUR);
    }

    /// What the C library makes of broken values (Python's
    /// `time.strftime('%z', time.localtime(1784116800))` under each `TZ`):
    /// nothing usable is UTC; a good standard part survives bad dates; a
    /// summer name with a lone `,` gets the US dates.
    #[test]
    fn lenient_like_glibc() {
        for (value, offset) in [
            ("", 0),
            ("X", 0),
            ("no/such/zone", 0),
            ("EST5EDT,M13.1.0,M11.1.0", -5 * HOUR),
            ("EST5EDT,", -4 * HOUR),
        ] {
            assert_eq!(
                TimeZone::from_tz(value).utc_offset(SUMMER_2026),
                offset,
                "{value:?}"
            );
        }
    }

    /// A hand-built version-1 file: one transition from +01:00 to +02:00.
    #[test]
    fn version_one_file() {
        let mut b = b"TZif".to_vec();
        b.push(0); // version 1
        b.extend([0; 15]);
        for count in [0u32, 0, 0, 1, 2, 4] {
            b.extend(count.to_be_bytes());
        }
        b.extend(1_000_000_000i32.to_be_bytes());
        b.push(1);
        b.extend(3600i32.to_be_bytes());
        b.extend([0, 0]);
        b.extend(7200i32.to_be_bytes());
        b.extend([0, 0]);
        b.extend(b"AB\0\0");
        let zone = TimeZone::from_tzif(&b).expect("a valid file");
        assert_eq!(zone.utc_offset(999_999_999), 3600);
        assert_eq!(zone.utc_offset(1_000_000_000), 7200);
        assert!(
            TimeZone::from_tzif(&b[..b.len() - 1]).is_none(),
            "truncated"
        );
        assert!(TimeZone::from_tzif(b"TZjf").is_none());
    }

    /// `Jn` never counts February 29; `n` does.
    #[test]
    fn julian_days() {
        let leap_year = 2024;
        let mar1 = days_from_civil(leap_year, 3, 1) * 86_400;
        assert_eq!(change_instant(leap_year, (Day::Julian(60), 0)), mar1);
        assert_eq!(change_instant(leap_year, (Day::Zero(60), 0)), mar1);
        assert_eq!(change_instant(leap_year, (Day::Zero(59), 0)), mar1 - 86_400);
    }
}
