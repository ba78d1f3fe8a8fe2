#!/usr/bin/env bash
# Fuzz smoke test: builds every fuzz target with cargo-fuzz on the STABLE toolchain, replays
# the committed crash inputs (tests/data/fuzz-regressions/<target>/), then fuzzes each target
# for a bounded time starting from a temporary copy of its committed seed corpus
# (fuzz/seeds/<target>/, which is never written to). Fails if anything crashes, leaks past
# the memory limits, or times out; crash inputs are copied to fuzz/artifacts/<target>/.
#
#   bash scripts/fuzz-smoke.sh                  # 25 s per target
#   FUZZ_SMOKE_SECONDS=60 bash scripts/fuzz-smoke.sh
#   FUZZ_SMOKE_TARGETS="apply_fwdelta sufsort" bash scripts/fuzz-smoke.sh
#
# Needs: the Rust toolchain (stable is enough, see fuzz/README.md), a C++ compiler (libFuzzer
# is built from source by libfuzzer-sys), network access to crates.io the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${FUZZ_SMOKE_SECONDS:-25}
cargo_fuzz_version=0.13.2

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, -Cpasses=sancov-module is
# stable but the sanitizer is not); RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
# It is set for this script's cargo calls only.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$root/fuzz/target"

if ! cargo fuzz --version 2>/dev/null | grep -qF "$cargo_fuzz_version"; then
  echo "== installing cargo-fuzz $cargo_fuzz_version"
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --quiet
fi

cd "$root/fuzz"
targets=${FUZZ_SMOKE_TARGETS:-$(cargo fuzz list)}
start=$(date +%s)
echo "== cargo fuzz build (all targets, address sanitizer)"
cargo fuzz build --sanitizer address
echo "== build took $(( $(date +%s) - start )) s"
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"

# Memory: every allocation above 256 MB and an RSS above 2 GB are crashes (the appliers'
# finer heap bound is asserted inside the targets).
limits=(-rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=20)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
summary=()
for t in $targets; do
  regress="$root/tests/data/fuzz-regressions/$t"
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
    echo "== $t: replaying $(ls "$regress" | wc -l) regression inputs"
    if ! "$bin/$t" "${limits[@]}" -runs=0 "$regress" >"$work/$t.replay.log" 2>&1; then
      tail -n 40 "$work/$t.replay.log"
      failed+=("$t (regression replay)")
      continue
    fi
  fi
  echo "== $t: fuzzing for $secs s"
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp "$root/fuzz/seeds/$t/"* "$work/$t/corpus/"
  if "$bin/$t" "${limits[@]}" -max_total_time="$secs" -print_final_stats=1 \
      -artifact_prefix="$work/$t/artifacts/" "$work/$t/corpus" >"$work/$t.log" 2>&1; then
    line=$(grep -E '^#[0-9]+' "$work/$t.log" | tail -n 1 || true)
    eps=$(grep -E 'stat::average_exec_per_sec' "$work/$t.log" | awk '{print $2}')
    summary+=("$(printf '%-20s %6s exec/s  %s' "$t" "$eps" "$line")")
  else
    tail -n 60 "$work/$t.log"
    mkdir -p "$root/fuzz/artifacts/$t"
    for a in "$work/$t/artifacts/"*; do
      [ -e "$a" ] || continue
      cp "$a" "$root/fuzz/artifacts/$t/"
      echo "-- crash input $(basename "$a") (base64):"
      base64 -w 0 "$a" | head -c 4000
      echo
    done
    failed+=("$t")
  fi
done
echo "== fuzz smoke summary (${secs} s per target)"
printf '%s\n' "${summary[@]}"
echo "== total $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FUZZ SMOKE FAILED: ${failed[*]} (inputs in fuzz/artifacts/; reproduce with" \
       "'RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...' in fuzz/)"
  exit 1
fi
echo "fuzz smoke passed: $(echo $targets | wc -w) targets"
