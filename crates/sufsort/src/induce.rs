//! The induced-sorting passes, sequential and block-parallel.
//!
//! Entry conventions (see `sais.rs`): 0 is empty (or suffix 0, which induces nothing); a plain
//! entry `j > 0` induces `j - 1` in the left-to-right pass, a marked one in the right-to-left
//! pass. Stage 1 (sorting LMS substrings) clears every entry once it has induced, so that only
//! the LMS suffixes are left at the end; the final stage keeps them and drops the marks.
//!
//! The parallel version works on blocks of `threads * ctx.block` entries, in three phases:
//! 1. (parallel) each thread reads its part of the block and, for every entry that induces,
//!    looks up the symbol and the mark of the induced suffix: the random reads of the text,
//!    the expensive part, happen here;
//! 2. (sequential) one thread walks the block in scan order and takes the target slots from
//!    the bucket pointers; an entry induced into the block itself is resolved on the spot;
//! 3. (parallel) the threads write the induced entries to their slots.
//!
//! Phase 2 visits the entries in exactly the sequential scan order, so the result is the same
//! for every thread count and block size.

use rayon::prelude::*;

use crate::fast::prefetch;
use crate::index::{Idx, Sym};
use crate::sais::Ctx;

/// How far ahead of the scan the text is prefetched.
const PREFETCH: usize = 32;

/// The value to store for suffix `j`, induced in the left-to-right pass (so `j` is L-type):
/// marked if its predecessor is S-type, that is `t[j - 1] < t[j]`.
#[inline(always)]
fn l_entry<C: Sym, I: Idx>(t: &[C], j: usize) -> I {
    let v = I::from_usize(j);
    if j > 0 && t[j - 1] < t[j] {
        v.flagged()
    } else {
        v
    }
}

/// The value to store for suffix `j`, induced in the right-to-left pass (so `j` is S-type):
/// marked if its predecessor is S-type too, that is `t[j - 1] <= t[j]`.
#[inline(always)]
fn s_entry<C: Sym, I: Idx>(t: &[C], j: usize) -> I {
    let v = I::from_usize(j);
    if j > 0 && t[j - 1] <= t[j] {
        v.flagged()
    } else {
        v
    }
}

/// Whether entry `v` induces in the left-to-right pass: a plain, non-empty one.
#[inline(always)]
fn induces_l<I: Idx>(v: I) -> bool {
    v != I::ZERO && !v.is_flagged()
}

/// The text position to prefetch for entry `a` ahead of a pass: its predecessor if the pass
/// induces from it (`induces`), otherwise 0, the text's first line, which stays cached.
/// Prefetching for entries that induce nothing would only take memory traffic from those
/// that do; the address is selected, not branched on.
#[inline(always)]
fn ahead<I: Idx>(a: I, induces: bool) -> usize {
    if induces {
        a.unflagged().to_usize().wrapping_sub(1)
    } else {
        0
    }
}

/// Left-to-right pass. `ptrs` holds the bucket starts on entry.
pub(crate) fn induce_l<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &mut [I],
    ptrs: &mut [I],
    ctx: &Ctx,
) {
    let n = t.len();
    // Suffix n-1 comes right after the virtual sentinel, the smallest suffix.
    let c = t[n - 1].sym();
    let p = ptrs[c].to_usize();
    sa[p] = l_entry(t, n - 1);
    ptrs[c] = I::from_usize(p + 1);
    if ctx.par_induce(n) {
        induce_l_par::<C, I, STAGE1>(t, sa, ptrs, ctx);
    } else {
        induce_l_seq::<C, I, STAGE1>(t, sa, ptrs);
    }
}

/// Right-to-left pass. `ptrs` holds the bucket ends on entry.
pub(crate) fn induce_s<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &mut [I],
    ptrs: &mut [I],
    ctx: &Ctx,
) {
    if ctx.par_induce(t.len()) {
        induce_s_par::<C, I, STAGE1>(t, sa, ptrs, ctx);
    } else {
        induce_s_seq::<C, I, STAGE1>(t, sa, ptrs);
    }
}

fn induce_l_seq<C: Sym, I: Idx, const STAGE1: bool>(t: &[C], sa: &mut [I], ptrs: &mut [I]) {
    let n = sa.len();
    // With a large alphabet the bucket pointers miss the cache too: fetch the text two
    // prefetch distances ahead, then the bucket pointer one distance ahead.
    let big = ptrs.len() > 1 << 14;
    for i in 0..n {
        if let Some(&a) = sa.get(i + 2 * PREFETCH) {
            prefetch(t, ahead(a, induces_l(a)));
        }
        if big {
            if let Some(&a) = sa.get(i + PREFETCH) {
                if induces_l(a) {
                    prefetch(ptrs, t[a.to_usize() - 1].sym());
                }
            }
        }
        let v = sa[i];
        if induces_l(v) {
            if STAGE1 {
                sa[i] = I::ZERO;
            }
            let j = v.to_usize() - 1;
            let c = t[j].sym();
            let p = ptrs[c].to_usize();
            sa[p] = l_entry(t, j);
            ptrs[c] = I::from_usize(p + 1);
        }
    }
}

fn induce_s_seq<C: Sym, I: Idx, const STAGE1: bool>(t: &[C], sa: &mut [I], ptrs: &mut [I]) {
    let n = sa.len();
    let big = ptrs.len() > 1 << 14;
    for i in (0..n).rev() {
        if i >= 2 * PREFETCH {
            let a = sa[i - 2 * PREFETCH];
            prefetch(t, ahead(a, a.is_flagged()));
        }
        if big && i >= PREFETCH {
            let a = sa[i - PREFETCH];
            if a.is_flagged() {
                if let Some(c) = t.get(a.unflagged().to_usize().wrapping_sub(1)) {
                    prefetch(ptrs, c.sym());
                }
            }
        }
        let v = sa[i];
        if v.is_flagged() {
            let u = v.unflagged();
            sa[i] = if STAGE1 { I::ZERO } else { u };
            let j = u.to_usize() - 1;
            let c = t[j].sym();
            let p = ptrs[c].to_usize() - 1;
            sa[p] = s_entry(t, j);
            ptrs[c] = I::from_usize(p);
        }
    }
}

/// Phase 1 of the left-to-right pass over one thread's part of a block.
fn gather_l<C: Sym, I: Idx, const STAGE1: bool>(t: &[C], part: &mut [I], cache: &mut [(I, I)]) {
    let len = part.len();
    for i in 0..len {
        if let Some(&a) = part.get(i + PREFETCH) {
            prefetch(t, ahead(a, induces_l(a)));
        }
        let v = part[i];
        cache[i] = if induces_l(v) {
            if STAGE1 {
                part[i] = I::ZERO;
            }
            let j = v.to_usize() - 1;
            (I::from_usize(t[j].sym()), l_entry(t, j))
        } else {
            (I::NONE, I::ZERO)
        };
    }
}

/// Phase 1 of the right-to-left pass over one thread's part of a block.
fn gather_s<C: Sym, I: Idx, const STAGE1: bool>(t: &[C], part: &mut [I], cache: &mut [(I, I)]) {
    let len = part.len();
    for i in 0..len {
        if let Some(&a) = part.get(i + PREFETCH) {
            prefetch(t, ahead(a, a.is_flagged()));
        }
        let v = part[i];
        cache[i] = if v.is_flagged() {
            let u = v.unflagged();
            part[i] = if STAGE1 { I::ZERO } else { u };
            let j = u.to_usize() - 1;
            (I::from_usize(t[j].sym()), s_entry(t, j))
        } else {
            (I::NONE, I::ZERO)
        };
    }
}

/// Phase 3: write every resolved entry `(target, value)` of the cache.
fn scatter<I: Idx>(sa: &mut [I], cache: &[(I, I)], chunk: usize) {
    let view = I::atomic_view(sa);
    cache.par_chunks(chunk).for_each(|part| {
        for (i, &(tgt, v)) in part.iter().enumerate() {
            if let Some(&(next, _)) = part.get(i + PREFETCH) {
                prefetch(view, next.to_usize());
            }
            if tgt != I::NONE {
                I::store(&view[tgt.to_usize()], v);
            }
        }
    });
}

fn induce_l_par<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &mut [I],
    ptrs: &mut [I],
    ctx: &Ctx,
) {
    let n = sa.len();
    let chunk = ctx.block;
    let block = chunk * ctx.threads;
    let mut cache = vec![(I::NONE, I::ZERO); block.min(n)];
    let mut s = 0;
    while s < n {
        let e = (s + block).min(n);
        let cache = &mut cache[..e - s];
        sa[s..e]
            .par_chunks_mut(chunk)
            .zip(cache.par_chunks_mut(chunk))
            .for_each(|(part, c)| gather_l::<C, I, STAGE1>(t, part, c));
        for idx in 0..e - s {
            if let Some(&(c, _)) = cache.get(idx + PREFETCH) {
                prefetch(ptrs, c.to_usize());
            }
            let (c, v) = cache[idx];
            if c == I::NONE {
                continue;
            }
            let c = c.to_usize();
            let tgt = ptrs[c].to_usize();
            ptrs[c] = I::from_usize(tgt + 1);
            let mut val = v;
            if tgt < e {
                // Induced into this block, after `idx`: resolve it now, in scan order.
                let ti = tgt - s;
                debug_assert!(ti > idx && cache[ti].0 == I::NONE);
                if induces_l(v) {
                    if STAGE1 {
                        val = I::ZERO;
                    }
                    let j = v.to_usize() - 1;
                    cache[ti] = (I::from_usize(t[j].sym()), l_entry(t, j));
                }
            }
            cache[idx] = (I::from_usize(tgt), val);
        }
        scatter(sa, cache, chunk);
        s = e;
    }
}

fn induce_s_par<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &mut [I],
    ptrs: &mut [I],
    ctx: &Ctx,
) {
    let n = sa.len();
    let chunk = ctx.block;
    let block = chunk * ctx.threads;
    let mut cache = vec![(I::NONE, I::ZERO); block.min(n)];
    let mut e = n;
    while e > 0 {
        let s = e.saturating_sub(block);
        let cache = &mut cache[..e - s];
        sa[s..e]
            .par_chunks_mut(chunk)
            .zip(cache.par_chunks_mut(chunk))
            .for_each(|(part, c)| gather_s::<C, I, STAGE1>(t, part, c));
        for idx in (0..e - s).rev() {
            if idx >= PREFETCH {
                prefetch(ptrs, cache[idx - PREFETCH].0.to_usize());
            }
            let (c, v) = cache[idx];
            if c == I::NONE {
                continue;
            }
            let c = c.to_usize();
            let tgt = ptrs[c].to_usize() - 1;
            ptrs[c] = I::from_usize(tgt);
            let mut val = v;
            if tgt >= s {
                // Induced into this block, before `idx`: resolve it now, in scan order.
                let ti = tgt - s;
                debug_assert!(ti < idx && cache[ti].0 == I::NONE);
                if v.is_flagged() {
                    let u = v.unflagged();
                    val = if STAGE1 { I::ZERO } else { u };
                    let j = u.to_usize() - 1;
                    cache[ti] = (I::from_usize(t[j].sym()), s_entry(t, j));
                }
            }
            cache[idx] = (I::from_usize(tgt), val);
        }
        scatter(sa, cache, chunk);
        e = s;
    }
}
