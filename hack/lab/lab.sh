#!/usr/bin/env bash
# Prepares the real-storage lab: small qemu VMs running the 6.1 kernel Debian
# currently ships (device-mapper thin pools, in-tree DRBD 8.4) plus DRBD 9
# built from source for that kernel, with the agent under test inside. See
# ../../docs/architecture.md (internal/lab).
#
#   hack/lab/lab.sh ensure   everything: Debian packages, the kernel (resolved
#                            from the package index, downloaded and unpacked,
#                            never installed) and its headers, DRBD 9 built
#                            for it, the base initramfs, and the initrd with
#                            the binaries of this tree (idempotent; fast when
#                            cached)
#   hack/lab/lab.sh initrd   only rebuild the binaries of this tree and the
#                            initrd for the kernel `ensure` prepared (no
#                            downloads, no package queries; what the tests run)
#   hack/lab/lab.sh kernel   print the kernel `ensure` would use (ABI, Debian
#                            version) without preparing anything
#   hack/lab/lab.sh dir      print the folder holding vmlinuz and initrd.cpio
#                            of the last `ensure` or `initrd` (which print
#                            their own)
#
# Everything lives in $PIRAEUSCTL_LAB_CACHE (default ~/.cache/piraeusctl/lab,
# outside the work tree, so every clone on the machine — CI's fresh one
# included — shares the kernel and the builds). Kernel and DRBD builds are
# named by kernel ABI, Debian version and DRBD version; initramfs artefacts by
# the hash of their inputs, so a later run rebuilds only what changed.
#
# The kernel is not pinned: Debian replaces a 6.1 ABI package
# (linux-image-6.1.0-N-amd64) by the next one and removes the old one from
# the archive. `ensure` takes the newest linux-image-6.1.0-N-amd64 that has
# linux-headers of the same version in the package index (LAB_KERNEL_ABI=
# 6.1.0-N pins one), refreshing the index once when a download fails. DRBD 9
# is built for it from the DRBD source ($DRBD_VERSION); the compat step that
# needs a newer coccinelle than Debian's is replaced by a patch generated
# from the sources, so it keeps working for the next kernel.
#
# The first run downloads ~70 MB, installs the headers and coccinelle and
# builds DRBD (~5.5 CPU-minutes: a few minutes on 2 idle cores, 27 minutes
# measured at a load average of 20).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/hack/lab"
CACHE=${PIRAEUSCTL_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/piraeusctl/lab}

# DRBD 9 source. The vendored copy (see ../shared/vendor/README.md next to the
# work trees) is checked against its sha256; else LINBIT's release tarball.
DRBD_VERSION=${LAB_DRBD_VERSION:-9.2.18}
DRBD_VENDORED_SHA256=9f84f2d912bbb36496c299b502e26a3178a5bd89b5145a75bfcdc72d75c2033e
DRBD_URL=${LAB_DRBD_URL:-https://pkg.linbit.com//downloads/drbd/9/drbd-$DRBD_VERSION.tar.gz}
# Bump when the way DRBD is built changes: it names the cached modules.
DRBD_RECIPE=1

PACKAGES=(qemu-system-x86 socat busybox-static lvm2 drbd-utils kmod util-linux coreutils e2fsprogs
  build-essential coccinelle binutils)

# Kernel modules every guest loads, in an order modprobe resolves with
# dependencies; crc32c_generic is libcrc32c's soft dependency (not in
# modules.dep); ext4 is for the CSI node service's mounts. The DRBD modules
# come on top, one set per DRBD version.
COMMON_MODULES=(virtio_pci virtio_blk virtio_net crc32c_generic libcrc32c lru_cache dm_thin_pool loop ext4)
# DRBD 9 modules in load order (drbd_transport_tcp needs handshake).
DRBD9_MODULES=(drbd handshake drbd_transport_tcp)

# Host programs copied into the guest with their shared libraries; the agent
# uses the util-linux/coreutils long options busybox lacks.
TOOLS=(
  /usr/sbin/lvm /usr/sbin/drbdadm /usr/sbin/drbdsetup /usr/sbin/drbdmeta
  /lib/drbd/drbdadm-84 /lib/drbd/drbdsetup-84
  /usr/sbin/losetup /usr/bin/truncate /usr/bin/fallocate /usr/bin/mkdir /usr/bin/rm
  /usr/sbin/blockdev
  # The CSI node service formats and mounts as k8s.io/mount-utils does on a
  # node: `blkid -p` (busybox's blkid has no -p), mkfs.ext4, fsck -a.
  /usr/sbin/blkid /usr/sbin/mkfs.ext4 /usr/sbin/fsck /usr/sbin/fsck.ext4
)
# Config files copied into the guest as they are.
CONFIGS=(/etc/mke2fs.conf)
LVM_LINKS=(pvcreate pvremove pvs vgcreate vgremove vgs vgchange lvcreate lvremove lvs lvchange lvextend lvresize)

log() { echo "lab.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

ensure_packages() {
  "$ROOT/hack/install-deps.sh" "${PACKAGES[@]}"
}

# candidate prints the version apt would install of a package, or nothing.
candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# resolve_kernel sets KABI, KVER and KDEB: the newest 6.1 kernel in the
# package index whose headers have the same Debian version.
resolve_kernel() {
  local abis abi img hdr
  if [ -n "${LAB_KERNEL_ABI:-}" ]; then
    abis=$LAB_KERNEL_ABI
  else
    abis=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
      sed -n 's/^linux-image-\(6\.1\.0-[0-9][0-9]*\)-amd64$/\1/p' | sort -t- -k2,2nr)
  fi
  for abi in $abis; do
    img=$(candidate "linux-image-$abi-amd64")
    hdr=$(candidate "linux-headers-$abi-amd64")
    if [ -n "$img" ] && [ "$img" = "$hdr" ]; then
      KABI=$abi KVER=$abi-amd64 KDEB=$img
      return 0
    fi
  done
  return 1
}

# kernel_dirs sets the cache folders of the resolved kernel.
kernel_dirs() {
  KDIR="$CACHE/kernel/${KVER}_$KDEB"
  DRBD_OUT="$CACHE/drbd/drbd-${DRBD_VERSION}_${KVER}_${KDEB}_r$DRBD_RECIPE"
}

# download_kernel fetches linux-image-$KVER=$KDEB into $1.
download_kernel() {
  (cd "$1" && apt-get download -q "linux-image-$KVER=$KDEB" >/dev/null)
}

ensure_kernel() {
  local tmp
  resolve_kernel || {
    log "no 6.1 kernel with matching headers in the package index; running apt-get update once"
    apt-get update -qq
    resolve_kernel || die "no linux-image-6.1.0-N-amd64 with linux-headers of the same version in the package index (apt-cache pkgnames linux-image-6.1.0-)"
  }
  kernel_dirs
  if [ ! -f "$KDIR/.done" ]; then
    tmp=$(mktemp -d)
    # apt-get download drops privileges to _apt, which must write there.
    chown _apt "$tmp" 2>/dev/null || chmod 777 "$tmp"
    log "downloading linux-image-$KVER=$KDEB (unpacked into $KDIR, not installed)"
    if ! download_kernel "$tmp"; then
      # The index is older than the archive: that kernel is gone, a newer
      # one replaced it.
      log "download failed; running apt-get update once and resolving the kernel again"
      apt-get update -qq
      resolve_kernel || die "no 6.1 kernel with matching headers after apt-get update"
      kernel_dirs
      log "downloading linux-image-$KVER=$KDEB"
      download_kernel "$tmp" || die "apt-get download linux-image-$KVER=$KDEB failed"
    fi
    rm -rf "$KDIR"
    mkdir -p "$KDIR"
    dpkg-deb -x "$tmp"/linux-image-*.deb "$KDIR/root"
    depmod -b "$KDIR/root" "$KVER"
    cp "$KDIR/root/boot/vmlinuz-$KVER" "$KDIR/vmlinuz"
    rm -rf "$tmp"
    touch "$KDIR/.done"
  fi
  log "kernel $KVER (Debian $KDEB)"
}

# ensure_headers installs Debian's headers of exactly the lab kernel's
# version (DRBD is built against them).
ensure_headers() {
  local have
  have=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "linux-headers-$KVER" 2>/dev/null || true)
  [ "$have" = "ii  $KDEB" ] && return
  log "apt-get install linux-headers-$KVER=$KDEB"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "linux-headers-$KVER=$KDEB" >/dev/null
}

# drbd_tarball prints the path of the DRBD source tarball: the one named by
# LAB_DRBD_TARBALL, the vendored one (checked), one fetched earlier into the
# cache, or LINBIT's release tarball (downloaded into the cache).
drbd_tarball() {
  local name="drbd-$DRBD_VERSION.tar.gz" dir f
  if [ -n "${LAB_DRBD_TARBALL:-}" ]; then
    [ -f "$LAB_DRBD_TARBALL" ] || die "LAB_DRBD_TARBALL=$LAB_DRBD_TARBALL: no such file"
    echo "$LAB_DRBD_TARBALL"
    return
  fi
  for dir in ${PIRAEUSCTL_VENDOR_DIR:-} "$ROOT/../shared/vendor"; do
    f="$dir/$name"
    [ -f "$f" ] || continue
    if [ "$DRBD_VERSION" = 9.2.18 ] && [ "$(sha256sum <"$f" | cut -d' ' -f1)" != "$DRBD_VENDORED_SHA256" ]; then
      die "$f: sha256 differs from the vendored DRBD $DRBD_VERSION ($DRBD_VENDORED_SHA256)"
    fi
    echo "$f"
    return
  done
  f="$CACHE/src/$name"
  [ -f "$f" ] && {
    echo "$f"
    return
  }
  mkdir -p "$CACHE/src"
  log "no vendored $name; downloading $DRBD_URL"
  if ! curl -fsSL --connect-timeout 20 -o "$f.tmp" "$DRBD_URL"; then
    rm -f "$f.tmp"
    die "cannot download $DRBD_URL (this machine may not reach LINBIT). Put $name into ../shared/vendor/ next to the work tree, set PIRAEUSCTL_VENDOR_DIR to its folder, or LAB_DRBD_TARBALL to the file"
  fi
  tar -tzf "$f.tmp" "drbd-$DRBD_VERSION/drbd/Makefile" >/dev/null 2>&1 ||
    die "$DRBD_URL is not a DRBD $DRBD_VERSION source tarball"
  mv "$f.tmp" "$f"
  echo "$f"
}

# drbd_compat_workaround prepares the unpacked drbd/ folder for Debian's
# coccinelle (1.1.1): the counted_by__no_present rule does not parse with it,
# and the compat script uses a plain patch of the same name in place of a
# rule. The patch is generated from the sources — it drops every
# `__counted_by(...)` annotation, as the rule does — so it stays right for
# whatever sources and kernel come next.
drbd_compat_workaround() {
  local drbd=$1 rule=drbd-kernel-compat/cocci/counted_by__no_present.cocci
  local patch=drbd-kernel-compat/patches/counted_by__no_present.patch f tmp
  (
    cd "$drbd"
    [ -f "$rule" ] || return 0 # a DRBD without that rule needs nothing
    rm "$rule"
    tmp=$(mktemp)
    : >"$patch"
    for f in $(grep -rlE --include='*.[ch]' '__counted_by\(' . | sed 's|^\./||' |
      grep -v '^drbd-kernel-compat/\(tests\|cocci\)/' | LC_ALL=C sort); do
      sed -E 's/[[:space:]]*__counted_by\([^)]*\)//g' "$f" >"$tmp"
      diff -u --label "$f" --label "$f" "$f" "$tmp" >>"$patch" || true
    done
    rm -f "$tmp"
    log "compat: replaced $rule by a generated patch ($(grep -c '^-[^-]' "$patch" || true) line(s))"
  )
}

# ensure_drbd builds drbd.ko, handshake.ko and drbd_transport_tcp.ko for the
# lab kernel, stripped of debug info, into $DRBD_OUT.
ensure_drbd() {
  [ -f "$DRBD_OUT/.done" ] && return
  local src tmp start top ko
  src=$(drbd_tarball)
  tmp=$(mktemp -d)
  start=$(date +%s)
  log "building DRBD $DRBD_VERSION for $KVER from $src (SPAAS=false)"
  tar -xzf "$src" -C "$tmp"
  top="$tmp/drbd-$DRBD_VERSION"
  drbd_compat_workaround "$top/drbd"
  if ! make -C "$top" -j"$(nproc)" SPAAS=false KDIR="/usr/src/linux-headers-$KVER" module >"$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log" >&2
    die "DRBD $DRBD_VERSION build for $KVER failed (full log: $tmp/build.log)"
  fi
  rm -rf "$DRBD_OUT"
  mkdir -p "$DRBD_OUT"
  for ko in "drbd/build-$KVER/drbd.ko" "drbd/build-$KVER/drbd_transport_tcp.ko" \
    "drbd/build-$KVER/drbd-kernel-compat/handshake/handshake.ko"; do
    [ -f "$top/$ko" ] || die "DRBD build: $ko missing"
    strip --strip-debug -o "$DRBD_OUT/$(basename "$ko")" "$top/$ko"
    [ "$(modinfo -F vermagic "$DRBD_OUT/$(basename "$ko")" | cut -d' ' -f1)" = "$KVER" ] ||
      die "$ko: vermagic is not $KVER"
  done
  rm -rf "$tmp"
  touch "$DRBD_OUT/.done"
  log "built DRBD $DRBD_VERSION for $KVER in $(($(date +%s) - start)) s: $(du -sh "$DRBD_OUT" | cut -f1) of modules"
}

# kernel_module_files prints the .ko files of the given in-kernel modules
# with their dependencies, in load order, each once.
kernel_module_files() {
  local m
  for m in "$@"; do
    modprobe -d "$KDIR/root" -S "$KVER" --show-depends "$m"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# drbd9_kernel_deps prints the in-kernel modules the DRBD 9 modules need.
drbd9_kernel_deps() {
  local ko
  for ko in "$DRBD_OUT"/*.ko; do
    modinfo -F depends "$ko" | tr ',' '\n'
  done | grep -vxE "$(
    IFS='|'
    echo "${DRBD9_MODULES[*]}"
  )" | grep -v '^$' | sort -u
}

# base_hash names the base initramfs by everything that goes into it.
base_hash() {
  {
    echo "$KVER $KDEB $DRBD_OUT ${COMMON_MODULES[*]} ${DRBD9_MODULES[*]} ${LVM_LINKS[*]}"
    sha256sum "$HERE/init" "$HERE/lab.sh" /usr/bin/busybox "${TOOLS[@]}" "${CONFIGS[@]}" "$DRBD_OUT"/*.ko
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

# add_modules copies .ko files into $1 (a folder of the initramfs) with a
# load-order file listing them.
add_modules() {
  local dir=$1 ko i=0
  shift
  mkdir -p "$dir"
  : >"$dir/load-order"
  for ko in "$@"; do
    i=$((i + 1))
    cp "$ko" "$dir/$(printf '%02d' "$i")-$(basename "$ko")"
    echo "$(printf '%02d' "$i")-$(basename "$ko")" >>"$dir/load-order"
  done
}

# build_base makes busybox + modules + DRBD/LVM tools + /init. The modules
# are in /lib/modules/{common,drbd84,drbd9}; /init loads common and the DRBD
# set the kernel command line names (lab.drbd=9, the default, or 8.4).
build_base() {
  local out=$1 tree common=() m
  tree=$(mktemp -d)
  mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc/lvm,proc,sys,dev,run,tmp,var/lock,var/log,var/lib/drbd}
  cp /usr/bin/busybox "$tree/bin/busybox"
  for applet in $(/usr/bin/busybox --list); do
    [ -e "$tree/bin/$applet" ] || ln -s busybox "$tree/bin/$applet"
  done
  mapfile -t common < <(kernel_module_files "${COMMON_MODULES[@]}" $(drbd9_kernel_deps))
  add_modules "$tree/lib/modules/common" "${common[@]}"
  # The in-tree 8.4 module after its dependencies (all in common).
  add_modules "$tree/lib/modules/drbd84" $(kernel_module_files drbd | grep '/drbd\.ko$')
  add_modules "$tree/lib/modules/drbd9" $(for m in "${DRBD9_MODULES[@]}"; do echo "$DRBD_OUT/$m.ko"; done)
  local tool
  for tool in "${TOOLS[@]}"; do copy_with_libs "$tree" "$tool"; done
  for tool in "${LVM_LINKS[@]}"; do ln -s lvm "$tree/usr/sbin/$tool"; done
  for tool in "${CONFIGS[@]}"; do cp "$tool" "$tree$tool"; done
  cp "$HERE/init" "$tree/init"
  chmod 755 "$tree/init"
  (cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) >"$out.tmp"
  mv "$out.tmp" "$out"
  find "$CACHE" -maxdepth 1 -name 'base-*.cpio' ! -name "$(basename "$out")" -delete
  log "built $(basename "$out") ($(du -h "$out" | cut -f1)); modules: $(wc -l <"$tree/lib/modules/common/load-order") common, DRBD 8.4 in-tree, DRBD $DRBD_VERSION"
  rm -rf "$tree"
}

# current.env records the kernel `ensure` prepared; `initrd` uses it.
write_current() {
  printf 'KABI=%s\nKVER=%s\nKDEB=%s\n' "$KABI" "$KVER" "$KDEB" >"$CACHE/current.env.tmp"
  mv "$CACHE/current.env.tmp" "$CACHE/current.env"
}

read_current() {
  [ -f "$CACHE/current.env" ] || die "the lab is not prepared: run hack/lab/lab.sh ensure (or make test-deps)"
  # shellcheck source=/dev/null
  . "$CACHE/current.env"
  kernel_dirs
  [ -f "$KDIR/.done" ] && [ -f "$DRBD_OUT/.done" ] ||
    die "kernel $KVER or its DRBD $DRBD_VERSION build is missing: run hack/lab/lab.sh ensure"
}

ensure_base() {
  local h
  h=$(base_hash)
  BASE="$CACHE/base-$h.cpio"
  [ -f "$BASE" ] || build_base "$BASE"
}

# prune_old drops kernels and DRBD builds other than the current ones (of
# this naming; a work tree with an older lab.sh may share the cache).
prune_old() {
  local d
  for d in "$CACHE"/kernel/*_* "$CACHE"/drbd/*; do
    [ -e "$d" ] || continue
    [ "$d" = "$KDIR" ] || [ "$d" = "$DRBD_OUT" ] && continue
    log "removing $d (not the current kernel or DRBD build)"
    rm -rf "$d"
  done
}

# build_initrd adds this tree's static binaries to the base initramfs (the
# kernel unpacks concatenated archives in order) and sets BOOT to a folder
# named by the result: vmlinuz and initrd.cpio, self-contained (the kernel
# hard-linked or copied), so a lab that reboots a VM minutes later boots the
# same files whatever another work tree prepared meanwhile. Neither file is
# compressed: inflating ~25 MB in an emulated guest took ~40% of its boot
# before /init.
build_initrd() {
  local bin h d
  bin=$(mktemp -d)
  mkdir -p "$bin/usr/local/bin"
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/usr/local/bin/piraeusctl" ./cmd/piraeusctl)
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/usr/local/bin/labguest" ./internal/lab/labguest)
  h=$(cat "$KDIR/vmlinuz" "$BASE" "$bin/usr/local/bin/piraeusctl" "$bin/usr/local/bin/labguest" | sha256sum | cut -c1-16)
  BOOT="$CACHE/boot/$h"
  if [ ! -f "$BOOT/.done" ]; then
    rm -rf "$BOOT"
    mkdir -p "$BOOT"
    (cd "$bin" && find . -mindepth 1 | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) >"$bin/extra.cpio"
    cat "$BASE" "$bin/extra.cpio" >"$BOOT/initrd.cpio"
    ln "$KDIR/vmlinuz" "$BOOT/vmlinuz" 2>/dev/null || cp "$KDIR/vmlinuz" "$BOOT/vmlinuz"
  fi
  rm -rf "$bin"
  touch "$BOOT/.done" # last use: pruning keeps what a running lab may still boot
  # Keep the cache small: drop boot folders unused for two hours (a lab run
  # takes minutes), and the artefacts of older lab.sh versions.
  for d in "$CACHE"/boot/*/; do
    d=${d%/}
    [ "$d" = "$BOOT" ] && continue
    [ -n "$(find "$d/.done" -mmin -120 2>/dev/null)" ] || rm -rf "$d"
  done
  rm -f "$CACHE"/initrd-*.cpio "$CACHE/initrd.cpio"
  ln -sfn "$BOOT" "$CACHE/boot/latest"
}

mkdir -p "$CACHE"
case "${1:-ensure}" in
ensure)
  ensure_packages
  ensure_kernel
  ensure_headers
  ensure_drbd
  write_current
  prune_old
  ensure_base
  build_initrd
  echo "$BOOT"
  ;;
initrd)
  read_current
  ensure_base
  build_initrd
  echo "$BOOT"
  ;;
kernel)
  resolve_kernel || die "no 6.1 kernel with matching headers in the package index"
  echo "$KVER $KDEB"
  ;;
dir)
  [ -e "$CACHE/boot/latest" ] || die "the lab is not prepared: run hack/lab/lab.sh ensure"
  readlink -f "$CACHE/boot/latest"
  ;;
*)
  echo "usage: $0 ensure|initrd|kernel|dir" >&2
  exit 2
  ;;
esac
