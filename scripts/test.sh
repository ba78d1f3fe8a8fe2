#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then runs every test.
#   bash scripts/test.sh
# Needs: the Rust toolchain, python3 (3.8+), and either root (apt-get) or Debian's `bsdiff`
# package (its bsdiff/bspatch are the interoperability oracles) and a C++ compiler (libFuzzer
# is built from source for the fuzz smoke test) already installed.
# FWDELTA_SKIP_FUZZ=1 leaves out the fuzz smoke test (step 4) in a local run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# 1. Debian's bsdiff 4.3 (bsdiff + bspatch): our BSDIFF40 export must apply with bspatch, and we
#    must apply patches that bsdiff makes.
#    And a C++ compiler for libFuzzer (step 4).
packages=()
if ! command -v bspatch >/dev/null || ! command -v bsdiff >/dev/null; then
  packages+=(bsdiff)
fi
if [ "${FWDELTA_SKIP_FUZZ:-0}" != 1 ] && ! command -v c++ >/dev/null; then
  packages+=(g++)
fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${packages[*]}"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# 2. The official Alibaba Cloud Python SDK, the client that proves the OTA sandbox speaks the
#    real protocol. Pinned to the versions the reference was checked with.
if [ ! -x "$root/.venv/bin/python" ] || ! "$root/.venv/bin/python" -c 'import aliyunsdkcore, aliyunsdkiot, alibabacloud_iot20180120' 2>/dev/null; then
  echo "== creating .venv with the Alibaba Cloud SDK"
  python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$root/scripts/sdk-requirements.txt"
fi
export FWDELTA_SDK_PYTHON="$root/.venv/bin/python"

# 3. Every test of the workspace (unit, integration, property, interop, doc tests).
echo "== cargo test --workspace"
cargo test --workspace --locked

# 4. Fuzz smoke test: builds every cargo-fuzz target on the stable toolchain, replays the
#    committed crash inputs, and fuzzes each target for 25 s (fuzz/README.md).
if [ "${FWDELTA_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz smoke test"
  bash scripts/fuzz-smoke.sh
fi
