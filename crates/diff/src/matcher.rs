//! The approximate matcher: one destination block at a time.

use crate::search::{longest_match, Buckets, SaEntry, Seeds, SEED_LEN};

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
    let agrees = |k: usize, off: isize| -> bool {
        let p = k as isize + off;
        p >= 0 && (p as usize) < m && src[p as usize] == new[k]
    };

    let mut ops = Vec::new();
    let (mut scan, mut len, mut pos) = (0usize, 0usize, 0usize);
    let mut lastscan = 0usize;
    let mut lastpos = start_pos.min(m);
    let mut lastoffset = lastpos as isize;
    // Where the exact match behind the current alignment starts.
    let mut anchor = 0usize;
    // Bytes examined by the extensions so far.
    let mut work = 0usize;

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
            } else {
                loop {
                    let pat = &new[scan..n.min(scan + cap)];
                    let hit = longest_match(src, sa, buckets, pat, near);
                    (pos, len) = (hit.pos, hit.len);
                    if len < cap || pat.len() < cap {
                        break;
                    }
                    cap = cap.saturating_mul(16);
                }
            }
            while scsc < scan + len {
                oldscore += isize::from(agrees(scsc, lastoffset));
                scsc += 1;
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
                let gain: isize = (scan..n.min(scan + PROBE_WINDOW))
                    .map(|k| isize::from(agrees(k, noff)) - isize::from(agrees(k, lastoffset)))
                    .sum();
                if gain > PROBE_GAIN {
                    break;
                }
            }
            // The current alignment serves new[scan..scan + len] nearly as well as the match
            // found. A long rejected match moves the scan most of its length at once: a better
            // match starting inside it would still be found past the jump, and creeping byte by
            // byte through a long run would cost quadratic time.
            let step = if len >= SKIP_MIN { len - SKIP_KEEP } else { 1 };
            for k in scan..scan + step {
                oldscore -= isize::from(agrees(k, lastoffset));
            }
            scan += step;
        }
        if len as isize == oldscore && scan != n {
            // An exact match that the current alignment already covers: keep going.
            continue;
        }

        // How far the previous alignment extends forward (at least half of the bytes agree) ...
        let (mut s, mut best, mut lenf) = (0isize, 0isize, 0usize);
        let mut i = 0usize;
        while lastscan + i < scan && lastpos + i < m {
            s += isize::from(src[lastpos + i] == new[lastscan + i]);
            i += 1;
            if s * 2 - i as isize > best * 2 - lenf as isize {
                best = s;
                lenf = i;
            }
        }
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
        let mut lenb = 0usize;
        if scan < n {
            let (mut s, mut best) = (0isize, 0isize);
            let mut i = 1usize;
            while scan >= floor + i && pos >= i {
                s += isize::from(src[pos - i] == new[scan - i]);
                if s * 2 - i as isize > best * 2 - lenb as isize {
                    best = s;
                    lenb = i;
                }
                i += 1;
            }
        }
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
