#!/usr/bin/env bash
# Builds (once) the Debian bookworm guest that scripts/kernel-peers.sh boots under QEMU TCG: a
# minbase debootstrap with Linux 6.1, open-iscsi, LIO's targetcli-fb, multipath-tools, fio and
# sg3-utils, turned into an ext4 image plus its kernel and initrd. The result lives OUTSIDE the
# clone in $KERNEL_PEERS_CACHE (default /var/cache/swift-iscsi/kernel-peers)/<key>, where <key> is
# a hash of this script (so of the package list and the steps); a finished build is reused.
# Prints the directory holding vmlinuz, initrd.img and root.img on its last line.
set -euo pipefail
PKGS=linux-image-amd64,open-iscsi,targetcli-fb,python3-rtslib-fb,multipath-tools,fio,sg3-utils
PKGS=$PKGS,e2fsprogs,kmod,udev,iproute2,procps,util-linux,dbus,lsscsi
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${KERNEL_PEERS_CACHE:-/var/cache/swift-iscsi/kernel-peers}
KEY=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
OUT=$CACHE/bookworm-$KEY
if [ -f "$OUT/done" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'umount -l "$TMP/root/proc" 2>/dev/null || true; rm -rf "$TMP"' EXIT
start=$(date +%s)
debootstrap --variant=minbase --include="$PKGS" bookworm "$TMP/root" "$MIRROR" >"$TMP/debootstrap.log" 2>&1 || {
  tail -n 30 "$TMP/debootstrap.log" >&2; echo "kernel-peers-image: debootstrap failed" >&2; exit 1; }
R=$TMP/root
# The initrd must find the root disk (virtio-blk, ext4) without udev rules of its own.
printf '%s\n' virtio_pci virtio_blk ext4 >>"$R/etc/initramfs-tools/modules"
mount -t proc proc "$R/proc"
chroot "$R" update-initramfs -u -k all >"$TMP/initramfs.log" 2>&1
umount "$R/proc"
echo "InitiatorName=iqn.2026-11.org.swift-iscsi:kernel-guest" >"$R/etc/iscsi/initiatorname.iscsi"
echo kernel-peers >"$R/etc/hostname"
mkdir -p "$R/etc/target" "$R/mnt/kp"
# PID 1: mount what the system needs, then run the run's own script from the 9p share (so the
# tests change without rebuilding the image) and power off.
cat >"$R/sbin/kp-init" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
modprobe 9pnet_virtio; modprobe 9p
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 kp /mnt/kp
if [ -x /mnt/kp/guest.sh ]; then /mnt/kp/guest.sh >/mnt/kp/guest.log 2>&1; else echo "kp-init: no /mnt/kp/guest.sh" >/dev/console; fi
sync; umount /mnt/kp
echo o >/proc/sysrq-trigger
poweroff -f
INIT
chmod 755 "$R/sbin/kp-init"
cp "$R"/boot/vmlinuz-* "$TMP/vmlinuz"
cp "$R"/boot/initrd.img-* "$TMP/initrd.img"
chroot "$R" dpkg-query -W >"$TMP/packages.txt"
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*
size=$(( $(du -sm "$R" | cut -f1) + 768 ))
mkfs.ext4 -q -F -L kproot -d "$R" "$TMP/root.img" "${size}M"
rm -rf "$R"
echo "$(( $(date +%s) - start ))" >"$TMP/build-seconds"
touch "$TMP/done"
rm -rf "$OUT"; mv "$TMP" "$OUT"
trap - EXIT
echo "kernel-peers-image: built in $(cat "$OUT/build-seconds") s" >&2
echo "$OUT"
