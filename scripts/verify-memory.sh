#!/usr/bin/env bash
# Peak memory of verification against the size of the image (issue #4): generates
# firmware-like pairs of growing size with `fwdelta demo`, then re-verifies each patch
#   1. with the CLI, `fwdelta verify SRC PATCH --dest-md5 HEX --dest-size N`, under GNU time
#      (peak RSS of the process: it counts the source's mapped pages as they are read);
#   2. with `examples/verify_memory`, which reports the verifier's peak Rust heap (a counting
#      allocator), its peak anonymous memory (RssAnon, sampled every 2 ms; this includes the
#      zstd decoder's C allocations) and the source pages it mapped (RssFile).
# Prints a markdown table. Not a unit test: it takes minutes and a few GB of disk.
#
#   bash scripts/verify-memory.sh [OUTDIR] [SIZES_MIB...]      # default: 16 64 256
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-$root/bench-out/verify-memory}
shift || true
sizes=${*:-16 64 256}
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p fwdelta -p fwdelta-patch --example verify_memory
fw="$target/release/fwdelta"
vm="$target/release/examples/verify_memory"
timer=/usr/bin/time
[ -x "$timer" ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
mkdir -p "$out"
echo "| image | patch bytes | CLI verify peak RSS | CLI verify s | Rust heap peak | RssAnon peak | RssFile at end |"
echo "|---|---|---|---|---|---|---|"
for mib in $sizes; do
  dir="$out/$mib"
  if [ ! -f "$dir/.done" ]; then
    "$fw" demo --quiet --size $((mib * 1024 * 1024)) --dir "$dir" >/dev/null
    touch "$dir/.done"
  fi
  src=$dir/fw-1.0.0.bin dst=$dir/fw-1.1.0.bin patch=$dir/fw-1.0.0-to-1.1.0.fwd
  md5=$(md5sum "$dst" | cut -d' ' -f1)
  size=$(stat -c %s "$dst")
  # Drop nothing from the page cache: both runs see the same warm cache.
  $timer -f '%M %e' -o "$dir/time.txt" "$fw" verify --quiet "$src" "$patch" \
    --dest-md5 "$md5" --dest-size "$size" >/dev/null
  read -r rss_kib secs <"$dir/time.txt"
  line=$("$vm" "$src" "$patch" "$md5" "$size")
  case $line in verdict=match*) ;; *) echo "verification failed: $line" >&2; exit 1 ;; esac
  heap=$(sed -E 's/.*heap_peak_bytes=([0-9]+).*/\1/' <<<"$line")
  anon=$(sed -E 's/.*rss_anon_peak_kib=([0-9]+).*/\1/' <<<"$line")
  file=$(sed -E 's/.*rss_file_kib=([0-9]+).*/\1/' <<<"$line")
  awk -v m="$mib" -v p="$(stat -c %s "$patch")" -v r="$rss_kib" -v s="$secs" -v h="$heap" \
    -v a="$anon" -v f="$file" 'BEGIN { printf "| %s MiB | %s | %.1f MiB | %s | %.1f MiB | %.1f MiB | %.1f MiB |\n", m, p, r / 1024, s, h / 1048576, a / 1024, f / 1024 }' 
done
