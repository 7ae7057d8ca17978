#!/usr/bin/env bash
# Builds the real control plane used by the tests (kube-apiserver, kube-controller-manager, kubectl
# at v1.37.x by default, v1.34.x with EDGE_METASERVER_KUBE_VERSION=1.34.4; etcd v3.6.x), helm v3 (the chart test), the client-go test client and the request-parsing oracle (kube-apiserver's
# own parsing code, test/kube/go-oracle) from the Go module proxy, into a cache
# directory outside the repo keyed by version. Only what is missing is built, so a warm run takes
# seconds. The first (cold) run downloads ~1 GiB of modules and compiles for several minutes.
#
# Prints the cache directory's layout as KEY=PATH lines on stdout at the end (the harness reads them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# One wrapper module per proven Kubernetes release: kubebin/ is the default (the newest), older ones
# sit in kubebin-<major.minor>/ and are selected by EDGE_METASERVER_KUBE_VERSION (the harness passes
# the same variable through, so a whole test run uses one version).
kubebin="$here/kubebin"
if [ -n "${EDGE_METASERVER_KUBE_VERSION:-}" ]; then
  want=${EDGE_METASERVER_KUBE_VERSION#v}
  for dir in "$here"/kubebin "$here"/kubebin-*; do
    if grep -q "^[[:space:]]*k8s.io/kubernetes v$want\b" "$dir/go.mod" 2>/dev/null; then kubebin=$dir; want=; break; fi
  done
  [ -z "$want" ] || { echo "build-binaries: no wrapper module in $here/kubebin*/ requires k8s.io/kubernetes v$want (EDGE_METASERVER_KUBE_VERSION)" >&2; exit 1; }
fi
KUBE_VERSION=$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\).*/\1/p; s/^\tk8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' "$kubebin/go.mod" | head -1)
ETCD_VERSION=$(sed -n 's/^\tgo.etcd.io\/etcd\/server\/v3 \(v[0-9.]*\).*/\1/p' "$here/etcdbin/go.mod" | head -1)
HELM_VERSION=$(sed -n 's/^\thelm.sh\/helm\/v3 \(v[0-9.]*\).*/\1/p' "$here/helmbin/go.mod" | head -1)
cache=${EDGE_METASERVER_CACHE:-$HOME/.cache/edge-metaserver}
kube_dir="$cache/kube-$KUBE_VERSION"
etcd_dir="$cache/etcd-$ETCD_VERSION"
helm_dir="$cache/helm-$HELM_VERSION"
client_src="$here/../clients/go"
client_hash=$(cat "$client_src"/*.go "$client_src"/go.mod "$client_src"/go.sum 2>/dev/null | sha256sum | cut -c1-16 || true)
client_dir="$cache/client-go-$client_hash"
# The same client sources built against the newest client-go (WatchList on by default there), with
# an alternate module file, so both the test bed's client-go and the newest are exercised.
client_latest_mod=go.0.37.mod
client_latest_hash=$(cat "$client_src"/*.go "$client_src/$client_latest_mod" "$client_src/${client_latest_mod%.mod}.sum" 2>/dev/null | sha256sum | cut -c1-16 || true)
client_latest_dir="$cache/client-go-latest-$client_latest_hash"
# The oracle is built against the selected test bed's own module graph (kubebin's go.mod/go.sum), so it
# parses requests with exactly the apimachinery/apiserver code the test bed's kube-apiserver runs.
oracle_src="$here/../kube/go-oracle"
oracle_hash=$(cat "$oracle_src/main.go" "$kubebin/go.mod" "$kubebin/go.sum" | sha256sum | cut -c1-16)
oracle_dir="$cache/request-oracle-$oracle_hash"

# Go is often installed in /usr/local/go and put on PATH only by an interactive shell's profile.
if ! command -v go >/dev/null 2>&1; then
  for dir in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin"; do
    [ -x "$dir/go" ] && export PATH="$dir:$PATH" && break
  done
fi
command -v go >/dev/null 2>&1 || { echo "build-binaries: Go >= 1.24 is required (not found on PATH or in /usr/local/go)" >&2; exit 1; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

# Test files run in parallel and each asks for the binaries: one build at a time, the rest wait.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
log() { printf '[build-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ldflags that make /version (and kubectl version) report the real release instead of v0.0.0-master.
version_ldflags() {
  local v=$1 minor
  minor=$(echo "$v" | cut -d. -f2)
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  echo "$ld"
}

build_one() { # dir module-dir package output [ldflags]
  local out=$1 moddir=$2 pkg=$3 ld=${4:--s -w}
  if [ -x "$out" ]; then log "cached: $out"; return; fi
  log "building $(basename "$out") from $pkg (cold: minutes, see README; warm: cached)"
  local start=$SECONDS
  mkdir -p "$(dirname "$out")"
  ( cd "$moddir" && go build -trimpath -ldflags "$ld" -o "$out.tmp" "$pkg" )
  mv "$out.tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - start))s"
}

ld=$(version_ldflags "$KUBE_VERSION")
build_one "$etcd_dir/etcd" "$here/etcdbin" go.etcd.io/etcd/server/v3
build_one "$kube_dir/kube-apiserver" "$kubebin" k8s.io/kubernetes/cmd/kube-apiserver "$ld"
build_one "$kube_dir/kube-controller-manager" "$kubebin" k8s.io/kubernetes/cmd/kube-controller-manager "$ld"
build_one "$kube_dir/kubectl" "$kubebin" k8s.io/kubernetes/cmd/kubectl "$ld"
# helm: no Debian package; its version string is a linker variable (else `helm version` says v3.x-dev).
build_one "$helm_dir/helm" "$here/helmbin" helm.sh/helm/v3/cmd/helm "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
if [ -d "$here/../clients/go" ]; then
  build_one "$client_dir/inclusterclient" "$here/../clients/go" . 
  GOFLAGS="$GOFLAGS -modfile=$client_latest_mod" build_one "$client_latest_dir/inclusterclient" "$here/../clients/go" .
fi
# main.go lives outside kubebin: build it in a scratch module that copies kubebin's go.mod/go.sum.
if [ -x "$oracle_dir/request-oracle" ]; then
  log "cached: $oracle_dir/request-oracle"
else
  oracle_mod=$(mktemp -d)
  trap 'rm -rf "$oracle_mod"' EXIT
  cp "$kubebin/go.mod" "$kubebin/go.sum" "$oracle_src/main.go" "$oracle_mod/"
  sed -i 's#^module .*#module edge-metaserver.local/requestoracle#' "$oracle_mod/go.mod"
  build_one "$oracle_dir/request-oracle" "$oracle_mod" .
fi

echo "KUBE_VERSION=$KUBE_VERSION"
echo "ETCD=$etcd_dir/etcd"
echo "KUBE_APISERVER=$kube_dir/kube-apiserver"
echo "KUBE_CONTROLLER_MANAGER=$kube_dir/kube-controller-manager"
echo "KUBECTL=$kube_dir/kubectl"
echo "HELM=$helm_dir/helm"
echo "CLIENT_GO=$client_dir/inclusterclient"
echo "CLIENT_GO_LATEST=$client_latest_dir/inclusterclient"
echo "REQUEST_ORACLE=$oracle_dir/request-oracle"
