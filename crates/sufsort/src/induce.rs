//! The induced-sorting passes: sequential, pipelined (two threads), block-parallel (three or
//! more), and for the final passes over a byte text, in bucket-bounded blocks (from two
//! threads on; described above `bucket_blocks` below).
//!
//! Entry conventions (see `sais.rs`): 0 is empty (or suffix 0, which induces nothing); a plain
//! entry `j > 0` induces `j - 1` in the left-to-right pass, a marked one in the right-to-left
//! pass. Stage 1 (sorting LMS substrings) clears every entry once it has induced, so that only
//! the LMS suffixes are left at the end; the final stage keeps them and drops the marks.
//!
//! The pipelined version (with two threads) is described with `pipeline` below.
//!
//! The block-parallel version works on blocks of `threads * ctx.block` entries, in three
//! phases:
//! 1. (parallel) each thread reads its part of the block and, for every entry that induces,
//!    looks up the symbol and the mark of the induced suffix: the random reads of the text,
//!    the expensive part, happen here;
//! 2. (sequential) one thread walks the block in scan order and takes the target slots from
//!    the bucket pointers; an entry induced into the block itself is resolved on the spot;
//! 3. (parallel) the threads write the induced entries to their slots.
//!
//! Phase 2 visits the entries in exactly the sequential scan order, so the result is the same
//! for every thread count and block size.

use std::ops::Range;

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
    let blocks = bucket_blocks::<C, I, STAGE1>(t, ptrs, false, ctx);
    // Suffix n-1 comes right after the virtual sentinel, the smallest suffix.
    let c = t[n - 1].sym();
    let p = ptrs[c].to_usize();
    sa[p] = l_entry(t, n - 1);
    ptrs[c] = I::from_usize(p + 1);
    if let Some((bytes, ptrs, starts)) =
        blocks.and_then(|s| Some((C::as_bytes(t)?, byte_ptrs(ptrs)?, s)))
    {
        induce_l_blocks(bytes, sa, ptrs, &starts, ctx);
    } else if ctx.par_induce(n) {
        induce_l_par::<C, I, STAGE1>(t, sa, ptrs, ctx);
    } else if ctx.par(n) && ptrs.len() > ctx.pipe_min_k {
        induce_l_pipe::<C, I, STAGE1>(t, sa, ptrs, ctx);
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
    if let Some((bytes, ptrs, starts)) = bucket_blocks::<C, I, STAGE1>(t, ptrs, true, ctx)
        .and_then(|s| Some((C::as_bytes(t)?, byte_ptrs(ptrs)?, s)))
    {
        induce_s_blocks(bytes, sa, ptrs, &starts, ctx);
    } else if ctx.par_induce(t.len()) {
        induce_s_par::<C, I, STAGE1>(t, sa, ptrs, ctx);
    } else if ctx.par(t.len()) && ptrs.len() > ctx.pipe_min_k {
        induce_s_pipe::<C, I, STAGE1>(t, sa, ptrs, ctx);
    } else {
        induce_s_seq::<C, I, STAGE1>(t, sa, ptrs);
    }
}

fn induce_l_seq<C: Sym, I: Idx, const STAGE1: bool>(t: &[C], sa: &mut [I], ptrs: &mut [I]) {
    let n = sa.len();
    if let (Some(bytes), Some(ptrs)) = (C::as_bytes(t), byte_ptrs(ptrs)) {
        return scan_l_bytes::<I, STAGE1>(bytes, sa, ptrs);
    }
    scan_l::<C, I, STAGE1>(t, I::atomic_view(sa), 0, n, ptrs);
}

/// [`scan_l`] over a whole byte text with its 256 bucket pointers, on a plain slice:
/// indexing the pointers needs no bounds check, and there is no large-alphabet prefetch to
/// test for. (Against `scan_l`, the top level's final left-to-right pass on duckdb, both run
/// in turn in one process on copies of the same array, 10 rounds: median 263 -> 251 ms,
/// faster in 7.)
fn scan_l_bytes<I: Idx, const STAGE1: bool>(t: &[u8], sa: &mut [I], ptrs: &mut [I; 256]) {
    let n = sa.len();
    for i in 0..n {
        if i + 2 * PREFETCH < n {
            let a = sa[i + 2 * PREFETCH];
            prefetch(t, ahead(a, induces_l(a)));
        }
        let v = sa[i];
        if induces_l(v) {
            if STAGE1 {
                sa[i] = I::ZERO;
            }
            let j = v.to_usize() - 1;
            let c = usize::from(t[j]);
            let p = ptrs[c].to_usize();
            sa[p] = l_entry(t, j);
            ptrs[c] = I::from_usize(p + 1);
        }
    }
}

fn induce_s_seq<C: Sym, I: Idx, const STAGE1: bool>(t: &[C], sa: &mut [I], ptrs: &mut [I]) {
    let n = sa.len();
    if let (Some(bytes), Some(ptrs)) = (C::as_bytes(t), byte_ptrs(ptrs)) {
        return scan_s_bytes::<I, STAGE1>(bytes, sa, ptrs);
    }
    scan_s::<C, I, STAGE1>(t, I::atomic_view(sa), 0, n, ptrs);
}

/// [`scan_s`] over a whole byte text with its 256 bucket pointers, on a plain slice:
/// indexing the pointers needs no bounds check, and the induced entry's mark takes no branch
/// on `j > 0`. (Against `scan_s`, the top level's final right-to-left pass on duckdb, both
/// run in turn in one process on copies of the same array, 10 rounds: median 392 -> 350 ms,
/// faster in all 10.)
fn scan_s_bytes<I: Idx, const STAGE1: bool>(t: &[u8], sa: &mut [I], ptrs: &mut [I; 256]) {
    for i in (0..sa.len()).rev() {
        if i >= 2 * PREFETCH {
            let a = sa[i - 2 * PREFETCH];
            prefetch(t, ahead(a, a.is_flagged()));
        }
        let v = sa[i];
        if v.is_flagged() {
            let u = v.unflagged();
            sa[i] = if STAGE1 { I::ZERO } else { u };
            let j = u.to_usize() - 1;
            let c = t[j];
            // The symbol before, or `c` itself at the text's start (where `j > 0` fails).
            let before = t[j - usize::from(j > 0)];
            let p = ptrs[usize::from(c)].to_usize() - 1;
            let out = I::from_usize(j);
            sa[p] = if j > 0 && before <= c {
                out.flagged()
            } else {
                out
            };
            ptrs[usize::from(c)] = I::from_usize(p);
        }
    }
}

/// The left-to-right pass over `sa[s..e]`, entry by entry. (The array is seen as atomics so
/// that the pipelined pass can run this on one block while another thread reads ahead; with
/// one thread the relaxed loads and stores are plain ones.)
fn scan_l<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &[I::Atomic],
    s: usize,
    e: usize,
    ptrs: &mut [I],
) {
    // With a large alphabet the bucket pointers miss the cache too: fetch the text two
    // prefetch distances ahead, then the bucket pointer one distance ahead.
    let big = ptrs.len() > 1 << 14;
    for i in s..e {
        if i + 2 * PREFETCH < e {
            let a = I::load(&sa[i + 2 * PREFETCH]);
            prefetch(t, ahead(a, induces_l(a)));
        }
        if big && i + PREFETCH < e {
            let a = I::load(&sa[i + PREFETCH]);
            if induces_l(a) {
                prefetch(ptrs, t[a.to_usize() - 1].sym());
            }
        }
        let v = I::load(&sa[i]);
        if induces_l(v) {
            if STAGE1 {
                I::store(&sa[i], I::ZERO);
            }
            let j = v.to_usize() - 1;
            let c = t[j].sym();
            let p = ptrs[c].to_usize();
            I::store(&sa[p], l_entry(t, j));
            ptrs[c] = I::from_usize(p + 1);
        }
    }
}

/// The right-to-left pass over `sa[s..e]`, entry by entry.
fn scan_s<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &[I::Atomic],
    s: usize,
    e: usize,
    ptrs: &mut [I],
) {
    let big = ptrs.len() > 1 << 14;
    for i in (s..e).rev() {
        if i >= s + 2 * PREFETCH {
            let a = I::load(&sa[i - 2 * PREFETCH]);
            prefetch(t, ahead(a, a.is_flagged()));
        }
        if big && i >= s + PREFETCH {
            let a = I::load(&sa[i - PREFETCH]);
            if a.is_flagged() {
                if let Some(c) = t.get(a.unflagged().to_usize().wrapping_sub(1)) {
                    prefetch(ptrs, c.sym());
                }
            }
        }
        let v = I::load(&sa[i]);
        if v.is_flagged() {
            let u = v.unflagged();
            I::store(&sa[i], if STAGE1 { I::ZERO } else { u });
            let j = u.to_usize() - 1;
            let c = t[j].sym();
            let p = ptrs[c].to_usize() - 1;
            I::store(&sa[p], s_entry(t, j));
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

// The final passes over a byte text, from two threads on, run in blocks that no entry is
// induced into ("bucket-bounded blocks"). Take the left-to-right pass with the scan at `s`,
// every entry before `s` done. Then `sa[s]` is final, and of the rest of its bucket `c` the
// slots before the bucket pointer `q` (the L-type entries induced so far) are final too, and
// so is the S-type part at the bucket's end, which holds the seeds and zeros and which this
// pass never writes. So if `s < q`, every slot of `s..q` is final; otherwise `s` is in the
// S-type part, and every slot up to the end of the bucket is final, and after it the slots
// of the next bucket before its pointer. An entry induced from such a block goes to a slot at
// a bucket pointer, which is outside the block. So the block's entries can be read in
// parallel, in parts. Each part records the (symbol, entry) to induce from each of its
// entries, and counts its entries per symbol. Then, in order of parts, each part's share of
// every bucket is cut from the bucket pointers (256 steps per part), and the parts write
// their entries in parallel. (The first part writes at once; see `blocks_pass`.) Within a
// bucket the entries land in scan order, so the result is that of the sequential pass,
// whatever the number of parts. The right-to-left pass is the mirror image: the final slots
// are those after the bucket pointer (S-type entries induced so far) and the whole L-type
// part of a bucket, which the left-to-right pass filled.
//
// Blocks are at most `threads * ctx.block` entries. A block is cut short at a bucket pointer,
// so a bucket whose entries induce entries of the same bucket (a run of one symbol) gives a
// short block per step of the run; short blocks are scanned sequentially.

/// The bucket starts of a byte text (with `n` at index 256), if the final pass over it should
/// run in bucket-bounded blocks. `ptrs` holds the bucket starts, or with `ends` the bucket
/// ends.
fn bucket_blocks<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    ptrs: &[I],
    ends: bool,
    ctx: &Ctx,
) -> Option<[usize; 257]> {
    if STAGE1 || !ctx.bucket_blocks || !ctx.par(t.len()) || ptrs.len() != 256 {
        return None;
    }
    C::as_bytes(t)?;
    let mut starts = [0usize; 257];
    starts[256] = t.len();
    let from = usize::from(ends);
    for (s, p) in starts[from..].iter_mut().zip(&ptrs[..256 - from]) {
        *s = p.to_usize();
    }
    Some(starts)
}

/// The pointers of a byte text's buckets as a fixed array.
fn byte_ptrs<I: Idx>(ptrs: &mut [I]) -> Option<&mut [I; 256]> {
    ptrs.try_into().ok()
}

/// One part of a bucket-bounded block: the (symbol, entry) pairs to induce from it, in scan
/// order, their number per symbol, and then the next slot of each bucket for the part.
struct Part<I> {
    syms: Vec<u8>,
    outs: Vec<I>,
    len: usize,
    counts: [usize; 256],
    next: [usize; 256],
}

impl<I: Idx> Part<I> {
    fn new(cap: usize) -> Self {
        Part {
            syms: vec![0; cap],
            outs: vec![I::ZERO; cap],
            len: 0,
            counts: [0; 256],
            next: [0; 256],
        }
    }

    /// Writes the recorded entries: each at the next slot of its bucket, counting up
    /// (left-to-right pass) or down.
    fn place(&mut self, sa: &[I::Atomic], up: bool) {
        let (syms, outs) = (&self.syms[..self.len], &self.outs[..self.len]);
        let mut sink = Write {
            next: &mut self.next,
            sa,
            up,
        };
        for (&c, &out) in syms.iter().zip(outs) {
            sink.put(c, out);
        }
    }
}

/// Where a part's reader puts the entries to induce, in scan order.
trait Sink<I> {
    fn put(&mut self, c: u8, out: I);
}

/// Records them in the part, for writing once the buckets are cut.
struct Record<'a, I>(&'a mut Part<I>);

impl<I: Idx> Sink<I> for Record<'_, I> {
    #[inline(always)]
    fn put(&mut self, c: u8, out: I) {
        let part = &mut *self.0;
        part.syms[part.len] = c;
        part.outs[part.len] = out;
        part.counts[usize::from(c)] += 1;
        part.len += 1;
    }
}

/// Writes them at once, from the part's `next` slots (the first part of a block, whose
/// slots are the bucket pointers).
struct Write<'a, I: Idx> {
    next: &'a mut [usize; 256],
    sa: &'a [I::Atomic],
    up: bool,
}

impl<I: Idx> Sink<I> for Write<'_, I> {
    #[inline(always)]
    fn put(&mut self, c: u8, out: I) {
        let next = &mut self.next[usize::from(c)];
        let p = if self.up { *next } else { *next - 1 };
        I::store(&self.sa[p], out);
        *next = if self.up { p + 1 } else { p };
    }
}

/// Reads a slice of a block: puts what each of its entries induces, in scan order.
trait Reader<I>: Sync {
    fn read<S: Sink<I>>(&self, r: Range<usize>, sink: &mut S);
}

/// Locks `m`, also if a panicking thread held it (the pass is abandoned then anyway).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a pass in bucket-bounded blocks on every thread of the pool. `next(ptrs)` is the
/// sequential part: it moves the scan on, scanning short blocks itself, and returns the next
/// block to run in parts, or `None` at the end. `reader` reads the parts. `up`: the pass
/// counts the bucket pointers up (left to right).
///
/// A block goes in two rounds, reading its parts and then writing them. The first part
/// (in scan order) needs no cut: its slots start at the bucket pointers, so its reader
/// writes the entries at once, and it is left out of the second round. It is a `threads`th
/// of the block, as long as two of the other parts, of which there are `2 * (threads - 1)`:
/// so with two threads, one writes half of the block while the other reads two quarters,
/// and then each writes a quarter. (Writing at once costs about as much as reading: the
/// random reads of the text dominate both. On duckdb's top-level left-to-right pass, the
/// parts' reading took 235 ms of thread time in all, against 231 ms for the one-thread pass
/// that also writes: counters in a temporary build of `sa_time --threads 2`.)
///
/// Any thread claims any part of the current round; the thread that finishes the round's
/// last part does the sequential work between rounds (cutting the buckets between the
/// parts, or `next`) and opens the next round. A thread only ever waits for parts that
/// running threads have claimed, so the pass finishes however many of the pool's threads
/// join in, and the result does not depend on which thread ran what.
fn blocks_pass<I: Idx>(
    ctx: &Ctx,
    sa: &[I::Atomic],
    ptrs: &mut [I; 256],
    up: bool,
    next: impl FnMut(&mut [I; 256]) -> Option<Range<usize>> + Send,
    reader: &impl Reader<I>,
) {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let threads = ctx.threads;
    // In units of half the first part: the first part is 2 units, the others 1.
    let units = 2 * threads;
    let nparts = 2 * threads - 1;
    let serial = Mutex::new((ptrs, next));
    let first = {
        let (ptrs, next) = &mut *lock(&serial);
        next(ptrs)
    };
    let Some(first) = first else { return };
    // Blocks have at most `threads * ctx.block` entries; the first part records nothing.
    let unit_cap = (threads * ctx.block).div_ceil(units);
    let parts: Vec<Mutex<Part<I>>> = (0..nparts)
        .map(|k| Mutex::new(Part::new(if k == 0 { 0 } else { unit_cap })))
        .collect();
    // The first part's slots are the bucket pointers.
    let start_first = |ptrs: &[I; 256]| {
        let mut p0 = lock(&parts[0]);
        for (n, p) in p0.next.iter_mut().zip(ptrs) {
            *n = p.to_usize();
        }
    };
    start_first(lock(&serial).0);
    // The block of the current rounds.
    let (start, end) = (AtomicUsize::new(first.start), AtomicUsize::new(first.end));
    // The round (odd: reading, even: writing) in the high half, the next unclaimed part in the
    // low half.
    let round = AtomicU64::new(1 << 32);
    let finished_parts = AtomicUsize::new(0);
    let over = AtomicBool::new(false);
    // The part `k` of the current block, `k = 0` first in scan order.
    let part_range = |k: usize| {
        let (s, e) = (start.load(Ordering::Relaxed), end.load(Ordering::Relaxed));
        let unit = (e - s).div_ceil(units);
        let (a, b) = if k == 0 {
            (0, 2 * unit)
        } else {
            ((k + 1) * unit, (k + 2) * unit)
        };
        if up {
            (s + a).min(e)..(s + b).min(e)
        } else {
            e.saturating_sub(b).max(s)..e.saturating_sub(a).max(s)
        }
    };
    // The parts of round `r`: all are read; all but the first are written.
    let tasks = |r: u64| if r % 2 == 1 { nparts } else { nparts - 1 };
    // Between rounds: returns whether there is another.
    let between = |r: u64| -> bool {
        let (ptrs, next) = &mut *lock(&serial);
        if r % 2 == 1 {
            // Cut each bucket between the parts, in scan order.
            let mut parts: Vec<_> = parts.iter().map(lock).collect();
            for (c, ptr) in ptrs.iter_mut().enumerate() {
                let mut p = parts[0].next[c];
                for part in parts.iter_mut().skip(1) {
                    part.next[c] = p;
                    p = if up {
                        p + part.counts[c]
                    } else {
                        p - part.counts[c]
                    };
                }
                *ptr = I::from_usize(p);
            }
            true
        } else if let Some(r) = next(ptrs) {
            start.store(r.start, Ordering::Relaxed);
            end.store(r.end, Ordering::Relaxed);
            start_first(ptrs);
            true
        } else {
            false
        }
    };
    let work = || {
        // A panic here must not leave the other threads waiting for this one's part.
        let _stop = OnDrop(|| {
            if std::thread::panicking() {
                over.store(true, Ordering::Release);
            }
        });
        let mut spins = 0;
        while !over.load(Ordering::Acquire) {
            let w = round.fetch_add(1, Ordering::AcqRel);
            let (r, k) = (w >> 32, (w & 0xffff_ffff) as usize);
            if k >= tasks(r) {
                // Every part of this round is claimed: wait for the next round.
                while round.load(Ordering::Acquire) >> 32 == r && !over.load(Ordering::Acquire) {
                    back_off(&mut spins);
                }
                spins = 0;
                continue;
            }
            if r % 2 == 1 {
                let mut part = lock(&parts[k]);
                if k == 0 {
                    let sink = &mut Write {
                        next: &mut part.next,
                        sa,
                        up,
                    };
                    reader.read(part_range(k), sink);
                } else {
                    part.len = 0;
                    part.counts = [0; 256];
                    reader.read(part_range(k), &mut Record(&mut part));
                }
            } else {
                lock(&parts[k + 1]).place(sa, up);
            }
            if finished_parts.fetch_add(1, Ordering::AcqRel) + 1 == tasks(r) {
                finished_parts.store(0, Ordering::Relaxed);
                // Open the next round with any parts (with one thread, a block has only
                // the first part, and nothing to write after reading).
                let mut r = r;
                loop {
                    if !between(r) {
                        over.store(true, Ordering::Release);
                        break;
                    }
                    r += 1;
                    if tasks(r) > 0 {
                        round.store(r << 32, Ordering::Release);
                        break;
                    }
                }
            }
        }
    };
    rayon::scope(|sc| {
        for _ in 1..threads {
            sc.spawn(|_| work());
        }
        work();
    });
}

/// One step of the final left-to-right pass over a byte text: the entry at `i`.
#[inline(always)]
fn step_l<I: Idx>(t: &[u8], sa: &[I::Atomic], i: usize, ptrs: &mut [I; 256]) {
    let v = I::load(&sa[i]);
    if induces_l(v) {
        let j = v.to_usize() - 1;
        let c = usize::from(t[j]);
        let p = ptrs[c].to_usize();
        I::store(&sa[p], l_entry(t, j));
        ptrs[c] = I::from_usize(p + 1);
    }
}

/// One step of the final right-to-left pass over a byte text: the entry at `i`.
#[inline(always)]
fn step_s<I: Idx>(t: &[u8], sa: &[I::Atomic], i: usize, ptrs: &mut [I; 256]) {
    let v = I::load(&sa[i]);
    if v.is_flagged() {
        let u = v.unflagged();
        I::store(&sa[i], u);
        let j = u.to_usize() - 1;
        let c = usize::from(t[j]);
        let p = ptrs[c].to_usize() - 1;
        I::store(&sa[p], s_entry(t, j));
        ptrs[c] = I::from_usize(p);
    }
}

/// The final left-to-right pass's reader.
struct ReadL<'a, I: Idx> {
    t: &'a [u8],
    sa: &'a [I::Atomic],
}

impl<I: Idx> Reader<I> for ReadL<'_, I> {
    #[inline(always)]
    fn read<S: Sink<I>>(&self, r: Range<usize>, sink: &mut S) {
        let (t, sa) = (self.t, self.sa);
        for i in r.clone() {
            if i + 2 * PREFETCH < r.end {
                let a = I::load(&sa[i + 2 * PREFETCH]);
                prefetch(t, ahead(a, induces_l(a)));
            }
            let v = I::load(&sa[i]);
            if induces_l(v) {
                let j = v.to_usize() - 1;
                sink.put(t[j], l_entry(t, j));
            }
        }
    }
}

/// The final right-to-left pass's reader; it also unmarks the entries it induces from.
struct ReadS<'a, I: Idx> {
    t: &'a [u8],
    sa: &'a [I::Atomic],
}

impl<I: Idx> Reader<I> for ReadS<'_, I> {
    #[inline(always)]
    fn read<S: Sink<I>>(&self, r: Range<usize>, sink: &mut S) {
        let (t, sa) = (self.t, self.sa);
        for i in r.clone().rev() {
            if i >= r.start + 2 * PREFETCH {
                let a = I::load(&sa[i - 2 * PREFETCH]);
                prefetch(t, ahead(a, a.is_flagged()));
            }
            let v = I::load(&sa[i]);
            if v.is_flagged() {
                let u = v.unflagged();
                I::store(&sa[i], u);
                let j = u.to_usize() - 1;
                sink.put(t[j], s_entry(t, j));
            }
        }
    }
}

/// The final left-to-right pass over a byte text in bucket-bounded blocks. `starts` holds the
/// bucket starts and `n`; `ptrs` the bucket pointers.
fn induce_l_blocks<I: Idx>(
    t: &[u8],
    sa: &mut [I],
    ptrs: &mut [I; 256],
    starts: &[usize; 257],
    ctx: &Ctx,
) {
    let n = sa.len();
    let sa = I::atomic_view(sa);
    let (most, least) = (ctx.threads * ctx.block, (ctx.block / 8).max(2));
    let (mut s, mut c) = (0, 0);
    let next = move |ptrs: &mut [I; 256]| {
        while s < n {
            while starts[c + 1] <= s {
                c += 1;
            }
            let q = ptrs[c].to_usize();
            let end = if s < q {
                q
            } else if c < 255 {
                ptrs[c + 1].to_usize()
            } else {
                n
            };
            let r = s..end.min(s + most);
            debug_assert!(!r.is_empty());
            if r.len() >= least {
                s = r.end;
                return Some(r);
            }
            if s < q && lay_out_runs::<I, LeftToRight>(t, sa, s..q, c, least, ptrs) {
                // The rest of the bucket's L-type part is laid out; scan on past it.
                s = ptrs[c].to_usize();
            } else if s < q {
                // Short because the bucket's entries induce into it as fast as it is
                // scanned (a run of one symbol): scan on, entry by entry, for as long as the
                // block here would stay short.
                loop {
                    step_l(t, sa, s, ptrs);
                    s += 1;
                    let q = ptrs[c].to_usize();
                    if s >= q || q - s >= least {
                        break;
                    }
                }
            } else {
                scan_l::<u8, I, false>(t, sa, r.start, r.end, ptrs);
                s = r.end;
            }
        }
        None
    };
    blocks_pass(ctx, sa, ptrs, true, next, &ReadL { t, sa });
}

/// In a final pass over a byte text in blocks, with the entries `sa[r]` of bucket `c` (byte
/// `c`) read by nobody yet and every entry before them (in scan order) in the bucket
/// scanned: what is left of the bucket's part (its L-type part left to right, its S-type
/// part right to left) is runs of `c`. Each entry `j` there that induces, with
/// `t[j - 1] == c`, induces `j - 1` into the bucket, behind the entries not yet scanned, so
/// the part goes on as a queue: the entries of `r` (row 1, in scan order), then those of them
/// whose run goes on, each one position back (row 2), and so on, each row in the order of
/// the one before. Entry `i` of `r`, whose run of `c` is `len_i` long (counting its own
/// position), has an entry in rows `1..=len_i`; it induces outside the bucket only from its
/// last one, the start of its run.
///
/// Scanning that entry by entry takes a step per entry, one after another (an image with
/// megabytes of erased flash has a run that long). This lays the rows out at once instead,
/// interval by interval between the runs' lengths (in which the rows hold the same entries),
/// making the inductions outside the bucket as it goes, in scan order (row by row, in each
/// row in the order of `r`), and leaves `ptrs[c]` at the end of the part. Every entry is
/// left as the scan would leave it. Returns false, having written nothing, if the rows would
/// hold fewer than `least` entries beyond `r`.
fn lay_out_runs<I: Idx, P: RunPass>(
    t: &[u8],
    sa: &[I::Atomic],
    r: Range<usize>,
    c: usize,
    least: usize,
    ptrs: &mut [I; 256],
) -> bool {
    let c8 = c as u8;
    // The slot of the `i`-th entry from the start of `r` in scan order, rows on included.
    let at = |i: usize| if P::UP { r.start + i } else { r.end - 1 - i };
    // Each entry and its run length. (An entry that does not induce in this pass, or whose
    // predecessor is not `c`, ends its run in row 1.)
    let members: Vec<(I, usize)> = (0..r.len())
        .map(|i| {
            let v = I::load(&sa[at(i)]);
            let len = P::pos(v).map_or(1, |p| {
                1 + t[..p].iter().rev().take_while(|&&b| b == c8).count()
            });
            (v, len)
        })
        .collect();
    let total: usize = members.iter().map(|&(_, len)| len).sum();
    if total - members.len() < least {
        return false;
    }
    // Row 1, as the scan leaves it, and the inductions from its runs of length 1.
    for (i, &(v, len)) in members.iter().enumerate() {
        if P::scanned(v) != v {
            I::store(&sa[at(i)], P::scanned(v));
        }
        if let (Some(p), 1) = (P::pos(v), len) {
            P::induce(t, sa, p, c8, ptrs);
        }
    }
    // Rows 2 and on, interval by interval: between two run lengths of the members, the
    // members still in the rows, and so each row, stay the same.
    let mut live: Vec<usize> = (0..members.len()).filter(|&m| members[m].1 > 1).collect();
    let mut ends: Vec<usize> = live.iter().map(|&m| members[m].1).collect();
    ends.sort_unstable();
    ends.dedup();
    let (mut next, mut k) = (members.len(), 2);
    // (Every member in the rows from 2 on induces in this pass.)
    let pos = |m: usize| P::pos(members[m].0).unwrap_or(0);
    for end in ends {
        // Rows `k..=end` hold the members in `live`.
        let w = live.len();
        for (col, &m) in live.iter().enumerate() {
            let p0 = pos(m);
            for row in k..=end {
                let slot = at(next + (row - k) * w + col);
                I::store(&sa[slot], I::from_usize(p0 - (row - 1)));
            }
        }
        next += (end - k) * w;
        // Row `end` holds the starts of the runs that end there.
        for (col, &m) in live.iter().enumerate() {
            if members[m].1 == end {
                let p = pos(m) - (end - 1);
                I::store(&sa[at(next + col)], P::scanned(P::entry(t, p)));
                P::induce(t, sa, p, c8, ptrs);
            }
        }
        next += w;
        live.retain(|&m| members[m].1 > end);
        k = end + 1;
    }
    debug_assert!(live.is_empty());
    debug_assert_eq!(next, total);
    ptrs[c] = I::from_usize(if P::UP { r.start + next } else { r.end - next });
    true
}

/// What [`lay_out_runs`] needs of a pass.
trait RunPass {
    /// Left to right.
    const UP: bool;
    /// The position of entry `v` if the pass induces from it.
    fn pos<I: Idx>(v: I) -> Option<usize>;
    /// What the pass leaves of an entry it has scanned.
    fn scanned<I: Idx>(v: I) -> I;
    /// The entry the pass writes for suffix `p`.
    fn entry<I: Idx>(t: &[u8], p: usize) -> I;
    /// Induces from suffix `p`, the start of a run of `c`, if its predecessor is of the
    /// pass's type (so not `c`).
    fn induce<I: Idx>(t: &[u8], sa: &[I::Atomic], p: usize, c: u8, ptrs: &mut [I; 256]);
}

/// The final left-to-right pass: it induces from the plain entries and leaves them as they
/// are; L-type predecessors, above `c`, go to the next slot up of their bucket.
struct LeftToRight;

impl RunPass for LeftToRight {
    const UP: bool = true;
    fn pos<I: Idx>(v: I) -> Option<usize> {
        induces_l(v).then(|| v.to_usize())
    }
    fn scanned<I: Idx>(v: I) -> I {
        v
    }
    fn entry<I: Idx>(t: &[u8], p: usize) -> I {
        l_entry::<u8, I>(t, p)
    }
    fn induce<I: Idx>(t: &[u8], sa: &[I::Atomic], p: usize, c: u8, ptrs: &mut [I; 256]) {
        if p > 0 && t[p - 1] > c {
            let j = p - 1;
            let d = usize::from(t[j]);
            let q = ptrs[d].to_usize();
            I::store(&sa[q], l_entry(t, j));
            ptrs[d] = I::from_usize(q + 1);
        }
    }
}

/// The final right-to-left pass: it induces from the marked entries and unmarks them;
/// S-type predecessors, below `c`, go to the next slot down of their bucket.
struct RightToLeft;

impl RunPass for RightToLeft {
    const UP: bool = false;
    fn pos<I: Idx>(v: I) -> Option<usize> {
        v.is_flagged().then(|| v.unflagged().to_usize())
    }
    fn scanned<I: Idx>(v: I) -> I {
        v.unflagged()
    }
    fn entry<I: Idx>(t: &[u8], p: usize) -> I {
        s_entry::<u8, I>(t, p)
    }
    fn induce<I: Idx>(t: &[u8], sa: &[I::Atomic], p: usize, c: u8, ptrs: &mut [I; 256]) {
        if p > 0 && t[p - 1] < c {
            let j = p - 1;
            let d = usize::from(t[j]);
            let q = ptrs[d].to_usize() - 1;
            I::store(&sa[q], s_entry(t, j));
            ptrs[d] = I::from_usize(q);
        }
    }
}

/// The final right-to-left pass over a byte text in bucket-bounded blocks. `starts` holds the
/// bucket starts and `n`; `ptrs` the bucket pointers.
fn induce_s_blocks<I: Idx>(
    t: &[u8],
    sa: &mut [I],
    ptrs: &mut [I; 256],
    starts: &[usize; 257],
    ctx: &Ctx,
) {
    let sa = I::atomic_view(sa);
    let (most, least) = (ctx.threads * ctx.block, (ctx.block / 8).max(2));
    let (mut e, mut c) = (sa.len(), 255);
    let next = move |ptrs: &mut [I; 256]| {
        while e > 0 {
            while starts[c] >= e {
                c -= 1;
            }
            let p = ptrs[c].to_usize();
            let start = if e > p {
                p
            } else if c > 0 {
                ptrs[c - 1].to_usize()
            } else {
                0
            };
            let r = start.max(e.saturating_sub(most))..e;
            debug_assert!(!r.is_empty());
            if r.len() >= least {
                e = r.start;
                return Some(r);
            }
            if e > p && lay_out_runs::<I, RightToLeft>(t, sa, p..e, c, least, ptrs) {
                e = ptrs[c].to_usize();
                continue;
            }
            if e > p {
                // As in the left-to-right pass: scan on while the block would stay short.
                loop {
                    e -= 1;
                    step_s(t, sa, e, ptrs);
                    let p = ptrs[c].to_usize();
                    if e <= p || e - p >= least {
                        break;
                    }
                }
                continue;
            }
            e = r.start;
            scan_s::<u8, I, false>(t, sa, r.start, r.end, ptrs);
        }
        None
    };
    blocks_pass(ctx, sa, ptrs, false, next, &ReadS { t, sa });
}

// The pipelined passes, for two threads. The scan goes block by block (`ctx.block` entries).
// One thread settles the blocks in scan order: it takes the target slots from the bucket
// pointers and writes the induced entries. The random reads of the text, the expensive part,
// are shared: a block is "read ahead" by whichever thread claims it first, which looks up the
// symbol and the entry to induce for every entry it finds there, into a buffer the settling
// thread then works from. The other thread only reads ahead, block after block, up to `RING`
// blocks beyond the settled ones. The settling thread, when the next block to settle is not
// ready, scans it entry by entry itself if nobody has claimed it, and otherwise reads a later
// block ahead while the other thread finishes. (Reading ahead with the second thread alone
// made the passes slower than the sequential ones: reading a block costs more than settling
// it, so the settling thread waited most of the time.)
//
// Reading ahead is speculative: the settling thread may still write entries into a block
// that has been read. An entry the read-ahead missed is found when its block is settled,
// which re-reads every slot it has nothing for and does the text reads itself then. An entry
// it did see stays valid: a slot that holds an entry the pass induces from is written only
// once in the pass (an L-type or S-type slot filled from empty; the one kind of slot that is
// overwritten, a seed LMS suffix in the final right-to-left pass, induces nothing in it). The
// read-ahead writes nothing to `sa`; clearing or unmarking an entry is left to the settling
// thread. So what is written, and where, does not depend on what was read ahead or by whom:
// the result is that of the sequential pass.

/// Read-ahead buffers in circulation.
const RING: usize = 4;

/// Runs a pipelined pass over `0..n` in blocks of `len` entries, left to right or (with
/// `leftward`) right to left: `read(range, buf)` reads a block ahead into `buf` (as long as
/// the range), `settle(range, Some(buf))` settles it from there, and `settle(range, None)`
/// scans it without help.
fn pipeline<I: Idx>(
    n: usize,
    len: usize,
    leftward: bool,
    read: impl Fn(Range<usize>, &mut [(I, I)]) + Sync,
    mut settle: impl FnMut(Range<usize>, Option<&[(I, I)]>) + Send,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let blocks = n.div_ceil(len);
    // Block `k` in scan order.
    let range = |k: usize| {
        if leftward {
            n.saturating_sub((k + 1) * len)..n - k * len
        } else {
            k * len..((k + 1) * len).min(n)
        }
    };
    // The next block nobody has claimed, and the blocks settled so far.
    let claimed = AtomicUsize::new(0);
    let settled = AtomicUsize::new(0);
    // Each buffer with the block it holds (`usize::MAX`: none yet).
    type Buffer<I> = Mutex<(usize, Vec<(I, I)>)>;
    let ring: Vec<Buffer<I>> = (0..RING)
        .map(|_| Mutex::new((usize::MAX, vec![(I::NONE, I::ZERO); len])))
        .collect();
    let lock = |k: usize| ring[k % RING].lock().unwrap_or_else(|e| e.into_inner());
    let try_lock = |k: usize| match ring[k % RING].try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    let read_into = |j: usize| {
        let mut buf = lock(j);
        let r = range(j);
        read(r.clone(), &mut buf.1[..r.len()]);
        buf.0 = j;
    };
    // Set when the reading thread stops, normally or by a panic: from then on every block it
    // claimed has been read, unless it panicked, and the settling thread must not wait for
    // it. (Without this, a panic on either side would leave the other spinning.)
    let reader_gone = std::sync::atomic::AtomicBool::new(false);
    rayon::join(
        || {
            // If this thread panics, the reader must not wait for buffers.
            let _release = OnDrop(|| settled.store(usize::MAX / 2, Ordering::Release));
            for k in 0..blocks {
                let mut spins = 0;
                loop {
                    // Settle block `k` if it has been read (and is not being read now).
                    if let Some(buf) = try_lock(k) {
                        if buf.0 == k {
                            let r = range(k);
                            settle(r.clone(), Some(&buf.1[..r.len()]));
                            break;
                        }
                    }
                    if reader_gone.load(Ordering::Acquire) {
                        settle(range(k), None);
                        break;
                    }
                    // Otherwise scan it if nobody has claimed it, or read a later block
                    // while the other thread reads this one.
                    let j = claimed.load(Ordering::Acquire);
                    let free = j < blocks && j < k + RING;
                    if (j == k || free)
                        && claimed
                            .compare_exchange(j, j + 1, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                    {
                        if j == k {
                            settle(range(k), None);
                            break;
                        }
                        read_into(j);
                        continue;
                    }
                    back_off(&mut spins);
                }
                settled.store(k + 1, Ordering::Release);
            }
        },
        || {
            let _gone = OnDrop(|| reader_gone.store(true, Ordering::Release));
            loop {
                let k = claimed.fetch_add(1, Ordering::AcqRel);
                if k >= blocks {
                    break;
                }
                // The buffer is free once block `k - RING` is settled.
                let mut spins = 0;
                while settled.load(Ordering::Acquire) + RING <= k {
                    back_off(&mut spins);
                }
                read_into(k);
            }
        },
    );
}

/// One step of waiting for the other thread of a pipelined pass: spin a while (the wait is
/// normally shorter than a block's read), then yield, in case the other thread is not
/// running (more threads than cores).
fn back_off(spins: &mut u32) {
    *spins += 1;
    if *spins < 1 << 10 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Runs its closure when dropped, also while unwinding.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Read-ahead of the left-to-right pass over one block: `(symbol, entry)` of what each entry
/// would induce, or `NONE` where the slot induces nothing (yet).
fn peek_l<C: Sym, I: Idx>(t: &[C], part: &[I::Atomic], cache: &mut [(I, I)]) {
    for i in 0..part.len() {
        if let Some(a) = part.get(i + PREFETCH) {
            let a = I::load(a);
            prefetch(t, ahead(a, induces_l(a)));
        }
        let v = I::load(&part[i]);
        cache[i] = if induces_l(v) {
            let j = v.to_usize() - 1;
            (I::from_usize(t[j].sym()), l_entry(t, j))
        } else {
            (I::NONE, I::ZERO)
        };
    }
}

/// Read-ahead of the right-to-left pass over one block.
fn peek_s<C: Sym, I: Idx>(t: &[C], part: &[I::Atomic], cache: &mut [(I, I)]) {
    for i in (0..part.len()).rev() {
        if i >= PREFETCH {
            let a = I::load(&part[i - PREFETCH]);
            prefetch(t, ahead(a, a.is_flagged()));
        }
        let v = I::load(&part[i]);
        cache[i] = if v.is_flagged() {
            let j = v.unflagged().to_usize() - 1;
            (I::from_usize(t[j].sym()), s_entry(t, j))
        } else {
            (I::NONE, I::ZERO)
        };
    }
}

/// The bucket to prefetch for a read-ahead result (0 for none).
#[inline(always)]
fn cached_bucket<I: Idx>(c: I) -> usize {
    if c == I::NONE {
        0
    } else {
        c.to_usize()
    }
}

/// Settles the block starting at `s` of the left-to-right pass from its read-ahead, in scan
/// order.
fn settle_l<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &[I::Atomic],
    s: usize,
    cache: &[(I, I)],
    ptrs: &mut [I],
) {
    let big = ptrs.len() > 1 << 14;
    for (idx, &(c, out)) in cache.iter().enumerate() {
        if big {
            if let Some(&(c, _)) = cache.get(idx + PREFETCH) {
                prefetch(ptrs, cached_bucket(c));
            }
        }
        let i = s + idx;
        let (c, out) = if c != I::NONE {
            (c.to_usize(), out)
        } else {
            let v = I::load(&sa[i]);
            if !induces_l(v) {
                continue;
            }
            let j = v.to_usize() - 1;
            (t[j].sym(), l_entry(t, j))
        };
        if STAGE1 {
            I::store(&sa[i], I::ZERO);
        }
        let p = ptrs[c].to_usize();
        I::store(&sa[p], out);
        ptrs[c] = I::from_usize(p + 1);
    }
}

/// Settles the block starting at `s` of the right-to-left pass from its read-ahead, in scan
/// order.
fn settle_s<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &[I::Atomic],
    s: usize,
    cache: &[(I, I)],
    ptrs: &mut [I],
) {
    let big = ptrs.len() > 1 << 14;
    for idx in (0..cache.len()).rev() {
        if big && idx >= PREFETCH {
            prefetch(ptrs, cached_bucket(cache[idx - PREFETCH].0));
        }
        let i = s + idx;
        let (c, out) = match cache[idx] {
            (c, out) if c != I::NONE => (c.to_usize(), out),
            _ => {
                let v = I::load(&sa[i]);
                if !v.is_flagged() {
                    continue;
                }
                let j = v.unflagged().to_usize() - 1;
                (t[j].sym(), s_entry(t, j))
            }
        };
        // The entry induced from is suffix `out + 1`: cleared, or kept without its mark.
        let u = if STAGE1 {
            I::ZERO
        } else {
            I::from_usize(out.unflagged().to_usize() + 1)
        };
        I::store(&sa[i], u);
        let p = ptrs[c].to_usize() - 1;
        I::store(&sa[p], out);
        ptrs[c] = I::from_usize(p);
    }
}

fn induce_l_pipe<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &mut [I],
    ptrs: &mut [I],
    ctx: &Ctx,
) {
    let n = sa.len();
    let sa = I::atomic_view(sa);
    pipeline(
        n,
        ctx.block.min(n),
        false,
        |r, buf| peek_l(t, &sa[r], buf),
        |r, buf| match buf {
            Some(buf) => settle_l::<C, I, STAGE1>(t, sa, r.start, buf, ptrs),
            None => scan_l::<C, I, STAGE1>(t, sa, r.start, r.end, ptrs),
        },
    );
}

fn induce_s_pipe<C: Sym, I: Idx, const STAGE1: bool>(
    t: &[C],
    sa: &mut [I],
    ptrs: &mut [I],
    ctx: &Ctx,
) {
    let n = sa.len();
    let sa = I::atomic_view(sa);
    pipeline(
        n,
        ctx.block.min(n),
        true,
        |r, buf| peek_s(t, &sa[r], buf),
        |r, buf| match buf {
            Some(buf) => settle_s::<C, I, STAGE1>(t, sa, r.start, buf, ptrs),
            None => scan_s::<C, I, STAGE1>(t, sa, r.start, r.end, ptrs),
        },
    );
}

#[cfg(test)]
mod pipeline_tests {
    use std::ops::Range;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::pipeline;

    fn pool() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    /// The blocks of `0..n` in scan order (leftward ones are cut from the right end).
    fn blocks(n: usize, len: usize, leftward: bool) -> Vec<Range<usize>> {
        (0..n.div_ceil(len))
            .map(|k| {
                if leftward {
                    n.saturating_sub((k + 1) * len)..n - k * len
                } else {
                    k * len..((k + 1) * len).min(n)
                }
            })
            .collect()
    }

    /// Holds the settling thread (for at most 5 s) until the other thread has read a block,
    /// so that the read-ahead paths are taken however busy the machine is.
    fn wait_for(reader: &AtomicBool) {
        let t = Instant::now();
        while !reader.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Each block is settled once, in order, from a buffer holding that block's read (or
    /// scanned without one); both directions, with a short last block.
    #[test]
    fn settles_every_block_once_in_order() {
        let pool = pool();
        let mut from_buffers = 0;
        for n in [1, 4, 7, 12, 19, 200, 203] {
            for leftward in [false, true] {
                for round in 0..10 {
                    let mut seen = Vec::new();
                    let reader = AtomicBool::new(false);
                    pool.install(|| {
                        pipeline::<u32>(
                            n,
                            4,
                            leftward,
                            |r, buf| {
                                assert_eq!(buf.len(), r.len());
                                buf.fill((r.start as u32, r.end as u32));
                                reader.store(true, Ordering::Release);
                            },
                            |r, buf| {
                                if let Some(buf) = buf {
                                    assert_eq!(buf.len(), r.len());
                                    let e = (r.start as u32, r.end as u32);
                                    assert!(buf.iter().all(|&x| x == e));
                                    from_buffers += 1;
                                }
                                if round % 2 == 1 {
                                    // Slow settling, so that the other thread reads ahead.
                                    // (A single block is never read ahead.)
                                    if seen.is_empty() && n > 4 {
                                        wait_for(&reader);
                                    }
                                    std::thread::sleep(Duration::from_micros(100));
                                }
                                seen.push(r);
                            },
                        )
                    });
                    assert_eq!(seen, blocks(n, 4, leftward), "n {n} leftward {leftward}");
                }
            }
        }
        assert!(from_buffers > 0, "no block was read ahead");
    }

    /// A panic while reading ahead reaches the caller; the settling thread does not wait for
    /// the block that was never read, and settles it (and the rest) itself.
    #[test]
    fn a_panic_in_the_reader_does_not_hang() {
        let pool = pool();
        let mut panicked = 0;
        for _ in 0..10 {
            let seen = Mutex::new(Vec::new());
            let reader = AtomicBool::new(false);
            let r = pool.install(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    pipeline::<u32>(
                        160,
                        4,
                        false,
                        |r, _| {
                            reader.store(true, Ordering::Release);
                            assert!(r.start != 12, "reader fails on block 3");
                        },
                        |r, _| {
                            // Slow settling, so that the other thread joins in and reads.
                            let mut seen = seen.lock().unwrap();
                            if seen.is_empty() {
                                wait_for(&reader);
                            }
                            std::thread::sleep(Duration::from_micros(300));
                            seen.push(r);
                        },
                    )
                }))
            });
            // The reader may not have claimed block 3 (then nothing panicked).
            panicked += usize::from(r.is_err());
            let seen = seen.into_inner().unwrap();
            assert_eq!(seen, blocks(160, 4, false));
        }
        assert!(panicked > 0, "the reader never read block 3");
    }

    /// A panic while settling reaches the caller and does not leave the reader waiting.
    #[test]
    fn a_panic_in_the_settler_does_not_hang() {
        let pool = pool();
        for _ in 0..10 {
            let r = pool.install(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    pipeline::<u32>(
                        160,
                        4,
                        false,
                        |_, _| {},
                        |r, _| assert!(r.start != 28, "settler fails on block 7"),
                    )
                }))
            });
            assert!(r.is_err());
        }
    }
}

#[cfg(test)]
mod blocks_tests {
    use std::ops::Range;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::{blocks_pass, Reader, Sink};
    use crate::fast::AtomicView;
    use crate::sais::Ctx;

    /// Slot `i` induces `i` into bucket `i % 3`; reading slot `fail` panics.
    struct Mod3 {
        up: bool,
        fail: usize,
    }

    impl Reader<u32> for Mod3 {
        fn read<S: Sink<u32>>(&self, r: Range<usize>, sink: &mut S) {
            assert!(!r.contains(&self.fail), "part fails on slot {}", self.fail);
            let order: Vec<usize> = if self.up {
                r.collect()
            } else {
                r.rev().collect()
            };
            for i in order {
                sink.put((i % 3) as u8, i as u32);
            }
        }
    }

    fn ctx(threads: usize, block: usize) -> Ctx {
        Ctx {
            threads,
            block,
            min_par: 2,
            par_induce_threads: 2,
            bucket_blocks: true,
            small_alphabet: 1 << 12,
            drop_unique_min_k: 0,
            drop_unique_mostly: true,
            sort_lms_keys: true,
            pipe_min_k: 0,
        }
    }

    /// Runs a pass over source slots `0..n` in blocks of up to `threads * block`, in which
    /// slot `i` induces `i` into bucket `i % 3`, with the buckets' slots after the sources;
    /// returns the slots.
    fn run(pool_threads: usize, threads: usize, block: usize, n: usize, up: bool) -> Vec<u32> {
        let buckets = [n, n + n.div_ceil(3), n + n.div_ceil(3) + (n + 1) / 3, 2 * n];
        let mut sa = vec![0u32; 2 * n];
        let mut ptrs = [0u32; 256];
        for c in 0..3 {
            ptrs[c] = (if up { buckets[c] } else { buckets[c + 1] }) as u32;
        }
        let c = ctx(threads, block);
        let most = threads * block;
        let mut at = 0;
        let blocks: Vec<Range<usize>> = std::iter::from_fn(|| {
            // Blocks of varying length: 1, 2, ... up to the most.
            (at < n).then(|| {
                let len = (at % most + 1).min(n - at);
                at += len;
                if up {
                    at - len..at
                } else {
                    n - at..n - at + len
                }
            })
        })
        .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(pool_threads)
            .build()
            .unwrap();
        let view = u32::atomic_view(&mut sa);
        let mut next = blocks.into_iter();
        pool.install(|| {
            blocks_pass::<u32>(
                &c,
                view,
                &mut ptrs,
                up,
                |_| next.next(),
                &Mod3 {
                    up,
                    fail: usize::MAX,
                },
            )
        });
        sa
    }

    /// Every source lands in its bucket in scan order, whatever the number of threads and
    /// parts, and also when the pool has fewer threads than the pass is split for.
    #[test]
    fn entries_land_in_scan_order_for_any_split() {
        for n in [1, 2, 3, 10, 97, 500] {
            for up in [true, false] {
                let expect = run(1, 1, 1, n, up);
                // The sequential order: bucket c holds its sources in scan order.
                let mut order: Vec<usize> = (0..n).collect();
                if !up {
                    order.reverse();
                }
                let mut want = vec![0u32; n];
                for c in 0..3 {
                    let mut fill: Vec<u32> = order
                        .iter()
                        .filter(|&&i| i % 3 == c)
                        .map(|&i| i as u32)
                        .collect();
                    if !up {
                        fill.reverse();
                    }
                    want.extend(fill);
                }
                assert_eq!(expect, want, "n {n} up {up}");
                for (pool, threads, block) in
                    [(2, 2, 1), (2, 2, 7), (3, 3, 4), (1, 4, 3), (2, 5, 2)]
                {
                    assert_eq!(
                        run(pool, threads, block, n, up),
                        expect,
                        "n {n} up {up} pool {pool} threads {threads} block {block}"
                    );
                }
            }
        }
    }

    /// A panic while reading a part reaches the caller, and the other threads do not wait
    /// for the part that never finished.
    #[test]
    fn a_panic_in_a_part_does_not_hang() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for _ in 0..10 {
            let mut sa = vec![0u32; 200];
            let mut ptrs = [100u32; 256];
            let view = u32::atomic_view(&mut sa);
            let mut blocks = (0..10).map(|k| k * 10..k * 10 + 10);
            let r = pool.install(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    blocks_pass::<u32>(
                        &ctx(2, 5),
                        view,
                        &mut ptrs,
                        true,
                        |_| blocks.next(),
                        &Mod3 { up: true, fail: 57 },
                    )
                }))
            });
            assert!(r.is_err());
        }
    }
}
