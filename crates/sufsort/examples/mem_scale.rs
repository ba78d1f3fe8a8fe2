//! How much a second thread speeds up work shaped like the sort's, on this machine: random
//! reads and writes into an array of the size the sort works on, with nothing shared between
//! the threads. The induce passes, the key sort's scatter and the naming are of this kind, so
//! the speed-up measured here bounds what they can get from more threads.
//!
//! Then the round trip of one cache line between two threads, each waiting for the other's
//! write: the induce passes on two threads hand array slots from one core to the other all
//! the time (what one thread writes, the other often reads next), so this latency bounds
//! them as well. On the development VM it was about 52 ns in some stretches and about 340 ns
//! in others (the host placing the two vCPUs on cores that share a cache, or not), and the
//! two-thread sort of duckdb (`sa_time --threads 2 --reps 1 FILE`, run next to this) took
//! 1.36 s in the first kind and 1.72-1.77 s in the second.
//!
//! `cargo run --release -p fwdelta-sufsort --example mem_scale [MiB] [threads...]`
//! (default: 256 MiB, 1 and 2 threads). Prints the best of 3 runs per kind and thread count,
//! and the speed-up over one thread; then the median of 3 round-trip measurements.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;

/// A small, fast pseudo-random sequence (xorshift64*), one per thread.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// The kinds of work: independent random reads (prefetched, as the passes do), dependent
/// random reads (each address from the last read), random increments, and a sequential scan.
const KINDS: [&str; 4] = [
    "random reads, prefetched",
    "random reads, dependent",
    "random writes",
    "sequential read",
];

fn run(kind: usize, data: &mut [u32], threads: usize, per_thread: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let len = data.len();
    let start = Instant::now();
    let sink: u64 = pool.install(|| match kind {
        0 | 1 => {
            let data = &*data;
            (0..threads)
                .into_par_iter()
                .map(|t| {
                    let mut s = 0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1);
                    let mut acc = 0u64;
                    if kind == 0 {
                        // Addresses known 32 ahead, fetched early, like the passes'.
                        let mut ring = [0usize; 32];
                        for r in &mut ring {
                            *r = (next(&mut s) % len as u64) as usize;
                        }
                        for i in 0..per_thread {
                            let a = ring[i % 32];
                            let b = (next(&mut s) % len as u64) as usize;
                            fwdelta_sufsort::prefetch(data, b);
                            ring[i % 32] = b;
                            acc = acc.wrapping_add(u64::from(data[a]));
                        }
                    } else {
                        let mut a = (next(&mut s) % len as u64) as usize;
                        for _ in 0..per_thread {
                            let v = data[a];
                            acc = acc.wrapping_add(u64::from(v));
                            a = (v as usize ^ (acc as usize)) % len;
                        }
                    }
                    acc
                })
                .sum()
        }
        2 => {
            // Each thread writes its own part of the array (as the passes write their own
            // buckets' slots), at random places in it.
            let part = len.div_ceil(threads);
            data.par_chunks_mut(part)
                .enumerate()
                .map(|(t, chunk)| {
                    let mut s = 0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1);
                    let l = chunk.len() as u64;
                    for _ in 0..per_thread {
                        let a = (next(&mut s) % l) as usize;
                        chunk[a] = chunk[a].wrapping_add(1);
                    }
                    u64::from(chunk[0])
                })
                .sum()
        }
        _ => {
            let part = len.div_ceil(threads);
            data.par_chunks(part)
                .map(|chunk| {
                    let mut acc = 0u64;
                    // The same number of entries per thread as the other kinds, wrapping.
                    for i in 0..per_thread {
                        acc = acc.wrapping_add(u64::from(chunk[i % chunk.len()]));
                    }
                    acc
                })
                .sum()
        }
    });
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    secs
}

/// Nanoseconds per round trip of a cache line between two threads: each waits for the
/// other's write to the shared counter, then writes the next value.
fn round_trip() -> f64 {
    const TRIPS: u64 = 1 << 20;
    let line = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..TRIPS {
                while line.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                line.store(2 * i + 2, Ordering::Release);
            }
        });
        for i in 0..TRIPS {
            line.store(2 * i + 1, Ordering::Release);
            while line.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        }
    });
    start.elapsed().as_secs_f64() * 1e9 / TRIPS as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let mut threads: Vec<usize> = args.filter_map(|a| a.parse().ok()).collect();
    if threads.is_empty() {
        threads = vec![1, 2];
    }
    let len = mib << 18; // u32 entries
    let mut data: Vec<u32> = (0..len as u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let per_thread = 1 << 24;
    println!("{mib} MiB array, {per_thread} operations per thread");
    for (kind, name) in KINDS.iter().enumerate() {
        let mut base = None;
        for &t in &threads {
            let best = (0..3)
                .map(|_| run(kind, &mut data, t, per_thread))
                .fold(f64::INFINITY, f64::min);
            // Operations per second over all threads.
            let rate = (t * per_thread) as f64 / best;
            let b = *base.get_or_insert(rate);
            println!(
                "{name:<26} threads {t:>2}: {:>8.1} M op/s  speed-up {:.2}x",
                rate / 1e6,
                rate / b
            );
        }
    }
    let mut trips: Vec<f64> = (0..3).map(|_| round_trip()).collect();
    trips.sort_by(f64::total_cmp);
    println!(
        "cache line round trip between two threads: {:.0} ns",
        trips[1]
    );
}
