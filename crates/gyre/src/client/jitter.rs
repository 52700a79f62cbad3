//! A small pseudo-random generator for spreading reconnection delays.
//!
//! Jitter only has to keep many clients that lost the same server from
//! coming back in lock step; it needs no cryptographic quality, so gyre uses
//! SplitMix64 (one 64-bit state word, a fixed increment and a mixing
//! function) rather than a dependency. Seeded from the system time, a
//! process-wide counter and an address by default, or from a fixed seed when
//! a test wants the same sequence every run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// SplitMix64's increment: 2^64 divided by the golden ratio, made odd.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct JitterRng {
    state: u64,
}

impl JitterRng {
    /// A generator whose sequence is fixed by `seed`.
    pub(crate) fn with_seed(seed: u64) -> JitterRng {
        JitterRng { state: seed }
    }

    /// A generator seeded from the wall clock, a per-process counter (two
    /// generators made in the same nanosecond still differ) and the address
    /// of a fresh allocation.
    pub(crate) fn from_entropy() -> JitterRng {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let place = Box::new(0u8);
        let address = &*place as *const u8 as usize as u64;
        let seed = nanos ^ count.wrapping_mul(GAMMA) ^ address.rotate_left(32);
        JitterRng::with_seed(mix(seed))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A uniform value in `[0, 1)`, with 53 random bits (every value a
    /// multiple of 2^-53).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A value from the normal distribution with this mean and standard
    /// deviation (Box–Muller; one of the pair is used, the other dropped).
    pub(crate) fn normal(&mut self, mean: f64, std_dev: f64) -> f64 {
        // 1 - u lies in (0, 1], so its logarithm is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        mean + std_dev * z
    }
}

/// SplitMix64's output function (a variant of MurmurHash3's finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator matches SplitMix64's published outputs for seed 1234567.
    #[test]
    fn splitmix64_reference_values() {
        let mut rng = JitterRng::with_seed(1234567);
        let expected = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for want in expected {
            assert_eq!(rng.next_u64(), want);
        }
    }

    /// Uniform values stay in [0, 1) and average about one half.
    #[test]
    fn next_f64_is_in_unit_interval() {
        let mut rng = JitterRng::with_seed(7);
        let n = 20_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x), "{x}");
            sum += x;
        }
        let mean = sum / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }

    /// Normal values have about the mean and standard deviation asked for.
    #[test]
    fn normal_has_the_right_moments() {
        let mut rng = JitterRng::with_seed(42);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal(10.0, 2.0)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 10.0).abs() < 0.05, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.05, "std dev {}", var.sqrt());
        assert!(xs.iter().all(|x| x.is_finite()));
    }

    /// The same seed gives the same sequence; fresh generators differ.
    #[test]
    fn seeding() {
        let a: Vec<u64> = {
            let mut r = JitterRng::with_seed(99);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = JitterRng::with_seed(99);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        let mut x = JitterRng::from_entropy();
        let mut y = JitterRng::from_entropy();
        assert_ne!(x.next_u64(), y.next_u64());
    }
}
