#!/usr/bin/env bash
# Builds the Go oracle for request parsing: kube-apiserver's own code (http.ReadRequest,
# RequestInfoFactory.NewRequestInfo, fields.ParseSelector, labels.Parse) at the test bed's module
# versions (test/cluster/kubebin/go.mod), reading cases on stdin and answering JSON lines.
# Used to take the expected values of test/kube/{request-target,request-info,selectors}.test.ts
# from Go, and by compare.ts (a seeded differential run). Prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$HOME/.cache/edge-metaserver/request-oracle}
command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/../../cluster/kubebin/go.mod" "$here/../../cluster/kubebin/go.sum" "$here/main.go" "$work/"
sed -i 's#^module .*#module requestoracle#' "$work/go.mod"
( cd "$work" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$out" . )
echo "$out"
