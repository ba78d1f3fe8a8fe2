#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then runs every test.
#   bash scripts/test.sh
# Needs: the Rust toolchain, python3 (3.8+), and either root (apt-get) or Debian's `bsdiff`
# package already installed (its bsdiff/bspatch are the interoperability oracles).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# 1. Debian's bsdiff 4.3 (bsdiff + bspatch): our BSDIFF40 export must apply with bspatch, and we
#    must apply patches that bsdiff makes.
if ! command -v bspatch >/dev/null || ! command -v bsdiff >/dev/null; then
  echo "== installing Debian's bsdiff package"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bsdiff >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bsdiff >/dev/null
  fi
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
