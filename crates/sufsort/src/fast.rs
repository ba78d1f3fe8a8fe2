//! The crate's only unsafe code: cache prefetch hints, comparisons of neighbouring symbols
//! several at a time (SSE2), and a shared, atomic view of an index slice for parallel
//! scatters.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Hints the CPU to fetch `slice[i]` into the cache. `i` may be out of bounds: nothing is
/// read, so any index is fine.
#[inline(always)]
pub(crate) fn prefetch<T>(slice: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = slice.as_ptr().wrapping_add(i) as *const i8;
        // SAFETY: `_mm_prefetch` is only a hint; it never faults and never reads memory
        // architecturally, whatever the address. SSE is part of the x86_64 baseline.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (slice, i);
    }
}

/// [`crate::index::Sym::cmp_masks`] for bytes: for `j` in `0..64`, bit `j` of the first mask
/// is `w[j] < w[j + 1]`, of the second `w[j] == w[j + 1]`. `w` holds at least 65 bytes. Four
/// steps of [`byte_cmp_masks16`].
#[inline(always)]
pub(crate) fn byte_cmp_masks(w: &[u8]) -> (u64, u64) {
    let w = &w[..65];
    let (mut lt, mut eq) = (0u64, 0u64);
    for at in (0..64).step_by(16) {
        let step: &[u8; 17] = w[at..at + 17].try_into().expect("17 bytes");
        let (l, e) = byte_cmp_masks16(step);
        lt |= u64::from(l) << at;
        eq |= u64::from(e) << at;
    }
    (lt, eq)
}

/// Bit `j` of the first mask is `w[j] < w[j + 1]`, of the second `w[j] == w[j + 1]`, for `j`
/// in `0..16`.
#[inline(always)]
pub(crate) fn byte_cmp_masks16(w: &[u8; 17]) -> (u32, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline. The unaligned loads read bytes 0..16
        // and 1..17 of `w`, which has 17.
        let (le, eq) = unsafe {
            let a = _mm_loadu_si128(w.as_ptr().cast::<__m128i>());
            let b = _mm_loadu_si128(w.as_ptr().add(1).cast::<__m128i>());
            // a <= b (unsigned) exactly where max(a, b) == b.
            let le = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(a, b), b));
            let eq = _mm_movemask_epi8(_mm_cmpeq_epi8(a, b));
            (le as u32, eq as u32)
        };
        (le & !eq, eq)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (mut lt, mut eq) = (0u32, 0u32);
        for j in 0..16 {
            lt |= u32::from(w[j] < w[j + 1]) << j;
            eq |= u32::from(w[j] == w[j + 1]) << j;
        }
        (lt, eq)
    }
}

/// [`crate::index::Sym::cmp_masks`] for 32-bit symbols, like [`byte_cmp_masks`]. `w` holds at
/// least 65 symbols.
#[inline(always)]
pub(crate) fn u32_cmp_masks(w: &[u32]) -> (u64, u64) {
    let w = &w[..65];
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_castsi128_ps, _mm_cmpeq_epi32, _mm_cmplt_epi32, _mm_loadu_si128,
            _mm_movemask_ps, _mm_set1_epi32, _mm_xor_si128,
        };
        let (mut lt, mut eq) = (0u64, 0u64);
        for k in 0..16 {
            let at = 4 * k;
            // SAFETY: SSE2 is part of the x86_64 baseline. Both unaligned loads read four
            // symbols inside `w` (`at + 5 <= 65`, and `w` has 65 symbols, checked above).
            let (l, e) = unsafe {
                let a = _mm_loadu_si128(w.as_ptr().add(at).cast::<__m128i>());
                let b = _mm_loadu_si128(w.as_ptr().add(at + 1).cast::<__m128i>());
                // Unsigned order is the signed order of the values with the top bit flipped.
                let top = _mm_set1_epi32(i32::MIN);
                let l = _mm_cmplt_epi32(_mm_xor_si128(a, top), _mm_xor_si128(b, top));
                let e = _mm_cmpeq_epi32(a, b);
                (
                    _mm_movemask_ps(_mm_castsi128_ps(l)) as u64,
                    _mm_movemask_ps(_mm_castsi128_ps(e)) as u64,
                )
            };
            lt |= l << at;
            eq |= e << at;
        }
        (lt, eq)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        crate::index::scalar_cmp_masks(w)
    }
}

/// An index type whose slices can be viewed as atomics, so that several threads can scatter
/// into one array (each writing entries no other thread touches in that phase). The stores are
/// relaxed: phases are separated by rayon joins, which order them.
pub(crate) trait AtomicView: Sized {
    /// The matching atomic type.
    type Atomic: Sync;
    /// Views an exclusively borrowed slice as shared atomics.
    fn atomic_view(s: &mut [Self]) -> &[Self::Atomic];
    /// A relaxed load.
    fn load(a: &Self::Atomic) -> Self;
    /// A relaxed store.
    fn store(a: &Self::Atomic, v: Self);
    /// A relaxed add; returns the previous value.
    fn fetch_add(a: &Self::Atomic, v: Self) -> Self;
    /// A relaxed subtract; returns the previous value.
    fn fetch_sub(a: &Self::Atomic, v: Self) -> Self;
}

macro_rules! atomic_view {
    ($t:ty, $a:ty) => {
        impl AtomicView for $t {
            type Atomic = $a;
            #[inline]
            fn atomic_view(s: &mut [Self]) -> &[Self::Atomic] {
                // SAFETY: the atomic type has the same size and bit validity as the integer
                // (std guarantees it), and the alignment check below holds on every platform
                // Rust supports for these types (asserted). The exclusive borrow of `s` is held
                // for the returned lifetime, so no non-atomic access can alias it meanwhile.
                assert_eq!(std::mem::align_of::<$t>(), std::mem::align_of::<$a>());
                unsafe { &*(s as *mut [$t] as *const [$a]) }
            }
            #[inline(always)]
            fn load(a: &Self::Atomic) -> Self {
                a.load(Ordering::Relaxed)
            }
            #[inline(always)]
            fn store(a: &Self::Atomic, v: Self) {
                a.store(v, Ordering::Relaxed);
            }
            #[inline(always)]
            fn fetch_add(a: &Self::Atomic, v: Self) -> Self {
                a.fetch_add(v, Ordering::Relaxed)
            }
            #[inline(always)]
            fn fetch_sub(a: &Self::Atomic, v: Self) -> Self {
                a.fetch_sub(v, Ordering::Relaxed)
            }
        }
    };
}

atomic_view!(u32, AtomicU32);
atomic_view!(u64, AtomicU64);
