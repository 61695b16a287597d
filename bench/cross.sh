#!/bin/sh
# Cross-build benchmark of the demo project: a cold linux-x86_64 build, then a
# cold linux-aarch64 build (cross-compiled by zig) in the same cache, same run;
# the aarch64 build reuses the x86-64 interpreter it runs its Python tools with
# (built by the first build), so its time is what the second architecture
# costs. Then the unchanged rebuild (no-op) of each target, three runs each,
# median. Sources come from the user's source cache (fetched first), so the
# network is not measured; every run ends with `sync`.
#
#   bench/cross.sh [--jobs N]
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) JOBS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cargo build --release -q
FB=${CARGO_TARGET_DIR:-$PWD/target}/release/ferrobus
USER_CACHE=$($FB cache path)
$FB fetch projects/demo-agent.toml >/dev/null
WORK=$(mktemp -d /tmp/fb-cross.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/cache"
ln -s "$USER_CACHE/sources" "$WORK/cache/sources"

# run NAME TARGET: a build of TARGET; prints its wall seconds.
run() {
  start=$(date +%s.%N)
  "$FB" --json --defs software-defs --cache-dir "$WORK/cache" --build-dir "$WORK/build" \
    --dist-dir "$WORK/dist" build projects/demo-agent.toml --jobs "$JOBS" --target "$2" \
    >"$WORK/$1.json" 2>"$WORK/$1.err" || { tail -30 "$WORK/$1.err" >&2; exit 1; }
  sync
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }

X86=$(run cold-x86_64 linux-x86_64)
ARM=$(run cold-aarch64 linux-aarch64)
X1=$(run noop-x86_64-1 linux-x86_64); X2=$(run noop-x86_64-2 linux-x86_64); X3=$(run noop-x86_64-3 linux-x86_64)
A1=$(run noop-aarch64-1 linux-aarch64); A2=$(run noop-aarch64-2 linux-aarch64); A3=$(run noop-aarch64-3 linux-aarch64)
NX=$(median "$X1" "$X2" "$X3"); NA=$(median "$A1" "$A2" "$A3")
ls "$WORK/dist" | grep -q 'arm64.deb' || { echo "no arm64 deb was written" >&2; exit 1; }

printf '%-34s %10s\n' "demo-agent, $JOBS jobs" "seconds"
printf '%-34s %10.1f\n' "cold linux-x86_64 (reference)" "$X86"
printf '%-34s %10.1f\n' "cold linux-aarch64 (cross)" "$ARM"
printf '%-34s %10.2fx   (target: within 1.3x)\n' "cross / native" "$(echo "$ARM / $X86" | bc -l)"
printf '%-34s %10.2f   (median of 3; target < 2 s)\n' "no-op rebuild linux-x86_64" "$NX"
printf '%-34s %10.2f   (median of 3; target < 2 s)\n' "no-op rebuild linux-aarch64" "$NA"
