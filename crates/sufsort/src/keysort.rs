//! Stage 1 at the top level (a byte text) by sorting: the LMS positions are bucketed by their
//! first two bytes and each bucket is sorted on keys of what follows, instead of sorting the
//! LMS substrings with two induce passes and naming them by comparing neighbours in the text.
//!
//! Why sorting on keys will do. The reduced text only needs names such that (1) two LMS
//! suffixes whose names differ are ordered as their names are, and (2) equal names mean
//! equal LMS substrings.
//! - The first-level key of an LMS position holds the byte and suffix type of the next three
//!   positions, each only if it lies within the LMS substring (0 past its end), and a bit for
//!   substrings that go on past them (see [`for_each_lms_key`]). Within a bucket, keys order
//!   the substrings as induced sorting does (by bytes and types, an L-type suffix before an
//!   S-type one with the same byte), which is an order of the suffixes too; and two
//!   substrings that agree in bytes and types up to where one ends both end there, so equal
//!   keys without the bit are equal substrings and equal substrings get equal keys. Most
//!   names come straight from this sort, as coarse as induced sorting's.
//! - Runs of equal keys with the bit set (longer substrings) are sorted on the next raw bytes
//!   ([`Runs`]): a prefix of the suffixes, so (1) holds, and their names change wherever
//!   those bytes do or the substrings differ, which can make them finer than induced
//!   sorting's (allowed by (1) and (2)). Past [`MAX_DEPTH`] bytes they are sorted by
//!   [`cmp_lms`], which orders by suffix and calls equal LMS substrings equal.
//!
//! Each LMS position is an item `[key, position]` of two index slots, in `sa[..2 * m]` (there
//! are at most `n / 2` LMS positions). The items are built in one scan of the text, which has
//! the bytes and types at hand, scattered to their buckets and sorted in place; the scan and
//! the sorting run per chunk and per group of buckets in parallel.

use std::cmp::Ordering;
use std::ops::Range;

use rayon::prelude::*;

use crate::fast::{byte_cmp_masks16, prefetch};
use crate::index::Idx;
use crate::sais::{
    bits_down, chunk_end_types, for_each_lms_batch, for_each_type_word, lms_substring_len,
    text_chunks, Ctx, LmsChunks,
};

/// Buckets: one per first two bytes.
const BUCKETS: usize = 1 << 16;

/// Bytes of the suffix in a key.
const KEY_BYTES: usize = 3;

/// Bits of a key that hold the LMS substring's length.
const LEN_BITS: u32 = 5;

/// The largest length a key holds exactly; longer ones are stored as this.
const LEN_CAP: usize = (1 << LEN_BITS) - 1;

/// Runs of items that still agree after this many bytes are sorted by [`cmp_lms`] alone
/// (highly repetitive texts). (Less in unit tests, so that their short texts take that path
/// too.)
#[cfg(not(test))]
const MAX_DEPTH: usize = 2 + 8 * KEY_BYTES;
#[cfg(test)]
const MAX_DEPTH: usize = 2 + 2 * KEY_BYTES;

/// Items that [`compact_items`] moves one by one before it goes in parallel rounds. (Few in
/// unit tests, so that their short texts take the rounds.)
#[cfg(not(test))]
const COMPACT_SEQ: usize = 1 << 16;
#[cfg(test)]
const COMPACT_SEQ: usize = 3;

/// How far ahead the text is prefetched when items are re-keyed.
const PREFETCH: usize = 16;

/// The bucket of LMS position `p` (never the last position, so `p + 1` is in the text).
#[inline(always)]
fn bucket(t: &[u8], p: usize) -> usize {
    (usize::from(t[p]) << 8) | usize::from(t[p + 1])
}

/// The key of LMS position `p` at depth `d`: bytes `p + d ..` (0 past the end of the text),
/// then `len` (the length of its LMS substring, capped at [`LEN_CAP`]).
#[inline(always)]
fn key_at<I: Idx>(t: &[u8], p: usize, d: usize, len: usize) -> I {
    let a = p + d;
    let bytes = match t.get(a..a + KEY_BYTES) {
        Some(w) => (usize::from(w[0]) << 16) | (usize::from(w[1]) << 8) | usize::from(w[2]),
        None => {
            let mut v = 0;
            for i in 0..KEY_BYTES {
                v = (v << 8) | t.get(a + i).map_or(0, |&b| usize::from(b));
            }
            v
        }
    };
    I::from_usize((bytes << LEN_BITS) | len.min(LEN_CAP))
}

/// Sorts the LMS positions of `t` into `sa[..m]` in an order consistent with their suffixes,
/// marking (`Idx::FLAG`) each entry whose LMS substring differs from the previous entry's
/// (and the first). `sa[m..]` is left in any state. Counts the bytes of `t` into `counts`
/// (256 entries). Returns `m`, the number of LMS positions per first byte, and in parallel
/// their number per chunk of the text.
pub(crate) fn sort_lms<I: Idx>(
    t: &[u8],
    sa: &mut [I],
    counts: &mut [I],
    ctx: &Ctx,
) -> (usize, [usize; 256], Option<LmsChunks>) {
    let n = t.len();
    debug_assert!(sa.len() == n);
    #[cfg_attr(not(feature = "trace"), allow(unused_mut))]
    let mut tm = (std::time::Instant::now(), 0u64);
    #[cfg(feature = "trace")]
    trace!(tm, "  key sort start");
    // The text in chunks, two per thread (up to 32 in all, as each costs a histogram and a
    // column of the bucket offsets): LMS positions can be dense in one part of a text and
    // absent from another (erased flash has none), and the work goes with them. For each
    // chunk, its bytes and its LMS positions per bucket. (ovmf, 3.6 MB, 58 % 0xFF: 2 threads
    // 100-105 -> 112-118 MB/s with two chunks per thread, the other images within 2 %;
    // `sa_time --threads 2 --reps 5`, alternating, 3 rounds.)
    let chunks = if ctx.par(n) {
        (2 * ctx.threads).min(ctx.threads.max(32))
    } else {
        1
    };
    let len = n.div_ceil(chunks).max(1);
    let (bounds, s_end) = text_chunks(t, len);
    let count = |&(a, b): &(usize, usize), &s_b: &Option<bool>| {
        let bytes = byte_counts(&t[a..b]);
        let mut h = vec![I::ZERO; BUCKETS];
        for_each_lms_batch(t, a, b, s_b, |batch| {
            for &p in batch {
                let c = &mut h[bucket(t, p)];
                *c = I::from_usize(c.to_usize() + 1);
            }
        });
        (bytes, h)
    };
    let per_chunk: Vec<([usize; 256], Vec<I>)> = if chunks > 1 {
        bounds
            .par_iter()
            .zip(&s_end)
            .map(|(b, s)| count(b, s))
            .collect()
    } else {
        bounds
            .iter()
            .zip(&s_end)
            .map(|(b, s)| count(b, s))
            .collect()
    };
    for (c, slot) in counts.iter_mut().enumerate() {
        *slot = I::from_usize(per_chunk.iter().map(|(bytes, _)| bytes[c]).sum());
    }
    let lms_chunks = (chunks > 1).then(|| LmsChunks {
        len,
        counts: per_chunk
            .iter()
            .map(|(_, h)| h.iter().map(|c| c.to_usize()).sum())
            .collect(),
    });
    // Bucket starts, and where each chunk's items go in each bucket.
    let mut starts = vec![0usize; BUCKETS + 1];
    // (In index slots: the scatter reads one per item at random, so half the cache lines.)
    let mut next = vec![vec![I::ZERO; BUCKETS]; per_chunk.len()];
    let mut per_byte = [0usize; 256];
    let mut sum = 0;
    for b in 0..BUCKETS {
        starts[b] = sum;
        for ((_, h), nx) in per_chunk.iter().zip(&mut next) {
            nx[b] = I::from_usize(sum);
            sum += h[b].to_usize();
        }
        per_byte[b >> 8] += sum - starts[b];
    }
    starts[BUCKETS] = sum;
    drop(per_chunk);
    let m = sum;
    debug_assert!(2 * m <= n);
    trace!(tm, "  count");
    // Each chunk's items, with its scan starting a few symbols into the next chunk so that
    // the keys of its last LMS positions see the bytes and types they need.
    let warm: Vec<(usize, usize)> = bounds.iter().map(|&(a, b)| (a, (b + 4).min(n))).collect();
    let s_warm = chunk_end_types(t, &warm_bounds(&warm, n));
    {
        let view = I::atomic_view(&mut sa[..2 * m]);
        let scatter = |(((&(a, b), &(_, w)), &s_w), mut next): (((_, _), _), Vec<I>)| {
            for_each_lms_key(t, a, b, w, s_w, |batch| {
                for &(p, key) in batch {
                    let slot = &mut next[bucket(t, p)];
                    let i = slot.to_usize();
                    I::store(&view[2 * i], I::from_usize(key as usize));
                    I::store(&view[2 * i + 1], I::from_usize(p));
                    *slot = I::from_usize(i + 1);
                }
            });
        };
        let work = bounds.iter().zip(&warm).zip(&s_warm).zip(next);
        if chunks > 1 {
            work.par_bridge().for_each(scatter);
        } else {
            work.for_each(scatter);
        }
    }
    trace!(tm, "  scatter");
    let items = sa[..2 * m].as_chunks_mut::<2>().0;
    // Sort the buckets, in parallel groups of consecutive buckets.
    let target = (m / (ctx.threads * 16)).max(1);
    let mut groups: Vec<(&mut [[I; 2]], Vec<usize>)> = Vec::new();
    let mut rest: &mut [[I; 2]] = items;
    let mut group = Vec::new();
    let mut group_len = 0;
    for b in 0..BUCKETS {
        let len = starts[b + 1] - starts[b];
        if len > 0 {
            group.push(len);
            group_len += len;
        }
        if group_len >= target || (b == BUCKETS - 1 && group_len > 0) {
            let (g, r) = std::mem::take(&mut rest).split_at_mut(group_len);
            groups.push((g, std::mem::take(&mut group)));
            rest = r;
            group_len = 0;
        }
    }
    let sort_group = |(g, lens): (&mut [[I; 2]], Vec<usize>)| {
        let mut runs = Runs::new(2 + KEY_BYTES, true);
        let mut at = 0;
        for len in lens {
            g[at..at + len].sort_unstable_by_key(|e| e[0]);
            settle_first(at..at + len, &mut runs, t, g);
            at += len;
        }
        runs.flush(t, g);
    };
    if ctx.par(m) {
        groups.into_par_iter().for_each(sort_group);
    } else {
        groups.into_iter().for_each(sort_group);
    }
    trace!(tm, "  sort");
    compact_items(&mut sa[..2 * m], ctx);
    trace!(tm, "  compact");
    let _ = tm;
    (m, per_byte, lms_chunks)
}

/// Moves the positions of the `m` sorted items in `sa` (`2 * m` entries, item `i` is
/// `sa[2i..2i + 2]`) to `sa[..m]`, marked where the key is (where names change).
///
/// Entry `i` is written from item `i`, and read by item `i / 2`: so the items go in rounds
/// `[lo, 2 * lo)`, each after the ones below it. Within a round none reads what another
/// writes (it reads `sa[2 * lo..4 * lo]`, writes `sa[lo..2 * lo]`), so a round runs in
/// parallel.
fn compact_items<I: Idx>(sa: &mut [I], ctx: &Ctx) {
    let m = sa.len() / 2;
    let pos = |key: I, p: I| if key.is_flagged() { p.flagged() } else { p };
    let run = |to: &mut [I], from: &[I]| {
        for (v, &[key, p]) in to.iter_mut().zip(from.as_chunks::<2>().0) {
            *v = pos(key, p);
        }
    };
    // One by one up to where rounds pay (item 0 reads the slot it writes).
    let mut lo = m.min(COMPACT_SEQ);
    for i in 0..lo {
        sa[i] = pos(sa[2 * i], sa[2 * i + 1]);
    }
    while lo < m {
        let hi = (2 * lo).min(m);
        let (left, right) = sa.split_at_mut(2 * lo);
        let (to, from) = (&mut left[lo..hi], &right[..2 * (hi - lo)]);
        if ctx.par(hi - lo) {
            let piece = ctx.chunk(hi - lo);
            to.par_chunks_mut(piece)
                .zip(from.par_chunks(2 * piece))
                .for_each(|(to, from)| run(to, from));
        } else {
            run(to, from);
        }
        lo = hi;
    }
}

/// The number of each byte in `t`. (Four tables, each counting every fourth byte: one table
/// would make each increment wait for the previous one to the same entry, as the runs of
/// equal bytes in binaries do.)
fn byte_counts(t: &[u8]) -> [usize; 256] {
    let mut tables = [[0u32; 256]; 4];
    let mut out = [0usize; 256];
    // Blocks short enough that no table entry passes u32::MAX.
    for block in t.chunks(1 << 30) {
        let (quads, rest) = block.as_chunks::<4>();
        for q in quads {
            for (table, &c) in tables.iter_mut().zip(q) {
                table[usize::from(c)] += 1;
            }
        }
        for &c in rest {
            tables[0][usize::from(c)] += 1;
        }
        for table in &mut tables {
            for (o, v) in out.iter_mut().zip(table.iter_mut()) {
                *o += *v as usize;
                *v = 0;
            }
        }
    }
    out
}

/// Bits of a first-level key per symbol: the byte and the suffix type, plus one (0 is past
/// the end of the LMS substring).
const CODE_BITS: u32 = 9 + 1;

/// Calls `f` with batches of `(p, key)` for the LMS positions `p` of `t`, right to left, where
/// `key` is the first-level key of `p`: the byte and type of each of the positions `p + 2`,
/// `p + 3`, `p + 4` that lie within the LMS substring of `p` (0 for those past its end), then
/// one bit that is set if the substring goes on past `p + 4` (or is the last, which reaches
/// the sentinel). Keys in this form order LMS substrings as induced sorting does, and equal
/// keys without that bit mean equal substrings, both within one bucket (first two bytes):
/// two LMS substrings that agree in bytes and types up to where one of them ends end there
/// both. The types and the LMS positions come from `for_each_type_word`.
fn for_each_lms_key(
    t: &[u8],
    a: usize,
    b: usize,
    w: usize,
    s_w: Option<bool>,
    mut f: impl FnMut(&[(usize, u32)]),
) {
    /// Items per batch (at most 64 more than this).
    const BATCH: usize = 1024;
    let n = t.len();
    let lo = a.max(1); // position 0 is never LMS
    if lo >= w {
        return;
    }
    let mut buf = [(0usize, 0u32); BATCH + 64];
    let mut e = 0;
    // One past the LMS position after the ones found so far: the sentinel's at the end of
    // the text; otherwise unknown, as good as far (a substring reaching `w` is longer than a
    // key anyway).
    let mut end = n + 1;
    // The block above the current one: where it starts, and its type bits (past `w`: taken
    // as L-type, and read only for positions the scan does not emit).
    let (mut hi, mut above) = (w, 0u64);
    // (The type given for suffix `n`, if `w` is `n`, means nothing.)
    let s_w = s_w.filter(|_| w < n);
    for_each_type_word(t, lo, w, s_w, |q0, s, lms| {
        // The types from `q0` up, through the block above (a key reads at most four
        // positions past its LMS position).
        let types = u128::from(s) | (u128::from(above) << (hi - q0));
        // Keys for the LMS positions only; those from `b` on (the next chunk's) only tell
        // where the substrings before them end.
        for j in bits_down(lms) {
            let p = q0 + j;
            let ty = (types >> (j + 2)) as u32; // bit i: the type of p + 2 + i
            let len = end - p;
            let codes = match t.get(p + 2..p + 6) {
                Some(w) => key_codes(u32::from_le_bytes([w[0], w[1], w[2], w[3]]), ty, len),
                None => key_codes_near_end(t, p, ty, len),
            };
            let long = (len > 2 + KEY_BYTES) | (end > n);
            buf[e] = (p, (codes << 1) | u32::from(long));
            e += usize::from(p < b);
            end = p + 1;
        }
        if e >= BATCH {
            f(&buf[..e]);
            e = 0;
        }
        (hi, above) = (q0, s);
    });
    if e > 0 {
        f(&buf[..e]);
    }
}

/// The codes of a first-level key (see [`for_each_lms_key`]) for the LMS position `p` whose
/// substring is `len` long: `w` holds the bytes `p + 2 ..= p + 5` (the first in its low
/// byte), bit `i` of `ty` the type of `p + 2 + i`. The three codes are computed side by side
/// in one word: each byte moved to its field, above its type bit, plus one in every field;
/// then the fields at or past the end of the substring are cleared. (Against a loop over the
/// three bytes, a whole `for_each_lms_key` scan of duckdb, both run in turn in one process,
/// 12 rounds: median 157 -> 139 ms, faster in every round.)
#[inline(always)]
fn key_codes(w: u32, ty: u32, len: usize) -> u32 {
    // `TYPE_BITS[ty]`: the three type bits, each at the bottom of its field.
    const TYPE_BITS: [u32; 8] = {
        let mut out = [0; 8];
        let mut ty = 0;
        while ty < 8 {
            out[ty] = ((ty as u32 & 1) << (2 * CODE_BITS))
                | ((ty as u32 >> 1 & 1) << CODE_BITS)
                | (ty as u32 >> 2 & 1);
            ty += 1;
        }
        out
    };
    // `KEEP[min(len, 5)]`: the fields that lie within a substring of that length.
    const KEEP: [u32; 2 + KEY_BYTES + 1] = {
        let mut out = [0; 2 + KEY_BYTES + 1];
        let mut len = 0;
        while len <= 2 + KEY_BYTES {
            let mut i = 0;
            while i < KEY_BYTES {
                if 2 + i < len {
                    out[len] |= ((1 << CODE_BITS) - 1) << (CODE_BITS * (KEY_BYTES - 1 - i) as u32);
                }
                i += 1;
            }
            len += 1;
        }
        out
    };
    const ONES: u32 = (1 << (2 * CODE_BITS)) | (1 << CODE_BITS) | 1;
    let bytes = ((w & 0xff) << (2 * CODE_BITS + 1))
        | ((w & 0xff00) << (CODE_BITS + 1 - 8))
        | ((w >> (16 - 1)) & 0x1fe);
    ((bytes | TYPE_BITS[(ty & 7) as usize]) + ONES) & KEEP[len.min(2 + KEY_BYTES)]
}

/// [`key_codes`] where the text ends within `p + 6`: a byte past the end gets code 0.
#[cold]
fn key_codes_near_end(t: &[u8], p: usize, ty: u32, len: usize) -> u32 {
    let mut codes = 0;
    for i in 0..KEY_BYTES {
        let code = match t.get(p + 2 + i) {
            Some(&c) => (u32::from(c) << 1 | (ty >> i) & 1) + 1,
            None => 0,
        };
        codes = (codes << CODE_BITS) | if 2 + i < len { code } else { 0 };
    }
    codes
}

/// Consecutive bounds ending where the chunks' scans start (`(a, w)` for each chunk), for
/// `chunk_end_types`.
fn warm_bounds(warm: &[(usize, usize)], n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(warm.len());
    let mut a = 0;
    for &(_, w) in warm {
        out.push((a, w.max(a)));
        a = w.max(a);
    }
    if let Some(last) = out.last_mut() {
        last.1 = n;
    }
    out
}

/// Runs of items that still agree after `d` bytes, to be sorted on the bytes after those: the
/// ranges of a group of buckets' items, collected a batch at a time so that re-keying them
/// can prefetch the text across runs (most runs are a few items long, too short to hide a
/// cache miss on their own).
struct Runs {
    ranges: Vec<Range<usize>>,
    d: usize,
    /// Whether the items' keys lack the lengths of their LMS substrings (first level).
    find_len: bool,
}

/// Runs collected before a batch is re-keyed and sorted (bounds the buffer per depth). (Less
/// in unit tests, so that their short texts fill batches at every depth.)
#[cfg(not(test))]
const RUN_BATCH: usize = 1024;
#[cfg(test)]
const RUN_BATCH: usize = 3;

impl Runs {
    fn new(d: usize, find_len: bool) -> Self {
        Runs {
            ranges: Vec::new(),
            d,
            find_len,
        }
    }

    /// Adds `items[r]`, sorting the batch deeper if it is full.
    fn push<I: Idx>(&mut self, r: Range<usize>, t: &[u8], items: &mut [[I; 2]]) {
        self.ranges.push(r);
        if self.ranges.len() == RUN_BATCH {
            self.flush(t, items);
        }
    }

    /// Sorts every run collected so far by the bytes after the first `d` and marks where
    /// their LMS substrings change.
    fn flush<I: Idx>(&mut self, t: &[u8], items: &mut [[I; 2]]) {
        let d = self.d;
        if d >= MAX_DEPTH {
            for r in self.ranges.drain(..) {
                sort_exact(t, &mut items[r]);
            }
            return;
        }
        // Re-key, with the text prefetched `PREFETCH` items ahead in the batch.
        let order = self.ranges.iter().flat_map(|r| r.clone());
        let mut ahead = order.clone().skip(PREFETCH);
        for i in order {
            if let Some(k) = ahead.next() {
                let q = items[k][1].to_usize();
                if self.find_len {
                    // `window_len` reads `WINDOW` bytes from `q`, often across two lines.
                    prefetch(t, q);
                    prefetch(t, q + WINDOW - 1);
                } else {
                    prefetch(t, q + d);
                }
            }
            let [key, p] = items[i];
            let p = p.to_usize();
            let len = if self.find_len {
                window_len(t, p).unwrap_or_else(|| lms_substring_len(t, p))
            } else {
                key.to_usize() & LEN_CAP
            };
            items[i][0] = key_at(t, p, d, len);
        }
        let mut deeper = Runs::new(d + KEY_BYTES, false);
        for r in self.ranges.drain(..) {
            items[r.clone()].sort_unstable_by_key(|e| e[0]);
            settle(r, d + KEY_BYTES, &mut deeper, t, items);
        }
        deeper.flush(t, items);
    }
}

/// [`settle`] for a bucket `items[r]` sorted by first-level keys (see [`for_each_lms_key`]).
fn settle_first<I: Idx>(r: Range<usize>, runs: &mut Runs, t: &[u8], items: &mut [[I; 2]]) {
    let mut i = r.start;
    while i < r.end {
        let key = items[i][0];
        let mut j = i + 1;
        while j < r.end && items[j][0] == key {
            j += 1;
        }
        if j == i + 1 || key.to_usize() & 1 == 0 {
            items[i][0] = key.flagged();
        } else {
            // Substrings longer than the key: sort on the bytes after it.
            runs.push(i..j, t, items);
        }
        i = j;
    }
}

/// Marks where the LMS substrings change in `items[r]`, which agree in their first `d - 3`
/// bytes and are sorted by keys of the 3 bytes after those; hands the runs that those bytes
/// do not settle to `runs`.
fn settle<I: Idx>(r: Range<usize>, d: usize, runs: &mut Runs, t: &[u8], items: &mut [[I; 2]]) {
    let n = t.len();
    let mut i = r.start;
    while i < r.end {
        let key = items[i][0];
        let bytes = key.to_usize() >> LEN_BITS;
        let mut j = i + 1;
        while j < r.end && items[j][0].to_usize() >> LEN_BITS == bytes {
            j += 1;
        }
        let len = key.to_usize() & LEN_CAP;
        // One name: every substring lies within the `d` bytes and all have the same length.
        let one = j == i + 1
            || (len < LEN_CAP
                && len <= d
                && items[i..j]
                    .iter()
                    .all(|e| e[0] == key && e[1].to_usize() + len <= n));
        if one {
            items[i][0] = key.flagged();
        } else {
            runs.push(i..j, t, items);
        }
        i = j;
    }
}

/// Bytes from an LMS position in which [`window_len`] looks for the end of its substring.
const WINDOW: usize = 16;

/// The length of the LMS substring at `p` if it ends within `WINDOW - 1` bytes (and the text
/// holds `WINDOW` bytes from `p`), found without branching on the bytes: the ascents and
/// descents between neighbours as bit masks. The substring climbs to its first descent; after
/// it, the first ascent ends a run of equal bytes that starts after the last descent before
/// it, and that run's start is the next LMS position. (The walk of `lms_substring_len`, which
/// mispredicts a branch or two on every substring.)
///
/// The masks come from two 16-byte comparisons where the text holds a byte more (the last
/// comparison is dropped); a scalar loop makes them at the text's end. (Against the scalar
/// loop alone, the key sort's sort phase, `sa_time` on duckdb with both run in turn in one
/// process, 10 rounds: median 242 -> 211 ms, faster in every round.)
#[inline(always)]
fn window_len(t: &[u8], p: usize) -> Option<usize> {
    const PAIRS: u32 = (1 << (WINDOW - 1)) - 1;
    let (up, down) = match t.get(p..p + WINDOW + 1) {
        Some(w) => {
            let (lt, eq) = byte_cmp_masks16(w.try_into().ok()?);
            (lt & PAIRS, !(lt | eq) & PAIRS)
        }
        None => window_masks_scalar(t.get(p..p + WINDOW)?),
    };
    if down == 0 {
        return None;
    }
    let later_up = up & (u32::MAX << (down.trailing_zeros() + 1));
    if later_up == 0 {
        return None;
    }
    let first_up = later_up.trailing_zeros();
    let last_down = 31 - (down & ((1u32 << first_up) - 1)).leading_zeros();
    Some(last_down as usize + 2)
}

/// The ascents and descents of [`window_len`] from `w` (`WINDOW` bytes), one pair at a time.
fn window_masks_scalar(w: &[u8]) -> (u32, u32) {
    let (mut up, mut down) = (0u32, 0u32);
    for i in 0..WINDOW - 1 {
        up |= u32::from(w[i] < w[i + 1]) << i;
        down |= u32::from(w[i] > w[i + 1]) << i;
    }
    (up, down)
}

/// Sorts `items` by [`cmp_lms`] and marks where the LMS substrings change. Each substring's
/// length is found once, into its key slot: the runs that come here are of long substrings
/// (as long runs of one byte make), which the sort would otherwise walk on every comparison.
fn sort_exact<I: Idx>(t: &[u8], items: &mut [[I; 2]]) {
    for e in items.iter_mut() {
        e[0] = I::from_usize(lms_substring_len(t, e[1].to_usize()));
    }
    let at = |e: &[I; 2]| (e[1].to_usize(), e[0].to_usize());
    items.sort_unstable_by(|a, b| cmp_lms(t, at(a), at(b)));
    let mut prev = at(&items[0]);
    items[0][0] = I::FLAG;
    for e in items.iter_mut().skip(1) {
        let p = at(e);
        e[0] = if cmp_lms(t, prev, p) == Ordering::Equal {
            I::ZERO
        } else {
            I::FLAG
        };
        prev = p;
    }
}

/// Orders LMS positions `a` and `b` (each with the length of its LMS substring) by their
/// suffixes, except that two equal LMS substrings compare equal.
///
/// The comparison of the suffixes stops soon: if the substrings have different lengths but
/// agree in bytes as far as the shorter goes, their types differ at the shorter's last
/// position, which only a run of equal bytes from there on leaves undecided, and the bytes
/// differ where that run ends in one of them.
fn cmp_lms(t: &[u8], (a, la): (usize, usize), (b, lb): (usize, usize)) -> Ordering {
    let n = t.len();
    if la == lb && a + la <= n && b + la <= n && t[a..a + la] == t[b..b + la] {
        return Ordering::Equal;
    }
    t[a..].cmp(&t[b..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{lms_lengths_naive as lms_naive, runny};
    use proptest::prelude::*;

    fn texts() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(0u8..3, 0..300),
            prop::collection::vec(any::<u8>(), 0..300),
            runny(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The window finds each LMS substring's length exactly when the ascent that ends it
        /// (the first after the first descent) lies inside the window, and says nothing
        /// otherwise.
        #[test]
        fn window_lengths(text in texts()) {
            let n = text.len();
            for (p, len) in lms_naive(&text) {
                let pairs = (p..n.saturating_sub(1)).map(|i| (i - p, text[i], text[i + 1]));
                let mut descended = false;
                let mut ascent = None;
                for (k, x, y) in pairs {
                    if descended && x < y {
                        ascent = Some(k);
                        break;
                    }
                    descended |= x > y;
                }
                let seen = p + WINDOW <= n && ascent.is_some_and(|k| k < WINDOW - 1);
                let want = seen.then_some(len);
                prop_assert_eq!(window_len(&text, p), want, "at {} in {:?}", p, text);
            }
        }

        /// The 16-byte comparisons give `window_len` the masks of the scalar loop (bytes
        /// from a small range too, for runs of equal ones, and both ends of the byte range).
        #[test]
        fn window_masks_agree(
            w in prop_oneof![any::<[u8; 17]>(), any::<[u8; 17]>().prop_map(|w| w.map(|b| b % 3)),
                             any::<[u8; 17]>().prop_map(|w| w.map(|b| b | 0xfc))]
        ) {
            const PAIRS: u32 = (1 << (WINDOW - 1)) - 1;
            let (lt, eq) = byte_cmp_masks16(&w);
            prop_assert_eq!((lt & PAIRS, !(lt | eq) & PAIRS), window_masks_scalar(&w[..WINDOW]));
        }

        /// The codes computed side by side in one word are those of the loop over the three
        /// bytes, for every length (bytes from both ends of the range, both type bits).
        #[test]
        fn key_codes_side_by_side(w in any::<[u8; 4]>(), ty in 0u32..16, len in 0usize..12) {
            let text = [0, 0, w[0], w[1], w[2], w[3]];
            prop_assert_eq!(
                key_codes(u32::from_le_bytes(w), ty, len),
                key_codes_near_end(&text, 0, ty, len)
            );
        }

        /// The first-level keys: every LMS position once, right to left; within a bucket,
        /// keys that differ are ordered as the LMS substrings' (byte, type) sequences are,
        /// and equal keys without the "longer" bit mean equal substrings.
        #[test]
        fn first_level_keys(text in texts()) {
            let n = text.len();
            let lms = lms_naive(&text);
            let mut got = Vec::new();
            for_each_lms_key(&text, 0, n, n, None, |batch| got.extend_from_slice(batch));
            let want: Vec<usize> = lms.iter().rev().map(|&(p, _)| p).collect();
            prop_assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), want);
            let len: std::collections::HashMap<usize, usize> = lms.iter().copied().collect();
            // The substring with the sentinel as its last symbol (below every byte).
            let sub = |p: usize| -> Vec<i32> {
                (p..p + len[&p]).map(|i| text.get(i).map_or(-1, |&b| i32::from(b))).collect()
            };
            for &(a, ka) in &got {
                for &(b, kb) in &got {
                    if bucket(&text, a) != bucket(&text, b) {
                        continue;
                    }
                    if ka == kb && ka & 1 == 0 {
                        prop_assert_eq!(sub(a), sub(b), "{} {} in {:?}", a, b, text);
                    }
                    // Only the substring counts: equal short ones get equal keys whatever
                    // follows them (so that names are as coarse as induced sorting's).
                    if sub(a) == sub(b) && len[&a] <= 2 + KEY_BYTES {
                        prop_assert_eq!(ka, kb, "{} {} in {:?}", a, b, text);
                    }
                    if ka < kb {
                        prop_assert!(text[a..] < text[b..], "{} {} in {:?}", a, b, text);
                    }
                }
            }
        }

        /// The four-table byte count equals a plain count, for every length modulo 4.
        #[test]
        fn byte_counts_like_plain(text in texts()) {
            let mut want = [0usize; 256];
            for &c in &text {
                want[usize::from(c)] += 1;
            }
            prop_assert_eq!(byte_counts(&text), want);
        }

        /// Long LMS substrings of one length that differ only late, past the first-level key
        /// and past the next key too: the deeper levels must tell them apart.
        #[test]
        fn late_differences(words in prop::collection::vec((0u8..2, 0u8..2, 0u8..2), 1..40)) {
            let mut text = Vec::new();
            for (a, b, c) in words {
                text.extend_from_slice(&[200, 10, 11, 12, 13, 14, 15, 16 + a, 17 + b, 18 + c, 5]);
            }
            crate::tests::check_all(&text);
        }

        /// A chunk's scan, starting 4 symbols into the next chunk, gives the chunk's LMS
        /// positions the same keys as a scan of the whole text.
        #[test]
        fn chunked_keys(text in texts(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4)) {
            let n = text.len();
            let mut whole = Vec::new();
            for_each_lms_key(&text, 0, n, n, None, |batch| whole.extend_from_slice(batch));
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(n + 1)).chain([0, n]).collect();
            at.sort_unstable();
            at.dedup();
            let bounds: Vec<(usize, usize)> = at.windows(2).map(|w| (w[0], w[1])).collect();
            let warm: Vec<(usize, usize)> = bounds.iter().map(|&(a, b)| (a, (b + 4).min(n))).collect();
            let s_warm = chunk_end_types(&text, &warm_bounds(&warm, n));
            let mut got = Vec::new();
            for ((&(a, b), &(_, w)), &s_w) in bounds.iter().zip(&warm).zip(&s_warm).rev() {
                for_each_lms_key(&text, a, b, w, s_w, |batch| got.extend_from_slice(batch));
            }
            prop_assert_eq!(got, whole, "cuts {:?} in {:?}", at, text);
        }

        /// `cmp_lms`, given the lengths, orders by suffix and calls exactly the equal LMS
        /// substrings equal.
        #[test]
        fn exact_comparison(text in texts()) {
            let lms = lms_naive(&text);
            let n = text.len();
            for &(a, la) in &lms {
                for &(b, lb) in &lms {
                    let equal = la == lb && a + la <= n && b + lb <= n
                        && text[a..a + la] == text[b..b + lb];
                    let got = cmp_lms(&text, (a, la), (b, lb));
                    if equal {
                        prop_assert_eq!(got, Ordering::Equal);
                    } else {
                        prop_assert_eq!(got, text[a..].cmp(&text[b..]));
                    }
                }
            }
        }
    }
}
