//! `sufsort`: the suffix sorter against a naive sort, and the checker `verify()` against
//! perturbed arrays.
//!
//! Input: `[mode u8] [rest]`. `mode % 4` maps `rest` to the text: 0 as is; 1 over the
//! alphabet {0, 1}; 2 over {a, b, c}; 3 as runs (each byte gives `(b >> 4) + 1` copies
//! of `b & 3`, so long runs and periodic texts). `mode` bit 2: also check an arbitrary
//! array read from the text's tail (`verify` must accept it only if it is the answer).
//!
//! Checks: `verify(text, sa)` accepts the sorter's answer; up to 2000 bytes the answer is
//! the naive sort's; 64-bit indices and [`build`](fwdelta_sufsort::build) agree; a
//! one-thread pool gives the same array; and `verify` rejects the answer after a swap, a
//! duplicated entry, an out-of-range entry, or a missing entry.

use std::sync::OnceLock;

use fwdelta_sufsort::{build, suffix_array, suffix_array_u64, verify, SortOptions, SuffixArray};

use crate::input::Input;

/// Longest text compared with the naive sort.
pub const NAIVE_MAX: usize = 2000;

fn one_thread() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool")
    })
}

/// Runs the target.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let pick = inp.u32();
    let rest = inp.rest();
    let text: Vec<u8> = match mode % 4 {
        0 => rest.to_vec(),
        1 => rest.iter().map(|b| b & 1).collect(),
        2 => rest.iter().map(|b| b'a' + b % 3).collect(),
        _ => rest
            .iter()
            .flat_map(|&b| std::iter::repeat_n(b & 3, usize::from(b >> 4) + 1))
            .collect(),
    };
    let n = text.len();
    let sa = suffix_array(&text).expect("short text");
    assert_eq!(sa.len(), n);
    if let Err(e) = verify(&text, &sa) {
        panic!("verify rejects the sorter's answer: {e}");
    }
    if n <= NAIVE_MAX {
        let mut naive: Vec<u32> = (0..n as u32).collect();
        naive.sort_by(|&a, &b| text[a as usize..].cmp(&text[b as usize..]));
        assert!(naive == sa, "sorter and naive sort disagree");
    }
    let wide = suffix_array_u64(&text);
    assert!(wide.iter().copied().eq(sa.iter().map(|&x| u64::from(x))));
    match build(&text, &SortOptions::default().force_u64(true)) {
        SuffixArray::U64(v) => assert!(v == wide),
        _ => panic!("force_u64 gave 32-bit indices"),
    }
    let one = one_thread().install(|| suffix_array(&text).expect("short text"));
    assert!(one == sa, "the array depends on the thread count");

    // verify() must reject every damaged array.
    if n >= 2 {
        let i = pick as usize % n;
        let j = (i + 1 + (pick >> 16) as usize % (n - 1)) % n;
        let mut bad = sa.clone();
        bad.swap(i, j);
        assert!(verify(&text, &bad).is_err(), "verify accepts a swap");
        let mut bad = sa.clone();
        bad[i] = sa[j];
        assert!(verify(&text, &bad).is_err(), "verify accepts a duplicate");
    }
    if n >= 1 {
        let i = pick as usize % n;
        let mut bad = sa.clone();
        bad[i] = n as u32 + (pick >> 24);
        assert!(
            verify(&text, &bad).is_err(),
            "verify accepts an out-of-range entry"
        );
        let mut bad = sa.clone();
        bad.remove(i);
        assert!(
            verify(&text, &bad).is_err(),
            "verify accepts a missing entry"
        );
    }
    // An arbitrary candidate: entries from the input, modulo n + 1.
    if mode & 4 != 0 && n > 0 {
        let cand: Vec<u32> = (0..n)
            .map(|k| {
                let b = rest[(k * 7 + pick as usize) % rest.len()];
                (u32::from(b) + k as u32 * (pick & 0xff)) % (n as u32 + 1)
            })
            .collect();
        if verify(&text, &cand).is_ok() {
            assert!(cand == sa, "verify accepts a wrong array");
        }
    }
}
