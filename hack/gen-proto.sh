#!/usr/bin/env bash
# Regenerates the Go code of every .proto under api/ (committed to git).
# protoc comes from Debian's protobuf-compiler; the Go plugins come from the Go
# module proxy at pinned versions and are installed into .cache/bin of the repo.
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC_GEN_GO_VERSION=v1.36.12      # google.golang.org/protobuf, as in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.1   # google.golang.org/grpc/cmd/protoc-gen-go-grpc

command -v protoc >/dev/null 2>&1 || hack/install-deps.sh protobuf-compiler

bin="$PWD/.cache/bin"
mkdir -p "$bin"
install_plugin() { # name module version
  local stamp="$bin/.$1-$3"
  if [ ! -x "$bin/$1" ] || [ ! -e "$stamp" ]; then
    GOBIN="$bin" go install "$2@$3"
    rm -f "$bin/.$1-"*
    touch "$stamp"
  fi
}
install_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"

export PATH="$bin:$PATH"
for proto in $(find api -name '*.proto' | sort); do
  echo "gen-proto: $proto"
  protoc -I . \
    --go_out=paths=source_relative:. \
    --go-grpc_out=paths=source_relative:. \
    "$proto"
done
