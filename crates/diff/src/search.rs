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

/// Finds a longest prefix of `pat` occurring in `text`; returns `(offset in text, length)`.
///
/// Binary search for the insertion point of `pat` among the sorted suffixes, skipping the
/// prefix that both bounds are known to share with `pat` (Manber and Myers), so long equal runs
/// are not compared again at every step. The longest match is next to the insertion point.
/// Among the two neighbours, ties go to the one nearer to `near`.
pub(crate) fn longest_match<I: SaEntry>(
    text: &[u8],
    sa: &[I],
    pat: &[u8],
    near: usize,
) -> (usize, usize) {
    if sa.is_empty() || pat.is_empty() {
        return (0, 0);
    }
    // Ranks below `lo` hold suffixes < pat, ranks at or above `hi` hold suffixes >= pat.
    let (mut lo, mut hi) = (0usize, sa.len());
    let (mut llcp, mut rlcp) = (0usize, 0usize);
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
    let left = (lo > 0).then(|| (sa[lo - 1].get(), llcp));
    let right = (hi < sa.len()).then(|| (sa[hi].get(), rlcp));
    match (left, right) {
        (Some(a), Some(b)) => {
            if a.1 > b.1 || (a.1 == b.1 && a.0.abs_diff(near) <= b.0.abs_diff(near)) {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => (0, 0),
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
        let (pos, len) = longest_match(&text, &sa, &pat, 0);
        assert_eq!(len, 3000);
        assert!(pos + 3000 <= 5000);
    }

    proptest! {
        #[test]
        fn finds_a_longest_match(t in proptest::collection::vec(0u8..4, 0..200),
                                 p in proptest::collection::vec(0u8..4, 0..40)) {
            let sa = naive_sa(&t);
            let (pos, len) = longest_match(&t, &sa, &p, 7);
            prop_assert_eq!(len, naive_best(&t, &p));
            if len > 0 {
                prop_assert_eq!(&t[pos..pos + len], &p[..len]);
            }
        }
    }
}
