#!/usr/bin/env bash
# npm run release [-- --arch x64,arm64] [--out DIR] [--no-deb]
#
# Builds, for each architecture, a tree that runs on a node with no npm, no compiler, no internet
# and any (or no) Node.js of its own, then packs it twice from the same bytes:
#   edge-metaserver-<version>-linux-<arch>.tar.gz   (install.sh --prefix/--root, --uninstall)
#   edge-metaserver_<version>_<amd64|arm64>.deb      (dpkg-deb, maintainer scripts for user and unit)
#   SHA256SUMS                                       (beside them)
# into release/ (gitignored) by default. The tree:
#   bin/edge-metaserver                launcher: runs lib/edge-metaserver/node/bin/node, never PATH's node
#   lib/edge-metaserver/               the npm package as `npm pack` makes it (package.json "files":
#                                      compiled dist/src, systemd/, deploy/, config.example.yaml; no
#                                      tests, bench or demo), node_modules from `npm ci --omit=dev`
#                                      (exactly the lockfile's versions), better-sqlite3's native
#                                      module built for this arch and the bundled runtime's ABI
#   lib/edge-metaserver/node/          Node.js 24 LTS for this arch (registry package node-linux-<arch>)
#   systemd/  install.sh  VERSION  BUILD-INFO  README.md
# Needs: npm ci done in the repo (typescript for the build), g++ (x64 addon), and for arm64
# g++-aarch64-linux-gnu (Debian's cross toolchain); dpkg-deb for the .deb.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/scripts/release
arches=(x64 arm64)
out=$repo/release
debs=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) IFS=, read -ra arches <<<"$2"; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-deb) debs=no; shift ;;
    -h|--help) sed -n '2,22s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

t0=$(date +%s)
step () { echo "== [$(( $(date +%s) - t0 )) s] $*"; }

version=$(node -p "require('$repo/package.json').version")
node_version=$(bash "$here/node-runtime.sh" --version)
commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
# Every file in the archives gets this time, so a rebuild of the same commit packs the same bytes.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
work=$out/.work
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

step "Node.js $node_version runtimes: ${arches[*]}"
declare -A runtime
for arch in "${arches[@]}"; do
  case "$arch" in x64|arm64) ;; *) echo "build.sh: unsupported arch $arch (x64, arm64)" >&2; exit 2 ;; esac
  runtime[$arch]=$(bash "$here/node-runtime.sh" "$arch")
done

step "app: npm pack (its prepare script compiles src/ with tsc; package.json \"files\" decides what goes in)"
rm -rf "$repo/dist"   # no file of a removed source may ride along
(cd "$repo" && npm pack --silent --pack-destination "$work" >/dev/null)
tar -xzf "$work/edge-metaserver-$version.tgz" -C "$work"
mv "$work/package" "$work/app"
cp "$repo/package-lock.json" "$work/app/"

step "production dependencies: npm ci --omit=dev --ignore-scripts (the lockfile's exact versions)"
(cd "$work/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
bs=$work/app/node_modules/better-sqlite3
bs_version=$(node -p "require('$bs/package.json').version")

for arch in "${arches[@]}"; do
  name=edge-metaserver-$version-linux-$arch
  tree=$work/$name
  node_dir=${runtime[$arch]}

  step "$arch: better-sqlite3 $bs_version native module for Node.js $node_version"
  addon=$(bash "$here/build-sqlite-addon.sh" "$arch" "$bs" "$repo/node_modules/better-sqlite3")

  step "$arch: tree"
  mkdir -p "$tree/bin" "$tree/systemd" "$tree/lib"
  cp -R "$work/app" "$tree/lib/edge-metaserver"
  # The addon's sources and build files are for building only; bindings() looks in build/Release.
  rm -rf "$tree/lib/edge-metaserver/node_modules/better-sqlite3/"{deps,src,build,binding.gyp}
  mkdir -p "$tree/lib/edge-metaserver/node_modules/better-sqlite3/build/Release"
  cp "$addon" "$tree/lib/edge-metaserver/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
  mkdir -p "$tree/lib/edge-metaserver/node/bin"
  cp "$node_dir/bin/node" "$tree/lib/edge-metaserver/node/bin/node"
  cp "$node_dir/LICENSE" "$tree/lib/edge-metaserver/node/LICENSE"
  install -m 0755 "$here/launcher.sh" "$tree/bin/edge-metaserver"
  install -m 0755 "$here/install.sh" "$tree/install.sh"
  install -m 0644 "$repo/systemd/edge-metaserver.service" "$repo/systemd/edge-metaserver.sysusers" "$tree/systemd/"
  install -m 0644 "$repo/README.md" "$tree/README.md"
  echo "$version" > "$tree/VERSION"
  abi=$(case "$arch" in x64) "$node_dir/bin/node" -p process.versions.modules ;; *) "${runtime[x64]:-$(bash "$here/node-runtime.sh" x64)}/bin/node" -p process.versions.modules ;; esac)
  cat > "$tree/BUILD-INFO" <<INFO
name=edge-metaserver
version=$version
commit=$commit
platform=linux-$arch
node=$node_version
node_module_version=$abi
better_sqlite3=$bs_version
INFO

  step "$arch: $name.tar.gz"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$work" -cf - "$name" | gzip -n > "$out/$name.tar.gz"

  if [ "$debs" = yes ]; then
    debarch=$(case "$arch" in x64) echo amd64 ;; arm64) echo arm64 ;; esac)
    deb=edge-metaserver_${version}_$debarch.deb
    step "$arch: $deb (the same tree, installed by its install.sh under /usr)"
    root=$work/deb-$arch
    sh "$tree/install.sh" --root "$root" --prefix /usr --no-hooks >/dev/null
    mkdir -p "$root/usr/share/doc/edge-metaserver" "$root/DEBIAN"
    cat > "$root/usr/share/doc/edge-metaserver/copyright" <<COPY
edge-metaserver $version: Apache-2.0.
Bundled: Node.js $node_version (MIT and others: /usr/lib/edge-metaserver/node/LICENSE) and the npm
packages under /usr/lib/edge-metaserver/node_modules, each with its own license file.
COPY
    installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$debarch/" -e "s/@SIZE@/$installed_kb/" -e "s/@NODE@/$node_version/" \
      "$here/deb/control" > "$root/DEBIAN/control"
    for script in postinst prerm postrm; do install -m 0755 "$here/deb/$script" "$root/DEBIAN/$script"; done
    find "$root" -newermt "@$epoch" -exec touch -h -d "@$epoch" {} + 2>/dev/null || true
    # gzip, not dpkg's default xz: readable by every dpkg, and xz takes minutes for the ~140 MB tree
    # on a small machine.
    SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zgzip -z6 --build "$root" "$out/$deb" >/dev/null
  fi
done

step "SHA256SUMS"
(cd "$out" && sha256sum -- edge-metaserver-"$version"-linux-*.tar.gz $(ls edge-metaserver_"$version"_*.deb 2>/dev/null) > SHA256SUMS)
cat "$out/SHA256SUMS"
ls -l "$out"
step "done"
