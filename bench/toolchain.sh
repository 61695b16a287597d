#!/bin/sh
# Cold build of the demo project with the host compiler and with zig (glibc 2.17),
# one after the other on the same machine: wall and CPU time, the highest GLIBC_
# version the tree needs, and the tree's size. Each run gets an empty cache (zig's
# cache of glibc stubs included); sources come from the user's source cache.
#
#   bench/toolchain.sh [--jobs N] [--glibc V]
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc); GLIBC=2.17
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) JOBS=$2; shift 2 ;;
    --glibc) GLIBC=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cargo build --release -q
FB=${CARGO_TARGET_DIR:-$PWD/target}/release/ferrobus
USER_CACHE=$($FB cache path)
$FB fetch projects/demo-agent.toml >/dev/null
WORK=$(mktemp -d /tmp/fb-tc.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/projects"
ln -s "$PWD/software-defs" "$WORK/software-defs"
ln -s "$PWD/examples" "$WORK/examples"
# The demo project without its own [toolchain] and glibc floor, then with zig's.
python3 - projects/demo-agent.toml "$WORK/projects" "$GLIBC" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"(?ms)^\[toolchain\].*?(?=^\[)", "", text)
text = re.sub(r"(?m)^glibc_floor\s*=.*\n", "", text)
open(f"{sys.argv[2]}/host.toml", "w").write(text)
open(f"{sys.argv[2]}/zig.toml", "w").write(
    text + f'\n[toolchain]\ncompiler = "zig"\nglibc = "{sys.argv[3]}"\n')
PY

printf '%-6s %8s %8s  %-28s %8s %8s\n' toolchain wall cpu "highest GLIBC" tree tar.xz
for tc in host zig; do
  cache=$WORK/c-$tc
  mkdir -p "$cache"
  ln -s "$USER_CACHE/sources" "$cache/sources"
  start=$(date +%s.%N)
  sh -c '"$@" >"$0.json" 2>"$0.err"; s=$?; times > "$0.times"; exit $s' "$WORK/$tc" \
    "$FB" --json --cache-dir "$cache" --build-dir "$WORK/b-$tc" --dist-dir "$WORK/d-$tc" \
    build "$WORK/projects/$tc.toml" --jobs "$JOBS" \
    || { echo "$tc build failed:" >&2; tail -20 "$WORK/$tc.err" >&2; exit 1; }
  end=$(date +%s.%N)
  cpu=$(tail -1 "$WORK/$tc.times" \
        | awk '{ split($1,u,"m"); split($2,s,"m"); sub("s","",u[2]); sub("s","",s[2]); print u[1]*60+u[2]+s[1]*60+s[2] }')
  python3 - "$WORK/$tc.json" "$tc" "$(echo "$end - $start" | bc)" "$cpu" "$WORK/d-$tc" <<'PY'
import glob, json, os, sys
r = json.load(open(sys.argv[1]))
(v, f) = r["check"]["max_glibc"]
size = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(r["embedded"]) for n in ns
           if not os.path.islink(os.path.join(d, n)))
xz = sum(os.path.getsize(p) for p in glob.glob(f"{sys.argv[5]}/*.tar.xz"))
glibc = f"{v[0]}.{v[1]} ({os.path.basename(f)})"
print(f"{sys.argv[2]:<9} {float(sys.argv[3]):7.0f}s {float(sys.argv[4]):7.0f}s  {glibc:<28} "
      f"{size / 1e6:6.0f}MB {xz / 1e6:6.1f}MB")
PY
done
