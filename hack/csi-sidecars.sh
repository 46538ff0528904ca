#!/usr/bin/env bash
# Provides the Kubernetes parts around a CSI driver for the integration tests
# and the demo, built from the Go module proxy and cached outside the work tree:
#
#   csi-provisioner, csi-attacher, csi-resizer, csi-snapshotter,
#   snapshot-controller, kube-controller-manager, csi-sanity,
#   and the VolumeSnapshot CRDs (crd/*.yaml).
#
#   hack/csi-sidecars.sh ensure   build what is missing (idempotent, fast when cached)
#   hack/csi-sidecars.sh dir      print the folder that holds them (binaries, crd/)
#   hack/csi-sidecars.sh ensure-kcm  only kube-controller-manager
#
# Each tool gets its own small build module (their k8s.io versions differ),
# which requires the tool at an explicit version and copies the tool's own
# non-local replace lines. kube-controller-manager's module is a copy of
# hack/kube-apiserver.sh's, sharing its build cache.
# Cold: several minutes per tool on 2 cores (see README "Tests").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# One line per tool version; a new version builds into a new folder.
PROVISIONER_VERSION=v6.4.0
ATTACHER_VERSION=v4.13.0
RESIZER_VERSION=v2.3.0
SNAPSHOTTER_VERSION=v8.7.0
CSI_TEST_VERSION=v5.6.0
CACHE=${PIRAEUSCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/piraeusctl}
CSI_DIR="$CACHE/csi"
BUILD_ROOT="$CACHE/csi-build"

log() { echo "csi-sidecars.sh: $*" >&2; }

# copy_replaces <build dir> <module@version>: applies the module's own
# replace lines that point at other modules (not at its local folders).
copy_replaces() {
  local dir=$1 modver=$2 gomod
  gomod=$(cd "$dir" && go mod download -json "$modver" | jq -r '.GoMod // empty')
  [ -f "$gomod" ] || { log "cannot find go.mod of $modver"; return 1; }
  local args=()
  while read -r r; do [ -n "$r" ] && args+=("-replace=$r"); done < <(
    go mod edit -json "$gomod" | jq -r '.Replace // [] | .[] |
      select(.New.Version != null) |
      (.Old.Path + (if .Old.Version then "@" + .Old.Version else "" end)) + "=" + .New.Path + "@" + .New.Version')
  if [ ${#args[@]} -gt 0 ]; then (cd "$dir" && go mod edit "${args[@]}"); fi
}

# build_tool <name> <module> <version> <package> [extra module@version ...]
build_tool() {
  local name=$1 mod=$2 version=$3 pkg=$4
  shift 4
  # A binary is current when its stamp names the wanted version.
  [ -x "$CSI_DIR/$name" ] && [ "$(cat "$CSI_DIR/.$name.version" 2>/dev/null)" = "$version" ] && return 0
  local dir="$BUILD_ROOT/$name" start
  start=$(date +%s)
  mkdir -p "$dir" "$CSI_DIR"
  (
    cd "$dir"
    export GOWORK=off GOFLAGS=-mod=mod
    cat >go.mod <<EOF
module piraeusctl.local/$name-build

go 1.26
EOF
    cat >tools.go <<EOF
//go:build tools

package tools

import _ "$pkg"
EOF
    go mod edit -require="$mod@$version"
    local extra
    for extra in "$@"; do go mod edit -require="$extra"; done
    copy_replaces "$dir" "$mod@$version"
    # The tool's replace of a sibling module with a local folder is dropped by
    # copy_replaces; the extra requirements above pin those at the same version.
    go mod tidy -e >/dev/null 2>&1 || true
    log "building $name ($mod $version)"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$CSI_DIR/$name.tmp" "$pkg"
    mv "$CSI_DIR/$name.tmp" "$CSI_DIR/$name"
    echo "$version" >"$CSI_DIR/.$name.version"
  )
  log "built $name in $(($(date +%s) - start)) s"
}

ensure_crds() {
  [ -f "$CSI_DIR/crd/.copied-$SNAPSHOTTER_VERSION" ] && return 0
  local dir="$BUILD_ROOT/snapshot-controller" src
  mkdir -p "$CSI_DIR/crd"
  src=$(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod go mod download -json \
    "github.com/kubernetes-csi/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION" | jq -r '.Dir')
  # VolumeSnapshot and VolumeGroupSnapshot kinds (snapshot-controller
  # watches both), not the kustomization file.
  cp "$src"/config/crd/*snapshot.storage.k8s.io_*.yaml "$CSI_DIR/crd/"
  chmod u+w "$CSI_DIR"/crd/*.yaml
  touch "$CSI_DIR/crd/.copied-$SNAPSHOTTER_VERSION"
}

# kube-controller-manager comes from the same k8s.io/kubernetes release as
# kube-apiserver: its build module starts from a copy of
# hack/kube-apiserver.sh's (the same 31 staging replaces), so the packages
# both share come from the Go build cache.
ensure_kcm() {
  local assets version build dir start
  assets=$("$ROOT/hack/kube-apiserver.sh" dir)
  version=$(basename "$assets")
  [ -x "$CSI_DIR/kube-controller-manager" ] &&
    [ "$(cat "$CSI_DIR/.kube-controller-manager.version" 2>/dev/null)" = "$version" ] && return 0
  build="$(dirname "$assets")/build-$version"
  if [ ! -f "$build/go.sum" ]; then
    "$ROOT/hack/kube-apiserver.sh" ensure >&2
  fi
  dir="$BUILD_ROOT/kube-controller-manager"
  start=$(date +%s)
  mkdir -p "$dir" "$CSI_DIR"
  (
    cd "$dir"
    export GOWORK=off GOFLAGS=-mod=mod
    cp "$build/go.mod" "$build/go.sum" .
    go mod edit -module=piraeusctl.local/kube-controller-manager-build
    cat >tools.go <<'EOF2'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-controller-manager"
EOF2
    local minor=${version#v1.}; minor=${minor%%.*}
    local v=k8s.io/component-base/version
    log "building kube-controller-manager $version"
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
      -o "$CSI_DIR/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager
    mv "$CSI_DIR/kube-controller-manager.tmp" "$CSI_DIR/kube-controller-manager"
    echo "$version" >"$CSI_DIR/.kube-controller-manager.version"
  )
  log "built kube-controller-manager in $(($(date +%s) - start)) s"
}

ensure() {
  local k=github.com/kubernetes-csi
  ensure_kcm
  build_tool csi-provisioner $k/external-provisioner/v6 $PROVISIONER_VERSION \
    $k/external-provisioner/v6/cmd/csi-provisioner
  build_tool csi-attacher $k/external-attacher/v4 $ATTACHER_VERSION \
    $k/external-attacher/v4/cmd/csi-attacher
  build_tool csi-resizer $k/external-resizer/v2 $RESIZER_VERSION \
    $k/external-resizer/v2/cmd/csi-resizer
  build_tool csi-snapshotter $k/external-snapshotter/v8 $SNAPSHOTTER_VERSION \
    $k/external-snapshotter/v8/cmd/csi-snapshotter "$k/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION"
  build_tool snapshot-controller $k/external-snapshotter/v8 $SNAPSHOTTER_VERSION \
    $k/external-snapshotter/v8/cmd/snapshot-controller "$k/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION"
  ensure_crds
  build_tool csi-sanity $k/csi-test/v5 $CSI_TEST_VERSION $k/csi-test/v5/cmd/csi-sanity
}

case "${1:-}" in
  ensure) ensure ;;
  ensure-kcm) ensure_kcm ;;
  dir) echo "$CSI_DIR" ;;
  *)
    echo "usage: $0 ensure|dir" >&2
    exit 2
    ;;
esac
