#!/usr/bin/env bash
# scripts/release/image.sh [--arch x64|arm64] [--out DIR] [--tarball FILE]
#
# The cloud shim's OCI image, made from the release tarball build.sh wrote, with no container
# engine, no daemon and no registry pull (deploy/Containerfile is the same image for machines that
# have an engine). Writes into DIR (release/ by default):
#   edge-metaserver-<version>-linux-<arch>.oci.tar   an OCI image layout in a tar (oci-layout,
#                                                    index.json, blobs/sha256/…): `skopeo copy
#                                                    oci-archive:FILE docker://REGISTRY/edge-metaserver:<version>`,
#                                                    `podman load -i FILE`, or `umoci unpack`
# One layer, whose root holds:
#   /opt/edge-metaserver/     the release tree, unchanged (relocatable: nothing in it names its path)
#   the shared libraries the bundled node and the SQLite module need, with their dynamic loader,
#                             copied from this machine (x64) or Debian's cross libraries (arm64,
#                             /usr/aarch64-linux-gnu from g++-aarch64-linux-gnu): found by walking
#                             the ELF NEEDED entries, so nothing else of the system comes along
#   /etc/ssl/certs/ca-certificates.crt, /etc/passwd and /etc/group (root, nonroot 65532), /tmp
# No shell, no package manager. The entry point runs the bundled node on the app's cli.js, as
# deploy/Containerfile's does; User 65532:65532 is deploy/'s runAsUser. Every file gets the
# tarball's commit time and root ownership, so the same tarball gives the same digests.
# Needs: tar, gzip, sha256sum, readelf (binutils).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
arch=x64
out=$repo/release
tarball=
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tarball) tarball=$2; shift 2 ;;
    -h|--help) sed -n '2,23s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x64) oci_arch=amd64; libdirs=(/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu); machine='X86-64' ;;
  arm64) oci_arch=arm64; libdirs=(/usr/aarch64-linux-gnu/lib); machine='AArch64' ;;
  *) echo "image.sh: unsupported arch $arch (x64, arm64)" >&2; exit 2 ;;
esac
version=$(node -p "require('$repo/package.json').version")
name=edge-metaserver-$version-linux-$arch
tarball=${tarball:-$out/$name.tar.gz}
[ -f "$tarball" ] || { echo "image.sh: no $tarball (npm run release -- --arch $arch first)" >&2; exit 1; }
mkdir -p "$out"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs/opt" "$rootfs/etc/ssl/certs" "$rootfs/tmp"
tar -xzf "$tarball" -C "$rootfs/opt"
mv "$rootfs/opt/$name" "$rootfs/opt/edge-metaserver"
app=$rootfs/opt/edge-metaserver/lib/edge-metaserver
node_bin=$app/node/bin/node
addon=$app/node_modules/better-sqlite3/build/Release/better_sqlite3.node
# The tree's BUILD-INFO says which platform it is for; a tarball of the other arch is refused here,
# not discovered as an image that cannot start.
grep -qx "platform=linux-$arch" "$rootfs/opt/edge-metaserver/BUILD-INFO" || { echo "image.sh: $tarball is not a linux-$arch tree" >&2; exit 1; }
readelf -h "$node_bin" | grep -q "Machine: *.*$machine" || { echo "image.sh: $node_bin is not $machine" >&2; exit 1; }

# The dynamic loader (PT_INTERP), then every NEEDED library, transitively, from libdirs.
interp=$(readelf -l "$node_bin" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
[ -n "$interp" ] || { echo "image.sh: $node_bin names no program interpreter" >&2; exit 1; }
declare -A copied=()
copy_into_root () { # FILE-ON-THIS-MACHINE PATH-IN-IMAGE
  mkdir -p "$rootfs$(dirname "$2")"
  cp -L "$1" "$rootfs$2"
  chmod 0755 "$rootfs$2"
}
# Its path in the image under /usr (merged /usr, as on Debian 12: /lib and /lib64 link there below).
interp_src=$(case "$arch" in x64) echo "$interp" ;; arm64) echo "/usr/aarch64-linux-gnu/lib/$(basename "$interp")" ;; esac)
copy_into_root "$interp_src" "/usr$interp"
queue=("$node_bin" "$addon")
while [ ${#queue[@]} -gt 0 ]; do
  file=${queue[0]}
  queue=("${queue[@]:1}")
  for lib in $(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -z "${copied[$lib]:-}" ] || continue
    found=
    for dir in "${libdirs[@]}"; do if [ -e "$dir/$lib" ]; then found=$dir/$lib; break; fi; done
    [ -n "$found" ] || { echo "image.sh: $lib (needed by ${file#"$rootfs"}) is in none of ${libdirs[*]}" >&2; exit 1; }
    # Debian's multiarch path inside the image, whatever directory it came from here.
    target=/usr/lib/$(case "$arch" in x64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; esac)/$lib
    copy_into_root "$found" "$target"
    copied[$lib]=$target
    queue+=("$rootfs$target")
  done
done
ln -s usr/lib "$rootfs/lib"
[ ! -d "$rootfs/usr/lib64" ] || ln -s usr/lib64 "$rootfs/lib64"

cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$rootfs/etc/group"
mkdir -p "$rootfs/home/nonroot" "$rootfs/etc/edge-metaserver"
chmod 1777 "$rootfs/tmp"

epoch=$(stat -c %Y "$rootfs/opt/edge-metaserver/VERSION")   # build.sh's time for every file
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$rootfs" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n < "$work/layer.tar" > "$work/layer.tar.gz"
blob () { # FILE → its sha256, moved into the layout
  local d
  d=$(sha256sum "$1" | cut -d' ' -f1)
  mv "$1" "$layout/blobs/sha256/$d"
  echo "$d"
}
layer_size=$(stat -c %s "$work/layer.tar.gz")
layer=$(blob "$work/layer.tar.gz")

entry='"/opt/edge-metaserver/lib/edge-metaserver/node/bin/node","/opt/edge-metaserver/lib/edge-metaserver/dist/src/cli.js"'
cat > "$work/config.json" <<JSON
{"created":"$created","architecture":"$oci_arch","os":"linux","config":{"User":"65532:65532","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NODE_ENV=production","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],"Entrypoint":[$entry],"Cmd":["cloud","--config","/etc/edge-metaserver/config.yaml"],"WorkingDir":"/","Labels":{"org.opencontainers.image.title":"edge-metaserver","org.opencontainers.image.version":"$version"}},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},"history":[{"created":"$created","created_by":"scripts/release/image.sh from $name.tar.gz"}]}
JSON
config_size=$(stat -c %s "$work/config.json")
config=$(blob "$work/config.json")
cat > "$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer","size":$layer_size}],"annotations":{"org.opencontainers.image.created":"$created"}}
JSON
manifest_size=$(stat -c %s "$work/manifest.json")
manifest=$(blob "$work/manifest.json")
cat > "$layout/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$manifest_size,"platform":{"architecture":"$oci_arch","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"$version"}}]}
JSON
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
find "$layout" -exec touch -h -d "@$epoch" {} +
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$layout" -cf "$out/$name.oci.tar" oci-layout index.json blobs
echo "$out/$name.oci.tar: manifest sha256:$manifest, layer $((layer_size / 1048576)) MiB (tag $version)"
