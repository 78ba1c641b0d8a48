#!/usr/bin/env bash
# fetch-qemu.sh VERSION [CACHE] - a configured real QEMU tree for qlint's integration tests and benchmarks.
#
# The tree comes from Debian's source packages (7.2 from bookworm, 10.0 from trixie), is configured with
# meson (compile_commands.json) and has its generated headers and sources built (a few generator
# programs are compiled for that); nothing else is compiled.
# The result is cached under CACHE (default: $QLINT_QEMU_CACHE or ~/.cache/qlint/qemu); a second call
# finds the marker file and returns at once. Prints the tree's path as its last line.
set -euo pipefail
ver=${1:?usage: fetch-qemu.sh 7.2|10.0 [CACHE]}
cache=${2:-${QLINT_QEMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qlint/qemu}}
case $ver in
  7.2)  pkgver='1:7.2+dfsg-7+deb12u18'; suite=bookworm; target=riscv64-softmmu ;;
  10.0) pkgver='1:10.0.13+ds-0+deb13u1'; suite=trixie; target=ppc64-softmmu ;;
  *) echo "fetch-qemu.sh: unknown version '$ver' (expected 7.2 or 10.0)" >&2; exit 2 ;;
esac
marker=.qlint-tree-ready-3    # -3: every generated source, not only headers
mkdir -p "$cache/$ver"; cd "$cache/$ver"
tree=$(ls -d qemu-*/ 2>/dev/null | head -1 || true)
tree=${tree%/}
if [[ -n $tree && -f $tree/build/$marker ]]; then echo "$cache/$ver/$tree"; exit 0; fi

log() { echo "fetch-qemu.sh: $*" >&2; }
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }

# A deb-src entry for the suite, derived from the machine's own Debian mirror configuration.
src=/etc/apt/sources.list.d/qlint-src-$suite.sources
if [[ ! -f $src ]]; then
  log "adding deb-src for $suite"
  sed -e 's/^Types: deb$/Types: deb-src/' -e "s/^Suites: .*/Suites: $suite/" \
      /etc/apt/sources.list.d/debian.sources | awk 'BEGIN{RS="";ORS="\n\n"} NR==1' \
    | as_root tee "$src" >/dev/null
  as_root apt-get update -qq >/dev/null
fi
# libfdt-dev: the dfsg tarballs drop the bundled dtc, and the riscv/ppc targets need fdt.
log "installing build dependencies"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ninja-build libglib2.0-dev pkg-config \
  libaio-dev libpixman-1-dev zlib1g-dev libfdt-dev bzip2 flex bison dpkg-dev >/dev/null
# QEMU 10.0's configure wants pycotap in the Python it runs with; Debian's tarball has no
# python/wheels to install it from offline.
python3 -m pip install -q 'meson==1.5.0' 'pycotap==1.3.1' >/dev/null

if [[ -z $(ls ./*.orig.tar.* 2>/dev/null) ]]; then
  log "downloading qemu=$pkgver"
  apt-get source --download-only "qemu=$pkgver" >/dev/null
fi
if [[ -z $tree ]]; then
  tar xf ./*.orig.tar.*
  tree=$(ls -d qemu-*/ | head -1); tree=${tree%/}
fi
cd "$tree"; mkdir -p build; cd build
log "configuring $tree for $target"
../configure --target-list=$target --disable-docs --enable-tools --disable-werror --enable-linux-aio \
  --disable-install-blobs >configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
log "generating sources"
# Every generated header and source the TUs use: trace-*.c, block/block-gen.c (the co_wrapper
# functions), decodetree's *.c.inc, qemu-options.def. A few generators are built first.
ninja -t targets all 2>/dev/null | grep -E '\.(h|c|inc|def): (CUSTOM_COMMAND|phony)' | cut -d: -f1 \
  | xargs -r ninja >gen.log 2>&1 || { tail -20 gen.log >&2; exit 1; }
touch "$marker"
echo "$cache/$ver/$tree"
