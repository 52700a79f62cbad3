//! Exponential back-off, shared by [`ReconnectingClientFactory`] and
//! [`ClientService`] (reference §4.1 and §4.2).
//!
//! Both grow a delay by a factor up to a ceiling; they differ where
//! Twisted's two classes do:
//!
//! * [`ReconnectingClientFactory`] keeps a current delay: each retry draws
//!   a jittered wait around it (normal, with a standard deviation
//!   proportional to it), schedules that wait, and then grows *the wait
//!   drawn* with [`Backoff::grow`];
//! * [`ClientService`] keeps no delay, only the count of failures in a row:
//!   its policy's wait after `n` failures is [`Backoff::after`]`(n)`, plus
//!   an additive jitter ([`BackoffPolicy`]).
//!
//! The arithmetic is done in `f64` seconds, as Twisted does it, so the
//! waits (and the seconds printed in the log lines) are Twisted's to the
//! last digit; only the timer itself rounds to the nanosecond.
//!
//! [`ReconnectingClientFactory`]: super::ReconnectingClientFactory
//! [`ClientService`]: super::ClientService

use std::cell::RefCell;
use std::fmt;
use std::time::Duration;

use super::jitter::JitterRng;

/// An exponential back-off curve: an initial delay, multiplied by `factor`
/// at each step, capped at a maximum delay.
///
/// ```
/// use std::time::Duration;
/// use gyre::client::Backoff;
///
/// let curve = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), 1.5);
/// assert_eq!(curve.after(0), Duration::from_secs(1));
/// assert_eq!(curve.after(2), Duration::from_millis(2250));
/// assert_eq!(curve.after(11), Duration::from_secs(60));
/// assert_eq!(curve.grow(Duration::from_secs(50)), Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: f64,
    max: f64,
    factor: f64,
}

impl Backoff {
    /// Starts at `initial_delay`, grows by `factor` at each step, never
    /// past `max_delay`.
    pub fn new(initial_delay: Duration, max_delay: Duration, factor: f64) -> Backoff {
        Backoff {
            initial: initial_delay.as_secs_f64(),
            max: max_delay.as_secs_f64(),
            factor,
        }
    }

    /// The delay the curve starts from.
    pub fn initial_delay(&self) -> Duration {
        to_duration(self.initial)
    }

    /// The ceiling.
    pub fn max_delay(&self) -> Duration {
        to_duration(self.max)
    }

    /// The growth factor.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The same curve from another initial delay.
    pub fn with_initial_delay(self, initial_delay: Duration) -> Backoff {
        Backoff {
            initial: initial_delay.as_secs_f64(),
            ..self
        }
    }

    /// The same curve with another ceiling.
    pub fn with_max_delay(self, max_delay: Duration) -> Backoff {
        Backoff {
            max: max_delay.as_secs_f64(),
            ..self
        }
    }

    /// The same curve with another factor.
    pub fn with_factor(self, factor: f64) -> Backoff {
        Backoff { factor, ..self }
    }

    /// The delay after `steps` steps:
    /// `min(initial_delay * factor^min(steps, 100), max_delay)` (Twisted's
    /// `backoffPolicy` without its jitter; the exponent stops at 100).
    pub fn after(&self, steps: u32) -> Duration {
        to_duration(self.after_secs(steps))
    }

    /// `delay` grown by one step: `min(delay * factor, max_delay)`.
    pub fn grow(&self, delay: Duration) -> Duration {
        to_duration(self.grow_secs(delay.as_secs_f64()))
    }

    pub(crate) fn initial_secs(&self) -> f64 {
        self.initial
    }

    pub(crate) fn after_secs(&self, steps: u32) -> f64 {
        let exponent = f64::from(steps.min(100));
        (self.initial * self.factor.powf(exponent)).min(self.max)
    }

    pub(crate) fn grow_secs(&self, delay: f64) -> f64 {
        (delay * self.factor).min(self.max)
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("initial_delay", &self.initial_delay())
            .field("max_delay", &self.max_delay())
            .field("factor", &self.factor)
            .finish()
    }
}

/// How long a [`ClientService`](super::ClientService) waits before its next
/// attempt, given how many attempts in a row have failed (1 before the
/// first retry).
///
/// Any `Fn(u32) -> Duration` is a policy; so is the [`BackoffPolicy`] that
/// [`backoff_policy`] and [`default_backoff_policy`] make.
pub trait RetryPolicy: 'static {
    /// The wait before the next attempt, after `failures` failures in a row.
    fn retry_wait(&self, failures: u32) -> Duration;

    /// The same wait in `f64` seconds, for the log line; a policy computed
    /// in seconds (as [`BackoffPolicy`] is) gives its exact value, so the
    /// line reads as Twisted's.
    #[doc(hidden)]
    fn retry_wait_seconds(&self, failures: u32) -> f64 {
        self.retry_wait(failures).as_secs_f64()
    }
}

impl<F: Fn(u32) -> Duration + 'static> RetryPolicy for F {
    fn retry_wait(&self, failures: u32) -> Duration {
        self(failures)
    }
}

/// Twisted's `backoffPolicy`: a [`Backoff`] curve plus a jitter added to
/// each wait. Made by [`backoff_policy`] and [`default_backoff_policy`].
pub struct BackoffPolicy {
    curve: Backoff,
    jitter: Jitter,
}

/// What a [`BackoffPolicy`] adds to each wait.
enum Jitter {
    /// The caller's.
    Given(Box<dyn Fn() -> Duration>),
    /// Uniform in `[0, 1)` seconds (Twisted's `random.random`).
    Uniform(RefCell<JitterRng>),
}

impl BackoffPolicy {
    /// The curve the waits follow, before jitter.
    pub fn curve(&self) -> Backoff {
        self.curve
    }
}

impl RetryPolicy for BackoffPolicy {
    fn retry_wait(&self, failures: u32) -> Duration {
        to_duration(self.retry_wait_seconds(failures))
    }

    fn retry_wait_seconds(&self, failures: u32) -> f64 {
        let jitter = match &self.jitter {
            Jitter::Given(f) => f().as_secs_f64(),
            Jitter::Uniform(rng) => rng.borrow_mut().next_f64(),
        };
        self.curve.after_secs(failures) + jitter
    }
}

impl fmt::Debug for BackoffPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jitter = match self.jitter {
            Jitter::Given(_) => "given",
            Jitter::Uniform(_) => "uniform [0, 1) s",
        };
        f.debug_struct("BackoffPolicy")
            .field("curve", &self.curve)
            .field("jitter", &jitter)
            .finish()
    }
}

/// An exponential back-off policy for
/// [`ClientService`](super::ClientService) (Twisted's `backoffPolicy`): the
/// wait after `n` failures in a row is
/// `min(initial_delay * factor^min(n, 100), max_delay) + jitter()`.
///
/// ```
/// use std::time::Duration;
/// use gyre::client::{RetryPolicy, backoff_policy};
///
/// let policy = backoff_policy(Duration::from_secs(1), Duration::from_secs(60), 1.5, || {
///     Duration::ZERO
/// });
/// assert_eq!(policy.retry_wait(1), Duration::from_millis(1500));
/// assert_eq!(policy.retry_wait(2), Duration::from_millis(2250));
/// assert_eq!(policy.retry_wait(11), Duration::from_secs(60));
/// ```
pub fn backoff_policy(
    initial_delay: Duration,
    max_delay: Duration,
    factor: f64,
    jitter: impl Fn() -> Duration + 'static,
) -> BackoffPolicy {
    BackoffPolicy {
        curve: Backoff::new(initial_delay, max_delay, factor),
        jitter: Jitter::Given(Box::new(jitter)),
    }
}

/// [`backoff_policy`] with Twisted's defaults: 1 s initial delay, 60 s
/// cap, factor 1.5, plus a jitter drawn uniformly from `[0, 1)` seconds.
pub fn default_backoff_policy() -> BackoffPolicy {
    BackoffPolicy {
        curve: Backoff::new(Duration::from_secs(1), Duration::from_secs(60), 1.5),
        jitter: Jitter::Uniform(RefCell::new(JitterRng::from_entropy())),
    }
}

/// Seconds as a `Duration`, to the nearest nanosecond: negative and NaN
/// become zero, values too large for a `Duration` the largest one.
pub(crate) fn to_duration(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
}

/// Seconds printed as Python prints a float (`1.5`, `60.0`, `1e-05`).
pub(crate) struct PyFloat(pub(crate) f64);

impl fmt::Display for PyFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if !v.is_finite() {
            return write!(f, "{v}");
        }
        let magnitude = v.abs();
        if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
            // Python's repr switches to exponent form out of that range:
            // `1e-05`, `1.5e+16` (sign always, at least two digits).
            let text = format!("{v:e}");
            let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
            let exponent: i32 = exponent.parse().unwrap_or(0);
            let sign = if exponent < 0 { '-' } else { '+' };
            return write!(f, "{mantissa}e{sign}{:02}", exponent.unsigned_abs());
        }
        if v.fract() == 0.0 {
            write!(f, "{v:.1}")
        } else {
            write!(f, "{v}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: f64 = std::f64::consts::E;

    /// Python's float repr for the log line: shortest digits, `.0` for whole numbers.
    #[test]
    fn seconds_print_like_python_floats() {
        let cases = [
            (1.5, "1.5"),
            (2.25, "2.25"),
            (60.0, "60.0"),
            (0.0, "0.0"),
            (0.02, "0.02"),
            (57.6650390625, "57.6650390625"),
            (1e-5, "1e-05"),
            (1.5e16, "1.5e+16"),
            (1e16, "1e+16"),
        ];
        for (v, text) in cases {
            assert_eq!(PyFloat(v).to_string(), text);
        }
    }

    /// Negative and NaN seconds are no wait; huge ones saturate.
    #[test]
    fn odd_seconds_are_clamped() {
        assert_eq!(to_duration(-1.0), Duration::ZERO);
        assert_eq!(to_duration(f64::NAN), Duration::ZERO);
        assert_eq!(to_duration(0.25), Duration::from_millis(250));
        assert_eq!(to_duration(1e300), Duration::MAX);
    }

    /// `after` is Twisted's `backoffPolicy` formula: its cap, and the
    /// exponent limit of 100.
    #[test]
    fn after_is_the_backoff_policy_formula() {
        let curve = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), 1.5);
        assert_eq!(curve.after_secs(0), 1.0);
        assert_eq!(curve.after_secs(1), 1.5);
        assert_eq!(curve.after_secs(3), 3.375);
        assert_eq!(curve.after_secs(10), 57.6650390625);
        assert_eq!(curve.after_secs(11), 60.0);
        assert_eq!(curve.after_secs(u32::MAX), 60.0);
        let uncapped = Backoff::new(Duration::from_secs(1), Duration::MAX, 2.0);
        assert_eq!(uncapped.after_secs(1000), uncapped.after_secs(100));
        assert_eq!(uncapped.after(1000), Duration::MAX);
    }

    /// `grow` multiplies by the factor and caps: Twisted's
    /// `ReconnectingClientFactory` step, e by e up to an hour.
    #[test]
    fn grow_multiplies_then_caps() {
        let curve = Backoff::new(Duration::from_secs(1), Duration::from_secs(3600), E);
        let mut delay = curve.initial_secs();
        for _ in 0..8 {
            delay = curve.grow_secs(delay);
        }
        assert!((delay - 2980.957987041728).abs() < 1e-9, "{delay}");
        assert_eq!(curve.grow_secs(delay), 3600.0);
        assert_eq!(
            curve.grow(Duration::from_secs(2000)),
            Duration::from_secs(3600)
        );
        let debug = format!("{curve:?}");
        assert!(debug.starts_with("Backoff { initial_delay: 1s, max_delay: 3600s"));
    }

    /// A policy adds its jitter to the curve; closures are policies too.
    #[test]
    fn policies_add_their_jitter() {
        let policy = backoff_policy(Duration::from_secs(1), Duration::from_secs(60), 1.5, || {
            Duration::from_millis(250)
        });
        assert_eq!(policy.retry_wait_seconds(1), 1.75);
        assert_eq!(policy.retry_wait(1), Duration::from_millis(1750));
        assert_eq!(policy.curve().after(1), Duration::from_millis(1500));
        let fixed = |_: u32| Duration::from_millis(20);
        assert_eq!(fixed.retry_wait_seconds(3), 0.02);
    }

    /// The default jitter stays in [0, 1) s and varies.
    #[test]
    fn default_policy_jitter() {
        let policy = default_backoff_policy();
        let waits: Vec<f64> = (0..1000).map(|_| policy.retry_wait_seconds(1)).collect();
        assert!(waits.iter().all(|w| (1.5..2.5).contains(w)), "{waits:?}");
        let distinct: std::collections::BTreeSet<u64> =
            waits.iter().map(|w| (w * 1e9) as u64).collect();
        assert!(distinct.len() > 900);
        let low = waits.iter().filter(|w| **w < 2.0).count();
        assert!((350..650).contains(&low), "{low} of 1000 below the middle");
    }
}
