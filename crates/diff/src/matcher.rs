//! The approximate matcher: one destination block at a time.

use crate::search::{longest_match, Buckets, Hit, SaEntry, Seeds, SEED_LEN};

/// Longest prefix of the destination compared by a first suffix-array search. When the match
/// fills it, the search is repeated with a sixteen times longer prefix, so that the match found
/// is a longest one (on a long run, the source position whose run is long enough), while the
/// common case stays cheap.
const SEARCH_CAP: usize = 4096;
/// How many bytes ahead of the scan the seed bits are prefetched.
const SEED_AHEAD: usize = 8;
/// A rejected match at least this long lets the scan jump ahead instead of creeping one byte.
const SKIP_MIN: usize = 64;
/// After such a jump, this many bytes of the rejected match remain ahead of the scan.
const SKIP_KEEP: usize = 32;
/// Exact matches at least this long are also judged by their approximate agreement ...
const PROBE_MIN: usize = 6;
/// ... over this many bytes ahead of the scan ...
const PROBE_WINDOW: usize = 64;
/// ... and win when they agree with this many more bytes than the current alignment.
const PROBE_GAIN: isize = 16;

/// One step of the edit script with its source position made absolute.
///
/// `add` bytes come from `src[src..src + add]` plus a delta, then `extra` literal bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op {
    pub src: usize,
    pub add: usize,
    pub extra: usize,
}

/// Tuning of the scan, from [`DiffOptions`](crate::DiffOptions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub switch_margin: usize,
    /// Skip the searches whose outcome is known to be a one-byte creep (see
    /// [`certain_creep`]). Always on; off only in the test that checks it changes nothing.
    pub skip_certain_creeps: bool,
}

/// Matches `new` (one block of the destination) against `src`, whose suffix array is `sa`.
///
/// `start_pos` is the source position assumed to align with the block's first byte before any
/// match is found. The ops cover `new` exactly and their source ranges lie inside `src`.
pub(crate) fn match_block<I: SaEntry>(
    src: &[u8],
    sa: &[I],
    buckets: &Buckets,
    seeds: &Seeds,
    new: &[u8],
    start_pos: usize,
    params: Params,
) -> Vec<Op> {
    let n = new.len();
    let m = src.len();
    let margin = params.switch_margin as isize;
    // How many bytes of new[a..b] the alignment `off` gets right.
    let agreeing =
        |a: usize, b: usize, off: isize| (b - a - wrong_in(src, new, off, a, b)) as isize;

    let mut ops = Vec::new();
    let (mut scan, mut len, mut pos) = (0usize, 0usize, 0usize);
    let mut lastscan = 0usize;
    let mut lastpos = start_pos.min(m);
    let mut lastoffset = lastpos as isize;
    // Where the exact match behind the current alignment starts.
    let mut anchor = 0usize;
    // Bytes examined by the extensions so far.
    let mut work = 0usize;
    // The last search: where it was made and the match it found (which, shifted, is still a
    // match at the positions it covers).
    let mut known: Option<(usize, Hit)> = None;
    // How far ahead the seeds have been looked up for `certain_creep`.
    let mut seed_scan = SeedScan::default();

    while scan < n {
        // Number of bytes of new[scan..scsc] that agree with the current alignment.
        let mut oldscore: isize = 0;
        scan += len;
        let mut scsc = scan;
        while scan < n {
            let near = (scan as isize + lastoffset).max(0) as usize;
            let mut cap = SEARCH_CAP;
            // The scan mostly creeps one byte at a time: fetch the seed bits it will test a
            // few steps from now.
            if let Some(ahead) = new.get(scan + SEED_AHEAD..scan + SEED_AHEAD + SEED_LEN) {
                seeds.prefetch(ahead);
            }
            if n - scan >= SEED_LEN && !seeds.may_contain(&new[scan..scan + SEED_LEN]) {
                // No match long enough to matter here: creep on without searching.
                len = 0;
            } else if let Some(skip) = params
                .skip_certain_creeps
                .then(|| {
                    certain_creep(
                        Scan {
                            scan,
                            scsc,
                            oldscore,
                            margin,
                            offset: lastoffset,
                        },
                        src,
                        new,
                        seeds,
                        known,
                        &mut seed_scan,
                    )
                })
                .flatten()
            {
                // The search would lead to a one-byte creep whatever it found: use a match
                // known to be there instead (its length only feeds `oldscore`).
                (pos, len) = (skip.pos, skip.len);
                #[cfg(test)]
                tests::SKIPS.with(|c| c.set(c.get() + 1));
            } else {
                loop {
                    let pat = &new[scan..n.min(scan + cap)];
                    let hit = longest_match(src, sa, buckets, pat, near);
                    (pos, len) = (hit.pos, hit.len);
                    known = Some((scan, hit));
                    if len < cap || pat.len() < cap {
                        break;
                    }
                    cap = cap.saturating_mul(16);
                }
            }
            if scsc < scan + len {
                oldscore += agreeing(scsc, scan + len, lastoffset);
                scsc = scan + len;
            }
            let l = len as isize;
            if (l == oldscore && len != 0) || l > oldscore + margin {
                break;
            }
            // In compiled code a moved function rarely matches exactly for long (each changed
            // branch offset or address cuts the match), so a short exact match is also accepted
            // when its alignment agrees with clearly more of the bytes ahead than the current
            // one.
            if len >= PROBE_MIN {
                let noff = pos as isize - scan as isize;
                let end = n.min(scan + PROBE_WINDOW);
                let gain = agreeing(scan, end, noff) - agreeing(scan, end, lastoffset);
                if gain > PROBE_GAIN {
                    break;
                }
            }
            // The current alignment serves new[scan..scan + len] nearly as well as the match
            // found. A long rejected match moves the scan most of its length at once: a better
            // match starting inside it would still be found past the jump, and creeping byte by
            // byte through a long run would cost quadratic time.
            let step = if len >= SKIP_MIN { len - SKIP_KEEP } else { 1 };
            oldscore -= agreeing(scan, scan + step, lastoffset);
            scan += step;
        }
        if len as isize == oldscore && scan != n {
            // An exact match that the current alignment already covers: keep going.
            continue;
        }

        // How far the previous alignment extends forward (at least half of the bytes agree) ...
        let reach = (scan - lastscan).min(m - lastpos);
        let mut lenf = best_extension(
            &src[lastpos..lastpos + reach],
            &new[lastscan..lastscan + reach],
            false,
        );
        // ... and how far the new match extends backward. Like bsdiff, back to `lastscan` at
        // most, which lets a good alignment take over a spurious one entirely. But on periodic
        // data every new match can reach back over everything since the first one, and bsdiff
        // 4.3 goes quadratic: once the extensions have examined more than a few times the
        // bytes scanned, they may reach back only as far as they have moved forward since the
        // previous match, which bounds the total work to a constant times the block size.
        let budget = 8 * scan + (1 << 20);
        let floor = if work + 2 * (scan - lastscan) <= budget {
            lastscan
        } else {
            lastscan.max(anchor.saturating_sub(scan - anchor))
        };
        work += 2 * (scan - floor);
        let mut lenb = if scan < n {
            let reach = (scan - floor).min(pos);
            best_extension(&src[pos - reach..pos], &new[scan - reach..scan], true)
        } else {
            0
        };
        // Where the two extensions overlap, cut at the point that keeps the most agreeing bytes.
        if lastscan + lenf > scan - lenb {
            let overlap = (lastscan + lenf) - (scan - lenb);
            let (mut s, mut best, mut lens) = (0isize, 0isize, 0usize);
            for i in 0..overlap {
                s += isize::from(
                    new[lastscan + lenf - overlap + i] == src[lastpos + lenf - overlap + i],
                );
                s -= isize::from(new[scan - lenb + i] == src[pos - lenb + i]);
                if s > best {
                    best = s;
                    lens = i + 1;
                }
            }
            lenf = lenf + lens - overlap;
            lenb -= lens;
        }
        ops.push(Op {
            src: lastpos,
            add: lenf,
            extra: (scan - lenb) - (lastscan + lenf),
        });
        lastscan = scan - lenb;
        lastpos = pos - lenb;
        lastoffset = pos as isize - scan as isize;
        anchor = scan;
    }
    ops
}

/// How far an alignment extends: the length `l` of the run of pairs `(x[k], y[k])` that
/// maximizes `2 * agreeing - l` (the bytes that agree, at least half of them), the shortest
/// such length, 0 if no length scores above 0. The pairs run forward from the start of the
/// slices, or with `backward` from their end.
///
/// Eight pairs that all agree are taken at once: the score then rises at each of them, so
/// only the last can be the best.
fn best_extension(x: &[u8], y: &[u8], backward: bool) -> usize {
    debug_assert_eq!(x.len(), y.len());
    let len = x.len();
    let word = |v: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&v[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    // `i` pairs taken, `s` of them agreeing; the best score and its length.
    let (mut i, mut s) = (0usize, 0isize);
    let (mut best, mut best_len) = (0isize, 0usize);
    while i < len {
        if len - i >= 8 {
            let at = if backward { len - i - 8 } else { i };
            if word(x, at) == word(y, at) {
                i += 8;
                s += 8;
                if 2 * s - i as isize > best {
                    (best, best_len) = (2 * s - i as isize, i);
                }
                continue;
            }
        }
        for _ in 0..(len - i).min(8) {
            let k = if backward { len - 1 - i } else { i };
            s += isize::from(x[k] == y[k]);
            i += 1;
            if 2 * s - i as isize > best {
                (best, best_len) = (2 * s - i as isize, i);
            }
        }
    }
    best_len
}

/// The scan's state at a position where a search is due, for [`certain_creep`].
struct Scan {
    scan: usize,
    scsc: usize,
    oldscore: isize,
    margin: isize,
    /// The current alignment: `new[k]` is aligned with `src[k + offset]`.
    offset: isize,
}

/// The seed lookups ahead of the scan: the seeds from the scan up to `looked_to` have been
/// looked up, and `missing` is the first of them the source does not contain, if any.
#[derive(Default)]
struct SeedScan {
    looked_to: usize,
    missing: Option<usize>,
}

/// If the search at `scan` is certain to end in a one-byte creep, whatever longest match it
/// finds, a match to use instead of searching; `None` if a search is needed.
///
/// The longest match's length `len` is bounded without searching. From below by `lb`: the
/// last search's match, shifted to `scan`, is still a match if it reaches past `scan` (0
/// otherwise). From above by `ub`: a match cannot span a [`SEED_LEN`]-byte seed that the
/// source does not contain, so the first missing seed at `j >= scan` gives
/// `len <= j - scan + SEED_LEN - 1`. When `ub < SKIP_MIN` every candidate length is tried
/// against the scan's tests: neither break (`len == oldscore`, `len > oldscore + margin`, with
/// `oldscore` counted up to `max(scsc, scan + len)` as the scan counts it) may fire, and the
/// probe may not win (its gain is at most the number of bytes in its window that the current
/// alignment gets wrong). The search is then skipped and the scan creeps on with the known
/// match `(pos, lb)`.
///
/// The script is the same as with every search made. The skipped search would have set three
/// things differently. `pos`, which the scan does not read after a creep; `known`, which only
/// decides whether later searches are skipped; and `scsc`, to `scan + len` instead of
/// `scan + lb`. But wherever the
/// scan next decides something, at a position `s` after `scan` (consecutive creeps, or the
/// jump past a long rejected match, which lands inside it), the match found at `scan`, shifted,
/// is still a match at `s` if it reaches past `s`, so `s + len(s) >= scan + len`: the skipped
/// search's contribution to `scsc` is covered by the end of the match at `s` itself, which the
/// tests at `s` take into account (a search's exact one, or every candidate at another skip).
/// The test `matcher::tests::skipping_changes_nothing` checks this against the scan that
/// searches everywhere.
fn certain_creep(
    st: Scan,
    src: &[u8],
    new: &[u8],
    seeds: &Seeds,
    known: Option<(usize, Hit)>,
    seed_scan: &mut SeedScan,
) -> Option<Hit> {
    let Scan {
        scan,
        scsc,
        oldscore,
        margin,
        offset,
    } = st;
    let n = new.len();
    let agree = |k: usize| agree_at(src, new, k, offset);
    let (pos, lb) = match known {
        Some((at, hit)) if at < scan && scan < at + hit.len => {
            (hit.pos + (scan - at), hit.len - (scan - at))
        }
        _ => (0, 0),
    };
    // The first missing seed within reach (where it would still bound `len` below
    // SKIP_MIN). Each seed is looked up once: the scan only moves forward.
    let stop = (scan + SKIP_MIN - SEED_LEN + 1).min((n + 1).saturating_sub(SEED_LEN));
    let missing = match seed_scan.missing {
        Some(j) if j >= scan => Some(j),
        _ => {
            // The caller has just found the seed at `scan` present.
            let mut j = seed_scan.looked_to.max(scan + 1);
            while j < stop {
                // Each lookup misses the cache: fetch the one a few positions on.
                if let Some(ahead) = new.get(j + SEED_AHEAD..j + SEED_AHEAD + SEED_LEN) {
                    seeds.prefetch(ahead);
                }
                if !seeds.may_contain(&new[j..j + SEED_LEN]) {
                    break;
                }
                j += 1;
            }
            let found = (j < stop).then_some(j);
            *seed_scan = SeedScan {
                looked_to: j + usize::from(found.is_some()),
                missing: found,
            };
            found
        }
    };
    let ub = match missing {
        Some(j) => (j - scan + SEED_LEN - 1).min(n - scan),
        None => n - scan,
    };
    if ub >= SKIP_MIN {
        return None;
    }
    debug_assert!(lb <= ub);
    if ub >= PROBE_MIN
        && wrong_in(src, new, offset, scan, n.min(scan + PROBE_WINDOW)) as isize > PROBE_GAIN
    {
        return None;
    }
    // `old` is `oldscore` as the scan would count it for a match of length `l`.
    let (mut old, mut counted_to) = (oldscore, scsc);
    for l in lb..=ub {
        while counted_to < scan + l {
            old += isize::from(agree(counted_to));
            counted_to += 1;
        }
        let l = l as isize;
        if (l == old && l != 0) || l > old + margin {
            return None;
        }
    }
    Some(Hit { pos, len: lb })
}

/// Whether the alignment `offset` gets `new[k]` right: `src[k + offset]` exists and equals it.
#[inline(always)]
fn agree_at(src: &[u8], new: &[u8], k: usize, offset: isize) -> bool {
    let p = k as isize + offset;
    p >= 0 && (p as usize) < src.len() && src[p as usize] == new[k]
}

/// How many bytes of `new[a..b]` the alignment `offset` gets wrong (`new[k]` against
/// `src[k + offset]`; a position outside the source counts as wrong).
fn wrong_in(src: &[u8], new: &[u8], offset: isize, a: usize, b: usize) -> usize {
    // The positions whose source position lies inside `src`.
    let lo = (a as isize).max(-offset);
    let hi = (b as isize).min(src.len() as isize - offset);
    if lo >= hi {
        return b - a;
    }
    let (lo, hi) = (lo as usize, hi as usize);
    let s = (lo as isize + offset) as usize;
    (b - a) - (hi - lo) + differing(&new[lo..hi], &src[s..s + (hi - lo)])
}

/// How many of the positions of `x` and `y` (of equal length) hold different bytes.
///
/// Counts 16 positions at a time into byte-wide lanes, a form the compiler turns into vector
/// compares and subtractions; a plain `filter().count()` over the pairs was widened to 64-bit
/// lanes and ran four bytes per step (`perf annotate` of `match_time`, docs/BENCHMARKS.md).
fn differing(x: &[u8], y: &[u8]) -> usize {
    debug_assert_eq!(x.len(), y.len());
    let mut total = 0usize;
    // Lanes of a u8 accumulator overflow after 255 rounds: sum them every 240 chunks.
    for (xs, ys) in x.chunks(16 * 240).zip(y.chunks(16 * 240)) {
        let mut lanes = [0u8; 16];
        let mut xc = xs.chunks_exact(16);
        let mut yc = ys.chunks_exact(16);
        for (cx, cy) in (&mut xc).zip(&mut yc) {
            for i in 0..16 {
                lanes[i] += u8::from(cx[i] != cy[i]);
            }
        }
        total += lanes.iter().map(|&l| usize::from(l)).sum::<usize>();
        total += xc
            .remainder()
            .iter()
            .zip(yc.remainder())
            .filter(|(p, q)| p != q)
            .count();
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    thread_local! {
        /// Searches skipped by [`certain_creep`] on this thread.
        pub(super) static SKIPS: Cell<usize> = const { Cell::new(0) };
    }

    /// A pseudo-random generator (xorshift), for inputs built from a proptest seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A pair that makes the scan creep as code does. Both images are made of phrases from a
    /// small dictionary, each phrase in a few variants that differ in a few bytes. The
    /// destination switches some phrases to another variant, so there the current alignment
    /// is wrong in a few bytes while another copy of the new variant in the source matches
    /// longer (a moved or relinked function), replaces a few phrases with others, and copies
    /// a few stretches from elsewhere with every few bytes changed. It also inserts and
    /// deletes a few bytes.
    fn pair(seed: u64, len: usize, phrases: usize, switch_every: usize) -> (Vec<u8>, Vec<u8>) {
        let mut r = Rng(seed | 1);
        let dict: Vec<Vec<Vec<u8>>> = (0..phrases)
            .map(|_| {
                let base: Vec<u8> = (0..12 + r.below(52)).map(|_| r.below(256) as u8).collect();
                (0..3)
                    .map(|_| {
                        let mut v = base.clone();
                        for _ in 0..1 + r.below(3) {
                            let i = r.below(v.len());
                            v[i] = r.below(256) as u8;
                        }
                        v
                    })
                    .collect()
            })
            .collect();
        let (mut src, mut dst) = (Vec::new(), Vec::new());
        while src.len() < len {
            match r.below(16) {
                0 => src.push(r.below(256) as u8),
                1 => dst.push(r.below(256) as u8),
                _ => {}
            }
            let p = &dict[r.below(phrases)];
            let v = r.below(3);
            src.extend_from_slice(&p[v]);
            match r.below(4 * switch_every) {
                // Another phrase altogether (most of its bytes wrong in the current alignment).
                0 => dst.extend_from_slice(&dict[r.below(phrases)][v]),
                // A stretch from elsewhere with every few bytes changed: only short exact
                // matches, which the probe judges by their alignment.
                1 if src.len() > 400 && r.below(4) == 0 => {
                    let (from, every) = (r.below(src.len() - 300), 5 + r.below(4));
                    for k in 0..100 + r.below(200) {
                        let b = src[from + k];
                        dst.push(if k % every == 0 { !b } else { b });
                    }
                }
                k if k < 4 => dst.extend_from_slice(&p[(v + 1 + k % 2) % 3]),
                _ => dst.extend_from_slice(&p[v]),
            }
        }
        (src, dst)
    }

    /// The script of `dst` against `src` as one block, with and without skipping, and the
    /// number of searches skipped.
    fn both_ways(src: &[u8], dst: &[u8], switch_margin: usize) -> (Vec<Op>, Vec<Op>, usize) {
        let sa = fwdelta_sufsort::suffix_array(src).expect("small input");
        let (buckets, seeds) = (Buckets::new(src), Seeds::new(src));
        let run = |skip| {
            let params = Params {
                switch_margin,
                skip_certain_creeps: skip,
            };
            match_block(src, &sa, &buckets, &seeds, dst, 0, params)
        };
        let searched = run(false);
        SKIPS.with(|c| c.set(0));
        let skipped = run(true);
        (searched, skipped, SKIPS.with(Cell::get))
    }

    #[test]
    fn skipping_happens_on_code_like_pairs() {
        let (src, dst) = pair(42, 200_000, 256, 2);
        let (searched, skipped, skips) = both_ways(&src, &dst, 8);
        assert_eq!(searched, skipped);
        assert!(skips > 5_000, "only {skips} searches skipped");
    }

    #[test]
    fn differing_counts_past_a_byte_lane() {
        // More differing positions per lane than a byte holds, and a tail past the last
        // full 16-byte chunk.
        for len in [0, 15, 16, 17, 16 * 240, 16 * 240 + 1, 16 * 256 + 5, 10_000] {
            assert_eq!(differing(&vec![0; len], &vec![1; len]), len);
            assert_eq!(differing(&vec![7; len], &vec![7; len]), 0);
        }
    }

    /// `best_extension` as the scan once wrote it, one pair at a time.
    fn naive_extension(x: &[u8], y: &[u8], backward: bool) -> usize {
        let (mut s, mut best, mut best_len) = (0isize, 0isize, 0usize);
        for i in 1..=x.len() {
            let k = if backward { x.len() - i } else { i - 1 };
            s += isize::from(x[k] == y[k]);
            if s * 2 - i as isize > best * 2 - best_len as isize {
                (best, best_len) = (s, i);
            }
        }
        best_len
    }

    #[test]
    fn extension_keeps_the_shortest_best_length() {
        // Eight agreeing pairs, eight disagreeing ones, eight agreeing again: the score is 8
        // after the first eight pairs and again after all 24. The shorter length wins.
        let x = [0u8; 24];
        let mut y = [0u8; 24];
        y[8..16].fill(1);
        for backward in [false, true] {
            assert_eq!(naive_extension(&x, &y, backward), 8);
            assert_eq!(best_extension(&x, &y, backward), 8);
        }
    }

    proptest! {
        #[test]
        fn extensions_match_the_pairwise_walk(x in proptest::collection::vec(0u8..2, 0..300),
                                              flips in proptest::collection::vec(0usize..300, 0..12),
                                              backward in any::<bool>()) {
            // Mostly agreeing slices, as where alignments are extended, with a few
            // disagreements anywhere (and unrelated ones when `x` is short).
            let mut y = x.clone();
            for f in flips {
                if let Some(b) = y.get_mut(f) {
                    *b ^= 1;
                }
            }
            prop_assert_eq!(best_extension(&x, &y, backward), naive_extension(&x, &y, backward));
        }

        #[test]
        fn differing_counts_like_a_filter(x in proptest::collection::vec(0u8..2, 0..9000),
                                          seed in any::<u64>()) {
            // A second slice that differs from `x` in a seeded pattern.
            let y: Vec<u8> = x.iter().enumerate()
                .map(|(i, &b)| b ^ u8::from((seed >> (i % 64)) & 1 == 1 && i % 3 != 0))
                .collect();
            let naive = x.iter().zip(&y).filter(|(p, q)| p != q).count();
            prop_assert_eq!(differing(&x, &y), naive);
        }

        #[test]
        fn wrong_in_counts_like_the_scan(src in proptest::collection::vec(0u8..3, 0..100),
                                         new in proptest::collection::vec(0u8..3, 0..100),
                                         offset in -120isize..120,
                                         a in 0usize..100, l in 0usize..100) {
            let (a, b) = (a.min(new.len()), (a + l).min(new.len()));
            let naive = (a..b).filter(|&k| !agree_at(&src, &new, k, offset)).count();
            prop_assert_eq!(wrong_in(&src, &new, offset, a, b), naive);
        }

        #[test]
        fn skipping_changes_nothing(seed in any::<u64>(),
                                    len in 0usize..20_000,
                                    phrases in 1usize..1024,
                                    switch_every in 1usize..8,
                                    switch_margin in prop_oneof![Just(8usize), 1usize..24]) {
            let (src, dst) = pair(seed, len, phrases, switch_every);
            let (searched, skipped, _) = both_ways(&src, &dst, switch_margin);
            prop_assert_eq!(searched, skipped);
        }
    }
}
