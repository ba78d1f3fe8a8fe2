//! SA-IS (induced sorting), generic over the index type and the symbol type, with the
//! linear-time phases split across the rayon pool where the input is large enough.
//!
//! Layout conventions, shared by every level of the recursion:
//! - `sa[..n]` receives the suffix array; anything in `sa[n..]` is free scratch space.
//! - An empty slot holds 0. Suffix 0 is also stored as 0; that is harmless because suffix 0
//!   has no predecessor to induce.
//! - During the induce passes an entry's mark bit (`Idx::FLAG`) says which pass must induce
//!   from it: a plain entry `j` is induced from in the left-to-right pass (its predecessor
//!   `j - 1` is L-type), a marked entry in the right-to-left pass (its predecessor is S-type).

use std::ops::Range;

use rayon::prelude::*;

use crate::fast::prefetch;
use crate::index::{Idx, Sym};
use crate::induce::{induce_l, induce_s};
use crate::keysort;

/// How the work is split.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// Threads in the pool.
    pub threads: usize,
    /// Entries per thread per block in the parallel induce passes.
    pub block: usize,
    /// Below this length every phase runs sequentially.
    pub min_par: usize,
    /// The induce passes run block-parallel only with at least this many threads: that form
    /// (gather in parallel, resolve the bucket pointers in order, scatter in parallel) moves
    /// every entry twice more, which two threads do not win back (measured on a 2-core
    /// machine, `examples/sa_time`: 5-60 % slower than the sequential pass). With fewer
    /// threads (but more than one) they run pipelined: one thread settles the blocks in order
    /// while both read ahead (see `induce.rs`).
    pub par_induce_threads: usize,
    /// The pipelined passes run only on levels with more symbols than this. With few symbols
    /// the induced entries land in a few streams close behind the scan: the sequential pass
    /// runs from the cache, and the pipelined one hands the same lines between the threads
    /// (measured, `sa_time --threads 2`, periodic:64: 0.92-0.96 s pipelined at every level,
    /// 0.60-0.64 s with these levels sequential, 4 names at level 1).
    pub pipe_min_k: usize,
    /// The final induce passes over a byte text run in bucket-bounded blocks when in
    /// parallel, instead of the two forms above (see `induce.rs`).
    pub bucket_blocks: bool,
    /// Alphabets up to this size get per-chunk histograms in the parallel phases; larger
    /// ones use atomic counters.
    pub small_alphabet: usize,
    /// Levels whose alphabet has at least this many symbols leave LMS suffixes with unique
    /// names out of the recursion where they can (see `drop_unique`).
    pub drop_unique_min_k: usize,
    /// Other levels do so too when most names are unique (more than half of the LMS
    /// substrings have distinct names).
    pub drop_unique_mostly: bool,
    /// At the top level (bytes), stage 1 sorts the LMS substrings on their leading bytes
    /// (`keysort`) instead of by induced sorting.
    pub sort_lms_keys: bool,
}

impl Ctx {
    /// The production settings for the ambient rayon pool.
    pub(crate) fn ambient() -> Self {
        Ctx {
            threads: rayon::current_num_threads(),
            block: 1 << 15,
            min_par: 1 << 16,
            par_induce_threads: 3,
            pipe_min_k: 1 << 12,
            bucket_blocks: true,
            small_alphabet: 1 << 12,
            drop_unique_min_k: 257,
            drop_unique_mostly: true,
            sort_lms_keys: true,
        }
    }

    /// True if a phase over `n` items should run in parallel.
    #[inline]
    pub(crate) fn par(&self, n: usize) -> bool {
        self.threads > 1 && n >= self.min_par
    }

    /// True if the induce passes over `n` entries should run in parallel.
    #[inline]
    pub(crate) fn par_induce(&self, n: usize) -> bool {
        self.threads >= self.par_induce_threads && self.par(n)
    }

    /// The chunk length for splitting `n` items across the threads (a few chunks per thread,
    /// for balance).
    pub(crate) fn chunk(&self, n: usize) -> usize {
        n.div_ceil(self.threads * 4).max(1)
    }
}

/// How far ahead random reads are prefetched.
const PREFETCH: usize = 32;

/// Sorts the suffixes of `t` (symbols below `k`) into `sa[..t.len()]`, using `sa[t.len()..]`
/// as scratch space.
pub(crate) fn sais<C: Sym, I: Idx>(t: &[C], sa: &mut [I], k: usize, ctx: &Ctx) {
    sais_level(t, sa, k, false, ctx);
}

/// [`sais`], told with `counted` that the scratch space starts with the number of each
/// symbol in `t` (`k` entries), as the level above leaves them for its reduced text. They are
/// used only where this level keeps its counts there (room for two bucket arrays).
fn sais_level<C: Sym, I: Idx>(t: &[C], sa: &mut [I], k: usize, counted: bool, ctx: &Ctx) {
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
    if never_rises(t, ctx) {
        descending(sa, ctx);
        return;
    }
    // Bucket arrays: counts and pointers in the free space when they fit; with a large
    // alphabet and little space, the pointers alone, recounting the symbols whenever bucket
    // bounds are needed (slower, but no memory beyond the output array); the heap otherwise.
    // With a large alphabet and room for a third array, the LMS suffixes per bucket too.
    let mut heap = Vec::new();
    let counted = counted && free.len() >= 2 * k;
    #[cfg(debug_assertions)]
    if counted {
        let mut recount = vec![I::ZERO; k];
        count_symbols(t, &mut recount, ctx);
        debug_assert!(recount[..] == free[..k], "counts left by the level above");
    }
    let mut bk = if free.len() >= 2 * k {
        let (a, b) = free.split_at_mut(k);
        let (b, c) = b.split_at_mut(k);
        Buckets {
            counts: Some(a),
            ptrs: b,
            runs: (k > 256 && c.len() >= k).then(|| &mut c[..k]),
        }
    } else if k <= ctx.small_alphabet {
        heap.resize(2 * k, I::ZERO);
        let (a, b) = heap.split_at_mut(k);
        Buckets {
            counts: Some(a),
            ptrs: b,
            runs: None,
        }
    } else if free.len() >= k {
        Buckets {
            counts: None,
            ptrs: &mut free[..k],
            runs: None,
        }
    } else {
        heap.resize(k, I::ZERO);
        Buckets {
            counts: None,
            ptrs: &mut heap[..],
            runs: None,
        }
    };
    let par = ctx.par(n) && k <= ctx.small_alphabet;
    #[cfg_attr(not(feature = "trace"), allow(unused_mut))]
    let mut tm = (std::time::Instant::now(), 0u64);
    #[cfg(feature = "trace")]
    trace!(tm, "start");
    trace!(tm, "level n={n} k={k} recount={}", bk.counts.is_none());

    // Naming marks the unique names if this level may drop suffixes: always on levels with
    // large alphabets, and on the others (the bytes) only if most names turn out unique:
    // there few suffixes can be dropped otherwise, and the passes cost more than they save.
    let large_k = k >= ctx.drop_unique_min_k;
    let may_drop = large_k || ctx.drop_unique_mostly;
    // Stage 1: sort the LMS substrings and name them. `lms_counts`: with a byte alphabet, the
    // LMS suffixes per bucket, for placing the sorted ones in stage 2 as blocks.
    let keyed = match (C::as_bytes(t), &mut bk.counts) {
        (Some(bytes), Some(counts)) if ctx.sort_lms_keys => {
            Some(keysort::sort_lms(bytes, sa, counts, ctx))
        }
        _ => None,
    };
    let keyed_path = keyed.is_some();
    // With the key sort: the marks per chunk that naming counted (see `counts_from_marks`).
    let mut ones = Vec::new();
    // The LMS positions per chunk of the text, if stage 1 counted them that way.
    let lms_chunks: Option<LmsChunks>;
    let (m, names, lms_counts) = match keyed {
        Some((m, lc, ch)) => {
            lms_chunks = ch;
            trace!(tm, "key sort m={m}");
            let (lms, rest) = sa.split_at_mut(m);
            // (Names go to `rest[p / 2]`, below `n.div_ceil(2)`: see `gather_names`.)
            fill_zero(&mut rest[..n.div_ceil(2)], ctx);
            // The marks stay: the reduced text's symbol counts are read off them below.
            let names;
            (names, ones) = number_marked(lms, rest, may_drop, true, ctx);
            trace!(tm, "naming names={names}");
            (m, names, Some(lc))
        }
        None => {
            let (m, lms_counts, ch) = stage1_induced(t, sa, &mut bk, par, counted, ctx);
            lms_chunks = ch;
            trace!(tm, "stage1 m={m}");
            let names = name_lms_substrings(t, sa, m, may_drop, ctx);
            trace!(tm, "naming names={names}");
            (m, names, lms_counts)
        }
    };

    // Leave out of the recursion what the names alone already place. (If not, the marks
    // go when the names are gathered.)
    let drop = names < m && (large_k || (ctx.drop_unique_mostly && 2 * names > m));
    if keyed_path && drop {
        unmark(&mut sa[..m], ctx);
    }
    let dropped = if drop { drop_unique(sa, m, ctx) } else { None };
    let f = dropped.as_ref().map_or(0, |d| d.count);
    trace!(tm, "drop unique f={f}");
    gather_names(sa, m, ctx);
    trace!(tm, "gather names");
    // After the key sort, with nothing dropped, each name's count is the length of its run of
    // sorted LMS positions (a new one at each mark): the recursion takes them from its
    // scratch space, `sa[m..]`, where they fit, instead of counting its text.
    let counts_left = keyed_path && !drop && names < m && m + names <= n - m;
    if counts_left {
        let (lms, rest) = sa.split_at_mut(m);
        counts_from_marks(lms, &mut rest[..names], &ones, ctx);
        trace!(tm, "counts from marks");
    }
    // The reduced text is `sa[n - mr..]`; the dropped suffixes, in rank order, go just
    // before it, out of the recursion's reach.
    let mr = m - f;
    if f > 0 {
        par_copy_within(sa, 0..f, n - m, ctx);
    }

    // Sort the reduced text: recursively if names repeat, directly otherwise.
    {
        let (work, rest) = sa.split_at_mut(n - m);
        let reduced = &rest[f..];
        if names - f < mr {
            sais_level::<I, I>(reduced, work, names - f, counts_left, ctx);
        } else {
            for (i, &name) in reduced.iter().enumerate() {
                work[name.to_usize()] = I::from_usize(i);
            }
        }
    }

    trace!(tm, "reduced done (n={n})");
    // Map reduced suffix numbers back to text positions: first the positions that went into
    // the recursion, in text order, into `sa[n - mr..]`.
    match &dropped {
        Some(d) => gather_lms(t, sa, mr, Some(&d.pos), lms_chunks.as_ref(), ctx),
        None => gather_lms(t, sa, mr, None, lms_chunks.as_ref(), ctx),
    }
    trace!(tm, "gather lms");
    {
        let (head, tail) = sa.split_at_mut(n - mr);
        let head = &mut head[..mr];
        if ctx.par(mr) {
            head.par_chunks_mut(ctx.chunk(mr))
                .for_each(|part| map_back(part, tail));
        } else {
            map_back(head, tail);
        }
    }
    // Put the dropped suffixes back at their ranks, between the sorted others.
    if let Some(d) = &dropped {
        let base = n - m;
        let (mut j, mut r) = (f, mr);
        for i in (0..m).rev() {
            if d.rank.get(i) {
                j -= 1;
                sa[i] = sa[base + j];
            } else {
                r -= 1;
                sa[i] = sa[r];
            }
        }
        debug_assert_eq!((j, r), (0, 0));
    }

    trace!(tm, "map back");
    // Stage 2: put the sorted LMS suffixes at the ends of their buckets, then induce.
    bk.ends(t, ctx);
    if let Some(lc) = &lms_counts {
        place_runs(sa, bk.ptrs, m, |c| lc[c], ctx);
    } else if let Some(runs) = &bk.runs {
        place_runs(sa, bk.ptrs, m, |c| runs[c].to_usize(), ctx);
    } else {
        fill_zero(&mut sa[m..], ctx);
        let ptrs = &mut *bk.ptrs;
        for i in (0..m).rev() {
            if i >= PREFETCH {
                prefetch(t, sa[i - PREFETCH].to_usize());
            }
            let p = sa[i];
            sa[i] = I::ZERO;
            let c = t[p.to_usize()].sym();
            let e = ptrs[c].to_usize() - 1;
            ptrs[c] = I::from_usize(e);
            sa[e] = p;
        }
    }
    trace!(tm, "place");
    bk.starts(t, ctx);
    induce_l::<C, I, false>(t, sa, bk.ptrs, ctx);
    trace!(tm, "final L");
    bk.ends(t, ctx);
    induce_s::<C, I, false>(t, sa, bk.ptrs, ctx);
    trace!(tm, "final S (n={n})");
    let _ = tm;
}

/// Stage 1 by induced sorting: the LMS substrings sorted into `sa[..m]`. Returns `m` and, with
/// a byte alphabet, the LMS suffixes per bucket.
fn stage1_induced<C: Sym, I: Idx>(
    t: &[C],
    sa: &mut [I],
    bk: &mut Buckets<'_, I>,
    par: bool,
    counted: bool,
    ctx: &Ctx,
) -> (usize, Option<[usize; 256]>, Option<LmsChunks>) {
    let k = bk.ptrs.len();
    #[cfg_attr(not(feature = "trace"), allow(unused_mut))]
    let mut tm = (std::time::Instant::now(), 0u64);
    #[cfg(feature = "trace")]
    trace!(tm, "  stage1 start");
    let (m, lms_chunks) = match (&mut bk.counts, par) {
        (Some(counts), true) => count_and_place_lms_par(t, sa, counts, bk.ptrs, ctx),
        _ => {
            if let Some(counts) = bk.counts.as_mut().filter(|_| !counted) {
                count_symbols(t, counts, ctx);
            }
            place_lms_seq(t, sa, bk, ctx)
        }
    };
    // With a byte alphabet, the LMS suffixes per bucket, for placing the sorted ones in stage
    // 2 as blocks: the placement left each bucket pointer that far below its bucket's end.
    let lms_counts = match &bk.counts {
        Some(counts) if k <= 256 => {
            let mut lc = [0usize; 256];
            let mut end = 0;
            for c in 0..k {
                end += counts[c].to_usize();
                lc[c] = end - bk.ptrs[c].to_usize();
            }
            Some(lc)
        }
        _ => None,
    };
    // With a large alphabet, the same into `runs` if there is room for it and there are
    // more LMS suffixes than buckets (with fewer, a pass over the buckets costs more than
    // placing the suffixes one by one).
    if k > m {
        bk.runs = None;
    }
    if let (Some(counts), Some(runs)) = (&bk.counts, &mut bk.runs) {
        let mut end = 0;
        for c in 0..k {
            end += counts[c].to_usize();
            runs[c] = I::from_usize(end - bk.ptrs[c].to_usize());
        }
    }
    trace!(tm, "  count+place m={m}");
    if m == 0 {
        // No LMS substring to sort (the text rises only at its start: S-types, then L-types).
        return (0, lms_counts, lms_chunks);
    }
    bk.starts(t, ctx);
    induce_l::<C, I, true>(t, sa, bk.ptrs, ctx);
    trace!(tm, "  stage1 L");
    bk.ends(t, ctx);
    induce_s::<C, I, true>(t, sa, bk.ptrs, ctx);
    trace!(tm, "  stage1 S");

    // Only the LMS suffixes are left, in LMS-substring order: move them to the front.
    let w = compact_nonzero(sa, ctx);
    debug_assert_eq!(w, m);
    trace!(tm, "  compact");
    let _ = tm;
    (m, lms_counts, lms_chunks)
}

/// Whether `t` never rises (every suffix is L-type). Most texts rise within a few symbols;
/// one symbol repeated (erased flash) is read to its end. So the text goes in blocks,
/// overlapping by one symbol, each checked whole (no exit inside, so that the compiler can
/// vectorize the loop): the first ones in turn, the rest in parallel.
pub(crate) fn never_rises<C: Sym>(t: &[C], ctx: &Ctx) -> bool {
    const BLOCK: usize = 1 << 12;
    let n = t.len();
    let blocks = n.div_ceil(BLOCK);
    let ok = |b: usize| {
        let w = &t[b * BLOCK..((b + 1) * BLOCK + 1).min(n)];
        w.windows(2).fold(true, |ok, w| ok & (w[0] >= w[1]))
    };
    let first = blocks.min(16);
    (0..first).all(ok)
        && if ctx.par(n) {
            (first..blocks).into_par_iter().all(ok)
        } else {
            (first..blocks).all(ok)
        }
}

/// The suffix array of a text that never rises: each suffix is smaller than the one before it
/// (a smaller next symbol decides, and with an equal one the same holds one position on, down
/// to the last suffix, a prefix of the one before), so the positions from the last down.
fn descending<I: Idx>(sa: &mut [I], ctx: &Ctx) {
    let n = sa.len();
    let fill = |(k, part): (usize, &mut [I]), chunk: usize| {
        for (i, v) in part.iter_mut().enumerate() {
            *v = I::from_usize(n - 1 - (k * chunk + i));
        }
    };
    if ctx.par(n) {
        let chunk = ctx.chunk(n);
        sa.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|kp| fill(kp, chunk));
    } else {
        fill((0, sa), n);
    }
}

/// `v = tail[v]` for each `v` in `part`.
fn map_back<I: Idx>(part: &mut [I], tail: &[I]) {
    for i in 0..part.len() {
        if let Some(&a) = part.get(i + PREFETCH) {
            prefetch(tail, a.to_usize());
        }
        part[i] = tail[part[i].to_usize()];
    }
}

fn fill_zero<I: Idx>(s: &mut [I], ctx: &Ctx) {
    if ctx.par(s.len()) {
        s.par_chunks_mut(ctx.chunk(s.len()))
            .for_each(|p| p.fill(I::ZERO));
    } else {
        s.fill(I::ZERO);
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

/// The number of LMS positions in each chunk of a text, chunked by [`text_chunks`] with
/// `len`, as stage 1 found them.
pub(crate) struct LmsChunks {
    pub(crate) len: usize,
    pub(crate) counts: Vec<usize>,
}

/// Writes the LMS positions `p` of `t` that are not `dropped` (bit `p / 2`; all with `None`),
/// in text order, into `sa[n - count..n]` (`n = t.len()`; `count` must be their number).
/// Every other entry of `sa` keeps its value.
///
/// In parallel, the text goes in the chunks stage 1 counted (`known`), and each writes its
/// positions to its share of the range: stage 1's count less the dropped ones (counted in
/// `dropped`: a chunk's LMS positions own the bits from half its start, as chunks start at
/// even positions and LMS positions are never adjacent).
/// Sequentially, the LMS positions come from [`for_each_lms_in`], 64 positions at a time.
/// Each is written at the next free slot, which moves only for the kept ones (whether one is
/// kept is data, and a branch on it mispredicts); the one slot below the range that the last
/// writes land on is restored afterwards.
fn gather_lms<C: Sym, I: Idx>(
    t: &[C],
    sa: &mut [I],
    count: usize,
    dropped: Option<&Bits>,
    known: Option<&LmsChunks>,
    ctx: &Ctx,
) {
    let n = t.len();
    if count == 0 {
        // Nothing to write (a text of one symbol has no LMS position): skip the scan.
        return;
    }
    let keep = |p: usize| dropped.is_none_or(|d| !d.get(p / 2));
    // (Stage 1 leaves the counts whenever it ran in parallel, as it does on a text this
    // long.)
    debug_assert!(known.is_some() || !ctx.par(n));
    if let Some(known) = known.filter(|_| ctx.par(n)) {
        let (bounds, s_end) = text_chunks(t, known.len);
        debug_assert_eq!(known.counts.len(), bounds.len());
        let counts: Vec<usize> = bounds
            .par_iter()
            .zip(&known.counts)
            .map(|(&(a, b), &c)| c - dropped.map_or(0, |d| d.count(a / 2, b.div_ceil(2))))
            .collect();
        debug_assert_eq!(counts.iter().sum::<usize>(), count);
        let mut rest = &mut sa[n - count..];
        let mut parts = Vec::with_capacity(counts.len());
        for &c in &counts {
            let (part, r) = std::mem::take(&mut rest).split_at_mut(c);
            parts.push(part);
            rest = r;
        }
        parts
            .into_par_iter()
            .zip(&bounds)
            .zip(&s_end)
            .for_each(|((part, &(a, b)), &s_b)| {
                let mut w = part.len();
                for_each_lms_in(t, a, b, s_b, |p| {
                    if keep(p) {
                        w -= 1;
                        part[w] = I::from_usize(p);
                    }
                });
                debug_assert_eq!(w, 0);
            });
        return;
    }
    // The slot below the range, if any (`count` < `n`: at most every other position is LMS).
    let below = n - count - 1;
    let saved = sa[below];
    let mut w = n;
    for_each_lms_in(t, 0, n, None, |p| {
        sa[w - 1] = I::from_usize(p);
        w -= usize::from(keep(p));
    });
    debug_assert_eq!(w, n - count);
    sa[below] = saved;
}

/// The bucket arrays of one level.
struct Buckets<'a, I> {
    /// Symbol counts, or `None` to recount from the text whenever bounds are needed.
    counts: Option<&'a mut [I]>,
    /// The bucket pointers the passes move.
    ptrs: &'a mut [I],
    /// With a large alphabet and room for it, the LMS suffixes per bucket, kept from stage 1
    /// so that stage 2 can place the sorted ones as blocks.
    runs: Option<&'a mut [I]>,
}

/// Puts the sorted LMS suffixes in `sa[..m]` at the ends of their buckets (`ends`, one past
/// each bucket's end), given the number `run(c)` of them in bucket `c`, and clears the rest
/// of `sa`. They come grouped by bucket: each bucket's run moves as a block, last bucket
/// first. (A bucket holds no run of a lower bucket: those lie below its start.) Against
/// placing them one by one, this reads neither the text nor the pointers at random.
///
/// In parallel, in rounds. A run never moves down, and the runs whose place lies at or above
/// the end of the runs still to move (a top range of the buckets left) read only below it
/// and write only above it. So each round places those, in groups of buckets in parallel,
/// each group writing its own span of the array; the rest go in order, as above (long moves
/// and clears in parallel), once a round would leave too little for the threads.
fn place_runs<I: Idx>(
    sa: &mut [I],
    ends: &[I],
    m: usize,
    run: impl Fn(usize) -> usize + Sync,
    ctx: &Ctx,
) {
    let n = sa.len();
    // Buckets `..k` and runs `sa[..src]` are left, to be placed below `hi`.
    let (mut k, mut src, mut hi) = (ends.len(), m, n);
    let end = |c: usize| ends[c].to_usize();
    // The first bucket in `lo..hi` for which `f` fails (it holds for a prefix of them).
    let first_not = |mut lo: usize, mut hi: usize, f: &dyn Fn(usize) -> bool| {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if f(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };
    while ctx.par(hi - src) {
        // `cut`: the first bucket whose run's place starts at or above `src` (the places rise
        // with the buckets). `low_top`: one past the runs below it, at least `src`. (A bucket
        // below `cut` without a run ends at its run's place, below `src`.)
        let cut = first_not(0, k, &|c| end(c) - run(c) < src);
        let low_top = if cut > 0 { src.max(end(cut - 1)) } else { src };
        if !ctx.par(hi - low_top) {
            break;
        }
        // The buckets from `cut` up in groups that each cover about a `4 * threads`th of
        // `sa[low_top..hi]`, found by bisection: group `g` takes the buckets from `cuts[g]`.
        let groups = 4 * ctx.threads;
        let target = (hi - low_top).div_ceil(groups);
        let mut cuts: Vec<usize> = (0..groups)
            .map(|g| first_not(cut, k, &|c| end(c) <= low_top + g * target))
            .collect();
        cuts[0] = cut;
        cuts.push(k);
        // Each group's span of the array: from where bucket `cuts[g]` starts (the first group
        // from `low_top`) to where the next group's does (the last group up to `hi`, which
        // the buckets below `k` can end short of).
        let start = |c| if c == cut { low_top } else { end(c - 1) };
        let spans: Vec<(Range<usize>, Range<usize>)> = cuts
            .windows(2)
            .enumerate()
            .map(|(g, w)| {
                let b = if g + 1 == groups { hi } else { start(w[1]) };
                (w[0]..w[1], start(w[0])..b)
            })
            .collect();
        // How many runs each group moves.
        let lens: Vec<usize> = spans
            .par_iter()
            .map(|(cs, _)| cs.clone().map(&run).sum())
            .collect();
        let low = src - lens.iter().sum::<usize>();
        let (below, rest) = sa.split_at_mut(low_top);
        let below = &*below;
        let mut rest = &mut rest[..hi - low_top];
        let mut work = Vec::with_capacity(spans.len());
        let mut from = low;
        for ((cs, r), len) in spans.into_iter().zip(lens) {
            let (span, more) = std::mem::take(&mut rest).split_at_mut(r.len());
            work.push((cs, from, r.start, span));
            from += len;
            rest = more;
        }
        debug_assert!(rest.is_empty() && from == src);
        work.into_par_iter().for_each(|(cs, mut from, a, span)| {
            // From the span's bottom up: the gaps and the runs.
            let mut w = a;
            for c in cs {
                let l = run(c);
                if l == 0 {
                    continue;
                }
                let d = end(c) - l;
                span[w - a..d - a].fill(I::ZERO);
                span[d - a..d - a + l].copy_from_slice(&below[from..from + l]);
                from += l;
                w = d + l;
            }
            span[w - a..].fill(I::ZERO);
        });
        (k, src, hi) = (cut, low, low_top);
    }
    place_runs_below(sa, ends, 0..k, src, hi, &run, ctx.par(n).then_some(ctx));
}

/// The sequential form of [`place_runs`] for the buckets `cs`, whose runs are `sa[..src]`,
/// placing and clearing below `hi` (everything from `hi` up is placed or cleared). With
/// `ctx`, long moves and clears go in parallel.
fn place_runs_below<I: Idx>(
    sa: &mut [I],
    ends: &[I],
    cs: Range<usize>,
    mut src: usize,
    mut hi: usize,
    run: &impl Fn(usize) -> usize,
    ctx: Option<&Ctx>,
) {
    let fill = |s: &mut [I]| match ctx {
        Some(ctx) => fill_zero(s, ctx),
        None => s.fill(I::ZERO),
    };
    for c in cs.rev() {
        let l = run(c);
        if l == 0 {
            continue;
        }
        let end = ends[c].to_usize();
        // Between this run and the one above: the rest of the buckets from here up to it. No
        // run still to move lies there (they fit below this bucket's end).
        fill(&mut sa[end..hi]);
        src -= l;
        // Up, so from the top down. (Most runs of a reduced text are a few entries long, and
        // a loop beats a call to memmove there.)
        if l > 32 {
            match ctx {
                Some(ctx) => par_copy_within(sa, src..src + l, end - l, ctx),
                None => sa.copy_within(src..src + l, end - l),
            }
        } else {
            for i in (0..l).rev() {
                sa[end - l + i] = sa[src + i];
            }
        }
        hi = end - l;
    }
    debug_assert_eq!(src, 0);
    fill(&mut sa[..hi]);
}

impl<I: Idx> Buckets<'_, I> {
    /// `ptrs[c]` = the start of bucket `c`.
    fn starts<C: Sym>(&mut self, t: &[C], ctx: &Ctx) {
        match &self.counts {
            Some(counts) => bucket_starts(counts, self.ptrs),
            None => {
                count_symbols(t, self.ptrs, ctx);
                let mut sum = 0usize;
                for p in self.ptrs.iter_mut() {
                    let c = p.to_usize();
                    *p = I::from_usize(sum);
                    sum += c;
                }
            }
        }
    }

    /// `ptrs[c]` = one past the end of bucket `c`.
    fn ends<C: Sym>(&mut self, t: &[C], ctx: &Ctx) {
        match &self.counts {
            Some(counts) => bucket_ends(counts, self.ptrs),
            None => {
                count_symbols(t, self.ptrs, ctx);
                let mut sum = 0usize;
                for p in self.ptrs.iter_mut() {
                    sum += p.to_usize();
                    *p = I::from_usize(sum);
                }
            }
        }
    }
}

/// Counts the symbols of `t` into `counts`; in parallel (atomic increments) for long texts
/// over large alphabets, where per-thread histograms would not fit.
fn count_symbols<C: Sym, I: Idx>(t: &[C], counts: &mut [I], ctx: &Ctx) {
    if ctx.par(t.len()) && counts.len() > ctx.small_alphabet {
        fill_zero(counts, ctx);
        let view = I::atomic_view(counts);
        t.par_chunks(ctx.chunk(t.len())).for_each(|part| {
            for i in 0..part.len() {
                if let Some(c) = part.get(i + PREFETCH) {
                    prefetch(view, c.sym());
                }
                I::fetch_add(&view[part[i].sym()], I::from_usize(1));
            }
        });
        return;
    }
    counts.fill(I::ZERO);
    let big = counts.len() > 1 << 14;
    for i in 0..t.len() {
        if big {
            if let Some(c) = t.get(i + PREFETCH) {
                prefetch(counts, c.sym());
            }
        }
        let c = t[i].sym();
        counts[c] = I::from_usize(counts[c].to_usize() + 1);
    }
}

/// Clears `sa` and puts every LMS suffix at the end of its bucket (right to left in text
/// order). Returns the number of LMS suffixes, and in parallel their number per chunk.
fn place_lms_seq<C: Sym, I: Idx>(
    t: &[C],
    sa: &mut [I],
    bk: &mut Buckets<'_, I>,
    ctx: &Ctx,
) -> (usize, Option<LmsChunks>) {
    fill_zero(sa, ctx);
    bk.ends(t, ctx);
    let ptrs = &mut *bk.ptrs;
    let n = t.len();
    if ctx.par(n) {
        // Chunks in parallel, taking slots with atomic decrements. The order of the LMS
        // suffixes within a bucket then depends on the timing, but stage 1 accepts any
        // order there: the reduced text, and so the result, do not depend on it.
        let len = ctx.chunk(n);
        let (bounds, s_end) = text_chunks(t, len);
        let ptrs = I::atomic_view(ptrs);
        let sa = I::atomic_view(sa);
        let counts: Vec<usize> = bounds
            .par_iter()
            .zip(&s_end)
            .map(|(&(a, b), &s_b)| {
                let mut m = 0;
                for_each_lms_batch(t, a, b, s_b, |batch| {
                    for (i, &p) in batch.iter().enumerate() {
                        if let Some(&q) = batch.get(i + PREFETCH) {
                            prefetch(ptrs, t[q].sym());
                        }
                        let c = t[p].sym();
                        let e = I::fetch_sub(&ptrs[c], I::from_usize(1)).to_usize() - 1;
                        I::store(&sa[e], I::from_usize(p));
                    }
                    m += batch.len();
                });
                m
            })
            .collect();
        return (counts.iter().sum(), Some(LmsChunks { len, counts }));
    }
    let mut m = 0usize;
    if ptrs.len() > 1 << 14 {
        // The bucket pointers miss the cache: batches of LMS positions, so that the pointer
        // of the LMS position a prefetch distance ahead can be fetched.
        for_each_lms_batch(t, 0, n, None, |batch| {
            for (i, &p) in batch.iter().enumerate() {
                if let Some(&q) = batch.get(i + PREFETCH) {
                    prefetch(ptrs, t[q].sym());
                }
                let c = t[p].sym();
                let e = ptrs[c].to_usize() - 1;
                ptrs[c] = I::from_usize(e);
                sa[e] = I::from_usize(p);
            }
            m += batch.len();
        });
        return (m, None);
    }
    for_each_lms_in(t, 0, n, None, |p| {
        let c = t[p].sym();
        let e = ptrs[c].to_usize() - 1;
        ptrs[c] = I::from_usize(e);
        sa[e] = I::from_usize(p);
        m += 1;
    });
    (m, None)
}

/// Calls `f` with batches of the LMS positions in `a..b`, right to left (the order of
/// [`for_each_lms_in`]), given the type of suffix `b` (`None` if `b == n`). The positions are
/// read off the LMS bits of [`for_each_type_word`], and a batch lets the caller prefetch for
/// the positions ahead of the one it works on.
pub(crate) fn for_each_lms_batch<C: Sym>(
    t: &[C],
    a: usize,
    b: usize,
    s_b: Option<bool>,
    mut f: impl FnMut(&[usize]),
) {
    /// LMS positions per batch (at most 64 more than this).
    const BATCH: usize = 1024;
    let mut buf = [0usize; BATCH + 64];
    let mut k = 0;
    for_each_type_word(t, a, b, s_b, |q0, _, lms| {
        for j in bits_down(lms) {
            buf[k] = q0 + j;
            k += 1;
        }
        if k >= BATCH {
            f(&buf[..k]);
            k = 0;
        }
    });
    if k > 0 {
        f(&buf[..k]);
    }
}

/// Whether the suffix at symbol `x` is S-type, given the next symbol `y` and whether the
/// suffix at `y` is S-type. (Bitwise operators, not `&&` / `||`: the types are data, and
/// branches on them mispredict.)
#[inline(always)]
fn s_before<C: Sym>(x: C, y: C, s_y: bool) -> bool {
    (x < y) | ((x == y) & s_y)
}

/// Whether suffix `i` is S-type, given whether suffix `i + 1` is (`None` for `i = n - 1`).
#[inline(always)]
fn s_type<C: Sym>(t: &[C], i: usize, s_next: Option<bool>) -> bool {
    s_next.is_some_and(|s| s_before(t[i], t[i + 1], s))
}

/// The S-type bits of 64 consecutive positions (bit `j` for the `j`-th), from the masks of
/// [`Sym::cmp_masks`] over their symbols and the type of the position after them.
///
/// Position `j` is S-type if `lt[j]`, or if `eq[j]` and position `j + 1` is: a type travels
/// down a run of equal symbols as a carry travels up an addition. With the bits reversed,
/// adding `g = lt` (a carry is generated) to `b = lt | eq` (it is generated or passed on)
/// with the type above as the carry in, the carry out of each bit is that position's type;
/// the sum gives the carries into the bits (`sum ^ g ^ b`), and the overflow the carry out
/// of the top one.
#[inline(always)]
fn s_word(lt: u64, eq: u64, s_above: bool) -> u64 {
    let g = lt.reverse_bits();
    let b = g | eq.reverse_bits();
    let (x, o1) = g.overflowing_add(b);
    let (sum, o2) = x.overflowing_add(u64::from(s_above));
    let carries_in = sum ^ g ^ b;
    ((carries_in >> 1) | (u64::from(o1 | o2) << 63)).reverse_bits()
}

/// The S-type bits of positions `q0..q0 + len` (`len <= 64`; bit `j` for `q0 + j`), given the
/// type of suffix `q0 + len` (`None` if that is `n`).
#[inline(always)]
fn s_bits<C: Sym>(t: &[C], q0: usize, len: usize, s_above: Option<bool>) -> u64 {
    if len == 64 {
        if let (Some(s), Some(w)) = (s_above, t.get(q0..q0 + 65)) {
            let (lt, eq) = C::cmp_masks(w);
            return s_word(lt, eq, s);
        }
    }
    let mut bits = 0u64;
    let mut s = s_above;
    for j in (0..len).rev() {
        let sj = s_type(t, q0 + j, s);
        bits |= u64::from(sj) << j;
        s = Some(sj);
    }
    bits
}

/// Calls `f(q0, s, lms)` for consecutive blocks of at most 64 positions covering `a..b`, top
/// block first, given the type of suffix `b` (`None` if `b == n`): bit `j` of `s` is set if
/// suffix `q0 + j` is S-type, of `lms` if `q0 + j` is an LMS position. Bits past a short
/// block are clear.
#[inline(always)]
pub(crate) fn for_each_type_word<C: Sym>(
    t: &[C],
    a: usize,
    b: usize,
    s_b: Option<bool>,
    mut f: impl FnMut(usize, u64, u64),
) {
    let (mut hi, mut s_hi) = (b, s_b);
    while hi > a {
        let len = (hi - a).min(64);
        let q0 = hi - len;
        let s = s_bits(t, q0, len, s_hi);
        let s0 = s & 1 != 0;
        // Whether the position below the block is S-type (position 0, never LMS, counts as
        // one below which nothing is L-type).
        let below = q0 == 0 || s_before(t[q0 - 1], t[q0], s0);
        f(q0, s, s & !((s << 1) | u64::from(below)));
        (hi, s_hi) = (q0, Some(s0));
    }
}

/// Calls `f` with the LMS positions in `a..b`, right to left, given the type of suffix `b`
/// (`None` if `b == n`), read off the LMS bits of [`for_each_type_word`].
fn for_each_lms_in<C: Sym>(
    t: &[C],
    a: usize,
    b: usize,
    s_b: Option<bool>,
    mut f: impl FnMut(usize),
) {
    for_each_type_word(t, a, b, s_b, |q0, _, lms| {
        for j in bits_down(lms) {
            f(q0 + j);
        }
    });
}

/// The set bits of `w`, highest first.
#[inline(always)]
pub(crate) fn bits_down(mut w: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (w != 0).then(|| {
            let j = 63 - w.leading_zeros() as usize;
            w ^= 1 << j;
            j
        })
    })
}

/// `t` cut into chunks of `len` symbols (the last may be shorter): their bounds, and the type
/// of the suffix just past each (see [`chunk_end_types`]).
pub(crate) fn text_chunks<C: Sym>(t: &[C], len: usize) -> (Vec<(usize, usize)>, Vec<Option<bool>>) {
    let n = t.len();
    // Even, so that the name slots `p / 2` of a chunk's LMS positions are a range of their
    // own (see `gather_lms`).
    let len = len.max(1).next_multiple_of(2);
    let bounds: Vec<(usize, usize)> = (0..n).step_by(len).map(|a| (a, (a + len).min(n))).collect();
    let s_end = chunk_end_types(t, &bounds);
    (bounds, s_end)
}

/// For chunks `bounds` (consecutive, covering `t`), the type of the suffix just past each
/// chunk (`None` past the end of the text).
pub(crate) fn chunk_end_types<C: Sym>(t: &[C], bounds: &[(usize, usize)]) -> Vec<Option<bool>> {
    let n = t.len();
    // The type of each chunk's first suffix, if the chunk decides it (it does unless the chunk
    // and the first symbol after it are all one symbol).
    let local: Vec<Option<bool>> = bounds
        .par_iter()
        .map(|&(a, b)| {
            let end = if b == n { n - 1 } else { b };
            (a..end)
                .find(|&q| t[q] != t[q + 1])
                .map(|q| t[q] < t[q + 1])
        })
        .collect();
    // s_end[i] = type of suffix bounds[i].1 (None at n).
    let mut s_end = vec![None; bounds.len()];
    let mut next: Option<bool> = None;
    for i in (0..bounds.len()).rev() {
        s_end[i] = next;
        next = Some(match local[i] {
            Some(s) => s,
            None => next.unwrap_or(false),
        });
    }
    s_end
}

/// Counts the symbols and places the LMS suffixes like [`place_lms_seq`], in parallel, for
/// small alphabets (per-chunk histograms): the same result.
fn count_and_place_lms_par<C: Sym, I: Idx>(
    t: &[C],
    sa: &mut [I],
    counts: &mut [I],
    ptrs: &mut [I],
    ctx: &Ctx,
) -> (usize, Option<LmsChunks>) {
    let n = t.len();
    let k = counts.len();
    let len = ctx.chunk(n);
    let (bounds, s_end) = text_chunks(t, len);
    // Per chunk, per bucket c: the non-LMS positions in slot 2c, the LMS ones in 2c + 1.
    let hist: Vec<Vec<usize>> = bounds
        .par_iter()
        .zip(&s_end)
        .map(|(&(a, b), &s_b)| {
            // One branch-free pass: position q counts in slot 2 * t[q] + (whether q is LMS).
            let mut both = vec![0usize; 2 * k];
            if a < b {
                let mut s = s_type(t, b - 1, s_b); // the type of suffix q
                for q in (a.max(1)..b).rev() {
                    let s_prev = s_before(t[q - 1], t[q], s);
                    both[2 * t[q].sym() + usize::from(s & !s_prev)] += 1;
                    s = s_prev;
                }
                if a == 0 {
                    both[2 * t[0].sym()] += 1; // position 0 is never LMS
                }
            }
            both
        })
        .collect();
    for (c, count) in counts.iter_mut().enumerate() {
        *count = I::from_usize(hist.iter().map(|h| h[2 * c] + h[2 * c + 1]).sum());
    }
    bucket_ends(counts, ptrs);
    // Chunk i writes its LMS suffixes of bucket c just below those of the chunks after it.
    let mut offsets = vec![vec![0usize; k]; bounds.len()];
    for c in 0..k {
        let mut end = ptrs[c].to_usize();
        for i in (0..bounds.len()).rev() {
            offsets[i][c] = end;
            end -= hist[i][2 * c + 1];
        }
        // As the sequential placement leaves it: below the bucket's LMS suffixes.
        ptrs[c] = I::from_usize(end);
    }
    let per_chunk: Vec<usize> = hist
        .iter()
        .map(|h| h.iter().skip(1).step_by(2).sum())
        .collect();
    let m = per_chunk.iter().sum();
    fill_zero(sa, ctx);
    let view = I::atomic_view(sa);
    bounds
        .par_iter()
        .zip(&s_end)
        .zip(offsets)
        .for_each(|((&(a, b), &s_b), mut off)| {
            for_each_lms_in(t, a, b, s_b, |p| {
                let c = t[p].sym();
                off[c] -= 1;
                I::store(&view[off[c]], I::from_usize(p));
            });
        });
    (
        m,
        Some(LmsChunks {
            len,
            counts: per_chunk,
        }),
    )
}

/// The length of the LMS substring starting at the LMS position `p`: up to and including the
/// next LMS position, or to the virtual sentinel (`n - p + 1`) if there is none.
///
/// The walk goes up from `p` (an S-type suffix) to the first descent: the symbol before a
/// descent is L-type. After it, the next ascent `t[i] < t[i + 1]` makes `i` S-type, and the
/// run of equal symbols that ends at `i` (S-type throughout) starts right after the last
/// descent: that start is the next LMS position. One comparison per step, no loop per run:
/// measured faster than walking run by run (top-level naming phase on duckdb, 1 thread,
/// 548/619 vs 633/701 ms min/median over 5 alternating `sa_time --reps 1` runs of the
/// `trace` build).
#[inline]
pub(crate) fn lms_substring_len<C: Sym>(t: &[C], p: usize) -> usize {
    let n = t.len();
    let mut i = p;
    while i + 1 < n && t[i] <= t[i + 1] {
        i += 1;
    }
    // `i` is L-type now (or the last position, which is L-type too).
    let mut run_start = i + 1;
    i += 1;
    while i + 1 < n {
        if t[i] < t[i + 1] {
            return run_start - p + 1;
        }
        if t[i] > t[i + 1] {
            run_start = i + 1;
        }
        i += 1;
    }
    n - p + 1
}

/// Moves the non-zero entries of `sa` to its front, in order, and zeroes the rest. Returns
/// their number.
fn compact_nonzero<I: Idx>(sa: &mut [I], ctx: &Ctx) -> usize {
    let n = sa.len();
    if !ctx.par(n) {
        return compact_part(sa);
    }
    let chunk = ctx.chunk(n);
    // Compact each chunk in place, then slide the chunks down one after another.
    let lens: Vec<usize> = sa.par_chunks_mut(chunk).map(compact_part).collect();
    let mut w = 0;
    for (i, &len) in lens.iter().enumerate() {
        let a = i * chunk;
        if a != w {
            par_copy_within(sa, a..a + len, w, ctx);
            sa[(a).max(w + len)..a + len].fill(I::ZERO);
        }
        w += len;
    }
    w
}

/// Moves the non-zero entries of `part`, in order, to its front and zeroes the rest; returns
/// how many there are. Branch-free: every entry is written to the next free slot, which moves
/// only for the non-zero ones (whether an entry is zero is data, and a branch on it
/// mispredicts). A zero written there changes nothing: the slots between the next free one
/// and the entry read are zero by then.
fn compact_part<I: Idx>(part: &mut [I]) -> usize {
    let mut w = 0;
    for i in 0..part.len() {
        let v = part[i];
        part[i] = I::ZERO;
        part[w] = v;
        w += usize::from(v != I::ZERO);
    }
    w
}

/// Fetches the start of the LMS substring at `p` ahead of [`lms_substring_len`]'s walk: its
/// first symbol and the fifth after it. The walk reads a symbol or two past the substring,
/// which on the reduced texts is three symbols long on average (duckdb, level 1), and it
/// crosses into the next cache line when it starts near a line's end; the second fetch is
/// then the one that saves a miss (`sa_time` trace build, duckdb, 1 thread, 4 alternating
/// runs: level-1 naming 134-178 -> 96-99 ms).
#[inline(always)]
fn prefetch_substring<C: Sym>(t: &[C], p: usize) {
    prefetch(t, p);
    prefetch(t, p + 5);
}

/// Names the sorted LMS substrings in `sa[..m]`: LMS position `p` gets its name (1-based) in
/// `sa[m + p / 2]`, every other slot of `sa[m..]` is zero. With `mark_unique`, the names that
/// only one LMS substring has are marked (`Idx::FLAG`). Returns the number of distinct names.
fn name_lms_substrings<C: Sym, I: Idx>(
    t: &[C],
    sa: &mut [I],
    m: usize,
    mark_unique: bool,
    ctx: &Ctx,
) -> usize {
    let n = t.len();
    if m == 0 {
        return 0;
    }
    // Each LMS substring's length is found by walking the text forward from its start: the
    // comparison reads those symbols anyway, so this costs no extra cache misses (a separate
    // pass storing the lengths did, plus a random read per substring).
    #[cfg_attr(not(feature = "trace"), allow(unused_mut))]
    let mut tm = (std::time::Instant::now(), 0u64);
    #[cfg(feature = "trace")]
    trace!(tm, "  naming start");
    let (lms, rest) = sa.split_at_mut(m);
    // Only the slots names go to (`p / 2 < n.div_ceil(2)`); see `gather_names`.
    fill_zero(&mut rest[..n.div_ceil(2)], ctx);
    trace!(tm, "  clear");
    // Marks each sorted LMS substring that differs from the one before it. (The symbols are
    // compared in a loop, not as slices: slice equality calls memcmp, which on these short
    // substrings made naming slower, `sa_time` trace build, 5 alternating rounds: duckdb
    // 1 thread min 558 -> 794 ms, grpcio 2 threads 58 -> 70 ms.)
    let differs = |q: usize, q_len: usize, p: usize, p_len: usize| {
        p_len != q_len
            || p + p_len > n
            || q + q_len > n
            || t[p..p + p_len]
                .iter()
                .zip(&t[q..q + q_len])
                .any(|(a, b)| a != b)
    };
    // Marks the entries of `part` whose substring differs from the previous one (`q` before
    // the first).
    let mark = |part: &mut [I], before: Option<usize>| {
        let mut q = before.map(|q| (q, lms_substring_len(t, q)));
        for i in 0..part.len() {
            if let Some(&a) = part.get(i + PREFETCH) {
                prefetch_substring(t, a.to_usize());
            }
            let p = part[i].to_usize();
            let p_len = lms_substring_len(t, p);
            if q.is_none_or(|(q, q_len)| differs(q, q_len, p, p_len)) {
                part[i] = part[i].flagged();
            }
            q = Some((p, p_len));
        }
    };
    let names;
    if ctx.par(m) {
        let chunk = ctx.chunk(m);
        let firsts: Vec<Option<usize>> = (0..m)
            .step_by(chunk)
            .map(|a| a.checked_sub(1).map(|i| lms[i].to_usize()))
            .collect();
        lms.par_chunks_mut(chunk)
            .zip(firsts)
            .for_each(|(part, before)| mark(part, before));
        names = number_marked(lms, rest, mark_unique, false, ctx).0;
    } else {
        // One pass: compare with the previous substring, then name it. Each entry's name
        // is stored one step late, when the next entry tells whether it is unique (new, and
        // followed by another new one), so that the mark costs no second write.
        let mut name = 0;
        let mut q: Option<(usize, usize)> = None;
        let mut q_new = false;
        for i in 0..m {
            if let Some(&a) = lms.get(i + PREFETCH) {
                prefetch_substring(t, a.to_usize());
                prefetch(rest, a.to_usize() / 2);
            }
            let p = lms[i].to_usize();
            let p_len = lms_substring_len(t, p);
            let new = q.is_none_or(|(q, q_len)| differs(q, q_len, p, p_len));
            if let Some((q, _)) = q {
                let v = I::from_usize(name);
                rest[q / 2] = if mark_unique && q_new && new {
                    v.flagged()
                } else {
                    v
                };
            }
            name += usize::from(new);
            q = Some((p, p_len));
            q_new = new;
        }
        if let Some((q, _)) = q {
            let v = I::from_usize(name);
            rest[q / 2] = if mark_unique && q_new { v.flagged() } else { v };
        }
        names = name;
    }
    trace!(tm, "  mark+names");
    let _ = tm;
    names
}

/// Names the sorted LMS substrings in `lms`, each marked (`Idx::FLAG`) if it differs from the
/// one before: LMS position `p` gets its name (1-based) in `rest[p / 2]` (every other entry
/// of `rest` must be zero), marked there if unique and `mark_unique`. Clears the marks in
/// `lms` unless `keep_marks`. Returns the number of distinct names, and the number of marks
/// in each chunk of `ctx.chunk(lms.len())` entries.
fn number_marked<I: Idx>(
    lms: &mut [I],
    rest: &mut [I],
    mark_unique: bool,
    keep_marks: bool,
    ctx: &Ctx,
) -> (usize, Vec<usize>) {
    let m = lms.len();
    if m == 0 {
        return (0, Vec::new());
    }
    let chunk = ctx.chunk(m);
    // Number the marked ones: per-chunk counts, then names in parallel.
    let ones: Vec<usize> = lms
        .par_chunks(chunk)
        .map(|part| part.iter().filter(|v| v.is_flagged()).count())
        .collect();
    let mut base = Vec::with_capacity(ones.len());
    let mut sum = 0;
    for &o in &ones {
        base.push(sum);
        sum += o;
    }
    let names = sum;
    // Whether the entry after each chunk starts a new name (the end counts as one),
    // read before the chunks clear their marks.
    let next_new: Vec<bool> = (chunk..m + chunk)
        .step_by(chunk)
        .map(|a| lms.get(a).is_none_or(|v| v.is_flagged()))
        .collect();
    let view = I::atomic_view(rest);
    lms.par_chunks_mut(chunk)
        .zip(base)
        .zip(next_new)
        .for_each(|((part, mut name), next_new)| {
            for i in 0..part.len() {
                if let Some(&a) = part.get(i + PREFETCH) {
                    prefetch(view, a.unflagged().to_usize() / 2);
                }
                let new = part[i].is_flagged();
                if new {
                    name += 1;
                    if !keep_marks {
                        part[i] = part[i].unflagged();
                    }
                }
                // Unique: a new name, and the next entry starts another.
                let unique =
                    mark_unique && new && part.get(i + 1).map_or(next_new, |v| v.is_flagged());
                let mut v = I::from_usize(name);
                if unique {
                    v = v.flagged();
                }
                I::store(&view[part[i].unflagged().to_usize() / 2], v);
            }
        });
    (names, ones)
}

/// Clears the marks of `s`.
fn unmark<I: Idx>(s: &mut [I], ctx: &Ctx) {
    let clear = |part: &mut [I]| part.iter_mut().for_each(|v| *v = v.unflagged());
    if ctx.par(s.len()) {
        s.par_chunks_mut(ctx.chunk(s.len())).for_each(clear);
    } else {
        clear(s);
    }
}

/// The number of LMS substrings with each name, into `counts` (one entry per name), from
/// the sorted LMS positions `lms` with a mark on each that starts a new name.
///
/// Branch-free (the marks are data): every entry stores its name's count so far, and the last
/// store before the next mark is the final one. In parallel, in the chunks of
/// [`number_marked`], given their numbers of marks (`ones`): each chunk writes the counts of
/// the names that start in it, the last one's reaching into the chunks after it.
fn counts_from_marks<I: Idx>(lms: &[I], counts: &mut [I], ones: &[usize], ctx: &Ctx) {
    let m = lms.len();
    if ctx.par(m) {
        let chunk = ctx.chunk(m);
        debug_assert_eq!(ones.len(), m.div_ceil(chunk));
        debug_assert_eq!(ones.iter().sum::<usize>(), counts.len());
        // Chunk `i` holds the starts of names `sum(ones[..i])..` on: its share of `counts`.
        let mut rest = counts;
        let mut shares = Vec::with_capacity(ones.len());
        for &o in ones {
            let (share, r) = std::mem::take(&mut rest).split_at_mut(o);
            shares.push(share);
            rest = r;
        }
        shares.into_par_iter().enumerate().for_each(|(i, share)| {
            let (a, b) = (i * chunk, ((i + 1) * chunk).min(m));
            // Marks seen in the chunk, and where the last one is.
            let (mut k, mut start) = (0, a);
            for (j, v) in lms[a..b].iter().enumerate() {
                let new = v.is_flagged();
                if k > 0 {
                    share[k - 1] = I::from_usize(a + j - start);
                }
                k += usize::from(new);
                start = if new { a + j } else { start };
            }
            if k > 0 {
                let end = lms[b..]
                    .iter()
                    .position(|v| v.is_flagged())
                    .map_or(m, |e| b + e);
                share[k - 1] = I::from_usize(end - start);
            }
        });
        return;
    }
    let mut name = 0;
    let mut start = 0;
    for (i, v) in lms.iter().enumerate().skip(1) {
        let new = v.is_flagged();
        counts[name] = I::from_usize(i - start);
        name += usize::from(new);
        start = if new { i } else { start };
    }
    if let Some(last) = counts.get_mut(name) {
        *last = I::from_usize(lms.len() - start);
    }
    debug_assert_eq!(name + 1, counts.len());
}

/// Moves the non-zero names in `sa[m..m + n.div_ceil(2)]` (1-based, at `m + p / 2` for LMS
/// position `p`, maybe marked unique), in text order, to the end of `sa` as the reduced text
/// (0-based, unmarked). The slots past those (`m + n.div_ceil(2) <= n`: at most every other
/// position is LMS) are neither read nor assumed zero, so naming clears only the name slots.
fn gather_names<I: Idx>(sa: &mut [I], m: usize, ctx: &Ctx) {
    let n = sa.len();
    let top = m + n.div_ceil(2);
    // Each chunk of `sa[m..top]` moves its names to its own end, in parallel; then the
    // chunks' runs move up to the end of `sa`, the last chunk's first. A run never moves down
    // (the chunks after it hold at most as many names as they have slots), so it lands on
    // slots that are free by then: its own, those the chunks after it have left, or those
    // past `top`.
    let chunk = if ctx.par(top - m) {
        ctx.chunk(top - m)
    } else {
        top - m
    }
    .max(1);
    // Each chunk but the last is one slice; the last reads up to `top` but its slice runs to
    // the end of `sa`, so that its names land where they belong (on one thread, all of them).
    let chunks = (top - m).div_ceil(chunk).max(1);
    let mut parts: Vec<(&mut [I], usize)> = Vec::with_capacity(chunks);
    let mut rest = &mut sa[m..];
    for k in 0..chunks {
        let len = chunk.min(top - m - k * chunk);
        let take = if k + 1 == chunks { rest.len() } else { len };
        let (part, r) = std::mem::take(&mut rest).split_at_mut(take);
        parts.push((part, len));
        rest = r;
    }
    let counts: Vec<usize> = parts
        .into_par_iter()
        .map(|(part, len)| compact_names(part, len))
        .collect();
    let mut w = n;
    for (k, &count) in counts.iter().enumerate().rev() {
        let end = if k + 1 == counts.len() {
            n
        } else {
            m + (k + 1) * chunk
        };
        w -= count;
        par_copy_within(sa, end - count..end, w, ctx);
    }
}

/// `sa.copy_within(src, dest)`, in parallel pieces if the two ranges do not overlap and are
/// long enough to pay for it.
fn par_copy_within<I: Idx>(sa: &mut [I], src: Range<usize>, dest: usize, ctx: &Ctx) {
    let len = src.len();
    if src.start == dest || len == 0 {
        return;
    }
    if !ctx.par(len) || (dest < src.end && src.start < dest + len) {
        sa.copy_within(src, dest);
        return;
    }
    let piece = ctx.chunk(len);
    let (from, to) = if dest < src.start {
        let (lo, hi) = sa.split_at_mut(src.start);
        (&hi[..len], &mut lo[dest..dest + len])
    } else {
        let (lo, hi) = sa.split_at_mut(dest);
        (&lo[src], &mut hi[..len])
    };
    to.par_chunks_mut(piece)
        .zip(from.par_chunks(piece))
        .for_each(|(to, from)| to.copy_from_slice(from));
}

/// Moves the non-zero names in `part[..len]`, in order, to the end of `part`, 0-based and
/// unmarked; returns how many there are.
///
/// Branch-free, like [`compact_part`]: every entry is written to the slot below the names
/// moved so far (at or above the entry read, so nothing unread is lost), which moves only for
/// the names. The slots below the names are left in any state.
fn compact_names<I: Idx>(part: &mut [I], len: usize) -> usize {
    let mut w = part.len();
    for i in (0..len).rev() {
        let v = part[i];
        part[w - 1] = I::from_usize(v.unflagged().to_usize().saturating_sub(1));
        w -= usize::from(v != I::ZERO);
    }
    part.len() - w
}

/// A fixed-size bit set.
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }
    #[inline(always)]
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 != 0
    }
    /// The number of set bits in `lo..hi`.
    fn count(&self, lo: usize, hi: usize) -> usize {
        if lo >= hi {
            return 0;
        }
        let (a, b) = (lo / 64, (hi - 1) / 64);
        let first = self.0[a] & (!0u64 << (lo % 64));
        let last_mask = !0u64 >> (63 - (hi - 1) % 64);
        if a == b {
            return (first & last_mask).count_ones() as usize;
        }
        let mid: usize = self.0[a + 1..b]
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum();
        first.count_ones() as usize + mid + (self.0[b] & last_mask).count_ones() as usize
    }
}

/// The LMS suffixes `drop_unique` took out of the recursion.
struct Dropped {
    /// How many.
    count: usize,
    /// Bit `p / 2` is set for each dropped LMS position `p`.
    pos: Bits,
    /// Bit `i` is set if the suffix of rank `i` among the LMS suffixes is a dropped one.
    rank: Bits,
}

/// Takes out of the recursion the LMS suffixes whose rank their name alone decides, as far as
/// that leaves the order of the others intact; renumbers the names of the others densely.
///
/// Why this is sound. Call a name unique if one LMS substring alone has it. In the reduced
/// text R, the suffix at a unique symbol is ordered by that symbol alone, so its rank among
/// the LMS suffixes is its rank in the sorted LMS substrings, which naming already knows. Two
/// different suffixes of R that start with a repeated symbol cannot agree up to a unique
/// symbol (it would sit at the same offset in both, so they would start at the same place),
/// so their order is decided within the stretch from their start to the first unique symbol,
/// that symbol included. A unique symbol whose predecessor in R is unique too ends no such
/// stretch except its own one-symbol one: deleting it from R changes the order of none of the
/// remaining suffixes. Those are the ones dropped here; the last LMS substring (it reaches the
/// end of the text) always has a unique name, so every stretch ends in R.
///
/// `sa` is the level's array (`n` entries, one per text symbol). On entry `sa[..m]` holds
/// the LMS positions in LMS-substring order and `sa[m + p / 2]` the name of position `p`,
/// marked if unique (as `name_lms_substrings` leaves them). On return, if any were dropped:
/// their positions, in rank order, in `sa[..count]`, their name slots zeroed, and every
/// other name unmarked and reduced by the number of dropped names below it. Returns `None`,
/// with the names unmarked and otherwise as they were, if none can be dropped.
fn drop_unique<I: Idx>(sa: &mut [I], m: usize, ctx: &Ctx) -> Option<Dropped> {
    #[cfg_attr(not(feature = "trace"), allow(unused_mut))]
    let mut tm = (std::time::Instant::now(), 0u64);
    let n = sa.len();
    let (lms, rest) = sa.split_at_mut(m);
    // In text order, keep the mark only where the previous LMS substring is unique too
    // (`p / 2 < (n + 1) / 2 <= n - m` for every LMS position `p`), and note the dropped
    // slots in `pos` a word at a time (setting them in the rank-order pass instead, at
    // random, made that pass take 763 instead of ~290 ms on random:64: `sa_time` trace
    // build, see docs/BENCHMARKS.md). In parallel over chunks of whole words, each starting
    // from whether the last name before it is unique.
    let half = n.div_ceil(2);
    let mut pos = Bits::new(half);
    let words = pos.0.len();
    let word_chunk = if ctx.par(half) {
        ctx.chunk(words)
    } else {
        words.max(1)
    };
    let slots = &mut rest[..half];
    let last_unique: Vec<Option<bool>> = slots
        .par_chunks(word_chunk * 64)
        .map(|part| {
            part.iter()
                .rev()
                .find(|v| **v != I::ZERO)
                .map(|v| v.is_flagged())
        })
        .collect();
    let mut prev = false;
    let before: Vec<bool> = last_unique
        .iter()
        .map(|u| {
            let b = prev;
            prev = u.unwrap_or(prev);
            b
        })
        .collect();
    let count: usize = pos
        .0
        .par_chunks_mut(word_chunk)
        .zip(slots.par_chunks_mut(word_chunk * 64))
        .zip(before)
        .map(|((words, part), prev)| mark_dropped(words, part, prev))
        .sum();
    trace!(tm, "  text-order pass");
    if count == 0 {
        return None;
    }
    // In rank order: collect the dropped ones, renumber the others.
    let rank = renumber(lms, rest, &pos, ctx);
    trace!(tm, "  rank-order pass");
    let _ = tm;
    Some(Dropped { count, pos, rank })
}

/// The text-order pass of `drop_unique` over the names in `part` (64 per word of `words`),
/// the last name before them unique if `prev_unique`. Branch-free: whether a name is unique
/// is close to a coin toss. Returns how many are dropped.
fn mark_dropped<I: Idx>(words: &mut [u64], part: &mut [I], mut prev_unique: bool) -> usize {
    let mut count = 0;
    for (word, part) in words.iter_mut().zip(part.chunks_mut(64)) {
        let mut bits = 0u64;
        for (j, v) in part.iter_mut().enumerate() {
            let x = *v;
            let unique = x.is_flagged();
            let keep = unique & prev_unique;
            *v = if keep { x } else { x.unflagged() };
            bits |= u64::from(keep) << j;
            prev_unique = if x == I::ZERO { prev_unique } else { unique };
        }
        *word = bits;
        count += bits.count_ones() as usize;
    }
    count
}

/// The rank-order pass of `drop_unique`: moves the dropped LMS positions to the front of
/// `lms` (in rank order), clears their names and renumbers the others densely. Returns the
/// ranks of the dropped ones.
///
/// In parallel over chunks of whole words of ranks: each chunk but the last first counts its
/// dropped ones (from `pos`, which is small enough to stay cached), so that every chunk knows
/// how many went before it; the dropped ones move to the front last, in one sequential pass.
fn renumber<I: Idx>(lms: &mut [I], rest: &mut [I], pos: &Bits, ctx: &Ctx) -> Bits {
    let m = lms.len();
    let slot = |v: I| v.to_usize() / 2;
    let mut rank = Bits::new(m);
    let chunk = if ctx.par(m) { ctx.chunk(m) } else { m }
        .div_ceil(64)
        .max(1)
        * 64;
    let mut gone: Vec<usize> = lms
        .par_chunks(chunk)
        .enumerate()
        .map(|(k, part)| {
            // The last chunk's count is never needed.
            if (k + 1) * chunk >= m {
                0
            } else {
                part.iter().filter(|&&p| pos.get(slot(p))).count()
            }
        })
        .collect();
    let mut sum = 0;
    for g in &mut gone {
        sum += std::mem::replace(g, sum);
    }
    let view = I::atomic_view(rest);
    rank.0
        .par_chunks_mut(chunk / 64)
        .zip(lms.par_chunks(chunk))
        .zip(gone)
        .for_each(|((words, part), mut gone)| {
            for (i, &p) in part.iter().enumerate() {
                if let Some(&a) = part.get(i + PREFETCH) {
                    prefetch(view, slot(a));
                }
                let s = I::load(&view[slot(p)]);
                let dropped = s.is_flagged();
                let v = if dropped {
                    I::ZERO
                } else {
                    I::from_usize(s.to_usize() - gone)
                };
                I::store(&view[slot(p)], v);
                words[i / 64] |= u64::from(dropped) << (i % 64);
                gone += usize::from(dropped);
            }
        });
    let mut w = 0;
    for i in 0..m {
        let p = lms[i];
        lms[w] = p;
        w += usize::from(rank.get(i));
    }
    rank
}

#[cfg(test)]
mod bits_tests {
    use super::*;

    #[test]
    fn count_is_the_set_bits_in_the_range() {
        let mut bits = Bits::new(300);
        for i in (0..300).filter(|i| i % 3 == 0 || i % 7 == 1) {
            bits.0[i / 64] |= 1 << (i % 64);
        }
        for lo in 0..=300 {
            for hi in [lo, lo + 1, lo + 63, lo + 64, lo + 65, 300] {
                let hi = hi.min(300);
                let want = (lo..hi).filter(|&i| bits.get(i)).count();
                assert_eq!(bits.count(lo, hi), want, "{lo}..{hi}");
            }
        }
    }
}

#[cfg(test)]
mod place_tests {
    use super::*;

    /// The parallel rounds of `place_runs` give what the sequential form gives, on buckets
    /// with sparse and dense runs, empty runs, and empty buckets.
    #[test]
    fn parallel_place_runs_match_sequential() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        for case in 0..400 {
            let k = 1 + next(40) as usize;
            // Bucket sizes, and the run in each: none, some, or all but one of its slots.
            let (mut counts, mut runs) = (vec![], vec![]);
            for _ in 0..k {
                let count = next(12) as usize;
                let l = match next(4) {
                    0 => 0,
                    1 => count.saturating_sub(1),
                    _ => next(count as u64 / 2 + 1) as usize,
                };
                counts.push(count);
                runs.push(l);
            }
            let n: usize = counts.iter().sum();
            let m: usize = runs.iter().sum();
            if n == 0 {
                continue;
            }
            let mut ends = Vec::with_capacity(k);
            let mut sum = 0u32;
            for &c in &counts {
                sum += c as u32;
                ends.push(sum);
            }
            let mut sa: Vec<u32> = (0..n as u32).map(|i| 1000 + i).collect();
            sa[m..].iter_mut().for_each(|v| *v = 7);
            let mut want = sa.clone();
            place_runs_below(&mut want, &ends, 0..k, m, n, &|c| runs[c], None);
            for threads in [1, 2, 3, 5] {
                let ctx = Ctx {
                    threads,
                    min_par: 1 + case % 3,
                    ..Ctx::ambient()
                };
                let mut got = sa.clone();
                place_runs(&mut got, &ends, m, |c| runs[c], &ctx);
                assert_eq!(
                    got, want,
                    "counts {counts:?} runs {runs:?} threads {threads}"
                );
            }
        }
    }
}

#[cfg(test)]
mod compact_tests {
    use super::*;

    /// Vectors of every length up to 70 and several densities of zeros, some names marked.
    fn cases() -> Vec<Vec<u32>> {
        let mut x = 12345u32;
        let mut out = Vec::new();
        for len in 0..70 {
            for zeros in [0, 1, 2, 4] {
                out.push(
                    (0..len)
                        .map(|_| {
                            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                            let v = (x >> 16) % 1000;
                            if v % 5 < zeros {
                                0
                            } else if v.is_multiple_of(7) {
                                (v + 1).flagged()
                            } else {
                                v + 1
                            }
                        })
                        .collect(),
                );
            }
        }
        out
    }

    #[test]
    fn compact_part_keeps_the_nonzero_in_order() {
        for mut v in cases() {
            let want: Vec<u32> = v.iter().copied().filter(|&x| x != 0).collect();
            let w = compact_part(&mut v);
            assert_eq!(&v[..w], &want[..]);
            assert!(v[w..].iter().all(|&x| x == 0), "{v:?}");
        }
    }

    #[test]
    fn compact_names_moves_the_names_to_the_end() {
        for mut v in cases() {
            let want: Vec<u32> = v
                .iter()
                .filter(|&&x| x != 0)
                .map(|&x| x.unflagged() - 1)
                .collect();
            let len = v.len();
            let w = compact_names(&mut v, len);
            assert_eq!(&v[v.len() - w..], &want[..]);
        }
        // Read from a prefix, written to the end of the whole slice (the slots past the
        // prefix hold anything).
        for v in cases() {
            let want: Vec<u32> = v
                .iter()
                .filter(|&&x| x != 0)
                .map(|&x| x.unflagged() - 1)
                .collect();
            let mut long = v.clone();
            long.extend([7, 0, 9 | u32::FLAG]);
            let w = compact_names(&mut long, v.len());
            assert_eq!(&long[long.len() - w..], &want[..]);
        }
    }
}

#[cfg(test)]
mod drop_tests {
    use super::*;

    const F: u32 = u32::FLAG;

    /// One thread, and three with every phase parallel.
    fn ctxs() -> [Ctx; 2] {
        let ctx = |threads| Ctx {
            threads,
            min_par: 2,
            ..Ctx::ambient()
        };
        [ctx(1), ctx(3)]
    }

    /// LMS positions 2, 4, 6, 8, 10 of a 12-symbol text, with the names (text order)
    /// A U1 U2 A U3: U2 is unique and follows the unique U1, so it alone is dropped.
    #[test]
    fn drops_a_unique_name_after_a_unique_name() {
        for ctx in ctxs() {
            // Sorted: A (p2, p8), U1 (p4), U2 (p6), U3 (p10); names 1, 2, 3, 4.
            let mut sa: Vec<u32> = vec![2, 8, 4, 6, 10, 0, 1, 2 | F, 3 | F, 1, 4 | F, 0];
            let d = drop_unique(&mut sa, 5, &ctx).expect("one suffix can be dropped");
            assert_eq!(d.count, 1);
            assert_eq!(sa[0], 6, "the dropped position, in rank order");
            // Names: p6's slot cleared, U3 renumbered 4 -> 3, the rest as they were, no marks.
            assert_eq!(&sa[5..], &[0, 1, 2, 0, 1, 3, 0]);
            let set = |b: &Bits, len: usize| (0..len).filter(|&i| b.get(i)).collect::<Vec<_>>();
            assert_eq!(set(&d.pos, 6), vec![3], "slot p / 2 of the dropped p = 6");
            assert_eq!(set(&d.rank, 5), vec![3], "its rank among the LMS suffixes");
        }
    }

    /// The parallel passes (several chunks of words and of ranks) drop exactly what the
    /// sequential ones drop, and leave the same names, positions and bit sets.
    #[test]
    fn parallel_passes_agree_with_sequential() {
        let mut rand = crate::tests::xorshift(0x2545_f491_4f6c_dd1d);
        for m in [1usize, 63, 64, 65, 700, 3000] {
            let n = 2 * m + 2;
            // LMS positions 2, 4, ..., 2m in a random rank order, named as naming does: in
            // rank order, a new name where the substring changes (here at random), marked
            // where no other substring has it; each at slot p / 2.
            let mut lms: Vec<u32> = (1..=m as u32).map(|i| 2 * i).collect();
            for i in (1..m).rev() {
                lms.swap(i, rand() as usize % (i + 1));
            }
            let mut names = Vec::with_capacity(m);
            for i in 0..m {
                let last = names.last().copied().unwrap_or(0);
                names.push(if i == 0 || rand().is_multiple_of(2) {
                    last + 1
                } else {
                    last
                });
            }
            let mut sa = vec![0u32; n];
            sa[..m].copy_from_slice(&lms);
            for (i, (&p, &name)) in lms.iter().zip(&names).enumerate() {
                let unique = (i == 0 || names[i - 1] != name) && names.get(i + 1) != Some(&name);
                sa[m + p as usize / 2] = if unique { name | F } else { name };
            }
            let [seq, par] = ctxs();
            let (mut a, mut b) = (sa.clone(), sa);
            let da = drop_unique(&mut a, m, &seq);
            let db = drop_unique(&mut b, m, &par);
            assert_eq!(a, b, "m = {m}");
            match (da, db) {
                (None, None) => {}
                (Some(da), Some(db)) => {
                    assert_eq!(da.count, db.count, "m = {m}");
                    assert_eq!(da.pos.0, db.pos.0, "m = {m}");
                    assert_eq!(da.rank.0, db.rank.0, "m = {m}");
                }
                _ => panic!("only one dropped, m = {m}"),
            }
        }
    }

    /// The counts read off the marks are the run lengths of the names that
    /// `number_marked` gives (which keeps the marks when asked), over lengths 1-69 and
    /// several densities of marks.
    #[test]
    fn counts_from_marks_are_the_names_run_lengths() {
        let mut next = crate::tests::xorshift(7);
        for len in 1..70 {
            for density in [1, 2, 5, 64] {
                // Sorted positions 0, 2, 4, ...; the first always starts a name.
                let lms: Vec<u32> = (0..len as u32)
                    .map(|i| {
                        let new = i == 0 || next().is_multiple_of(density);
                        if new {
                            (2 * i) | F
                        } else {
                            2 * i
                        }
                    })
                    .collect();
                for ctx in ctxs() {
                    let (mut l, mut rest) = (lms.clone(), vec![0u32; len + 1]);
                    let (names, ones) = number_marked(&mut l, &mut rest, false, true, &ctx);
                    assert_eq!(l, lms, "marks kept");
                    let mut want = vec![0u32; names];
                    for i in 0..len {
                        want[rest[i] as usize - 1] += 1;
                    }
                    let mut counts = vec![0u32; names];
                    counts_from_marks(&lms, &mut counts, &ones, &ctx);
                    assert_eq!(counts, want, "len {len} density {density}");
                }
            }
        }
    }

    /// Names A U1 A U2: both unique names follow a repeated one, so nothing is dropped and
    /// the marks are cleared.
    #[test]
    fn keeps_unique_names_after_repeated_ones() {
        for ctx in ctxs() {
            let mut sa: Vec<u32> = vec![2, 6, 4, 8, 0, 1, 2 | F, 1, 3 | F, 0];
            assert!(drop_unique(&mut sa, 4, &ctx).is_none());
            assert_eq!(&sa[4..], &[0, 1, 2, 1, 3, 0]);
            assert_eq!(&sa[..4], &[2, 6, 4, 8]);
        }
    }
}
