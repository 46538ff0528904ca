#!/usr/bin/env bash
# Provides a real etcd + kube-apiserver (+ kubectl) for the integration tests.
#
#   hack/kube-apiserver.sh ensure   install etcd (Debian etcd-server) and build
#                                   kube-apiserver from source once, cached in
#                                   $PIRAEUSCTL_CACHE/kube/<version>/ (idempotent, fast when cached)
#   hack/kube-apiserver.sh env      print KUBEBUILDER_ASSETS=<dir> for envtest
#   hack/kube-apiserver.sh dir      print the asset folder only
#
# The folder holds etcd, kube-apiserver and kubectl, which is what
# controller-runtime's envtest expects in KUBEBUILDER_ASSETS.
#
# Nothing prebuilt can be downloaded here, so kube-apiserver is built through
# the Go module proxy: a tiny build module requires k8s.io/kubernetes and
# replaces each of its staging modules with the published k8s.io/<name>
# v0.<minor>.<patch> twin. The first run takes ~8 minutes on 2 cores.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Outside the work tree, so every clone on this machine (CI's fresh clone
# included) shares the one build.
CACHE=${PIRAEUSCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/piraeusctl}
ASSETS="$CACHE/kube/$KUBE_VERSION"
BUILD_DIR="$CACHE/kube/build-$KUBE_VERSION"

log() { echo "kube-apiserver.sh: $*" >&2; }

ensure_etcd() {
  if ! command -v etcd >/dev/null 2>&1; then
    log "installing etcd-server from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The package's post-install cannot start a service here (no systemd); that is fine.
    apt-get install -y -qq etcd-server >/dev/null || command -v etcd >/dev/null
  fi
  ln -sf "$(command -v etcd)" "$ASSETS/etcd"
}

ensure_kubectl() {
  if [ -x "$ASSETS/kubectl" ]; then return; fi
  if command -v kubectl >/dev/null 2>&1; then
    ln -sf "$(command -v kubectl)" "$ASSETS/kubectl"
  else
    log "no kubectl on PATH: install Debian's kubectl or build k8s.io/kubernetes/cmd/kubectl the same way"
    return 1
  fi
}

# staging_replaces prints one "k8s.io/<name>=k8s.io/<name>@v0.Y.Z" line per
# staging module that k8s.io/kubernetes' own go.mod replaces with ./staging.
staging_replaces() {
  local gomod minor_patch
  gomod=$(cd "$BUILD_DIR" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$gomod" ] || { log "cannot find go.mod of k8s.io/kubernetes@$KUBE_VERSION"; return 1; }
  minor_patch=${KUBE_VERSION#v1.}
  awk '/=> \.\/staging\// { print $1 }' "$gomod" | sort -u |
    while read -r mod; do echo "$mod=$mod@v0.$minor_patch"; done
}

build_apiserver() {
  local start end minor
  start=$(date +%s)
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  mkdir -p "$BUILD_DIR"
  cd "$BUILD_DIR"
  # Keep the environment of the build clean of the project's module.
  export GOWORK=off GOFLAGS=-mod=mod
  cat >go.mod <<EOF
module piraeusctl.local/kube-apiserver-build

go 1.24

godebug default=go1.24
EOF
  cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
  log "resolving k8s.io/kubernetes@$KUBE_VERSION staging modules"
  go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
  local args=()
  while read -r r; do args+=("-replace=$r"); done < <(staging_replaces)
  go mod edit "${args[@]}"
  go mod tidy -e >/dev/null 2>&1 || true
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" >/dev/null
  log "building kube-apiserver $KUBE_VERSION (cold: ~8 min on 2 cores)"
  local v=k8s.io/component-base/version
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
    -o "$ASSETS/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$ASSETS/kube-apiserver.tmp" "$ASSETS/kube-apiserver"
  end=$(date +%s)
  log "built kube-apiserver $KUBE_VERSION in $((end - start)) s"
}

ensure() {
  mkdir -p "$ASSETS"
  ensure_etcd
  ensure_kubectl
  if [ ! -x "$ASSETS/kube-apiserver" ]; then
    (build_apiserver)
  fi
  "$ASSETS/kube-apiserver" --version >&2
}

case "${1:-}" in
  ensure) ensure ;;
  env) echo "KUBEBUILDER_ASSETS=$ASSETS" ;;
  dir) echo "$ASSETS" ;;
  *)
    echo "usage: $0 ensure|env|dir" >&2
    exit 2
    ;;
esac
