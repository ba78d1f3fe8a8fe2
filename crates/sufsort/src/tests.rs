//! Unit tests of the parallel machinery with tiny blocks, so that every block and chunk
//! boundary is crossed many times on small inputs.

use proptest::prelude::*;

use crate::index::{scalar_cmp_masks, Sym};
use crate::sais::{
    chunk_end_types, for_each_lms_batch, for_each_type_word, lms_substring_len, never_rises, sais,
    Ctx,
};

fn naive(text: &[u8]) -> Vec<u32> {
    let mut sa: Vec<u32> = (0..text.len() as u32).collect();
    sa.sort_by(|&a, &b| text[a as usize..].cmp(&text[b as usize..]));
    sa
}

fn with_ctx(text: &[u8], threads: usize, block: usize) -> (Vec<u32>, Vec<u64>) {
    with_ctx_drop(text, threads, block, 0, true, true)
}

fn with_ctx_drop(
    text: &[u8],
    threads: usize,
    block: usize,
    drop_unique_min_k: usize,
    drop_unique_mostly: bool,
    sort_lms_keys: bool,
) -> (Vec<u32>, Vec<u64>) {
    // Odd blocks also treat alphabets above 3 symbols as large (the atomic counting paths).
    let small_alphabet = if block % 2 == 1 { 3 } else { 1 << 12 };
    let ctx = Ctx {
        threads,
        block,
        min_par: 2,
        // Odd blocks run the block-parallel induce passes from two threads on; even ones the
        // pipelined passes (look-ahead beside the settling thread) at every thread count.
        par_induce_threads: if block % 2 == 1 { 2 } else { usize::MAX },
        pipe_min_k: 0,
        // Blocks 1, 3 and 64 run the final byte passes in bucket-bounded blocks; 2 and 5 in
        // the forms above.
        bucket_blocks: block % 3 != 2,
        small_alphabet,
        drop_unique_min_k,
        drop_unique_mostly,
        sort_lms_keys,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut sa = vec![0u32; text.len()];
        sais(text, &mut sa, 256, &ctx);
        let mut sa64 = vec![0u64; text.len()];
        sais(text, &mut sa64, 256, &ctx);
        (sa, sa64)
    })
}

pub(crate) fn check_all(text: &[u8]) {
    let expect = naive(text);
    for (threads, block) in [(1, 1), (2, 1), (2, 2), (2, 3), (3, 2), (8, 5), (2, 64)] {
        let (sa, sa64) = with_ctx(text, threads, block);
        assert_eq!(sa, expect, "threads {threads} block {block} text {text:?}");
        assert!(sa64.iter().map(|&x| x as u32).eq(expect.iter().copied()));
    }
    // With unique names kept in the recursion at every level, and with them dropped only
    // where most names are unique, too.
    let (sa, _) = with_ctx_drop(text, 2, 3, usize::MAX, false, true);
    assert_eq!(sa, expect, "no drop, text {text:?}");
    let (sa, _) = with_ctx_drop(text, 1, 3, usize::MAX, true, true);
    assert_eq!(sa, expect, "drop where mostly unique, text {text:?}");
    // Stage 1 at the top level by induced sorting instead of the key sort.
    for (threads, block) in [(1, 1), (2, 3)] {
        let (sa, sa64) = with_ctx_drop(text, threads, block, 0, true, false);
        assert_eq!(
            sa, expect,
            "induced stage 1, threads {threads} text {text:?}"
        );
        assert!(sa64.iter().map(|&x| x as u32).eq(expect.iter().copied()));
    }
}

pub(crate) fn runny() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((0u8..4, 1usize..12), 0..30).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(b, n)| std::iter::repeat_n(b, n))
            .collect()
    })
}

/// A xorshift generator: reproducible pseudo-random words for tests.
pub(crate) fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Runs of up to 150 equal symbols, drawn from `syms`: long enough that a type travels across
/// several 64-position words.
fn long_runs<C: Sym>(syms: Vec<C>) -> impl Strategy<Value = Vec<C>> {
    prop::collection::vec((prop::sample::select(syms), 1usize..150), 0..40).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(c, n)| std::iter::repeat_n(c, n))
            .collect()
    })
}

/// Whether each suffix is S-type, computed right to left the textbook way.
fn s_types_naive<C: Sym>(t: &[C]) -> Vec<bool> {
    let n = t.len();
    let mut s = vec![false; n];
    for i in (0..n.saturating_sub(1)).rev() {
        s[i] = t[i] < t[i + 1] || (t[i] == t[i + 1] && s[i + 1]);
    }
    s
}

/// `for_each_type_word` on every chunk of `t` cut at `cuts` against the textbook types: the
/// blocks cover each chunk top down, and every bit of a block, and none past it, is right.
fn check_type_words<C: Sym>(t: &[C], cuts: &[prop::sample::Index]) -> Result<(), TestCaseError> {
    let n = t.len();
    let s = s_types_naive(t);
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(n + 1)).chain([0, n]).collect();
    at.sort_unstable();
    at.dedup();
    let bounds: Vec<(usize, usize)> = at.windows(2).map(|w| (w[0], w[1])).collect();
    let s_end = chunk_end_types(t, &bounds);
    for (&(a, b), &s_b) in bounds.iter().zip(&s_end) {
        let mut hi = b;
        let mut bad = None;
        for_each_type_word(t, a, b, s_b, |q0, sw, lms| {
            let len = hi - q0;
            let ok = q0 >= a
                && (1..=64).contains(&len)
                && (len == 64 || (sw >> len == 0 && lms >> len == 0))
                && (0..len).all(|j| {
                    let p = q0 + j;
                    let want_lms = p > 0 && s[p] && !s[p - 1];
                    (sw >> j & 1 == 1) == s[p] && (lms >> j & 1 == 1) == want_lms
                });
            if !ok && bad.is_none() {
                bad = Some((q0, len));
            }
            hi = q0;
        });
        prop_assert_eq!(bad, None, "chunk {}..{} of {}", a, b, n);
        prop_assert_eq!(hi, a, "chunk {}..{} of {} not covered", a, b, n);
    }
    Ok(())
}

/// Every LMS substring's length from the types computed right to left, the textbook way.
pub(crate) fn lms_lengths_naive(t: &[u8]) -> Vec<(usize, usize)> {
    let n = t.len();
    let s_type = s_types_naive(t);
    let lms: Vec<usize> = (1..n).filter(|&i| s_type[i] && !s_type[i - 1]).collect();
    lms.iter()
        .enumerate()
        .map(|(k, &p)| (p, lms.get(k + 1).map_or(n + 1, |&q| q + 1) - p))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn lms_substring_lengths(text in prop_oneof![
        prop::collection::vec(0u8..3, 0..120),
        prop::collection::vec(any::<u8>(), 0..120),
        runny(),
    ]) {
        for (p, len) in lms_lengths_naive(&text) {
            prop_assert_eq!(lms_substring_len(&text, p), len, "at {} in {:?}", p, text);
        }
    }

    /// The batched, branch-free LMS scan finds exactly the LMS positions, right to left, in
    /// every chunk of a split text; texts longer than a batch's scan (2048) included.
    #[test]
    fn lms_batches(
        text in prop_oneof![
            prop::collection::vec(0u8..3, 0..6000),
            prop::collection::vec(any::<u8>(), 0..6000),
            runny(),
        ],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let n = text.len();
        let lms: Vec<usize> = lms_lengths_naive(&text).into_iter().map(|(p, _)| p).collect();
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(n + 1)).chain([0, n]).collect();
        at.sort_unstable();
        at.dedup();
        let bounds: Vec<(usize, usize)> = at.windows(2).map(|w| (w[0], w[1])).collect();
        let s_end = chunk_end_types(&text, &bounds);
        for (&(a, b), &s_b) in bounds.iter().zip(&s_end) {
            let mut got = Vec::new();
            for_each_lms_batch(&text, a, b, s_b, |batch| got.extend_from_slice(batch));
            let want: Vec<usize> = lms.iter().rev().copied().filter(|p| (a..b).contains(p)).collect();
            prop_assert_eq!(got, want, "chunk {}..{} of {}", a, b, n);
        }
    }

    /// The type words of byte texts, with runs that carry a type across words and bytes on
    /// both sides of 0x80 (the comparisons are unsigned).
    #[test]
    fn type_words_bytes(
        text in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..600),
            long_runs(vec![0u8, 1, 0x7f, 0x80, 0x81, 0xff]),
        ],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        check_type_words(&text, &cuts)?;
        for w in text.windows(65) {
            prop_assert_eq!(u8::cmp_masks(w), scalar_cmp_masks(w));
        }
    }

    /// The type words of 32-bit texts (the reduced texts), with symbols on both sides of
    /// 2^31.
    #[test]
    fn type_words_u32(
        text in prop_oneof![
            prop::collection::vec(any::<u32>(), 0..600),
            long_runs(vec![0u32, 1, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, u32::MAX]),
        ],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        check_type_words(&text, &cuts)?;
        for w in text.windows(65) {
            prop_assert_eq!(u32::cmp_masks(w), scalar_cmp_masks(w));
        }
    }

    #[test]
    fn parallel_random(text in prop::collection::vec(any::<u8>(), 0..200)) {
        check_all(&text);
    }

    #[test]
    fn parallel_small_alphabet(text in prop::collection::vec(0u8..3, 0..200)) {
        check_all(&text);
    }

    #[test]
    fn parallel_runs(text in runny()) {
        check_all(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Texts long enough that the phases working on whole 64-bit words of bit sets (dropping
    /// unique names) get several chunks.
    #[test]
    fn parallel_longer(text in prop_oneof![
        prop::collection::vec(any::<u8>(), 1000..3000),
        prop::collection::vec(0u8..4, 1000..3000),
    ]) {
        check_all(&text);
    }
}

#[test]
fn parallel_lengths_around_block_boundaries() {
    // Lengths 0..=70 with blocks of 4 entries per thread: every length is a block multiple
    // or one off it for some thread count.
    for len in 0..=70 {
        let text: Vec<u8> = (0..len).map(|i| ((i * 7 + i / 5) % 3) as u8).collect();
        check_all(&text);
        let zeros = vec![0u8; len];
        check_all(&zeros);
        let periodic: Vec<u8> = (0..len).map(|i| [1u8, 0, 1, 1][i % 4]).collect();
        check_all(&periodic);
    }
}

#[test]
fn large_alphabet_levels_place_their_runs_as_blocks() {
    // Words drawn at random from a vocabulary of 40 random ones: the LMS substrings repeat
    // (within words and across the 1600 pairs of them), so the first reduced text has an
    // alphabet of thousands of names and more LMS suffixes than names (here 2819 and 13731),
    // with room below the array's end for the third bucket array that lets stage 2 place the
    // sorted LMS suffixes bucket by bucket.
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let words: Vec<Vec<u8>> = (0..40)
        .map(|_| (0..next() % 9 + 2).map(|_| next() as u8).collect())
        .collect();
    let mut text = Vec::new();
    while text.len() < 120_000 {
        text.extend_from_slice(&words[(next() % 40) as usize]);
    }
    check_all(&text);
}

#[test]
fn texts_without_lms_positions() {
    // Texts that never rise (every suffix L-type), whose array is read off without sorting,
    // and texts that rise only at the start (S-types, then L-types), which also have no LMS
    // position but are sorted the long way.
    for len in 0..=150 {
        check_all(&vec![0xFF; len]);
        let stairs: Vec<u8> = (0..len).map(|i| 200 - (i / 7) as u8).collect();
        check_all(&stairs);
        let rise_then_fall: Vec<u8> = (0..len).map(|i| (i.min(len - i) / 3) as u8).collect();
        check_all(&rise_then_fall);
    }
}

#[test]
fn periodic_texts_reduce_to_texts_that_never_rise() {
    // An 11-byte period: the first reduced text repeats one name pair, and the one below it
    // never rises.
    for len in [1000, 2047, 4096, 5000] {
        let text: Vec<u8> = b"\x00\x10\x20\xFF\x7Fperiod"
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect();
        check_all(&text);
    }
}

#[test]
fn a_single_rise_is_found_at_every_block_edge() {
    // The check reads blocks of 4096 symbols overlapping by one, the first 16 in turn and the
    // rest in parallel: a text that falls in steps everywhere but at one position, around
    // each block edge in both parts.
    let len = 20 * 4096 + 3;
    let falling: Vec<u8> = (0..len).map(|i| 255 - (i * 255 / len) as u8).collect();
    let ctx = |threads| Ctx {
        threads,
        min_par: 2,
        ..Ctx::ambient()
    };
    for threads in [1, 2] {
        assert!(never_rises(&falling, &ctx(threads)));
        for edge in [4096, 8192, 16 * 4096, 17 * 4096, 19 * 4096] {
            for at in edge - 2..edge + 2 {
                let mut t = falling.clone();
                t[at + 1] = t[at] + 1;
                assert!(
                    !never_rises(&t, &ctx(threads)),
                    "rise at {at}, {threads} threads"
                );
            }
        }
    }
    let mut t = falling[..3 * 4096 + 7].to_vec();
    check_all(&t);
    t[4096] = t[4095] + 1;
    check_all(&t);
}

#[test]
fn long_lms_substrings_that_differ_in_their_last_byte() {
    // Blocks that climb and fall between two low bytes, each 1 or 2 at random: every LMS
    // substring is 16 bytes long, longer than the key sort resolves by its keys (so the exact
    // comparison decides), and many pairs agree in all but their last byte.
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut text = Vec::new();
    for _ in 0..60 {
        text.push(1 + (next() % 2) as u8);
        text.extend_from_slice(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 90, 80, 70, 60]);
    }
    check_all(&text);
}

#[test]
fn long_runs_of_one_byte_between_random_bytes() {
    // Erased flash and zero padding between stretches of code: the final passes lay the runs'
    // rows out at once, most of them with one or two runs in them.
    let mut next = xorshift(0x51_7cc1_b727_220a);
    let mut text = Vec::new();
    for (noise, byte, run) in [
        (500, 0xFF, 3000),
        (300, 0x00, 2000),
        (40, 0xFF, 700),
        (200, 0x00, 0),
    ] {
        text.extend((0..noise).map(|_| next() as u8));
        text.extend(std::iter::repeat_n(byte, run));
    }
    check_all(&text);
}
