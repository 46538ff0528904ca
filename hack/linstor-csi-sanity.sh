#!/usr/bin/env bash
# Provides stock linstor-csi's in-process sanity suite (pkg/driver's test
# binary, TestDriver: csi-test v5 against a live LINSTOR controller).
#
#   hack/linstor-csi-sanity.sh ensure   build it once from the Go module proxy,
#                                       cached in $PIRAEUSCTL_CACHE/linstor-csi/<version>/
#                                       (idempotent, fast when cached)
#   hack/linstor-csi-sanity.sh path     print the test binary's path
#
# Run it against a controller (the integration test linstorapi/sanity_test.go does):
#   driver.test -test.run TestDriver -sanity.linstor-endpoint=URL \
#     -sanity.node=NODE -sanity.parameter-file=FILE -sanity.csi-endpoint=unix:///tmp/x.sock
#
# The build module requires github.com/piraeusdatastore/linstor-csi at the
# version and compiles the package's tests (`go test -c`), the way
# hack/kube-apiserver.sh builds kube-apiserver.
set -euo pipefail

VERSION=${LINSTOR_CSI_VERSION:-v1.11.2}
CACHE=${PIRAEUSCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/piraeusctl}
OUT="$CACHE/linstor-csi/$VERSION/driver.test"
BUILD_DIR="$CACHE/linstor-csi/build-$VERSION"

log() { echo "linstor-csi-sanity.sh: $*" >&2; }

build() {
  local start
  start=$(date +%s)
  mkdir -p "$BUILD_DIR" "$(dirname "$OUT")"
  cd "$BUILD_DIR"
  export GOWORK=off GOFLAGS=-mod=mod
  cat >go.mod <<GOMOD
module piraeusctl.local/linstor-csi-build

go 1.26
GOMOD
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/piraeusdatastore/linstor-csi/pkg/driver"
GO
  log "resolving github.com/piraeusdatastore/linstor-csi@$VERSION"
  go get "github.com/piraeusdatastore/linstor-csi@$VERSION" >&2
  log "building pkg/driver's test binary"
  go test -c -o "$OUT.tmp" github.com/piraeusdatastore/linstor-csi/pkg/driver >&2
  mv "$OUT.tmp" "$OUT"
  log "built $OUT in $(( $(date +%s) - start ))s"
}

case "${1:-ensure}" in
  ensure) [ -x "$OUT" ] || build ;;
  path) echo "$OUT" ;;
  *) log "usage: $0 ensure|path"; exit 2 ;;
esac
