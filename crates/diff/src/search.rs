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

/// Where the suffixes starting with each two-byte prefix lie in the suffix array, and, for
/// prefixes shared by many suffixes, where those with each three-byte prefix lie.
///
/// Lets a search start inside the right bucket instead of doing the first steps of the binary
/// search, which are also its slowest (each a cache miss into the array and the text).
#[derive(Debug)]
pub(crate) struct Buckets {
    /// `start[k]`: rank of the first suffix whose first two bytes are `k >> 8, k & 0xFF`.
    start: Vec<usize>,
    /// Number of suffixes with that prefix.
    count: Vec<usize>,
    /// For a two-byte prefix `k` with more than [`SUB_MIN`] suffixes, `sub_of[k]` is its
    /// number among those prefixes; `NO_SUB` for the others.
    sub_of: Vec<u32>,
    /// For the `i`-th such prefix, `sub[i * 257 + c]` is the rank of the first suffix that
    /// continues it with byte `c`, and `sub[i * 257 + 256]` the end of its bucket.
    sub: Vec<usize>,
}

/// Two-byte buckets with more suffixes than this are split by their third byte. The split
/// tables take 257 words per bucket split, and a split bucket holds more than `SUB_MIN`
/// suffixes, so they take at most `257 * 8 / SUB_MIN` (0.5) bytes per source byte.
const SUB_MIN: usize = 4096;
const NO_SUB: u32 = u32::MAX;

impl Buckets {
    pub(crate) fn new(text: &[u8]) -> Self {
        let n = text.len();
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
        // Split the large buckets by their third byte.
        let mut sub_of = vec![NO_SUB; 1 << 16];
        let mut big = 0u32;
        for k in 0..1 << 16 {
            if count[k] > SUB_MIN {
                sub_of[k] = big;
                big += 1;
            }
        }
        let mut sub = vec![0usize; big as usize * 257];
        if big > 0 {
            // Count the three-byte prefixes of the large buckets in place ...
            count_thirds(text, &sub_of, &mut sub);
            // ... and turn the counts into start ranks. The two-byte suffix (the last two
            // bytes) sorts first in its bucket.
            let last2 = (n >= 2).then(|| usize::from(text[n - 2]) << 8 | usize::from(text[n - 1]));
            for k in 0..1 << 16 {
                let i = sub_of[k];
                if i == NO_SUB {
                    continue;
                }
                let row = &mut sub[i as usize * 257..][..257];
                let mut rank = start[k] + usize::from(Some(k) == last2);
                for slot in &mut row[..256] {
                    let c = *slot;
                    *slot = rank;
                    rank += c;
                }
                row[256] = rank;
                debug_assert_eq!(rank, start[k] + count[k]);
            }
        }
        Buckets {
            start,
            count,
            sub_of,
            sub,
        }
    }

    /// The ranks of the suffixes that start with `pat`'s first bytes, and how many bytes
    /// (two or three) they are known to share with it. `None` if no suffix starts with its
    /// first two bytes or `pat` is shorter than two bytes.
    #[inline]
    fn range(&self, pat: &[u8]) -> Option<(usize, usize, usize)> {
        if pat.len() < 2 {
            return None;
        }
        let k = usize::from(pat[0]) << 8 | usize::from(pat[1]);
        let lo = self.start[k];
        let hi = lo + self.count[k];
        if lo == hi {
            return None;
        }
        let i = self.sub_of[k];
        if pat.len() >= 3 && i != NO_SUB {
            let c = usize::from(pat[2]);
            let (a, b) = (
                self.sub[i as usize * 257 + c],
                self.sub[i as usize * 257 + c + 1],
            );
            // When no suffix continues with pat[2], the whole bucket is searched: the best
            // match is two bytes long, and which suffix wins the tie depends on `near`.
            if a < b {
                return Some((a, b, 3));
            }
        }
        Some((lo, hi, 2))
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
        let shift = 64 - log;
        let count = text.len().saturating_sub(SEED_LEN - 1);
        let hash = |i: usize| Self::hash(&text[i..i + SEED_LEN], shift);
        // Every insertion is a cache miss in a set larger than the caches: the word for the
        // seed `AHEAD` positions on is fetched ahead. An insertion takes a few nanoseconds,
        // so the fetch must start far enough ahead to cover a miss's latency: 16 positions
        // did not (duckdb's source, one thread: 359-396 ms against 255-294 ms at 64, 263-275
        // at 128; polars 628/640 against 531/498 and 486/515 ms; docs/BENCHMARKS.md). On one
        // thread the words are set with plain stores; on more, with atomic ORs, chunk by
        // chunk in parallel. Either way the set is the same.
        const AHEAD: usize = 64;
        let bits = if rayon::current_num_threads() == 1 {
            let mut bits = vec![0u64; 1usize << (log - 6)];
            for i in 0..count {
                if i + AHEAD < count {
                    fwdelta_sufsort::prefetch(&bits, hash(i + AHEAD) >> 6);
                }
                let h = hash(i);
                bits[h >> 6] |= 1 << (h & 63);
            }
            bits
        } else {
            let words: Vec<AtomicU64> = (0..1usize << (log - 6))
                .map(|_| AtomicU64::new(0))
                .collect();
            let chunk = 1 << 16;
            (0..count.div_ceil(chunk)).into_par_iter().for_each(|c| {
                let end = ((c + 1) * chunk).min(count);
                for i in c * chunk..end {
                    if i + AHEAD < end {
                        fwdelta_sufsort::prefetch(&words, hash(i + AHEAD) >> 6);
                    }
                    let h = hash(i);
                    words[h >> 6].fetch_or(1 << (h & 63), Ordering::Relaxed);
                }
            });
            words.into_iter().map(AtomicU64::into_inner).collect()
        };
        Seeds { bits, shift }
    }

    #[inline]
    fn hash(seed: &[u8], shift: u32) -> usize {
        let mut b = [0u8; 8];
        b[..SEED_LEN].copy_from_slice(&seed[..SEED_LEN]);
        (u64::from_le_bytes(b).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    /// Hints the CPU to fetch the word that [`Seeds::may_contain`] will read for `seed` (at
    /// least [`SEED_LEN`] bytes): the set is larger than the caches, so every lookup is a miss
    /// unless it is fetched ahead.
    #[inline]
    pub(crate) fn prefetch(&self, seed: &[u8]) {
        fwdelta_sufsort::prefetch(&self.bits, Self::hash(seed, self.shift) >> 6);
    }

    /// False when `seed` (at least [`SEED_LEN`] bytes) certainly does not occur in the text.
    #[inline]
    pub(crate) fn may_contain(&self, seed: &[u8]) -> bool {
        let h = Self::hash(seed, self.shift);
        self.bits[h >> 6] >> (h & 63) & 1 == 1
    }
}

/// Adds to `sub[i * 257 + c]` the number of three-byte substrings of `text` whose first two
/// bytes are the `i`-th split prefix (`sub_of`) and whose third is `c`.
///
/// Every substring is counted, those of the prefixes not split in a spare row past the end
/// that is then dropped: whether a prefix is split is data, and a branch on it mispredicts.
fn count_thirds(text: &[u8], sub_of: &[u32], sub: &mut Vec<usize>) {
    let rows = sub.len();
    // Where each prefix's counters start; the spare row for the prefixes not split.
    let base: Vec<usize> = sub_of
        .iter()
        .map(|&i| if i == NO_SUB { rows } else { i as usize * 257 })
        .collect();
    sub.resize(rows + 257, 0);
    for w in text.windows(3) {
        sub[base[usize::from(w[0]) << 8 | usize::from(w[1])] + usize::from(w[2])] += 1;
    }
    sub.truncate(rows);
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
    match buckets.range(pat) {
        Some((lo, hi, known)) => search_range(text, sa, pat, lo, hi, known, near),
        None => search_range(text, sa, pat, 0, sa.len(), 0, near),
    }
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
        let k = llcp.min(rlcp);
        // Every step waits for two cache misses: the array entry, then the text it points
        // to. Hide them behind this step's: the next step reads the middle of one of the two
        // halves, so fetch the text of both (their entries were fetched a step ago), and the
        // entries of the four places the step after may read.
        let c0 = lo + (mid - lo) / 2;
        let c1 = mid + 1 + (hi - mid - 1) / 2;
        if c0 < mid {
            fwdelta_sufsort::prefetch(text, sa[c0].get().wrapping_add(k));
        }
        if c1 < hi {
            fwdelta_sufsort::prefetch(text, sa[c1].get().wrapping_add(k));
        }
        fwdelta_sufsort::prefetch(sa, lo + (c0 - lo) / 2);
        fwdelta_sufsort::prefetch(sa, c0 + 1 + (mid - c0).saturating_sub(1) / 2);
        fwdelta_sufsort::prefetch(sa, mid + 1 + (c1 - mid - 1) / 2);
        fwdelta_sufsort::prefetch(sa, c1 + 1 + (hi - c1).saturating_sub(1) / 2);
        let off = sa[mid].get();
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

    /// A text whose two-byte buckets are all larger than [`SUB_MIN`], so every search starts
    /// in a three-byte bucket.
    fn split_text(len: usize, tail: &[u8]) -> Vec<u8> {
        let mut x = 7u32;
        let mut t: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 16) % 3) as u8
            })
            .collect();
        t.extend_from_slice(tail);
        t
    }

    /// Checks every split bucket's third-byte table of `t` against its suffix array.
    fn check_splits(t: &[u8], b: &Buckets) {
        let sa = naive_sa(t);
        for k in 0..1usize << 16 {
            let i = b.sub_of[k];
            if i == NO_SUB {
                assert!(b.count[k] <= SUB_MIN);
                continue;
            }
            assert!(b.count[k] > SUB_MIN);
            for c in 0..256usize {
                let pre = [(k >> 8) as u8, k as u8, c as u8];
                let ranks: Vec<usize> = (0..sa.len())
                    .filter(|&r| t[sa[r] as usize..].starts_with(&pre))
                    .collect();
                let (lo, hi) = (b.sub[i as usize * 257 + c], b.sub[i as usize * 257 + c + 1]);
                assert_eq!(hi - lo, ranks.len(), "prefix {pre:?}");
                if let Some(&r) = ranks.first() {
                    assert_eq!(lo, r, "prefix {pre:?}");
                }
            }
            assert_eq!(b.sub[i as usize * 257 + 256], b.start[k] + b.count[k]);
        }
    }

    #[test]
    fn split_buckets_match_the_suffix_array() {
        // Tails that put the two-byte suffix in a split bucket, and one that does not.
        for tail in [&b"\x01\x02"[..], b"\x00\x00", b"\x09"] {
            let t = split_text(40_000, tail);
            let b = Buckets::new(&t);
            assert_eq!(b.sub.len(), 9 * 257, "every bucket of 0..3 x 0..3 is split");
            check_splits(&t, &b);
        }
    }

    /// Split buckets among small ones: the three-byte substrings of the small buckets are
    /// counted too (in a row of their own), and must not reach the split buckets' tables.
    #[test]
    fn split_buckets_among_small_ones() {
        // Bytes 0, 1, 2 with chances 1/2, 1/4, 1/4: of 40,000 pairs, about 10,000 are 0 0
        // (split) and 2,500 are 1 1 (not); and some pairs with rarer bytes.
        let mut t: Vec<u8> = split_text(40_000, b"")
            .into_iter()
            .enumerate()
            .map(|(i, c)| [0, 0, 1, 2][(c as usize + i) % 4])
            .collect();
        for (i, c) in t.iter_mut().enumerate().step_by(53) {
            *c = 3 + (i % 11) as u8;
        }
        let b = Buckets::new(&t);
        let split = b.sub_of.iter().filter(|&&i| i != NO_SUB).count();
        assert!(
            (1..9).contains(&split),
            "{split} of the 9 buckets of 0..3 x 0..3 split"
        );
        check_splits(&t, &b);
    }

    #[test]
    fn searches_in_split_buckets_find_a_longest_match() {
        let t = split_text(30_000, b"\x02\x01");
        let sa = naive_sa(&t);
        let b = Buckets::new(&t);
        let mut x = 99u32;
        let mut rnd = || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as usize
        };
        for _ in 0..300 {
            // Pieces of the text with a changed byte somewhere, and a few absent third bytes.
            let at = rnd() % (t.len() - 40);
            let mut pat = t[at..at + 1 + rnd() % 39].to_vec();
            let flip = rnd() % pat.len();
            pat[flip] = (rnd() % 4) as u8;
            let hit = longest_match(&t, &sa, &b, &pat, rnd() % t.len());
            assert_eq!(hit.len, naive_best(&t, &pat), "{pat:?}");
            assert_eq!(&t[hit.pos..hit.pos + hit.len], &pat[..hit.len]);
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
        // Built on one thread (plain stores) and on three (atomic ORs over chunks): the
        // same set.
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| Seeds::new(&text))
        };
        let seeds = on(1);
        assert_eq!(seeds.bits, on(3).bits);
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
