//! The `gyre` command's logger: Twisted's legacy text format on stderr.
//!
//! Every record becomes
//!
//! ```text
//! 2026-11-21 18:02:33+0000 [Echo,0,127.0.0.1] text
//! ```
//!
//! with the time in UTC (Twisted uses local time; UTC sorts across machines
//! and needs no time-zone database), the system taken from
//! [`gyre::log::system`] (`-` outside any connection), and every newline in
//! the text followed by a tab so continuation lines stand out (reference
//! §11.1). Records above the `--log-level` are filtered out. Write errors,
//! such as a closed stderr, are ignored: logging never crashes the server.
//! Tests are at the bottom of this file.

use std::io::{self, Write};
use std::time::SystemTime;

use log::{LevelFilter, Log, Metadata, Record};

use crate::civil::{CivilTime, unix_seconds};

/// Writes log records to standard error in Twisted's legacy format.
#[derive(Debug)]
struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let line = format_line(unix_seconds(SystemTime::now()), &gyre::log::system(), &text);
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = io::stderr().flush();
    }
}

/// Installs the logger for the whole process at `level`, then logs
/// `Log opened.` (at info, so `--log-level warn` and below stay silent).
/// A second call leaves the first logger in place.
pub(crate) fn install(level: LevelFilter) {
    if log::set_boxed_logger(Box::new(StderrLogger { level })).is_ok() {
        log::set_max_level(level);
    }
    log::info!("Log opened.");
}

/// One log line, newline included: `<UTC time> [<system>] <text>`, with a tab
/// after every newline inside `text`.
pub(crate) fn format_line(unix_secs: i64, system: &str, text: &str) -> String {
    let stamp = CivilTime::from_unix(unix_secs).log_stamp();
    format!("{stamp} [{system}] {}\n", text.replace('\n', "\n\t"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-line message renders as `<time> [<system>] <text>`.
    #[test]
    fn single_line() {
        assert_eq!(
            format_line(1_795_285_353, "-", "Log opened."),
            "2026-11-21 18:22:33+0000 [-] Log opened.\n"
        );
        assert_eq!(
            format_line(0, "Echo,0,127.0.0.1", "hi"),
            "1970-01-01 00:00:00+0000 [Echo,0,127.0.0.1] hi\n"
        );
    }

    /// Continuation lines start with a tab; a trailing newline leaves a line holding only a tab.
    #[test]
    fn continuation_lines_get_a_tab() {
        assert_eq!(
            format_line(0, "-", "Unhandled Error\npanic in data_received: boom"),
            "1970-01-01 00:00:00+0000 [-] Unhandled Error\n\tpanic in data_received: boom\n"
        );
        assert_eq!(
            format_line(0, "x", "got hello\n"),
            "1970-01-01 00:00:00+0000 [x] got hello\n\t\n"
        );
    }

    /// Every line matches Twisted's legacy regex (with a `+0000` offset).
    #[test]
    fn matches_twisted_shape() {
        let line = format_line(1_234_567_890, "Factory", "Factory starting on 8000");
        let b = line.as_bytes();
        let digits = [
            0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 23,
        ];
        assert!(digits.iter().all(|&i| b[i].is_ascii_digit()), "{line}");
        assert_eq!(&line[4..5], "-");
        assert_eq!(&line[10..11], " ");
        assert_eq!(&line[19..26], "+0000 [");
    }

    /// The level filter passes records at or above the chosen level only.
    #[test]
    fn level_filter() {
        let logger = StderrLogger {
            level: LevelFilter::Warn,
        };
        let meta = |level| Metadata::builder().level(level).target("t").build();
        assert!(logger.enabled(&meta(log::Level::Error)));
        assert!(logger.enabled(&meta(log::Level::Warn)));
        assert!(!logger.enabled(&meta(log::Level::Info)));
        assert!(
            !StderrLogger {
                level: LevelFilter::Off
            }
            .enabled(&meta(log::Level::Error))
        );
    }
}
