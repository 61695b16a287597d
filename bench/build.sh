#!/bin/sh
# Cold-build benchmark of the demo project: parallel (jobserver) vs one component at
# a time (--serial), same machine, same run; then the incremental case: only the
# application's own code changes (no C component, no wheel rebuilt; three runs,
# median). Every run ends with `sync`, so it pays for its own writes. Each run gets
# an empty artifact cache
# and prefix; sources come from the user's source cache (fetched first) so the
# network is not measured. During the parallel run, compiler processes (gcc's cc1, zig's `zig clang`) are
# sampled every 0.2 s to show that their number never exceeds --jobs.
# With --hardening, one more cold parallel build of the same project with
# `[toolchain] hardening = false` (every protection off, `[health] hardening = []`)
# shows what the standard hardening flags cost in CPU time (target < 5%).
# With docker-registry installed (scripts/deps), the cold parallel build pushes
# to a registry started on 127.0.0.1, `cache push` adds the sources, and two more
# full builds of the same project follow: a new build dir on the warm local
# cache, and an empty cache (sources included) with only the registry. The
# three are printed side by side: cold, warm local cache, warm remote cache only.
#
#   bench/build.sh [--jobs N] [--skip-serial] [--hardening]
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc); SERIAL=1; HARDENING=0
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) JOBS=$2; shift 2 ;;
    --skip-serial) SERIAL=0; shift ;;
    --hardening) HARDENING=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cargo build --release -q
FB=$PWD/target/release/ferrobus
USER_CACHE=$($FB cache path)
$FB fetch projects/demo-agent.toml >/dev/null
WORK=$(mktemp -d /tmp/fb-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# A copy of the project and its app, so the incremental case can edit the app.
mkdir -p "$WORK/proj"
cp -r projects examples "$WORK/proj/"
PROJECT=$WORK/proj/projects/demo-agent.toml

# run NAME ARGS...: cold build into a fresh cache; prints "wall cpu" seconds.
run() {
  name=$1; shift
  cache=$WORK/c-${CACHE_OF:-$name}
  mkdir -p "$cache"
  [ -n "${NO_SOURCES:-}" ] || [ -e "$cache/sources" ] || ln -s "$USER_CACHE/sources" "$cache/sources"
  start=$(date +%s.%N)
  # `times` (in the same shell, not a pipeline) reports the children's user+sys CPU.
  sh -c '"$@" >"$0.json" 2>"$0.err"; s=$?; times > "$0.times"; exit $s' "$WORK/$name" \
    "$FB" --json --defs software-defs --cache-dir "$cache" --build-dir "$WORK/b-$name" \
    --dist-dir "$WORK/d-$name" build "$PROJECT" "$@"
  # Each run pays for its own writes: the next one does not inherit its dirty pages.
  sync
  cpu=$(tail -1 "$WORK/$name.times" \
        | awk '{ split($1,u,"m"); split($2,s,"m"); sub("s","",u[2]); sub("s","",s[2]); print u[1]*60+u[2]+s[1]*60+s[2] }')
  end=$(date +%s.%N)
  echo "$(echo "$end - $start" | bc) $cpu"
}

# Sample compiler processes (gcc: cc1; zig cc: `zig clang ...`) while the parallel build runs.
( max=0; while [ ! -e "$WORK/done" ]; do n=$(pgrep -c -f 'cc1( |$)|zig clang ' || true); [ "$n" -gt "$max" ] && max=$n; echo "$max" > "$WORK/maxcc1"; sleep 0.2; done ) &
SAMPLER=$!
# The remote cache: a real OCI registry on a free port, its storage in $WORK.
REMOTE=""
if command -v docker-registry >/dev/null; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$WORK/registry" "$PORT" > "$WORK/registry.yml"
  docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  REGISTRY=$!
  trap 'kill $REGISTRY 2>/dev/null; rm -rf "$WORK"' EXIT
  while ! python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT))" 2>/dev/null; do sleep 0.2; done
  REMOTE="oci://127.0.0.1:$PORT/bench/cache"
fi
set -- $(run parallel --jobs "$JOBS" ${REMOTE:+--cache-remote "$REMOTE"})
touch "$WORK/done"; wait $SAMPLER 2>/dev/null || true
PWALL=$1; PCPU=$2
# The same project again: a new build dir on the warm local cache, then an
# empty cache with only the registry (the sources pushed to it first).
BUILT_PY="import json,sys; d=json.load(open(sys.argv[1])); print(sum(c['outcome']=='built' for c in d['components']) + d['app']['wheels_built'])"
CBUILT=$(python3 -c "$BUILT_PY" "$WORK/parallel.json")
set -- $(CACHE_OF=parallel run warmlocal --jobs "$JOBS"); LWALL=$1
LBUILT=$(python3 -c "$BUILT_PY" "$WORK/warmlocal.json")
if [ -n "$REMOTE" ]; then
  "$FB" --defs software-defs --cache-dir "$WORK/c-parallel" cache push --cache-remote "$REMOTE" "$PROJECT" >/dev/null
  set -- $(NO_SOURCES=1 run warmremote --jobs "$JOBS" --cache-remote "$REMOTE"); RWALL=$1
  RBUILT=$(python3 -c "$BUILT_PY" "$WORK/warmremote.json")
else
  RWALL="-"; RBUILT="docker-registry not installed"
fi
MAXCC=$(cat "$WORK/maxcc1")
# Timeline of the parallel build: which components were building at the same time.
python3 - "$WORK/parallel.json" <<'PY'
import json, sys
comps = [c for c in json.load(open(sys.argv[1]))["components"] if c["outcome"] == "built"]
comps.sort(key=lambda c: c["began"])
print(f"{'component':<12} {'start':>7} {'end':>7}  running at the same time")
for c in comps:
    b, e = c["began"], c["began"] + c["seconds"]
    other = [o["name"] for o in comps if o is not c and o["began"] < e and o["began"] + o["seconds"] > b]
    print(f"{c['name']:<12} {b:7.1f} {e:7.1f}  {', '.join(other)}")
PY
GRAPH=$(python3 -c "import json,sys; print('%.1f' % max(c['began'] + c['seconds'] for c in json.load(open(sys.argv[1]))['components']))" "$WORK/parallel.json")
OVERLAP=$(python3 -c "import json,sys; print(len([c for c in json.load(open(sys.argv[1]))['components'] if c['outcome']=='built']))" "$WORK/parallel.json")
# Incremental: the app's own code changes; same cache and build dir as the cold
# run. Three times (a different change each time): the first right after the cold
# build, then as when iterating on the app; the median is compared with cold.
IRUNS=""
for i in 1 2 3; do
  echo "# changed $i" >> "$WORK/proj/examples/demo-agent/src/demo_agent/main.py"
  set -- $(CACHE_OF=parallel run parallel --jobs "$JOBS"); IRUNS="$IRUNS $1"
  python3 - "$WORK/parallel.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
fmt = lambda p: next(f for f in ("tar.xz", "tar.zst", "deb", "rpm", "sh") if p.endswith("." + f))
pk = ", ".join("%s %.1f" % (fmt(p["path"]), p["seconds"]) for p in d["packages"])
print("app-only rebuild %.1f s: app %.1f s, relocate %.1f s, check %.2f s; installers (concurrent): %s"
      % (float(sys.argv[2]), d["app"]["seconds"], d["relocate"]["seconds"], d["check"]["seconds"], pk))
PY
done
IWALL=$(echo $IRUNS | tr ' ' '\n' | sort -n | sed -n 2p)
IWHEELS=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['app']['wheels_built'])" "$WORK/parallel.json")
if [ "$SERIAL" = 1 ]; then
  set -- $(run serial --jobs "$JOBS" --serial); SWALL=$1; SCPU=$2
else
  SWALL="-"; SCPU="-"
fi
if [ "$HARDENING" = 1 ]; then
  # The same project, every protection off (and no hardening policy).
  mkdir -p "$WORK/plain"
  cp -r projects examples "$WORK/plain/"
  python3 - "$WORK/plain/projects/demo-agent.toml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("[toolchain]\n", "[toolchain]\nhardening = false\n", 1)
s = s.replace("[health]\n", "[health]\nhardening = []\n", 1)
open(p, "w").write(s)
PY
  set -- $(PROJECT=$WORK/plain/projects/demo-agent.toml run unhardened --jobs "$JOBS"); UWALL=$1; UCPU=$2
fi
printf '\n%-26s %-16s %-16s %s\n' "full build of the demo" "cold" "warm local" "warm remote only"
f1() { case $1 in -) echo "-" ;; *) printf '%.1f' "$1" ;; esac; }
printf '%-26s %-16s %-16s %s\n' "wall (s)" "$(f1 "$PWALL")" "$(f1 "$LWALL")" "$(f1 "$RWALL")"
printf '%-26s %-16s %-16s %s\n' "components+wheels built" "$CBUILT" "$LBUILT" "$RBUILT"
CORES=$(nproc)
RATIO=$(echo "scale=3; $PWALL / ($PCPU / $CORES)" | bc)
printf '\n%-34s %s\n' "metric" "value"
printf '%-34s %s\n' "cores" "$CORES"
printf '%-34s %s\n' "--jobs" "$JOBS"
printf '%-34s %.1f s (graph built at %s s; then stage, relocate, check, package)\n' "parallel wall" "$PWALL" "$GRAPH"
printf '%-34s %.1f s\n' "parallel CPU (user+sys)" "$PCPU"
printf '%-34s %s (target <= 1.15)\n' "wall / (CPU / cores)" "$RATIO"
printf '%-34s %s (limit %s)\n' "max compiler processes seen" "$MAXCC" "$JOBS"
printf '%-34s %s\n' "components built" "$OVERLAP"
printf '%-34s %.1f s = %.1f%% of cold (target < 5%%; median of%s s), %s wheels rebuilt\n' "app-only change, rebuild" "$IWALL" "$(echo "scale=3; 100 * $IWALL / $PWALL" | bc)" "$IRUNS" "$IWHEELS"
[ "$SWALL" = "-" ] || printf '%-34s %.1f s (CPU %.1f s)\n' "serial wall (--serial)" "$SWALL" "$SCPU"
[ "$SWALL" = "-" ] || printf '%-34s %sx\n' "serial / parallel" "$(echo "scale=2; $SWALL / $PWALL" | bc)"
if [ "$HARDENING" = 1 ]; then
  printf '%-34s %.1f s (wall %.1f s)\n' "unhardened cold CPU" "$UCPU" "$UWALL"
  printf '%-34s %.1f s (wall %.1f s)\n' "hardened cold CPU (parallel)" "$PCPU" "$PWALL"
  printf '%-34s %+.1f%% CPU, %+.1f%% wall (target < 5%%)\n' "hardening cost" \
    "$(echo "scale=4; 100 * ($PCPU - $UCPU) / $UCPU" | bc)" "$(echo "scale=4; 100 * ($PWALL - $UWALL) / $UWALL" | bc)"
fi
