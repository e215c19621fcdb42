#!/usr/bin/env bash
# Logged-in LUNs as local block devices (issue 5): our iscsid exposes each disk LUN as a FUSE file
# attached to a loop device, with open-iscsi's by-path link. Against Debian's tgtd and ours:
# mkfs.ext4, mount, a few hundred MB of files, logout, login again, same sha256 sums, clean fsck;
# the target killed and restarted while files are written; logout of a mounted device refused;
# rescan picks up a grown LUN, a new LUN and a removed one; no FUSE or no loop device still logs in.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-blockdev.XXXXXX)
export TGTD_RUN_DIR=$WORK/run ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$TGTD_RUN_DIR" "$ISCSI_ROOT" "$ISCSID_RUN_DIR" "$WORK/mnt"
ADM="$BIN/iscsiadm"
MNT=$WORK/mnt
OURS_PID= PEER_PID= ISCSID_PID= private_pid= busy1= busy2=
cleanup() {
  umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  [ -n "$private_pid" ] && kill "$private_pid" 2>/dev/null || true
  for dev in $busy1 $busy2; do losetup -d "$dev" 2>/dev/null || true; done
  "$ADM" -m node -u >/dev/null 2>&1 || true
  [ -n "$ISCSID_PID" ] && stop_and_wait "$ISCSID_PID"
  [ -n "$OURS_PID" ] && kill "$OURS_PID" 2>/dev/null || true
  [ -n "$PEER_PID" ] && kill -9 "$PEER_PID" 2>/dev/null || true
  sleep 0.5
  rm -f /dev/shm/blk-*.img
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

truncate -s 1G /dev/shm/blk-ours.img /dev/shm/blk-peer.img
start_ours 61 3461 "$WORK/ours.log"
start_peer 62 3462 "$WORK/peer.log"
export_lun "$BIN/tgtadm" 61 iqn.2026-11.test:ours /dev/shm/blk-ours.img
export_lun tgtadm 62 iqn.2026-11.test:peer /dev/shm/blk-peer.img
"$BIN/iscsid" || fail "iscsid did not start"
ISCSID_PID=$(cat "$ISCSID_RUN_DIR"/*.sock.lock)

link() { echo "$ISCSI_ROOT/dev/disk/by-path/ip-127.0.0.1:$1-iscsi-iqn.2026-11.test:$2-lun-${3:-1}"; }
login() {
  "$ADM" -m node -T "iqn.2026-11.test:$1" -p "127.0.0.1:$2" -l >"$WORK/login.out" 2>&1 || fail "$1: login: $(cat "$WORK/login.out")"
  [ -L "$(link "$2" "$1")" ] || fail "$1: no by-path link after login: $(cat "$WORK/login.out")"
}
logout() { "$ADM" -m node -T "iqn.2026-11.test:$1" -p "127.0.0.1:$2" -u >/dev/null || fail "$1: logout"; }
restart_target() { # NAME: kill -9 and start again on the same port (ours restores its saved configuration)
  if [ "$1" = ours ]; then
    kill -9 "$OURS_PID"; wait "$OURS_PID" 2>/dev/null || true
    sleep 2
    start_ours 61 3461 "$WORK/ours2.log"
  else
    kill -9 "$PEER_PID"
    sleep 2
    start_peer 62 3462 "$WORK/peer2.log"
    export_lun tgtadm 62 iqn.2026-11.test:peer /dev/shm/blk-peer.img
  fi
}

for target in "ours 3461" "peer 3462"; do
  set -- $target
  name=$1 port=$2
  echo "== $name: login attaches a block device"
  "$ADM" -m discovery -t st -p "127.0.0.1:$port" >/dev/null
  login "$name" "$port"
  dev=$(readlink "$(link "$port" "$name")")
  [ -b "$dev" ] || fail "$name: $dev is not a block device"
  "$ADM" -m session -P 3 | grep -q "Attached scsi disk $(basename "$dev")[[:space:]]*State: running" ||
    fail "$name: -P 3 does not show $dev"
  [ "$(blockdev --getsize64 "$dev")" = 1073741824 ] || fail "$name: $dev size"

  echo "== $name: fio writes 512 B to 1 MiB at random, 32 in flight, and verifies every block"
  fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite --bsrange=512-1m \
    --iodepth=32 --size=256M --verify=crc32c --verify_fatal=1 --verify_state_save=0 >"$WORK/fio.out" 2>&1 ||
    fail "$name: fio verify: $(tail -5 "$WORK/fio.out")"

  echo "== $name: mkfs.ext4, 300 MB of files, logout, login, same sums, clean fsck"
  mkfs.ext4 -q -F "$dev"
  mount "$dev" "$MNT"
  for i in 1 2 3; do head -c 100M /dev/urandom >"$MNT/file$i"; done
  mkdir "$MNT/tree"
  for i in $(seq 1 200); do head -c $((i * 997)) /dev/urandom >"$MNT/tree/small$i"; done
  sync
  (cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/sums-$name"
  umount "$MNT"
  logout "$name" "$port"
  [ ! -e "$(link "$port" "$name")" ] || fail "$name: by-path link left after logout"
  ! losetup "$dev" >/dev/null 2>&1 || fail "$name: $dev still attached after logout: $(losetup "$dev")"
  login "$name" "$port"
  dev=$(readlink "$(link "$port" "$name")")
  fsck.ext4 -n -f "$dev" >"$WORK/fsck.out" 2>&1 || fail "$name: fsck after relogin: $(cat "$WORK/fsck.out")"
  mount "$dev" "$MNT"
  (cd "$MNT" && sha256sum --quiet -c "$WORK/sums-$name") || fail "$name: sums differ after logout and login"

  echo "== $name: logout of a mounted device is refused and changes nothing"
  set +e
  "$ADM" -m node -T "iqn.2026-11.test:$name" -p "127.0.0.1:$port" -u >"$WORK/out" 2>"$WORK/err"
  status=$?
  set -e
  [ "$status" = 28 ] || fail "$name: logout of a mounted device exited $status"
  grep -qx "iscsiadm: $dev (lun 1) is in use: mounted on $MNT" "$WORK/err" || fail "$name: message: $(cat "$WORK/err")"
  grep -qx "iscsiadm: initiator reported error (28 - device or resource in use)" "$WORK/err" || fail "$name: $(cat "$WORK/err")"
  [ -L "$(link "$port" "$name")" ] && "$ADM" -m session | grep -q ":$port,1 iqn.2026-11.test:$name" ||
    fail "$name: the refused logout tore something down"
  (cd "$MNT" && sha256sum --quiet -c "$WORK/sums-$name") || fail "$name: data changed by the refused logout"

  echo "== $name: target killed and restarted while files are written"
  head -c 64M /dev/urandom >"$MNT/before"
  sync
  sha256sum "$MNT/before" >"$WORK/before.sum"
  (for i in $(seq 1 40); do head -c 4M /dev/urandom >"$MNT/during$i"; [ $((i % 8)) = 0 ] && sync; done) &
  writer=$!
  sleep 0.5
  restart_target "$name"
  wait "$writer" || fail "$name: writes failed across the target restart"
  sync
  sha256sum --quiet -c "$WORK/before.sum" || fail "$name: data synced before the restart changed"
  umount "$MNT"
  fsck.ext4 -n -f "$dev" >"$WORK/fsck.out" 2>&1 || fail "$name: fsck after the restart: $(cat "$WORK/fsck.out")"
  echo "ok: $(grep -c . "$WORK/sums-$name") files intact, restart survived, fsck clean"
done

echo "== ours: rescan picks up a grown LUN, a new LUN and a removed one"
truncate -s 2G /dev/shm/blk-ours.img
"$ADM" -m session -R >/dev/null 2>"$WORK/err" || fail "rescan: $(cat "$WORK/err")"
dev=$(readlink "$(link 3461 ours)")
[ "$(blockdev --getsize64 "$dev")" = 2147483648 ] || fail "grown LUN: $dev is $(blockdev --getsize64 "$dev") bytes"
e2fsck -f -p "$dev" >/dev/null && resize2fs "$dev" >/dev/null 2>&1 || fail "resize2fs on the grown device"
mount "$dev" "$MNT"
[ "$(df -B1M --output=size "$MNT" | tail -1 | tr -d ' ')" -gt 1900 ] || fail "filesystem did not grow"
(cd "$MNT" && sha256sum --quiet -c "$WORK/sums-ours") || fail "sums differ after resize"
umount "$MNT"
truncate -s 256M /dev/shm/blk-ours2.img
"$BIN/tgtadm" -C 61 --lld iscsi --op new --mode logicalunit --tid 1 --lun 2 -b /dev/shm/blk-ours2.img
"$ADM" -m session -R >/dev/null
[ -b "$(readlink "$(link 3461 ours 2)")" ] || fail "new LUN 2 got no device"
"$ADM" -m session -P 3 | grep -q "Lun: 2" || fail "-P 3 does not list LUN 2"
"$BIN/tgtadm" -C 61 --lld iscsi --op delete --mode logicalunit --tid 1 --lun 2
"$ADM" -m session -R >/dev/null 2>"$WORK/err"
grep -q "lun 2 is gone from the target: /dev/loop[0-9]* detached" "$WORK/err" || fail "removed LUN: $(cat "$WORK/err")"
[ ! -e "$(link 3461 ours 2)" ] || fail "removed LUN 2 kept its link"

echo "== ours: a thin LUN gets its space back through fstrim (discard -> UNMAP)"
truncate -s 512M /dev/shm/blk-thin.img
"$BIN/tgtadm" -C 61 --lld iscsi --op new --mode logicalunit --tid 1 --lun 3 -b /dev/shm/blk-thin.img
"$BIN/tgtadm" -C 61 --lld iscsi --op update --mode logicalunit --tid 1 --lun 3 --params thin_provisioning=1
"$ADM" -m session -R >/dev/null
thin=$(readlink "$(link 3461 ours 3)")
[ -b "$thin" ] || fail "thin LUN 3 got no device"
used() { du -k /dev/shm/blk-thin.img | cut -f1; }
mkfs.ext4 -q -F "$thin"
mount "$thin" "$MNT"
head -c 64M /dev/urandom >"$MNT/big"
sync
full=$(used)
rm "$MNT/big"
sync  # the blocks are free for fstrim once the delete is committed
fstrim "$MNT" || fail "fstrim on the thin LUN"
umount "$MNT"
[ $((full - $(used))) -gt 60000 ] || fail "fstrim gave back $((full - $(used))) KiB of 65536"
fsck.ext4 -n -f "$thin" >"$WORK/fsck.out" 2>&1 || fail "fsck after fstrim: $(cat "$WORK/fsck.out")"
echo "ok: the LUN's file went from $full KiB to $(used) KiB"
logout ours 3461
"$BIN/tgtadm" -C 61 --lld iscsi --op delete --mode logicalunit --tid 1 --lun 3

echo "== ours: target gone past replacement_timeout: IO fails with EIO, nothing hangs; back when the target is"
"$ADM" -m node -T iqn.2026-11.test:ours -o update -n node.session.timeo.replacement_timeout -v 5
login ours 3461
dev=$(readlink "$(link 3461 ours)")
kill -9 "$OURS_PID"; wait "$OURS_PID" 2>/dev/null || true
OURS_PID=
set +e
start=$SECONDS
timeout 60 dd if="$dev" of=/dev/null iflag=direct bs=4k count=1 2>"$WORK/dd.err"
status=$?
set -e
[ "$status" = 1 ] && grep -q "Input/output error" "$WORK/dd.err" || fail "read past the timeout: status $status: $(cat "$WORK/dd.err")"
[ $((SECONDS - start)) -le 15 ] || fail "EIO took $((SECONDS - start)) s with a 5 s replacement_timeout"
echo "ok: EIO after $((SECONDS - start)) s"
"$ADM" -m session -P 1 | grep -q "Internal iscsid Session State: REOPEN" || fail "-P 1 does not show the session reopening"
start_ours 61 3461 "$WORK/ours3.log"
# As with open-iscsi, the session comes back by itself and the same device works again.
for _ in $(seq 1 100); do dd if="$dev" of=/dev/null iflag=direct bs=4k count=1 2>/dev/null && break; sleep 0.1; done
dd if="$dev" of=/dev/null iflag=direct bs=4k count=1 2>"$WORK/dd.err" || fail "device still failing after the target came back: $(cat "$WORK/dd.err")"
"$ADM" -m session -P 1 | grep -q "iSCSI Session State: LOGGED_IN" || fail "-P 1 after recovery"
fsck.ext4 -n -f "$dev" >"$WORK/fsck.out" 2>&1 || fail "fsck after recovery: $(cat "$WORK/fsck.out")"
kill -9 "$OURS_PID"; wait "$OURS_PID" 2>/dev/null || true
sleep 6
"$ADM" -m node -T iqn.2026-11.test:ours -p 127.0.0.1:3461 -u >/dev/null || fail "logout of a session without its target"
[ ! -e "$(link 3461 ours)" ] && ! losetup "$dev" >/dev/null 2>&1 || fail "the session left its device"
start_ours 61 3461 "$WORK/ours4.log"

echo "== no FUSE, or no loop devices: the login works and one line says why there is no device"
for masked in "/dev/fuse:no FUSE: /dev/fuse is not the FUSE device" \
  "/dev/loop-control:no loop devices: /dev/loop-control is not the loop control device"; do
  why=${masked#*:} masked=${masked%%:*}
  root=$WORK/root-$(basename "$masked") run=$WORK/run-$(basename "$masked")
  mkdir -p "$root" "$run"
  # A private mount namespace where the device node is /dev/null, as in a container without it.
  ISCSI_ROOT=$root ISCSID_RUN_DIR=$run unshare -m sh -c "mount --bind /dev/null $masked && exec $BIN/iscsid -f" \
    >"$WORK/iscsid-masked.log" 2>&1 &
  masked_pid=$!
  for _ in $(seq 1 50); do [ -S "$(ls "$run"/*.sock 2>/dev/null | head -1)" ] && break; sleep 0.1; done
  ISCSI_ROOT=$root ISCSID_RUN_DIR=$run "$ADM" -m discovery -t st -p 127.0.0.1:3461 >/dev/null
  ISCSI_ROOT=$root ISCSID_RUN_DIR=$run "$ADM" -m node -l >"$WORK/out" 2>"$WORK/err" || fail "$masked: login failed"
  grep -q "successful" "$WORK/out" || fail "$masked: login: $(cat "$WORK/out")"
  [ "$(wc -l <"$WORK/err")" = 1 ] && grep -q "^iscsiadm: no block device for lun 1: $why" "$WORK/err" ||
    fail "$masked: expected one line saying \"$why\", got: $(cat "$WORK/err")"
  echo "ok: $masked masked: $(cat "$WORK/err")"
  ISCSI_ROOT=$root ISCSID_RUN_DIR=$run "$ADM" -m node -u >/dev/null || fail "$masked: logout"
  kill "$masked_pid"; wait "$masked_pid" 2>/dev/null || true
done

echo "== a container given a fixed set of /dev/loopN and no loop-control: free ones are found, all busy is one line"
truncate -s 1M "$WORK/busy1" "$WORK/busy2"
busy1=$(losetup -f --show "$WORK/busy1")
busy2=$(losetup -f --show "$WORK/busy2")
free=$(losetup -f)
# private_iscsid NAME NODES...: iscsid in a mount namespace whose /dev holds FUSE, null and NODES.
private_iscsid() {
  local name=$1 nodes="" node
  shift
  for node in "$@"; do nodes+="mknod $node b 7 ${node#/dev/loop} && "; done
  root=$WORK/root-$name run=$WORK/run-$name
  mkdir -p "$root" "$run"
  ISCSI_ROOT=$root ISCSID_RUN_DIR=$run unshare -m sh -c "mount -t tmpfs tmpfs /dev && mknod /dev/null c 1 3 &&
    mknod /dev/fuse c 10 229 && $nodes exec $BIN/iscsid -f" >"$WORK/iscsid-$name.log" 2>&1 &
  private_pid=$!
  for _ in $(seq 1 50); do [ -S "$(ls "$run"/*.sock 2>/dev/null | head -1)" ] && break; sleep 0.1; done
  ISCSI_ROOT=$root ISCSID_RUN_DIR=$run "$ADM" -m discovery -t st -p 127.0.0.1:3461 >/dev/null
  ISCSI_ROOT=$root ISCSID_RUN_DIR=$run "$ADM" -m node -l >"$WORK/out" 2>"$WORK/err" || fail "$name: login failed"
}
private_done() {
  ISCSI_ROOT=$root ISCSID_RUN_DIR=$run "$ADM" -m node -u >/dev/null || fail "$1: logout"
  kill "$private_pid"; wait "$private_pid" 2>/dev/null || true
}
private_iscsid busy "$busy1" "$busy2"
expected="iscsiadm: no block device for lun 1: no free loop device: $busy1, $busy2 are all in use (and /dev/loop-control is missing)"
[ "$(cat "$WORK/err")" = "$expected" ] || fail "busy loops: expected \"$expected\", got: $(cat "$WORK/err")"
echo "ok: $(cat "$WORK/err")"
private_done busy
private_iscsid scan "$busy1" "$busy2" "$free"
[ ! -s "$WORK/err" ] && ISCSI_ROOT=$root ISCSID_RUN_DIR=$run "$ADM" -m session -P 3 | grep -q "Attached scsi disk $(basename "$free")" ||
  fail "scan: the free $free was not used: $(cat "$WORK/err")"
echo "ok: without loop-control the free $free was found among the busy ones"
private_done scan
losetup -d "$busy1" "$busy2"
cmp -s "$WORK/busy1" <(head -c 1M /dev/zero) || fail "the busy devices' data changed"

rm -f /dev/shm/blk-ours2.img /dev/shm/blk-thin.img
echo "block-devices: all checks passed"
