#!/usr/bin/env bash
# The end-to-end demo `make demo` runs first: a claim's life on the local
# datastore through the real Kubernetes parts.
#
#   hack/csi-demo.sh
#
# It starts hack/local-up.sh with the CSI driver and the Kubernetes side
# (kube-controller-manager, snapshot-controller, the CSI sidecars built by
# hack/csi-sidecars.sh, and a kubelet stand-in that stages and publishes the
# volumes of Pods bound to a node), then: a claim becomes Bound, a Pod on
# its node gets it mounted, data is written and read back, a VolumeSnapshot
# is taken, a claim restored from it is mounted and holds the data, and everything is deleted again (no PV, no pool file left). It
# prints a short summary with timings, then stops the datastore.
#
# Needs root and loop devices. Without them it says so and exits 3, and
# `make demo` goes on with the plan-only demo.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PIRAEUSCTL_LOCAL_DIR=${PIRAEUSCTL_LOCAL_DIR:-/tmp/piraeusctl-demo}
DIR=$PIRAEUSCTL_LOCAL_DIR
NS=default
# The plan's one-replica class: DRBD is simulated here (no /dev/drbdN).
CLASS=${DEMO_STORAGE_CLASS:-piraeus-local}
T0=$(date +%s.%N)
SUMMARY=()

say() { printf 'demo: %s\n' "$*" >&2; }
since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f s", a - b }'; }
step() { SUMMARY+=("$(printf '%-58s %s' "$1" "$2")"); if [ -n "$2" ]; then say "$1 ($2)"; else say "$1"; fi; }

if [ "$(id -u)" != 0 ]; then
  say "the end-to-end demo needs root (loop devices, mkfs and mounts); showing the plan only"
  exit 3
fi
if ! [ -e /dev/loop-control ] || ! command -v losetup >/dev/null; then
  say "no loop devices on this machine (/dev/loop-control, losetup); showing the plan only"
  exit 3
fi

hack/kube-apiserver.sh ensure >/dev/null 2>&1 || hack/kube-apiserver.sh ensure
if ! hack/csi-sidecars.sh ensure 2>/tmp/csi-demo-sidecars.log; then
  cat /tmp/csi-demo-sidecars.log >&2
  exit 1
fi

cleanup() { hack/local-up.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT

t=$(date +%s.%N)
hack/local-up.sh down >/dev/null 2>&1 || true
if ! up=$(hack/local-up.sh up --kubernetes); then
  say "hack/local-up.sh up --kubernetes failed"
  exit 1
fi
eval "$(grep '^export ' <<<"$up")"
step "local datastore up (API server, 3 agents, controller, CSI, sidecars)" "$(since "$t")"
kc() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }

# wait_for <what> <seconds> <command...>: polls the command until it succeeds.
wait_for() {
  local what=$1 secs=$2
  shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  say "timed out after ${secs}s waiting for: $what"
  kc get pvc,pv,volumeattachments,volumesnapshots -A -o wide >&2 || true
  tail -n 20 "$DIR"/logs/*.log >&2 || true
  exit 1
}
phase_is() { [ "$(kc -n $NS get "$1" -o jsonpath="$2")" = "$3" ]; }
# target <pod> <claim>: where the kubelet stand-in publishes the claim of the Pod.
target() {
  local uid pv node
  uid=$(kc -n $NS get pod "$1" -o jsonpath='{.metadata.uid}')
  node=$(kc -n $NS get pod "$1" -o jsonpath='{.spec.nodeName}')
  pv=$(kc -n $NS get pvc "$2" -o jsonpath='{.spec.volumeName}')
  echo "$DIR/kubelet/$node/pods/$uid/volumes/kubernetes.io~csi/$pv/mount"
}
# node_for <claim>: a node the claim's PV may be used on (its node
# affinity, from the volume's topology), as the scheduler would pick.
node_for() {
  local pv n
  pv=$(kc -n $NS get pvc "$1" -o jsonpath='{.spec.volumeName}')
  n=$(kc get pv "$pv" -o jsonpath='{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[?(@.key=="linbit.com/hostname")].values[0]}')
  echo "${n:-local-1}"
}
pod() { # pod <name> <node> <claim>
  kc -n $NS apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $2
  containers: [{name: app, image: busybox, volumeMounts: [{name: data, mountPath: /data}]}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: $3}}]
EOF
}

t=$(date +%s.%N)
kc -n $NS apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: demo-data}
spec:
  storageClassName: $CLASS
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
EOF
wait_for "claim demo-data Bound" 120 phase_is pvc/demo-data '{.status.phase}' Bound
step "claim demo-data ($CLASS, 64Mi) Bound" "$(since "$t")"

t=$(date +%s.%N)
N1=$(node_for demo-data)
pod demo-writer "$N1" demo-data
W=$(target demo-writer demo-data)
wait_for "volume mounted at $W" 120 mountpoint -q "$W"
step "Pod on $N1: attached, staged, published" "$(since "$t")"
echo "written by the piraeusctl demo at $(date -u +%FT%TZ)" >"$W/hello.txt"
sync "$W/hello.txt"
step "wrote hello.txt, read back: \"$(cat "$W/hello.txt")\"" ""

t=$(date +%s.%N)
kc apply -f - >/dev/null <<EOF
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: demo-linstor}
driver: linstor.csi.linbit.com
deletionPolicy: Delete
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: demo-snap, namespace: $NS}
spec:
  volumeSnapshotClassName: demo-linstor
  source: {persistentVolumeClaimName: demo-data}
EOF
wait_for "VolumeSnapshot demo-snap readyToUse" 120 phase_is volumesnapshot/demo-snap '{.status.readyToUse}' true
step "VolumeSnapshot demo-snap readyToUse" "$(since "$t")"

t=$(date +%s.%N)
kc -n $NS apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: demo-restored}
spec:
  storageClassName: $CLASS
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
  dataSourceRef: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: demo-snap}
EOF
wait_for "claim demo-restored Bound" 120 phase_is pvc/demo-restored '{.status.phase}' Bound
N2=$(node_for demo-restored)
pod demo-reader "$N2" demo-restored
R=$(target demo-reader demo-restored)
wait_for "restored volume mounted at $R" 120 mountpoint -q "$R"
if ! cmp -s "$W/hello.txt" "$R/hello.txt"; then
  say "the restored volume does not hold hello.txt as written"
  exit 1
fi
step "claim restored from the snapshot, mounted on $N2, same data" "$(since "$t")"

t=$(date +%s.%N)
kc -n $NS delete pod demo-writer demo-reader --wait=false >/dev/null
wait_for "Pods removed" 60 bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG -n $NS get pods -o name)\" ]"
kc -n $NS delete pvc demo-data demo-restored --wait=false >/dev/null
kc -n $NS delete volumesnapshot demo-snap --wait=false >/dev/null
wait_for "no PV left" 180 bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get pv -o name)\" ]"
wait_for "no StorageVolume left" 60 bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get storagevolumes -o name)\" ]"
left=$(find "$DIR"/nodes/*/pool -mindepth 1 -maxdepth 1 ! -name lost+found | wc -l)
step "deleted Pods, claims, snapshot: no PV, no StorageVolume, $left pool files" "$(since "$t")"

t=$(date +%s.%N)
hack/local-up.sh down >/dev/null 2>&1
trap - EXIT
step "local datastore down" "$(since "$t")"

echo
echo "== piraeusctl end to end on this machine ($(since "$T0") in all) =="
printf '  %s\n' "${SUMMARY[@]}"
echo
