//! The linear-time suffix array checker.

use crate::index::Idx;
use crate::VerifyError;

/// Checks that `sa` is the suffix array of `text` in O(n) time and n extra indices.
///
/// The check (Burkhardt and Kärkkäinen's): `sa` is a permutation of `0..n`, and for every pair
/// of neighbours `a = sa[i]`, `b = sa[i + 1]`, the pair `(text[a], rank(a + 1))` is smaller
/// than `(text[b], rank(b + 1))`, where `rank(n)` (the empty suffix) is below every rank.
pub(crate) fn verify_impl<I: Idx>(text: &[u8], sa: &[I]) -> Result<(), VerifyError> {
    let n = text.len();
    if sa.len() != n {
        return Err(VerifyError::WrongLength {
            text_len: n as u64,
            sa_len: sa.len() as u64,
        });
    }
    // Ranks are stored plus one, so they need n + 1 values.
    if (n as u64) < u64::from(u32::MAX) {
        check::<I, u32>(text, sa)
    } else {
        check::<I, u64>(text, sa)
    }
}

fn check<I: Idx, R: Idx>(text: &[u8], sa: &[I]) -> Result<(), VerifyError> {
    let n = text.len();
    // rank[p] = 1 + the position of suffix p in `sa`; 0 = not seen yet.
    let mut rank = vec![R::ZERO; n];
    for (i, &v) in sa.iter().enumerate() {
        let v = v.to_u64();
        if v >= n as u64 {
            return Err(VerifyError::OutOfRange {
                index: i as u64,
                value: v,
                text_len: n as u64,
            });
        }
        let r = &mut rank[v as usize];
        if *r != R::ZERO {
            return Err(VerifyError::Duplicate {
                value: v,
                first: r.to_u64() - 1,
                second: i as u64,
            });
        }
        *r = R::from_usize(i + 1);
    }
    // rank of suffix p + 1, with the empty suffix (p + 1 == n) ranked 0, below everything.
    let next_rank = |p: usize| if p + 1 < n { rank[p + 1].to_u64() } else { 0 };
    for (i, w) in sa.windows(2).enumerate() {
        let (a, b) = (w[0].to_usize(), w[1].to_usize());
        let ordered = match text[a].cmp(&text[b]) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => next_rank(a) < next_rank(b),
        };
        if !ordered {
            return Err(VerifyError::OutOfOrder {
                index: i as u64,
                left: a as u64,
                right: b as u64,
            });
        }
    }
    Ok(())
}
