#!/usr/bin/env bash
# Regenerates deepcopy functions and CRD manifests from the API types (api/...).
set -euo pipefail
cd "$(dirname "$0")/.."
CONTROLLER_GEN_VERSION=v0.19.0
bin=.cache/bin/controller-gen-$CONTROLLER_GEN_VERSION
if [ ! -x "$bin" ]; then
  mkdir -p .cache/bin
  GOBIN="$PWD/.cache/bin" go install sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION
  mv .cache/bin/controller-gen "$bin"
fi
"$bin" object paths=./api/... crd output:crd:artifacts:config=api/crds
