#!/usr/bin/env bash
# Prints the path of better-sqlite3's native module (better_sqlite3.node) built for the bundled
# Node.js runtime of ARCH (x64 or arm64), building it once per (better-sqlite3 version, Node.js
# version, arch) into ${EDGE_METASERVER_CACHE:-~/.cache/edge-metaserver}/release/.
#
#   build-sqlite-addon.sh ARCH PACKAGE_DIR [BUILT_DIR]
#
# PACKAGE_DIR is an installed better-sqlite3 (sources, binding.gyp, deps/sqlite3); it is copied,
# never built in place. BUILT_DIR, for x64, is a better-sqlite3 of the same version that npm ci
# may already have built (the repo's node_modules): its module is taken if the bundled runtime
# loads it. x64 builds with the machine's g++; arm64 cross-compiles with Debian's
# g++-aarch64-linux-gnu. node-gyp gets the headers of the very runtime it targets (--nodedir: the
# node-linux-<arch> package ships include/node), so nothing is downloaded and the ABI
# (NODE_MODULE_VERSION) is that runtime's. npm's own node-gyp is used (no extra dependency).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
arch=${1:?usage: build-sqlite-addon.sh x64|arm64 PACKAGE_DIR}
src=$(cd "${2:?usage: build-sqlite-addon.sh x64|arm64 PACKAGE_DIR}" && pwd)

node_x64=$(bash "$here/node-runtime.sh" x64)
node_target=$(bash "$here/node-runtime.sh" "$arch")
node_version=$(bash "$here/node-runtime.sh" --version)
bs_version=$("$node_x64/bin/node" -p "require('$src/package.json').version")
cache=${EDGE_METASERVER_CACHE:-$HOME/.cache/edge-metaserver}/release
out=$cache/better-sqlite3-$bs_version-node-v$node_version-linux-$arch.node
if [ -s "$out" ]; then echo "$out"; exit 0; fi

mkdir -p "$cache"
# An x64 module that npm ci already built (under the same Node.js 24, as .ci/run does) is taken
# when its version matches and the bundled runtime loads it: process.dlopen refuses another ABI
# or architecture.
built_dir=${3:-$src}
prebuilt=$built_dir/build/Release/better_sqlite3.node
if [ "$arch" = x64 ] && [ -f "$prebuilt" ] &&
   [ "$("$node_x64/bin/node" -p "require('$built_dir/package.json').version")" = "$bs_version" ] &&
   "$node_x64/bin/node" -e 'process.dlopen({ exports: {} }, process.argv[1])' "$prebuilt" 2>/dev/null; then
  cp "$prebuilt" "$out.tmp" && mv -f "$out.tmp" "$out"
  echo "build-sqlite-addon.sh: x64 module taken from $built_dir (it loads in Node.js $node_version)" >&2
  echo "$out"
  exit 0
fi

case "$arch" in
  x64) cross=() ;;
  arm64)
    command -v aarch64-linux-gnu-g++ >/dev/null || { echo "build-sqlite-addon.sh: aarch64-linux-gnu-g++ missing (apt-get install g++-aarch64-linux-gnu)" >&2; exit 1; }
    cross=(CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar STRIP=aarch64-linux-gnu-strip) ;;
  *) echo "build-sqlite-addon.sh: unknown arch $arch" >&2; exit 2 ;;
esac

npm_dir=$(dirname "$(readlink -f "$(command -v npm)")")/..
gyp=$npm_dir/node_modules/node-gyp/bin/node-gyp.js
[ -f "$gyp" ] || { echo "build-sqlite-addon.sh: npm's node-gyp not found at $gyp" >&2; exit 1; }

work=$(mktemp -d "$cache/.build-$arch.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$src" "$work/better-sqlite3"
rm -rf "$work/better-sqlite3/build"
started=$(date +%s)
(
  cd "$work/better-sqlite3"
  env "${cross[@]}" npm_config_nodedir="$node_target" JOBS="${JOBS:-2}" \
    "$node_x64/bin/node" "$gyp" rebuild --release --arch="$arch" --nodedir="$node_target" >"$work/build.log" 2>&1
) || { tail -40 "$work/build.log" >&2; echo "build-sqlite-addon.sh: node-gyp failed for $arch" >&2; exit 1; }
echo "build-sqlite-addon.sh: better-sqlite3 $bs_version for Node.js $node_version linux-$arch built in $(( $(date +%s) - started )) s" >&2
cp "$work/better-sqlite3/build/Release/better_sqlite3.node" "$out.tmp"
mv -f "$out.tmp" "$out"
echo "$out"
