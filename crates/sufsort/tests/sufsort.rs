//! Property and edge-case tests: every sorter path against a naive reference.

use fwdelta_sufsort::{
    build, suffix_array, suffix_array_u64, verify, verify_u64, SortOptions, SuffixArray,
    VerifyError,
};
use proptest::prelude::*;

/// The reference: sort suffix offsets by comparing the suffixes.
fn naive(text: &[u8]) -> Vec<u32> {
    let mut sa: Vec<u32> = (0..text.len() as u32).collect();
    sa.sort_by(|&a, &b| text[a as usize..].cmp(&text[b as usize..]));
    sa
}

fn check(text: &[u8]) {
    let expect = naive(text);
    let sa = suffix_array(text).unwrap();
    assert_eq!(sa, expect, "u32 path, text {text:?}");
    verify(text, &sa).unwrap();
    let sa64 = suffix_array_u64(text);
    assert!(sa64.iter().map(|&x| x as u32).eq(expect.iter().copied()));
    verify_u64(text, &sa64).unwrap();
}

/// Texts with small alphabets and long runs: the hard cases for induced sorting.
fn runny() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((0u8..4, 1usize..20), 0..40).prop_map(|runs| {
        let mut v = Vec::new();
        for (b, n) in runs {
            v.extend(std::iter::repeat_n(b, n));
        }
        v
    })
}

/// A random period repeated, with an optional tail.
fn periodic() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(0u8..3, 1..7),
        1usize..60,
        prop::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(|(period, reps, tail)| {
            let mut v: Vec<u8> = period
                .iter()
                .copied()
                .cycle()
                .take(period.len() * reps)
                .collect();
            v.extend(tail);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_bytes(text in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&text);
    }

    #[test]
    fn small_alphabet(text in prop::collection::vec(0u8..3, 0..300)) {
        check(&text);
    }

    #[test]
    fn runs(text in runny()) {
        check(&text);
    }

    #[test]
    fn periodic_text(text in periodic()) {
        check(&text);
    }
}

#[test]
fn every_short_binary_text() {
    for len in 0..=12 {
        for bits in 0u32..(1 << len) {
            let text: Vec<u8> = (0..len).map(|i| (bits >> i & 1) as u8).collect();
            check(&text);
        }
    }
}

#[test]
fn uniform_texts() {
    for &b in &[0x00u8, 0xFF, 0x41] {
        for len in [0usize, 1, 2, 3, 100, 4097] {
            let text = vec![b; len];
            let sa = suffix_array(&text).unwrap();
            let expect: Vec<u32> = (0..len as u32).rev().collect();
            assert_eq!(sa, expect);
        }
    }
}

#[test]
fn large_inputs_verify() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let random: Vec<u8> = (0..300_000).map(|_| rnd() as u8).collect();
    let mut firmware = random.clone();
    firmware[50_000..150_000].fill(0xFF);
    firmware[200_000..230_000].fill(0);
    let periodic: Vec<u8> = b"\x00\x01\x02\xFF"
        .iter()
        .copied()
        .cycle()
        .take(200_001)
        .collect();
    let fib = {
        let (mut a, mut b) = (b"a".to_vec(), b"ab".to_vec());
        while b.len() < 150_000 {
            let c = [b.clone(), a].concat();
            a = b;
            b = c;
        }
        b
    };
    for text in [&random, &firmware, &periodic, &fib, &vec![0xFF; 250_000]] {
        let sa = suffix_array(text).unwrap();
        verify(text, &sa).unwrap();
        let sa64 = build(text, &SortOptions::new().force_u64(true));
        assert_eq!(sa64.index_width(), 8);
        assert!(sa64.iter().eq(sa.iter().map(|&x| u64::from(x))));
        sa64.verify(text).unwrap();
    }
}

#[test]
fn build_picks_u32() {
    let sa = build(b"mississippi", &SortOptions::default());
    assert_eq!(sa.index_width(), 4);
    assert_eq!(sa.len(), 11);
    assert!(!sa.is_empty());
    assert_eq!(sa.as_u32().unwrap(), naive(b"mississippi").as_slice());
    assert!(sa.as_u64().is_none());
    let sa64 = build(b"mississippi", &SortOptions::new().force_u64(true));
    assert!(matches!(sa64, SuffixArray::U64(_)));
    assert!(sa64.iter().eq(sa.iter()));
    assert_eq!(sa64.get(0), 10);
}

// One test per verify error.

#[test]
fn verify_rejects_wrong_length() {
    let err = verify(b"abc", &[2, 1]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::WrongLength {
            text_len: 3,
            sa_len: 2
        }
    );
}

#[test]
fn verify_rejects_out_of_range() {
    let err = verify(b"abc", &[0, 3, 2]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::OutOfRange {
            index: 1,
            value: 3,
            text_len: 3
        }
    );
    let err = verify_u64(b"abc", &[0, 1, u64::MAX]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::OutOfRange {
            index: 2,
            value: u64::MAX,
            text_len: 3
        }
    );
}

#[test]
fn verify_rejects_duplicate() {
    let err = verify(b"abc", &[0, 1, 0]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Duplicate {
            value: 0,
            first: 0,
            second: 2
        }
    );
}

#[test]
fn verify_rejects_out_of_order() {
    // Correct: [5, 3, 1, 0, 4, 2]. Swap two neighbours: "anana" before "ana".
    let err = verify(b"banana", &[5, 1, 3, 0, 4, 2]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::OutOfOrder {
            index: 1,
            left: 1,
            right: 3
        }
    );
    // Swap the first and the last: "nana" first.
    let err = verify(b"banana", &[2, 3, 1, 0, 4, 5]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::OutOfOrder {
            index: 0,
            left: 2,
            right: 3
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any swap of two distinct entries of a correct array is caught.
    #[test]
    fn verify_rejects_any_swap(text in prop::collection::vec(0u8..4, 2..200), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let mut sa = suffix_array(&text).unwrap();
        let (i, j) = (a.index(sa.len()), b.index(sa.len()));
        prop_assume!(i != j);
        sa.swap(i, j);
        let is_out_of_order = matches!(verify(&text, &sa), Err(VerifyError::OutOfOrder { .. }));
        prop_assert!(is_out_of_order);
    }
}

/// The production settings (blocks of 32 Ki entries per thread, parallel phases from 64 Ki
/// entries) under pools of 1, 2, 3 and 8 threads: the same array every time.
#[test]
fn thread_counts_agree() {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut text: Vec<u8> = (0..400_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Skewed, code-like byte distribution.
            [(x >> 24) as u8, 0, 0xFF, (x >> 40) as u8 & 7][(x & 3) as usize]
        })
        .collect();
    text[100_000..180_000].fill(0xFF);
    text[250_000..260_000].fill(0);
    let periodic: Vec<u8> = (0..150_000)
        .map(|i| [0xE5u8, 0x9F, 0x10, 0x00][i % 4])
        .collect();
    text.extend_from_slice(&periodic);
    let mut first: Option<Vec<u32>> = None;
    for threads in [1, 2, 3, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let sa = pool.install(|| suffix_array(&text).unwrap());
        match &first {
            None => {
                verify(&text, &sa).unwrap();
                first = Some(sa);
            }
            Some(f) => assert_eq!(&sa, f, "{threads} threads"),
        }
        let sa64 = pool.install(|| suffix_array_u64(&text));
        assert!(sa64
            .iter()
            .map(|&v| v as u32)
            .eq(first.as_ref().unwrap().iter().copied()));
    }
}
