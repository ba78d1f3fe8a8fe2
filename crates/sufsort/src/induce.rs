//! The induced-sorting passes: sequential, pipelined (two threads) and block-parallel (three
//! or more).
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
    // Suffix n-1 comes right after the virtual sentinel, the smallest suffix.
    let c = t[n - 1].sym();
    let p = ptrs[c].to_usize();
    sa[p] = l_entry(t, n - 1);
    ptrs[c] = I::from_usize(p + 1);
    if ctx.par_induce(n) {
        induce_l_par::<C, I, STAGE1>(t, sa, ptrs, ctx);
    } else if ctx.par(n) {
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
    if ctx.par_induce(t.len()) {
        induce_s_par::<C, I, STAGE1>(t, sa, ptrs, ctx);
    } else if ctx.par(t.len()) {
        induce_s_pipe::<C, I, STAGE1>(t, sa, ptrs, ctx);
    } else {
        induce_s_seq::<C, I, STAGE1>(t, sa, ptrs);
    }
}

fn induce_l_seq<C: Sym, I: Idx, const STAGE1: bool>(t: &[C], sa: &mut [I], ptrs: &mut [I]) {
    let n = sa.len();
    if let (Some(bytes), Ok(ptrs)) = (C::as_bytes(t), <&mut [I; 256]>::try_from(&mut *ptrs)) {
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
    if let (Some(bytes), Ok(ptrs)) = (C::as_bytes(t), <&mut [I; 256]>::try_from(&mut *ptrs)) {
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
