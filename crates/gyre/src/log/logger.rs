//! The logger: Twisted's legacy text format on any `Write`.
//!
//! Every record becomes one line,
//!
//! ```text
//! 2026-11-21 18:02:33+0800 [Echo,0,127.0.0.1] text
//! ```
//!
//! with the time in the local zone ([`TimeZone::local`]) unless told
//! otherwise, the system from [`system()`](super::system) (`-` outside any
//! dispatch), and every newline inside the text followed by a tab, so that
//! continuation lines stand out (reference §11.1). Each line is written
//! and flushed whole; a write error (a closed pipe, a full disk) is
//! ignored, so logging never stops the program. Tests at the bottom and in
//! `tests/logging.rs`, which compares with Twisted's own output.

use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

use log::{LevelFilter, Log, Metadata, Record};

use super::civil::{CivilTime, unix_seconds};
use super::zone::TimeZone;

/// A logger is already installed in this process (the [`log`] facade
/// takes one per process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a logger is already installed in this process")]
pub struct AlreadyLogging;

/// Starts logging every record at info level and above to `out`, in
/// Twisted's format and local time, and logs `Log opened.` (Twisted's
/// `log.startLogging(sys.stdout)`).
///
/// ```no_run
/// use gyre::{for_protocol, Protocol, Reactor};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     gyre::log::start_logging(std::io::stdout())?;
///     let reactor = Reactor::new()?;
///     reactor.listen_tcp(8000, for_protocol(|| Quiet))?;
///     reactor.run()?;
///     Ok(())
/// }
/// ```
///
/// prints, as Twisted does,
///
/// ```text
/// 2026-12-07 10:02:33+0000 [-] Log opened.
/// 2026-12-07 10:02:33+0000 [-] ProtocolFactory<Quiet> starting on 8000
/// 2026-12-07 10:02:33+0000 [-] Starting factory <gyre::factory::ProtocolFactory<…> object at 0x…>
/// ```
///
/// [`Logger`] chooses UTC, another zone or another level.
pub fn start_logging(out: impl Write + Send + 'static) -> Result<(), AlreadyLogging> {
    Logger::new(out).install()
}

/// A [`log::Log`] that writes Twisted's legacy format; [`install`](Self::install)
/// makes it the process's logger.
///
/// ```
/// use gyre::log::Logger;
///
/// let logger = Logger::new(std::io::stderr()).utc().with_level(log::LevelFilter::Warn);
/// # let _ = logger;
/// // logger.install()?;
/// ```
pub struct Logger {
    out: Mutex<Box<dyn Write + Send>>,
    zone: TimeZone,
    level: LevelFilter,
}

impl Logger {
    /// A logger writing to `out`, at info level, in local time.
    pub fn new(out: impl Write + Send + 'static) -> Logger {
        Logger {
            out: Mutex::new(Box::new(out)),
            zone: TimeZone::local(),
            level: LevelFilter::Info,
        }
    }

    /// Times in UTC (`+0000`) instead of local time.
    pub fn utc(self) -> Logger {
        self.with_zone(TimeZone::utc())
    }

    /// Times in `zone`.
    pub fn with_zone(mut self, zone: TimeZone) -> Logger {
        self.zone = zone;
        self
    }

    /// Records above `level` are left out (`Info` by default; gyre's
    /// `Debug` records are per connection and noisy).
    pub fn with_level(mut self, level: LevelFilter) -> Logger {
        self.level = level;
        self
    }

    /// Makes this the process's logger and logs `Log opened.`.
    pub fn install(self) -> Result<(), AlreadyLogging> {
        let level = self.level;
        log::set_boxed_logger(Box::new(self)).map_err(|_| AlreadyLogging)?;
        log::set_max_level(level);
        log::info!("Log opened.");
        Ok(())
    }
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("zone", &self.zone)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = unix_seconds(SystemTime::now());
        let text = record.args().to_string();
        let line = format_line(&self.zone.civil(now), &super::system(), &text);
        // A panic while another thread held the lock left the writer as
        // usable as it was: keep logging.
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}

/// One log line, newline included: `<time> [<system>] <text>`, with a tab
/// after every newline inside `text`.
///
/// ```
/// use gyre::log::{format_line, CivilTime};
///
/// let at = CivilTime::from_unix_at(1_795_285_353, 8 * 3600);
/// assert_eq!(
///     format_line(&at, "Echo,0,127.0.0.1", "got\nhello"),
///     "2026-11-22 02:22:33+0800 [Echo,0,127.0.0.1] got\n\thello\n"
/// );
/// ```
pub fn format_line(time: &CivilTime, system: &str, text: &str) -> String {
    format!(
        "{} [{system}] {}\n",
        time.log_stamp(),
        text.replace('\n', "\n\t")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(secs: i64) -> CivilTime {
        CivilTime::from_unix(secs)
    }

    /// A one-line message renders as `<time> [<system>] <text>`.
    #[test]
    fn single_line() {
        assert_eq!(
            format_line(&utc(1_795_285_353), "-", "Log opened."),
            "2026-11-21 18:22:33+0000 [-] Log opened.\n"
        );
        assert_eq!(
            format_line(&utc(0), "Echo,0,127.0.0.1", "hi"),
            "1970-01-01 00:00:00+0000 [Echo,0,127.0.0.1] hi\n"
        );
    }

    /// Continuation lines start with a tab; a trailing newline leaves a line holding only a tab.
    #[test]
    fn continuation_lines_get_a_tab() {
        assert_eq!(
            format_line(
                &utc(0),
                "-",
                "Unhandled Error\npanic in data_received: boom"
            ),
            "1970-01-01 00:00:00+0000 [-] Unhandled Error\n\tpanic in data_received: boom\n"
        );
        assert_eq!(
            format_line(&utc(0), "x", "got hello\n"),
            "1970-01-01 00:00:00+0000 [x] got hello\n\t\n"
        );
    }

    /// Offsets west of UTC and with minutes render as `%z` does.
    #[test]
    fn offsets() {
        let west = CivilTime::from_unix_at(0, -(3 * 3600 + 30 * 60));
        assert_eq!(
            format_line(&west, "-", "x"),
            "1969-12-31 20:30:00-0330 [-] x\n"
        );
        let east = CivilTime::from_unix_at(0, 5 * 3600 + 45 * 60);
        assert_eq!(
            format_line(&east, "-", "x"),
            "1970-01-01 05:45:00+0545 [-] x\n"
        );
    }

    /// The level filter passes records at or above the chosen level only.
    #[test]
    fn level_filter() {
        let logger = Logger::new(std::io::sink()).with_level(LevelFilter::Warn);
        let meta = |level| Metadata::builder().level(level).target("t").build();
        assert!(logger.enabled(&meta(log::Level::Error)));
        assert!(logger.enabled(&meta(log::Level::Warn)));
        assert!(!logger.enabled(&meta(log::Level::Info)));
        let off = Logger::new(std::io::sink()).with_level(LevelFilter::Off);
        assert!(!off.enabled(&meta(log::Level::Error)));
    }

    /// A record goes to the writer as one formatted line.
    #[test]
    fn writes_whole_lines() {
        #[derive(Clone, Default)]
        struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Shared::default();
        let logger = Logger::new(out.clone()).utc();
        logger.log(
            &Record::builder()
                .args(format_args!("two\nlines"))
                .level(log::Level::Info)
                .build(),
        );
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with("+0000 [-] two\n\tlines\n"), "{text:?}");
        assert_eq!(
            text.len(),
            "2026-11-21 18:22:33+0000 [-] two\n\tlines\n".len()
        );
    }
}
