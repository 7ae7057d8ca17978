#!/usr/bin/env bash
# Prints the directory of the Node.js 24 LTS runtime for ARCH (x64 or arm64), fetching it once.
#
# The runtime is the official Node.js build that the npm registry serves as the `node-linux-<arch>`
# package (bin/node, include/node headers, LICENSE): the only Node.js binaries reachable from CI.
# The version and the tarball's sha512 are pinned here, so CI, the release and every developer use
# the same bytes; a registry answer that does not match is an error, never a silent upgrade.
# Cached in ${EDGE_METASERVER_CACHE:-~/.cache/edge-metaserver}/node/v<version>-linux-<arch>/.
#
# Used by .ci/run (x64: the runtime the suite runs on) and scripts/release/build.sh (both arches).
set -euo pipefail

NODE_VERSION=24.22.3
arch=${1:-}
case "$arch" in
  x64) integrity='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' ;;
  arm64) integrity='sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==' ;;
  --version) echo "$NODE_VERSION"; exit 0 ;;
  *) echo "usage: $0 x64|arm64|--version" >&2; exit 2 ;;
esac

cache=${EDGE_METASERVER_CACHE:-$HOME/.cache/edge-metaserver}/node
dir=$cache/v$NODE_VERSION-linux-$arch
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.fetch-$arch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent --no-audit --no-fund "node-linux-$arch@$NODE_VERSION" >/dev/null)
  tgz=$tmp/node-linux-$arch-$NODE_VERSION.tgz
  actual="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    echo "node-runtime.sh: node-linux-$arch@$NODE_VERSION from the registry is $actual, pinned $integrity" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp"
  # Another run may have finished first: theirs is the same bytes.
  mv -T "$tmp/package" "$dir" 2>/dev/null || [ -x "$dir/bin/node" ]
fi
echo "$dir"
