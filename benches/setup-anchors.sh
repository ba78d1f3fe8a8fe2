#!/usr/bin/env bash
# Install the anchor tools the comparison runs fwdelta against.
#
#   usage: benches/setup-anchors.sh [VENV_DIR]     (default: bench-out/venv, git-ignored)
#
# Debian packages (apt-get, as root or with sudo): bsdiff (bsdiff/bspatch 4.3), xdelta3, zstd.
# PyPI packages, pinned, in a private virtual environment: bsdiff4, detools, hdiffpatch.
# The Rust anchors (the bsdiff, qbsdiff and bidiff crates) are built into fwdelta-bench itself.
# A tool that fails to install is reported here and later shown as "missing" in the table.
set -uo pipefail

cd "$(dirname "$0")/.."
VENV=${1:-bench-out/venv}
PY=${PYTHON:-python3}
status=0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
for tool in bsdiff:bsdiff xdelta3:xdelta3 zstd:zstd; do
  bin=${tool%%:*}; pkg=${tool#*:}
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"; }; then
    echo "WARNING: apt-get could not install ${need[*]}; those anchors will be reported missing" >&2
    status=1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || { echo "cannot create a venv with $PY" >&2; exit 1; }
fi
# Pinned: the versions the published table was measured with.
for spec in bsdiff4==1.3.2 detools==0.53.0 hdiffpatch==2.6.0; do
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$spec"; then
    echo "WARNING: pip could not install $spec; it will be reported missing" >&2
    status=1
  fi
done

echo "anchors:"
for bin in bsdiff bspatch xdelta3 zstd; do
  printf '  %-8s %s\n' "$bin" "$(command -v "$bin" || echo MISSING)"
done
"$VENV/bin/python" - <<'PY'
import importlib
for m in ("bsdiff4", "detools", "hdiffpatch"):
    try:
        mod = importlib.import_module(m)
        print(f"  {m:<8} {getattr(mod, '__version__', 'installed')}")
    except Exception as e:  # report, do not fail: the comparison marks it missing
        print(f"  {m:<8} MISSING ({e})")
PY
echo "venv: $VENV (pass --python $VENV/bin/python to fwdelta-bench compare, the default)"
exit $status
