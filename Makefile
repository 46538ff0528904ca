# piraeusctl — build, test, benchmark and demo targets.
# `make demo` and `make test` are the two commands a fresh machine needs (see README.md).

GO        ?= go
BIN       := bin/piraeusctl
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# One stamp: `piraeusctl version` and the plan's default image tag both read main.version.
LDFLAGS   := -X main.version=$(VERSION)
PKGS      := ./...

.PHONY: all build image image-lock test test-unit test-deps test-lab bench bench-scale demo fmt vet generate clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/piraeusctl

# The container image (see README "Container image"): static binaries per
# platform plus the Debian packages pinned in hack/image/debian.lock, as an
# OCI layout, docker-load tarballs and SPDX SBOMs under $(IMAGE_DIR).
IMAGE_DIR         ?= bin/image
IMAGE_PLATFORMS   ?= amd64 arm64
IMAGE_CACHE       ?= $(HOME)/.cache/piraeusctl/image
REVISION          ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

image:
	@mkdir -p $(IMAGE_DIR)
	@for arch in $(IMAGE_PLATFORMS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS) -s -w' -o $(IMAGE_DIR)/piraeusctl-linux-$$arch ./cmd/piraeusctl || exit 1; \
	done
	$(GO) run ./hack/image build -dir $(IMAGE_DIR) -cache $(IMAGE_CACHE) \
	  -version $(VERSION) -revision $(REVISION) -epoch $(SOURCE_DATE_EPOCH) \
	  $(foreach arch,$(IMAGE_PLATFORMS),-binary $(arch)=$(IMAGE_DIR)/piraeusctl-linux-$(arch))

# Re-resolves hack/image/packages.txt against Debian's current signed
# indexes and rewrites hack/image/debian.lock (commit the result).
image-lock:
	$(GO) run ./hack/image lock

# Everything: vet, unit, golden, fuzz seed corpora, and the integration suites
# (real kube-apiserver etc.) whose dependencies test-deps prepares.
test: test-deps vet
	KUBEBUILDER_ASSETS=$$(hack/kube-apiserver.sh dir) $(GO) test -count=1 -timeout 25m $(PKGS)

# Fast loop without integration dependencies.
test-unit: vet
	PIRAEUSCTL_SKIP_LAB=1 $(GO) test -short $(PKGS)

# Prepares real components for integration tests; each script is idempotent and cached.
test-deps:
	hack/install-deps.sh drbd-utils iproute2 e2fsprogs util-linux xfsprogs
	hack/kube-apiserver.sh ensure
	@if [ "$$PIRAEUSCTL_SKIP_INTEGRATION" != 1 ]; then hack/linstor-csi-sanity.sh ensure; hack/csi-sidecars.sh ensure; fi
	@if [ "$$PIRAEUSCTL_SKIP_LAB" != 1 ] && [ "$$PIRAEUSCTL_SKIP_INTEGRATION" != 1 ]; then hack/lab/lab.sh ensure >/dev/null; fi

# Only the real-storage lab: qemu VMs with real LVM thin and DRBD (internal/lab);
# its controller, HA controller and CSI groups also need the real
# kube-apiserver. Five VM groups, two at a time on 2 cores: 40 minutes
# leaves room for a crowded machine.
test-lab:
	hack/kube-apiserver.sh ensure
	hack/lab/lab.sh ensure >/dev/null
	$(GO) test -count=1 -v -timeout 40m -run '^TestLab' ./internal/lab/

vet:
	$(GO) vet $(PKGS)

# Every Go benchmark but the scale run (the integration ones run once and
# need test-deps and root).
bench:
	KUBEBUILDER_ASSETS=$$(hack/kube-apiserver.sh dir) $(GO) test -run '^$$' -bench . -skip '$(SCALE_BENCH)' -benchmem -timeout 60m $(PKGS)

# The controller with 10 000 volumes on 40 nodes, from scratch to all Ready
# (the goal is within the hour; about an hour of a loaded 2-core machine).
SCALE_BENCH := BenchmarkTenThousandVolumes
bench-scale:
	KUBEBUILDER_ASSETS=$$(hack/kube-apiserver.sh dir) $(GO) test -run '^$$' -bench '$(SCALE_BENCH)' -benchtime 1x -benchmem -timeout 90m ./controller/

# The main job end to end (hack/csi-demo.sh: on the local datastore, a claim
# Bound, mounted, written, snapshotted, restored and deleted through the real
# Kubernetes parts; skipped with a word when root or loop devices are
# missing), then the bundled example cluster (examples/) rendered: a summary,
# the full plan in demo-out/plan.yaml and the GitOps folder in demo-out/export/.
demo: build
	@hack/csi-demo.sh; rc=$$?; if [ $$rc != 0 ] && [ $$rc != 3 ]; then exit $$rc; fi
	@mkdir -p demo-out
	./$(BIN) plan -f examples/ --summary --out demo-out/plan.yaml
	./$(BIN) plan -f examples/ --explain
	./$(BIN) export -f examples/ --dir demo-out/export

fmt:
	gofmt -w $$(git ls-files '*.go')

generate:
	hack/generate.sh
	hack/gen-proto.sh

clean:
	rm -rf bin demo-out
