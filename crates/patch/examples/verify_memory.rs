//! Measures the verifier's own memory: re-applies PATCH to the memory-mapped SRC, hashes the
//! rebuilt image as it streams out (nothing is written), and prints the verdict with
//! - the peak of the Rust heap (a wrapping global allocator counts it), which misses the
//!   zstd decoder's own buffers: they come from C `malloc`;
//! - the peak of `RssAnon` (all anonymous memory, C allocations included), sampled from
//!   `/proc/self/status` every 2 ms by a second thread;
//! - `VmHWM` and `RssFile` at the end (the mapped source pages that were read).
//!
//! ```text
//! cargo build --release -p fwdelta-patch --example verify_memory
//! target/release/examples/verify_memory SRC PATCH DEST_MD5_HEX DEST_SIZE
//! ```
//!
//! The source is a file mapping, so its pages count in `RssFile`/`VmHWM` as they are touched;
//! the heap peak is what the verifier itself allocates. `scripts/verify-memory.sh` runs this
//! on generated pairs of growing size.

// A global allocator and a file mapping cannot be written without `unsafe`; this is a
// measurement program, not library code.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::BufReader;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fwdelta_patch::{md5_hex, parse_md5_hex, verify_reader, ApplyOptions, Expected};

/// Wraps the system allocator and records the largest number of live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are updated around it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: verify_memory SRC PATCH DEST_MD5_HEX DEST_SIZE");
        std::process::exit(2);
    }
    let src_file = File::open(&args[1]).expect("open source");
    // SAFETY: the benchmark's inputs are not modified while it runs.
    let src = unsafe { memmap2::Mmap::map(&src_file) }.expect("map source");
    let patch = BufReader::new(File::open(&args[2]).expect("open patch"));
    let expected = Expected {
        md5: parse_md5_hex(&args[3]).expect("destination MD5 (32 hex digits)"),
        size: args[4].parse().expect("destination size"),
    };
    let heap_before = PEAK.load(Ordering::Relaxed);
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(status_kib("RssAnon:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak.max(status_kib("RssAnon:").unwrap_or(0))
        })
    };
    let t = Instant::now();
    let v = verify_reader(&src, patch, expected, &ApplyOptions::default());
    let secs = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let anon_peak = sampler.join().expect("sampler thread");
    let heap_peak = PEAK.load(Ordering::Relaxed);
    let kib = |f| status_kib(f).map_or_else(|| "?".to_string(), |k| k.to_string());
    match v {
        Ok(v) => println!(
            "verdict={} dst_size={} md5={} seconds={secs:.2} heap_peak_bytes={heap_peak} \
             heap_before_bytes={heap_before} rss_anon_peak_kib={anon_peak} vm_hwm_kib={} \
             rss_anon_kib={} rss_file_kib={}",
            if v.matches() { "match" } else { "MISMATCH" },
            v.actual_size,
            md5_hex(&v.actual_md5),
            kib("VmHWM:"),
            kib("RssAnon:"),
            kib("RssFile:"),
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
