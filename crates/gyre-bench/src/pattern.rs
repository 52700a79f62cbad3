//! The byte pattern every connection sends, so every echoed byte can be
//! checked against what was sent at the same offset.
//!
//! Connection `k` sends, at stream offset `o`, the byte `(o + k) mod 251`.
//! The period 251 is prime, so it lines up with no message or buffer size,
//! and a byte shifted, lost, duplicated or taken from another connection
//! shows as a mismatch.

/// The pattern's period.
const PERIOD: usize = 251;

/// A precomputed, periodic table from which any stretch of any connection's
/// stream is one slice.
#[derive(Debug, Clone)]
pub struct Pattern {
    table: Vec<u8>,
    window: usize,
}

impl Pattern {
    /// A table from which stretches of up to `window` bytes can be taken.
    pub fn new(window: usize) -> Pattern {
        let table = (0..PERIOD + window).map(|i| (i % PERIOD) as u8).collect();
        Pattern { table, window }
    }

    /// The largest stretch [`Pattern::slice`] can give.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The `len` bytes connection `conn` sends from stream offset `offset`.
    ///
    /// # Panics
    /// When `len` exceeds [`Pattern::window`].
    pub fn slice(&self, conn: u64, offset: u64, len: usize) -> &[u8] {
        assert!(len <= self.window, "pattern stretch longer than its window");
        let start = ((offset + conn) % PERIOD as u64) as usize;
        &self.table[start..start + len]
    }

    /// How many bytes of `received`, which arrived at stream offset `offset`
    /// of connection `conn`, differ from what was sent there.
    pub fn mismatches(&self, conn: u64, offset: u64, received: &[u8]) -> u64 {
        let mut bad = 0;
        let mut at = 0;
        while at < received.len() {
            let n = (received.len() - at).min(self.window);
            let want = self.slice(conn, offset + at as u64, n);
            let got = &received[at..at + n];
            if want != got {
                bad += want.iter().zip(got).filter(|(a, b)| a != b).count() as u64;
            }
            at += n;
        }
        bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_follow_the_formula() {
        let p = Pattern::new(1000);
        for conn in [0u64, 3, 250, 251, 9999] {
            for offset in [0u64, 1, 250, 251, 1 << 40] {
                let s = p.slice(conn, offset, 600);
                for (i, b) in s.iter().enumerate() {
                    assert_eq!(u64::from(*b), (offset + i as u64 + conn) % 251);
                }
            }
        }
    }

    #[test]
    fn mismatches_counts_wrong_bytes_only() {
        let p = Pattern::new(64);
        let mut data = p.slice(7, 100, 64).to_vec();
        data.extend_from_slice(p.slice(7, 164, 64));
        assert_eq!(p.mismatches(7, 100, &data), 0);
        data[3] ^= 1;
        data[100] ^= 0xff;
        assert_eq!(p.mismatches(7, 100, &data), 2);
        // Another connection's bytes at the same offset do not pass.
        assert_eq!(p.mismatches(8, 100, p.slice(7, 100, 64)), 64);
    }
}
