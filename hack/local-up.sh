#!/usr/bin/env bash
# The whole datastore on one machine, for people and for tests:
#
#   hack/local-up.sh [up]    start it; prints `export KUBECONFIG=...` and the endpoints
#   hack/local-up.sh up --kubernetes
#                            also the Kubernetes side of the CSI driver: kube-controller-manager,
#                            snapshot-controller, the CSI sidecars (hack/csi-sidecars.sh) and a
#                            kubelet stand-in that mounts the claims of Pods with spec.nodeName
#   hack/local-up.sh down    stop everything and remove what it created
#   hack/local-up.sh status  say whether it runs, and print its environment
#
# It runs the real kube-apiserver (hack/kube-apiserver.sh), applies the plan
# of a 3-node local cluster with `piraeusctl apply`, and runs each component
# as a local process of bin/piraeusctl: a node agent per node with a
# FILE_THIN pool on a loop-backed folder (DRBD simulated: this kernel has no
# DRBD module), the controller, the operator: its webhook and the
# converge loop that keeps the cluster at the plan, as in a real cluster,
# and the CSI driver (controller service, a node service per node; their
# sockets are printed as CSI_ENDPOINT=unix://...).
# Certificates come the cluster's way: `piraeusctl gencert --once` writes the
# webhook's and the internal TLS Secrets, which are copied where the
# processes read them, as the kubelet mounts them. Needs root (loop devices,
# mounts). Everything lives in $PIRAEUSCTL_LOCAL_DIR (default
# /tmp/piraeusctl-local).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${PIRAEUSCTL_LOCAL_DIR:-/tmp/piraeusctl-local}
PIDFILE="$DIR.pid"
LOG="$DIR.log"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

up() {
  local extra=()
  for a in "$@"; do
    case "$a" in
      --kubernetes) extra+=(--kubernetes) ;;
      *) echo "local-up: unknown flag $a" >&2; exit 2 ;;
    esac
  done
  if running; then
    echo "local-up: already running (pid $(cat "$PIDFILE")); hack/local-up.sh down first" >&2
    exit 1
  fi
  [ "$(id -u)" = 0 ] || { echo "local-up: needs root (loop devices and mounts)" >&2; exit 1; }
  cd "$ROOT"
  hack/install-deps.sh e2fsprogs util-linux drbd-utils xfsprogs >&2
  hack/kube-apiserver.sh ensure >&2
  if [ ${#extra[@]} -gt 0 ]; then hack/csi-sidecars.sh ensure >&2; fi
  echo "local-up: building bin/piraeusctl and bin/local-up" >&2
  make -s build >&2
  go build -o bin/local-up ./hack/localup
  rm -rf "$DIR"
  KUBEBUILDER_ASSETS=$(hack/kube-apiserver.sh dir) nohup bin/local-up --dir "$DIR" --binary "$ROOT/bin/piraeusctl" "${extra[@]}" >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  echo "local-up: starting (log: $LOG)" >&2
  for _ in $(seq 1 300); do
    if [ -f "$DIR/env" ]; then
      cat "$DIR/env"
      echo "# stop with: hack/local-up.sh down"
      return 0
    fi
    if ! running; then
      echo "local-up: failed; last lines of $LOG:" >&2
      tail -n 30 "$LOG" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    sleep 1
  done
  echo "local-up: not up after 300 s; see $LOG" >&2
  exit 1
}

down() {
  if running; then
    kill -TERM "$(cat "$PIDFILE")"
    for _ in $(seq 1 60); do running || break; sleep 1; done
    if running; then kill -KILL "$(cat "$PIDFILE")"; fi
  fi
  rm -f "$PIDFILE"
  # Leftovers of a supervisor that was killed: mounts and loop devices under $DIR.
  if [ -d "$DIR" ]; then
    losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | awk -v d="$DIR/" 'index($2, d) == 1 { print $1 }' | xargs -r -n1 losetup -d || true
    grep " $DIR/" /proc/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount || true
    losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | awk -v d="$DIR/" 'index($2, d) == 1 { print $1 }' | xargs -r -n1 losetup -d || true
    rm -rf "$DIR"
  fi
  echo "local-up: stopped" >&2
}

case "${1:-up}" in
  up) shift || true; up "$@" ;;
  down) down ;;
  status)
    if running; then echo "running (pid $(cat "$PIDFILE"))"; cat "$DIR/env" 2>/dev/null; else echo "not running"; exit 1; fi ;;
  *) echo "usage: hack/local-up.sh [up|down|status]" >&2; exit 2 ;;
esac
