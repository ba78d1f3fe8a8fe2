#!/usr/bin/env bash
# Re-create fwdelta's benchmark corpus from package registries, pinned versions only.
#
#   usage: benches/corpus/fetch.sh OUTDIR        (e.g. bench-out/corpus, which git ignores)
#
# The pinned packages are listed in benches/corpus/pins.tsv (documentation; this script is
# the source of truth). The downloaded data never goes into git. Then:
#   cargo run --release -p fwdelta-bench -- compare --corpus OUTDIR
#
# Needs: bash, python3 (+ pip), apt-get/dpkg-deb (Debian or Ubuntu host, only used as a
# downloader with a private config -- the host's apt setup is not touched), unzip, tar, md5sum.
# Downloads ~190 MB in total (Debian .debs ~43 MB, wheels ~120 MB, esptool sdists ~0.7 MB).
# Writes OUTDIR/pairs/<name>/{src,dst}.bin and OUTDIR/pairs.tsv:
#   name  src_path  dst_path  src_size  dst_size  src_md5  dst_md5
# Each image is checked against the md5 recorded when the corpus was built (x86_64);
# a mismatch is reported as a warning and the pair is kept.
#
# Debian note: superseded point-release versions may leave the archive; if an `apt-get download`
# below fails, point DEBIAN_MIRROR at an archive snapshot that still has the pinned version.
set -euo pipefail

OUT=${1:?usage: fetch.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DL="$OUT/dl"; X="$OUT/x"; PAIRS="$OUT/pairs"
mkdir -p "$DL/deb" "$DL/pypi" "$X" "$PAIRS"
PY=${PYTHON:-python3}

# ---------------------------------------------------------------- Debian (private apt config)
APTDIR="$OUT/apt"
mkdir -p "$APTDIR"/{lists/partial,cache/archives/partial,etc/parts}
: > "$APTDIR/status"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || { echo "need $KEYRING (apt-get install debian-archive-keyring)" >&2; exit 1; }
# The mirrors this host's apt already uses (override with DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR).
host_uri() {  # first apt source URI matching $1, or nothing
  cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null \
    | awk -v pat="$1" '/^URIs:/ { u = $2 } /^deb / { u = ($2 ~ /^\[/) ? $0 : $2; if ($2 ~ /^\[/) { sub(/^deb \[[^]]*\] /, "", u); split(u, a, " "); u = a[1] } }
                       u != "" && u ~ pat && !found { print u; found = 1 } { u = "" }' || true
}
M=${DEBIAN_MIRROR:-$(host_uri '/debian/?$')}
S=${DEBIAN_SECURITY_MIRROR:-$(host_uri 'security')}
[ -n "$M" ] && [ -n "$S" ] || { echo "set DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (no Debian apt sources found)" >&2; exit 1; }
cat > "$APTDIR/etc/sources.list" <<EOF
deb [signed-by=$KEYRING] $M bookworm main non-free-firmware
deb [signed-by=$KEYRING] $M trixie main non-free-firmware
deb [signed-by=$KEYRING] $S bookworm-security main non-free-firmware
EOF
cat > "$APTDIR/apt.conf" <<EOF
Dir::Etc::SourceList "$APTDIR/etc/sources.list";
Dir::Etc::SourceParts "$APTDIR/etc/parts";
Dir::State::Lists "$APTDIR/lists";
Dir::Cache "$APTDIR/cache";
Dir::State::status "$APTDIR/status";
APT::Architecture "amd64";
APT::Sandbox::User "root";
Acquire::Languages "none";
EOF
export APT_CONFIG="$APTDIR/apt.conf"
DEBS=(
  "amd64-microcode=3.20230719.1~deb12u1"
  "amd64-microcode=3.20250311.1~deb12u1"
  "firmware-misc-nonfree=20230210-5"
  "firmware-iwlwifi=20230210-5"
  "seabios=1.16.2-1"
  "seabios=1.16.3-2"
  "u-boot-qemu=2023.01+dfsg-2+deb12u3"
  "u-boot-qemu=2025.01-3+deb13u1"
  "raspi-firmware=1.20220830+ds-1"
  "raspi-firmware=1.20240424+ds-6"
  "ovmf=2022.11-6+deb12u1"
  "ovmf=2022.11-6+deb12u2"
)
need_update=0
for pv in "${DEBS[@]}"; do
  p=${pv%%=*}; v=${pv#*=}; v=${v#*:}
  ls "$DL/deb/${p}_${v}_"*.deb >/dev/null 2>&1 || need_update=1
done
if [ $need_update = 1 ]; then
  apt-get update -qq
  (cd "$DL/deb" && apt-get download "${DEBS[@]}")
fi
for f in "$DL/deb"/*.deb; do
  d="$X/$(basename "${f%.deb}")"
  [ -d "$d" ] || { mkdir -p "$d"; dpkg-deb -x "$f" "$d"; }
done

# ---------------------------------------------------------------- PyPI
pipdl() {  # pipdl NAME==VER [binary]
  local spec=$1 kind=${2:-binary}
  if [ "$kind" = sdist ]; then
    "$PY" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation "$spec" -d "$DL/pypi" \
      || "$PY" -m pip download -q --no-deps --no-binary=:all: "$spec" -d "$DL/pypi"
  else
    "$PY" -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
      --python-version 3.11 --implementation cp "$spec" -d "$DL/pypi"
  fi
}
for v in 4.8.1 4.9.0; do
  [ -f "$DL/pypi/esptool-$v.tar.gz" ] || pipdl "esptool==$v" sdist
  [ -d "$X/esptool-$v" ] || tar -xzf "$DL/pypi/esptool-$v.tar.gz" -C "$X"
done
WHEELS=(pydantic_core-2.20.0 pydantic_core-2.20.1 grpcio-1.64.0 grpcio-1.64.1
        duckdb-1.1.2 duckdb-1.1.3 polars-1.8.1 polars-1.8.2)
for nv in "${WHEELS[@]}"; do
  n=${nv%-*}; v=${nv##*-}
  ls "$DL/pypi/$nv-"*.whl >/dev/null 2>&1 || pipdl "${n//_/-}==$v"
  [ -d "$X/$nv" ] || { mkdir -p "$X/$nv"; unzip -q "$DL/pypi/$nv-"*.whl -d "$X/$nv"; }
done

# ---------------------------------------------------------------- pairs
esp_flat() {  # esptool stub JSON -> flat image: text segment || data segment
  "$PY" - "$1" "$2" <<'EOF'
import base64, json, sys
d = json.load(open(sys.argv[1]))
open(sys.argv[2], "wb").write(base64.b64decode(d["text"]) + base64.b64decode(d["data"]))
EOF
}
TSV="$OUT/pairs.tsv"
printf 'name\tsrc\tdst\tsrc_size\tdst_size\tsrc_md5\tdst_md5\n' > "$TSV"
# name | src | dst | expected src md5 | expected dst md5
add() {
  local name=$1 src=$2 dst=$3 esrc=$4 edst=$5
  mkdir -p "$PAIRS/$name"
  cp -f "$src" "$PAIRS/$name/src.bin"; cp -f "$dst" "$PAIRS/$name/dst.bin"
  local s="$PAIRS/$name/src.bin" t="$PAIRS/$name/dst.bin"
  local ms mt; ms=$(md5sum < "$s" | cut -c1-32); mt=$(md5sum < "$t" | cut -c1-32)
  [ "$ms" = "$esrc" ] || echo "WARNING: $name src md5 $ms != expected $esrc" >&2
  [ "$mt" = "$edst" ] || echo "WARNING: $name dst md5 $mt != expected $edst" >&2
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$s" "$t" "$(stat -c %s "$s")" "$(stat -c %s "$t")" "$ms" "$mt" >> "$TSV"
}
esp_flat "$X/esptool-4.8.1/esptool/targets/stub_flasher/1/esp32s3.json" "$X/esp32s3-stub-4.8.1.bin"
esp_flat "$X/esptool-4.9.0/esptool/targets/stub_flasher/1/esp32s3.json" "$X/esp32s3-stub-4.9.0.bin"
E=$X/esp32s3-stub
add esp32s3-stub    "$E-4.8.1.bin" "$E-4.9.0.bin" 94b3fdb9be4135c95a73b40e62557af8 8dda9525193dc5fc70b13c6666040ab8
A=lib/firmware/amd-ucode/microcode_amd_fam17h.bin
add amd-ucode-17h   "$X/amd64-microcode_3.20230719.1~deb12u1_amd64/$A" "$X/amd64-microcode_3.20250311.1~deb12u1_amd64/$A" ecd70cffeff1a133846d14c216033ae3 96c79e560e0aa478eb69b3c92293f6e8
I=$X/firmware-misc-nonfree_20230210-5_all/lib/firmware/i915
add i915-adlp-dmc   "$I/adlp_dmc_ver2_14.bin" "$I/adlp_dmc_ver2_16.bin" 29cb354f24647d1dd73b223d29e4e10a f2963ef2baf68c6286e29f7a3503c11c
add seabios-256k    "$X/seabios_1.16.2-1_all/usr/share/seabios/bios-256k.bin" "$X/seabios_1.16.3-2_all/usr/share/seabios/bios-256k.bin" 02647980ae57970d88975f31c84315db 23acf3be41708d6384cfe8af8130179d
U=usr/lib/u-boot/qemu_arm64/u-boot.bin
add uboot-qemu-arm64 "$X/u-boot-qemu_2023.01+dfsg-2+deb12u3_all/$U" "$X/u-boot-qemu_2025.01-3+deb13u1_all/$U" fdead87838c8b12d5752eadd7024c5ea ac64c3caf307de1c869867b7d8bc77f4
W=$X/firmware-iwlwifi_20230210-5_all/lib/firmware
add iwlwifi-ty-a0   "$W/iwlwifi-ty-a0-gf-a0-66.ucode" "$W/iwlwifi-ty-a0-gf-a0-72.ucode" 9f3917d70035f696e3f7e420e0e36dab 7d57219712380fd6ada9df63d6498c38
R=usr/lib/raspi-firmware/start4.elf
add rpi-start4-elf  "$X/raspi-firmware_1.20220830+ds-1_all/$R" "$X/raspi-firmware_1.20240424+ds-6_all/$R" 252707916dd7130682bbbd3b87a59b50 6a4440052299bc5117abec7dd20829b5
O=usr/share/OVMF/OVMF_CODE_4M.fd
add ovmf-code-4m    "$X/ovmf_2022.11-6+deb12u1_all/$O" "$X/ovmf_2022.11-6+deb12u2_all/$O" 21620b3285b89f5402f7847dbcb0c2f2 bb02a7e65ce579140327f094aa709263
S=pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so
add pydantic-core-so "$X/pydantic_core-2.20.0/$S" "$X/pydantic_core-2.20.1/$S" 741f521ee65f40ba634011918a5b4996 5747daffdaa013df1ed378025560d8a8
S=grpc/_cython/cygrpc.cpython-311-x86_64-linux-gnu.so
add grpcio-cygrpc-so "$X/grpcio-1.64.0/$S" "$X/grpcio-1.64.1/$S" 0618541ac334c45e6cdab338caf85f76 b1b3574ee0579b02b3c9d181ece54716
S=duckdb/duckdb.cpython-311-x86_64-linux-gnu.so
add duckdb-so       "$X/duckdb-1.1.2/$S" "$X/duckdb-1.1.3/$S" 8c6c9d4039249e929c96b4c8c6a24276 cc3a408fc30438e808cd42cc0fcf8290
S=polars/polars.abi3.so
add polars-so       "$X/polars-1.8.1/$S" "$X/polars-1.8.2/$S" 14d9860340a80210e2b410229e11a979 e93ae0a2f6edf57d0c5fcd7fb781dd98

echo "corpus ready: $TSV"
column -t -s $'\t' "$TSV" | cut -c1-200
