//! The crate's only unsafe code: cache prefetch hints and a shared, atomic view of an index
//! slice for parallel scatters.
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
