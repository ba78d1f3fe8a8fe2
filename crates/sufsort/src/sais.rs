//! Sequential SA-IS (induced sorting), generic over the index type and the symbol type.
//!
//! Layout conventions, shared by every level of the recursion:
//! - `sa[..n]` receives the suffix array; anything in `sa[n..]` is free scratch space.
//! - An empty slot holds 0. Suffix 0 is also stored as 0; that is harmless because suffix 0
//!   has no predecessor to induce.
//! - During the induce passes an entry's mark bit (`Idx::FLAG`) says which pass must induce
//!   from it: a plain entry `j` is induced from in the left-to-right pass (its predecessor
//!   `j - 1` is L-type), a marked entry in the right-to-left pass (its predecessor is S-type).

use crate::index::{Idx, Sym};

/// Sorts the suffixes of `t` (symbols below `k`) into `sa[..t.len()]`, using `sa[t.len()..]`
/// as scratch space.
pub(crate) fn sais<C: Sym, I: Idx>(t: &[C], sa: &mut [I], k: usize) {
    let n = t.len();
    debug_assert!(sa.len() >= n);
    debug_assert!(n as u64 <= I::MAX_LEN);
    match n {
        0 => return,
        1 => {
            sa[0] = I::ZERO;
            return;
        }
        _ => {}
    }
    let (sa, free) = sa.split_at_mut(n);
    let mut heap = Vec::new();
    let (counts, ptrs) = if free.len() >= 2 * k {
        let (a, b) = free.split_at_mut(k);
        (a, &mut b[..k])
    } else {
        heap.resize(2 * k, I::ZERO);
        heap.split_at_mut(k)
    };

    count_symbols(t, counts);

    // Stage 1: sort the LMS substrings.
    sa.fill(I::ZERO);
    bucket_ends(counts, ptrs);
    let mut m = 0usize;
    for_each_lms_rev(t, |p| {
        let c = t[p].sym();
        let e = ptrs[c].to_usize() - 1;
        ptrs[c] = I::from_usize(e);
        sa[e] = I::from_usize(p);
        m += 1;
    });
    induce_l(t, sa, counts, ptrs);
    induce_s::<C, I, true>(t, sa, counts, ptrs);

    // After the right-to-left pass `ptrs[c]` is the start of the S part of bucket `c`. The
    // LMS suffixes are the plain non-zero entries of the S parts, in LMS-substring order.
    let mut w = 0usize;
    let mut start = 0usize;
    for c in 0..k {
        let end = start + counts[c].to_usize();
        for i in ptrs[c].to_usize()..end {
            let v = sa[i];
            if v != I::ZERO && !v.is_flagged() {
                sa[w] = v;
                w += 1;
            }
        }
        start = end;
    }
    debug_assert_eq!(w, m);

    // Name the LMS substrings: store each one's length at `m + p / 2` (LMS positions are at
    // least two apart), then replace lengths by names (1-based) in sorted order.
    sa[m..].fill(I::ZERO);
    let mut next = n;
    for_each_lms_rev(t, |p| {
        sa[m + p / 2] = I::from_usize(next - p + 1);
        next = p;
    });
    let mut names = 0usize;
    let mut prev = usize::MAX;
    let mut prev_len = 0usize;
    for i in 0..m {
        let p = sa[i].to_usize();
        let len = sa[m + p / 2].to_usize();
        let same = prev != usize::MAX
            && len == prev_len
            && p + len <= n
            && prev + len <= n
            && t[p..p + len] == t[prev..prev + len];
        if !same {
            names += 1;
            prev = p;
            prev_len = len;
        }
        sa[m + p / 2] = I::from_usize(names);
    }
    // Gather the names, in text order, into the reduced text `sa[n - m..]`.
    let mut w = n;
    for i in (m..n).rev() {
        let v = sa[i];
        if v != I::ZERO {
            w -= 1;
            sa[w] = I::from_usize(v.to_usize() - 1);
        }
    }
    debug_assert_eq!(w, n - m);

    // Sort the reduced text: recursively if names repeat, directly otherwise.
    {
        let (work, reduced) = sa.split_at_mut(n - m);
        if names < m {
            sais::<I, I>(reduced, work, names);
        } else {
            for (i, &name) in reduced.iter().enumerate() {
                work[name.to_usize()] = I::from_usize(i);
            }
        }
    }

    // Map reduced suffix numbers back to text positions.
    let mut w = n;
    for_each_lms_rev(t, |p| {
        w -= 1;
        sa[w] = I::from_usize(p);
    });
    for i in 0..m {
        sa[i] = sa[n - m + sa[i].to_usize()];
    }

    // Stage 2: put the sorted LMS suffixes at the ends of their buckets, then induce.
    sa[m..].fill(I::ZERO);
    bucket_ends(counts, ptrs);
    for i in (0..m).rev() {
        let p = sa[i];
        sa[i] = I::ZERO;
        let c = t[p.to_usize()].sym();
        let e = ptrs[c].to_usize() - 1;
        ptrs[c] = I::from_usize(e);
        sa[e] = p;
    }
    induce_l(t, sa, counts, ptrs);
    induce_s::<C, I, false>(t, sa, counts, ptrs);
}

/// Counts the occurrences of each symbol.
fn count_symbols<C: Sym, I: Idx>(t: &[C], counts: &mut [I]) {
    counts.fill(I::ZERO);
    for &c in t {
        let c = c.sym();
        counts[c] = I::from_usize(counts[c].to_usize() + 1);
    }
}

/// `ptrs[c]` = the start of bucket `c`.
fn bucket_starts<I: Idx>(counts: &[I], ptrs: &mut [I]) {
    let mut sum = 0usize;
    for (p, &c) in ptrs.iter_mut().zip(counts) {
        *p = I::from_usize(sum);
        sum += c.to_usize();
    }
}

/// `ptrs[c]` = one past the end of bucket `c`.
fn bucket_ends<I: Idx>(counts: &[I], ptrs: &mut [I]) {
    let mut sum = 0usize;
    for (p, &c) in ptrs.iter_mut().zip(counts) {
        sum += c.to_usize();
        *p = I::from_usize(sum);
    }
}

/// Calls `f` with every LMS position, right to left. (Position `n`, the virtual sentinel, is
/// not reported.)
fn for_each_lms_rev<C: Sym>(t: &[C], mut f: impl FnMut(usize)) {
    let n = t.len();
    if n < 2 {
        return;
    }
    let mut s_next = false; // suffix n-1 is L-type: it is larger than the empty suffix
    for i in (0..n - 1).rev() {
        let s = t[i] < t[i + 1] || (t[i] == t[i + 1] && s_next);
        if !s && s_next {
            f(i + 1);
        }
        s_next = s;
    }
}

/// Left-to-right pass: induces the L-type suffixes from the entries in `sa`.
fn induce_l<C: Sym, I: Idx>(t: &[C], sa: &mut [I], counts: &[I], ptrs: &mut [I]) {
    let n = t.len();
    bucket_starts(counts, ptrs);
    // Suffix n-1 comes right after the virtual sentinel.
    let j = n - 1;
    let c = t[j].sym();
    let v = if j > 0 && t[j - 1] < t[j] {
        I::from_usize(j).flagged()
    } else {
        I::from_usize(j)
    };
    sa[ptrs[c].to_usize()] = v;
    ptrs[c] = I::from_usize(ptrs[c].to_usize() + 1);
    for i in 0..n {
        let v = sa[i];
        if v != I::ZERO && !v.is_flagged() {
            let j = v.to_usize() - 1;
            let c = t[j].sym();
            let v = if j > 0 && t[j - 1] < t[j] {
                I::from_usize(j).flagged()
            } else {
                I::from_usize(j)
            };
            let p = ptrs[c].to_usize();
            sa[p] = v;
            ptrs[c] = I::from_usize(p + 1);
        }
    }
}

/// Right-to-left pass: induces the S-type suffixes. With `KEEP_MARKS` the marks stay (stage 1
/// uses them to tell LMS suffixes apart); otherwise every entry ends up plain.
fn induce_s<C: Sym, I: Idx, const KEEP_MARKS: bool>(
    t: &[C],
    sa: &mut [I],
    counts: &[I],
    ptrs: &mut [I],
) {
    let n = t.len();
    bucket_ends(counts, ptrs);
    for i in (0..n).rev() {
        let v = sa[i];
        if v.is_flagged() {
            let v = v.unflagged();
            if !KEEP_MARKS {
                sa[i] = v;
            }
            let j = v.to_usize() - 1;
            let c = t[j].sym();
            let v = if j > 0 && t[j - 1] <= t[j] {
                I::from_usize(j).flagged()
            } else {
                I::from_usize(j)
            };
            let p = ptrs[c].to_usize() - 1;
            sa[p] = v;
            ptrs[c] = I::from_usize(p);
        }
    }
}
