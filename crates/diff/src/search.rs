//! Longest-match search over a suffix array.

/// An entry of a suffix array: a start offset into the text.
pub(crate) trait SaEntry: Copy + Send + Sync + 'static {
    fn get(self) -> usize;
}

impl SaEntry for u32 {
    #[inline]
    fn get(self) -> usize {
        self as usize
    }
}

impl SaEntry for u64 {
    #[inline]
    fn get(self) -> usize {
        // Suffix arrays of texts that fit in memory have entries that fit in usize.
        usize::try_from(self).unwrap_or(usize::MAX)
    }
}

/// Length of the longest common prefix of `a` and `b`, eight bytes at a time.
#[inline]
pub(crate) fn lcp(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_le_bytes(ca.try_into().unwrap_or([0; 8]))
            ^ u64::from_le_bytes(cb.try_into().unwrap_or([0; 8]));
        if x != 0 {
            return i + (x.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Where the suffixes starting with each two-byte prefix lie in the suffix array.
///
/// Lets a search start inside the right bucket instead of doing the first sixteen steps of the
/// binary search, which are also its slowest (each a cache miss into the array and the text).
#[derive(Debug)]
pub(crate) struct Buckets {
    /// `start[k]`: rank of the first suffix whose first two bytes are `k >> 8, k & 0xFF`.
    start: Vec<usize>,
    /// Number of suffixes with that prefix.
    count: Vec<usize>,
}

impl Buckets {
    pub(crate) fn new(text: &[u8]) -> Self {
        let mut count = vec![0usize; 1 << 16];
        for w in text.windows(2) {
            count[usize::from(w[0]) << 8 | usize::from(w[1])] += 1;
        }
        // The one-byte suffix (the last byte) sorts before every longer suffix starting with
        // the same byte.
        let last = text.last().map(|&b| usize::from(b) << 8);
        let mut start = vec![0usize; 1 << 16];
        let mut rank = 0;
        for k in 0..1 << 16 {
            if Some(k) == last {
                rank += 1;
            }
            start[k] = rank;
            rank += count[k];
        }
        Buckets { start, count }
    }
}

/// Length of the substrings recorded by [`Seeds`].
pub(crate) const SEED_LEN: usize = 6;

/// A Bloom-style bit set of the source's [`SEED_LEN`]-byte substrings.
///
/// A destination position whose next bytes are not in the set has no match of `SEED_LEN`
/// bytes or more, which the matcher could use; the search, a chain of cache misses, is then
/// skipped. About 4 bits per source byte; false positives only cost a search.
#[derive(Debug)]
pub(crate) struct Seeds {
    bits: Vec<u64>,
    shift: u32,
}

impl Seeds {
    pub(crate) fn new(text: &[u8]) -> Self {
        use rayon::prelude::*;
        use std::sync::atomic::{AtomicU64, Ordering};
        // A power of two of at least 4 bits per byte, between 2^16 and 2^34 bits.
        let log = (text.len().max(1) * 4)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(16, 34);
        let words: Vec<AtomicU64> = (0..1usize << (log - 6))
            .map(|_| AtomicU64::new(0))
            .collect();
        let shift = 64 - log;
        let count = text.len().saturating_sub(SEED_LEN - 1);
        (0..count)
            .into_par_iter()
            .with_min_len(1 << 16)
            .for_each(|i| {
                let h = Self::hash(&text[i..i + SEED_LEN], shift);
                words[h >> 6].fetch_or(1 << (h & 63), Ordering::Relaxed);
            });
        Seeds {
            bits: words.into_iter().map(AtomicU64::into_inner).collect(),
            shift,
        }
    }

    #[inline]
    fn hash(seed: &[u8], shift: u32) -> usize {
        let mut b = [0u8; 8];
        b[..SEED_LEN].copy_from_slice(&seed[..SEED_LEN]);
        (u64::from_le_bytes(b).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    /// False when `seed` (at least [`SEED_LEN`] bytes) certainly does not occur in the text.
    #[inline]
    pub(crate) fn may_contain(&self, seed: &[u8]) -> bool {
        let h = Self::hash(seed, self.shift);
        self.bits[h >> 6] >> (h & 63) & 1 == 1
    }
}

/// A match found by [`longest_match`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Offset of the match in the text.
    pub pos: usize,
    /// Its length.
    pub len: usize,
}

/// Finds a longest prefix of `pat` occurring in `text`.
///
/// Starts from the bucket of `pat`'s first two bytes, then binary-searches for the insertion
/// point of `pat` among the sorted suffixes, skipping the prefix that both bounds are known to
/// share with `pat` (Manber and Myers), so long equal runs are not compared again at every
/// step. The longest match is next to the insertion point. Among the two neighbours, ties go to
/// the one nearer to `near`.
pub(crate) fn longest_match<I: SaEntry>(
    text: &[u8],
    sa: &[I],
    buckets: &Buckets,
    pat: &[u8],
    near: usize,
) -> Hit {
    if sa.is_empty() || pat.is_empty() {
        return Hit::default();
    }
    if pat.len() >= 2 {
        let k = usize::from(pat[0]) << 8 | usize::from(pat[1]);
        if buckets.count[k] > 0 {
            let lo = buckets.start[k];
            return search_range(text, sa, pat, lo, lo + buckets.count[k], 2, near);
        }
    }
    search_range(text, sa, pat, 0, sa.len(), 0, near)
}

/// Binary search among ranks `first..end`, all of whose suffixes share at least `known` bytes
/// with `pat`.
fn search_range<I: SaEntry>(
    text: &[u8],
    sa: &[I],
    pat: &[u8],
    first: usize,
    end: usize,
    known: usize,
    near: usize,
) -> Hit {
    // Ranks below `lo` hold suffixes < pat, ranks at or above `hi` hold suffixes >= pat;
    // `llcp` and `rlcp` are (lower bounds of) the common prefixes of the suffixes at ranks
    // `lo - 1` and `hi` with `pat`.
    let (mut lo, mut hi) = (first, end);
    let (mut llcp, mut rlcp) = (known, known);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let off = sa[mid].get();
        let k = llcp.min(rlcp);
        let suf = &text[off..];
        let l = k + lcp(&suf[k.min(suf.len())..], &pat[k..]);
        let less = if l == pat.len() {
            false
        } else if l == suf.len() {
            true
        } else {
            suf[l] < pat[l]
        };
        if less {
            lo = mid + 1;
            llcp = l;
        } else {
            hi = mid;
            rlcp = l;
        }
    }
    let left = (lo > first).then(|| Hit {
        pos: sa[lo - 1].get(),
        len: llcp,
    });
    let right = (hi < end).then(|| Hit {
        pos: sa[hi].get(),
        len: rlcp,
    });
    match (left, right) {
        (Some(a), Some(b)) => {
            if a.len > b.len || (a.len == b.len && a.pos.abs_diff(near) <= b.pos.abs_diff(near)) {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => Hit::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_sa(t: &[u8]) -> Vec<u32> {
        let mut sa: Vec<u32> = (0..t.len() as u32).collect();
        sa.sort_by(|&a, &b| t[a as usize..].cmp(&t[b as usize..]));
        sa
    }

    fn naive_best(t: &[u8], p: &[u8]) -> usize {
        (0..t.len()).map(|i| lcp(&t[i..], p)).max().unwrap_or(0)
    }

    #[test]
    fn lcp_matches_naive() {
        let a: Vec<u8> = (0..40u8).collect();
        for cut in 0..40 {
            let mut b = a.clone();
            b[cut] ^= 1;
            assert_eq!(lcp(&a, &b), cut);
            assert_eq!(lcp(&a[..cut], &b), cut);
        }
        assert_eq!(lcp(&a, &a), 40);
    }

    #[test]
    fn runs_do_not_confuse_the_search() {
        let text = vec![0u8; 5000];
        let sa = naive_sa(&text);
        let mut pat = vec![0u8; 3000];
        pat.push(1);
        let Hit { pos, len, .. } = longest_match(&text, &sa, &Buckets::new(&text), &pat, 0);
        assert_eq!(len, 3000);
        assert!(pos + 3000 <= 5000);
    }

    #[test]
    fn buckets_match_the_suffix_array() {
        for t in [
            &b""[..],
            b"a",
            b"banana",
            b"abracadabra\xff\x00\x00",
            &[0u8; 50],
        ] {
            let sa = naive_sa(t);
            let b = Buckets::new(t);
            for k in 0..1usize << 16 {
                let pre = [(k >> 8) as u8, k as u8];
                let ranks: Vec<usize> = (0..sa.len())
                    .filter(|&r| t[sa[r] as usize..].starts_with(&pre))
                    .collect();
                assert_eq!(ranks.len(), b.count[k]);
                if let Some(&r) = ranks.first() {
                    assert_eq!(r, b.start[k]);
                }
            }
        }
    }

    #[test]
    fn seeds_have_no_false_negatives() {
        let mut x = 1u32;
        let text: Vec<u8> = (0..100_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let seeds = Seeds::new(&text);
        for w in text.windows(SEED_LEN) {
            assert!(seeds.may_contain(w));
        }
        let absent = (0..10_000)
            .filter(|&i| !seeds.may_contain(&(i as u64 * 0x0123_4567_89AB).to_le_bytes()))
            .count();
        assert!(absent > 5000, "{absent}");
    }

    proptest! {
        #[test]
        fn finds_a_longest_match(t in proptest::collection::vec(0u8..4, 0..200),
                                 p in proptest::collection::vec(0u8..4, 0..40)) {
            let sa = naive_sa(&t);
            let Hit { pos, len } = longest_match(&t, &sa, &Buckets::new(&t), &p, 7);
            prop_assert_eq!(len, naive_best(&t, &p));
            if len > 0 {
                prop_assert_eq!(&t[pos..pos + len], &p[..len]);
            }
        }
    }
}
