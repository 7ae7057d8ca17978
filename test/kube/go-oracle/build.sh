#!/usr/bin/env bash
# Builds the Go oracle for request parsing: kube-apiserver's own code (http.ReadRequest,
# RequestInfoFactory.NewRequestInfo, ListOptions decoding, fields.ParseSelector, labels.Parse) at the
# test bed's module versions (test/cluster/kubebin*/go.mod of the selected release), reading cases on stdin and answering JSON
# lines. test/cluster/build-binaries.sh builds it with the other test-bed binaries (cached, keyed by
# main.go and kubebin's go.mod/go.sum; REQUEST_ORACLE in its output); this prints the binary's path.
# Used by test/e2e/request-parsing-oracle.test.ts and compare.ts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/../../cluster/build-binaries.sh" | sed -n 's/^REQUEST_ORACLE=//p'
