//! Looking at eight bytes at a time for particular bytes ("SIMD within a
//! register"), for the scans every received line goes through.
//!
//! XORed with a byte repeated eight times, a word has a zero byte exactly
//! where that byte was, and `(x - 0x01..01) & !x & 0x80..80` sets the high
//! bit of zero bytes. A borrow can only set it in a byte above a real zero
//! byte, so the lowest mark (the words are read little-endian) is exact,
//! and "any mark" is exact too.

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The high bit of each byte of `word` that equals `byte` (and possibly of
/// some bytes above the lowest such one).
#[inline]
fn marks(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

#[inline]
fn word(chunk: &[u8]) -> u64 {
    u64::from_le_bytes(chunk.try_into().expect("eight bytes"))
}

/// The index of the first `byte` in `b` at or after `from`.
pub(crate) fn find_from(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    let rest = b.get(from..)?;
    let mut words = rest.chunks_exact(8);
    let mut at = from;
    for chunk in &mut words {
        let m = marks(word(chunk), byte);
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return None;
    }
    if rest.len() >= 8 {
        // The last eight bytes, overlapping bytes already seen (which hold
        // no `byte`): one more word instead of a loop over the tail.
        let m = marks(word(&rest[rest.len() - 8..]), byte);
        return (m != 0).then(|| from + rest.len() - 8 + (m.trailing_zeros() / 8) as usize);
    }
    let i = tail.iter().position(|&c| c == byte)?;
    Some(at + i)
}

/// Whether `b` holds `x` or `y` anywhere.
pub(crate) fn holds_either(b: &[u8], x: u8, y: u8) -> bool {
    any_word(b, |w| marks(w, x) | marks(w, y), |c| c == x || c == y)
}

/// Whether `b` holds a byte below `limit` (at most 0x80).
pub(crate) fn holds_below(b: &[u8], limit: u8) -> bool {
    debug_assert!(limit <= 0x80);
    // `w - limit..limit` borrows into the high bit of a byte below
    // `limit` whose own high bit is clear: exact for "any", as above.
    let below = |w: u64| w.wrapping_sub(ONES * u64::from(limit)) & !w & HIGHS;
    any_word(b, below, |c| c < limit)
}

/// Whether `marks` is non-zero for any word of `b`: whole words, then the
/// last eight bytes (overlapping bytes already seen: one word, no loop over
/// the tail); a slice shorter than a word is tested byte by byte with
/// `test`.
#[inline]
fn any_word(b: &[u8], marks: impl Fn(u64) -> u64, test: impl Fn(u8) -> bool) -> bool {
    if b.len() < 8 {
        return b.iter().any(|&c| test(c));
    }
    let mut words = b.chunks_exact(8);
    let mut any = 0;
    for chunk in &mut words {
        any |= marks(word(chunk));
    }
    if !words.remainder().is_empty() {
        any |= marks(word(&b[b.len() - 8..]));
    }
    any != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Agrees with a plain search at every offset, around high bytes
        /// and bytes one above the searched one (where a borrow could
        /// mislead).
        #[test]
        fn agrees_with_a_plain_search(
            b in prop::collection::vec(prop_oneof![
                4 => prop::sample::select(&b" !\x1f\r\x0e\x10\x11\x80\xff\x00a"[..]),
                1 => any::<u8>(),
            ], 0..40),
            from in 0usize..45,
            byte in prop::sample::select(&b" \r\x10"[..]),
        ) {
            let plain = b.get(from..).and_then(|r| r.iter().position(|&c| c == byte)).map(|i| from + i);
            prop_assert_eq!(find_from(&b, from, byte), plain);
            let either = b.iter().any(|&c| c == b'\r' || c == 0x10);
            prop_assert_eq!(holds_either(&b, b'\r', 0x10), either);
            for limit in [0x01, 0x0e, 0x11, 0x20, 0x80] {
                let below = b.iter().any(|&c| c < limit);
                prop_assert_eq!(holds_below(&b, limit), below, "limit {:#x}", limit);
            }
        }
    }
}
