#!/usr/bin/env bash
# Prepares the real-storage lab: small qemu VMs running Debian's 6.1 kernel,
# which has DRBD (in-tree 8.4) and device-mapper (thin pools), with the
# agent under test inside. See ../../docs/architecture.md (internal/lab).
#
#   hack/lab/lab.sh ensure   everything: Debian packages, the pinned kernel
#                            (downloaded and unpacked, never installed), the
#                            base initramfs, and the initrd with the binaries
#                            of this tree (idempotent; fast when cached)
#   hack/lab/lab.sh initrd   only rebuild the binaries of this tree and the
#                            initrd (no downloads; what the tests run)
#   hack/lab/lab.sh dir      print the folder holding vmlinuz and initrd.gz
#
# Everything lives in $PIRAEUSCTL_LAB_CACHE (default ~/.cache/piraeusctl/lab,
# outside the work tree, so every clone on the machine — CI's fresh one
# included — shares the kernel and the builds). Each artefact is named by the hash of its inputs, so a later run
# rebuilds only what changed. The first run downloads ~70 MB and takes ~1-2
# minutes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/hack/lab"
CACHE=${PIRAEUSCTL_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/piraeusctl/lab}

# The pinned kernel: Debian 12's point-release kernel (bookworm/main). Change
# both together; `apt-cache policy 'linux-image-6.1*'` lists what exists.
KERNEL_ABI=${LAB_KERNEL_ABI:-6.1.0-50}
KERNEL_DEB_VERSION=${LAB_KERNEL_DEB_VERSION:-6.1.176-1}
KVER="$KERNEL_ABI-amd64"
KDIR="$CACHE/kernel/$KVER"

PACKAGES=(qemu-system-x86 busybox-static lvm2 drbd-utils kmod util-linux coreutils)

# Modules the guest loads, in an order modprobe resolves with dependencies.
# crc32c_generic is libcrc32c's soft dependency (not in modules.dep).
MODULES=(virtio_pci virtio_blk virtio_net crc32c_generic libcrc32c drbd dm_thin_pool loop)

# Host programs copied into the guest with their shared libraries; the agent
# uses the util-linux/coreutils long options busybox lacks.
TOOLS=(
  /usr/sbin/lvm /usr/sbin/drbdadm /usr/sbin/drbdsetup /usr/sbin/drbdmeta
  /lib/drbd/drbdadm-84 /lib/drbd/drbdsetup-84
  /usr/sbin/losetup /usr/bin/truncate /usr/bin/fallocate /usr/bin/mkdir /usr/bin/rm
  /usr/sbin/blockdev
)
LVM_LINKS=(pvcreate pvremove pvs vgcreate vgremove vgs vgchange lvcreate lvremove lvs lvchange lvextend lvresize)

log() { echo "lab.sh: $*" >&2; }

ensure_packages() {
  "$ROOT/hack/install-deps.sh" "${PACKAGES[@]}"
}

ensure_kernel() {
  [ -f "$KDIR/.done" ] && return
  log "downloading linux-image-$KVER=$KERNEL_DEB_VERSION (unpacked into $KDIR, not installed)"
  local tmp
  tmp=$(mktemp -d)
  chmod 755 "$tmp" # apt-get download drops privileges to _apt
  if ! (cd "$tmp" && apt-get download -q "linux-image-$KVER=$KERNEL_DEB_VERSION" >/dev/null); then
    log "apt-get download failed; running apt-get update once"
    apt-get update -qq
    (cd "$tmp" && apt-get download -q "linux-image-$KVER=$KERNEL_DEB_VERSION" >/dev/null)
  fi
  rm -rf "$KDIR"
  mkdir -p "$KDIR"
  dpkg-deb -x "$tmp"/linux-image-*.deb "$KDIR/root"
  depmod -b "$KDIR/root" "$KVER"
  cp "$KDIR/root/boot/vmlinuz-$KVER" "$KDIR/vmlinuz"
  rm -rf "$tmp"
  touch "$KDIR/.done"
}

# module_files prints the .ko files of MODULES in load order, each once.
module_files() {
  local m
  for m in "${MODULES[@]}"; do
    modprobe -d "$KDIR/root" -S "$KVER" --show-depends "$m"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# base_hash names the base initramfs by everything that goes into it.
base_hash() {
  {
    echo "$KVER $KERNEL_DEB_VERSION ${MODULES[*]} ${LVM_LINKS[*]}"
    sha256sum "$HERE/init" "$HERE/lab.sh" /usr/bin/busybox "${TOOLS[@]}"
  } | sha256sum | cut -c1-16
}

copy_with_libs() {
  local dst=$1 bin=$2 lib
  mkdir -p "$dst$(dirname "$bin")"
  cp -L "$bin" "$dst$bin"
  for lib in $(ldd "$bin" | awk '/=>/ { print $3 } $1 ~ /^\// { print $1 }'); do
    [ -f "$dst$lib" ] && continue
    mkdir -p "$dst$(dirname "$lib")"
    cp -L "$lib" "$dst$lib"
  done
}

# build_base makes busybox + modules + DRBD/LVM tools + /init.
build_base() {
  local out=$1 tree
  tree=$(mktemp -d)
  mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc/lvm,proc,sys,dev,run,tmp,var/lock,var/log,var/lib/drbd}
  cp /usr/bin/busybox "$tree/bin/busybox"
  for applet in $(/usr/bin/busybox --list); do
    [ -e "$tree/bin/$applet" ] || ln -s busybox "$tree/bin/$applet"
  done
  local ko i=0
  : >"$tree/lib/modules/load-order"
  for ko in $(module_files); do
    i=$((i + 1))
    cp "$ko" "$tree/lib/modules/$(printf '%02d' "$i")-$(basename "$ko")"
    echo "$(printf '%02d' "$i")-$(basename "$ko")" >>"$tree/lib/modules/load-order"
  done
  local tool
  for tool in "${TOOLS[@]}"; do copy_with_libs "$tree" "$tool"; done
  for tool in "${LVM_LINKS[@]}"; do ln -s lvm "$tree/usr/sbin/$tool"; done
  # drbd-utils looks for its 8.4 helpers under /lib/drbd.
  cp "$HERE/init" "$tree/init"
  chmod 755 "$tree/init"
  (cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null | gzip -6) >"$out.tmp"
  mv "$out.tmp" "$out"
  find "$CACHE" -maxdepth 1 -name 'base-*.cpio.gz' ! -name "$(basename "$out")" -delete
  log "built $(basename "$out") ($(du -h "$out" | cut -f1)), modules: $(wc -l <"$tree/lib/modules/load-order")"
  rm -rf "$tree"
}

ensure_base() {
  [ -f "$KDIR/.done" ] || { log "kernel missing: run hack/lab/lab.sh ensure"; return 1; }
  local h
  h=$(base_hash)
  BASE="$CACHE/base-$h.cpio.gz"
  [ -f "$BASE" ] || build_base "$BASE"
}

# build_initrd adds this tree's static binaries to the base initramfs (the
# kernel unpacks concatenated archives in order).
build_initrd() {
  local bin
  bin=$(mktemp -d)
  mkdir -p "$bin/usr/local/bin"
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/usr/local/bin/piraeusctl" ./cmd/piraeusctl)
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/usr/local/bin/labguest" ./internal/lab/labguest)
  local h out
  h=$(cat "$BASE" "$bin/usr/local/bin/piraeusctl" "$bin/usr/local/bin/labguest" | sha256sum | cut -c1-16)
  out="$CACHE/initrd-$h.gz"
  if [ ! -f "$out" ]; then
    (cd "$bin" && find . -mindepth 1 | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$bin/extra.gz"
    cat "$BASE" "$bin/extra.gz" >"$out.tmp"
    mv "$out.tmp" "$out"
    # Keep the cache small: drop initrds of older trees.
    find "$CACHE" -maxdepth 1 -name 'initrd-*.gz' ! -name "$(basename "$out")" -delete
  fi
  rm -rf "$bin"
  ln -sf "$out" "$CACHE/initrd.gz"
  ln -sf "$KDIR/vmlinuz" "$CACHE/vmlinuz"
}

mkdir -p "$CACHE"
case "${1:-ensure}" in
ensure)
  ensure_packages
  ensure_kernel
  ensure_base
  build_initrd
  echo "$CACHE"
  ;;
initrd)
  ensure_base
  build_initrd
  echo "$CACHE"
  ;;
dir) echo "$CACHE" ;;
*)
  echo "usage: $0 ensure|initrd|dir" >&2
  exit 2
  ;;
esac
