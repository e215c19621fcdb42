#!/usr/bin/env bash
# Linux's own iSCSI initiator (open-iscsi + iscsi_tcp), dm-multipath and LIO as peers: a Debian
# bookworm guest (Linux 6.1) under QEMU TCG, built once by scripts/kernel-peers-image.sh and cached
# outside the clone. Stage 1: the guest's initiator against our tgtd on this host (the guest reaches
# 127.0.0.1 as 10.0.2.2). Stage 3: dm-multipath over two portals of our tgtd, one of which goes away.
# Stage 2: our iscsid/iscsiadm/iscsi-tool against LIO in the guest (reached through a hostfwd port),
# our native multipath over two TPGs of one LIO LU with ALUA (one of which the guest takes away on
# the host's request), and libiscsi's conformance suite against LIO. Each step prints one "PASS name" or
# "FAIL name: why" line; the script exits non-zero on any FAIL. When it cannot run at all (no
# qemu-system-x86_64, no debootstrap, no room) it says so in one line and exits 1, or 0 when
# SKIP_KERNEL_PEERS=1 is set. The guest only ever talks to 10.0.2.2 (this host's loopback).
#
# Ports: iSCSI 4701 and 4702 (TPG 2, multipath with ALUA), LIO forwarded to 127.0.0.1:4710 (guest
# port 3260) and 127.0.0.1:4711 (guest port 3261, lio-mpath's TPG 2), tgtd control port 470; two
# RBD gateways (scripts/kernel-peers-rbd.sh) on 4720 and 4721, control 472-473.
# KEEP=1 keeps the work directory (guest.log, console.log, dmesg, tgtd.log).
# RUN_LINUX=0 leaves stages 1 and 3 out (faster runs of stage 2).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
T_START=$(date +%s)
cannot() {
  echo "kernel-peers: cannot run: $*"
  [ "${SKIP_KERNEL_PEERS:-}" = 1 ] && exit 0
  exit 1
}
command -v qemu-system-x86_64 >/dev/null || cannot "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
command -v debootstrap >/dev/null || cannot "no debootstrap (apt-get install debootstrap)"
for b in tgtd tgtadm iscsid iscsiadm iscsi-tool; do [ -x "$BIN/$b" ] || cannot "no $BIN/$b (swift build -c release)"; done
CACHE=${KERNEL_PEERS_CACHE:-/var/cache/swift-iscsi/kernel-peers}
mkdir -p "$CACHE" 2>/dev/null || cannot "cannot create $CACHE"
free_mb() { df -Pm "$1" | awk 'NR == 2 { print $4 }'; }
if ! ls "$CACHE"/bookworm-*/done >/dev/null 2>&1; then
  [ "$(free_mb "$CACHE")" -ge 4096 ] || cannot "no room: building the guest image needs 4 GiB free in $CACHE"
fi
[ "$(free_mb /dev/shm)" -ge 2048 ] || cannot "no room: the LUNs need 2 GiB free in /dev/shm"
[ "$(free_mb /tmp)" -ge 2048 ] || cannot "no room: the guest's disk overlay needs 2 GiB free in /tmp"

PORT=4701 PORT2=4702 LIO_PORT=4710 LIO_PORT2=4711 CP=470
for p in $PORT $PORT2 $LIO_PORT $LIO_PORT2; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then cannot "port $p is taken"; fi
done
WORK=$(mktemp -d /tmp/kernel-peers.XXXXXX)
SHARE=$WORK/share
mkdir -p "$SHARE/rpc" "$SHARE/grpc"
export TGTD_RUN_DIR=$WORK/tgtd-run ISCSI_ROOT=$WORK/iscsi-root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$TGTD_RUN_DIR" "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
TGTD_PID="" QEMU_PID=""
FAILS=0 PASSES=0
TIMINGS=()
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
  stop_iscsid
  [ -n "$TGTD_PID" ] && kill "$TGTD_PID" 2>/dev/null
  declare -F rbd_stop >/dev/null && rbd_stop
  rm -f /dev/shm/kp-*.img
  if [ -n "${KEEP:-}" ]; then echo "kernel-peers: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
pass() { echo "PASS $1"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL $1: $2"; FAILS=$((FAILS + 1)); }

# --- the guest image ----------------------------------------------------------------------------
t=$(date +%s)
if ! IMG=$(bash scripts/kernel-peers-image.sh 2>"$WORK/image.err" | tail -n 1) || [ ! -f "$IMG/done" ]; then
  fail guest-image "$(tail -n 3 "$WORK/image.err" | tr '\n' ' ')"
  exit 1
fi
if grep -q "built in" "$WORK/image.err"; then TIMINGS+=("image-build=$(($(date +%s) - t))s"); else TIMINGS+=("image=cached"); fi

# --- our tgtd: five targets on portal 4701 (TPG 1), plus 4702 (TPG 2) for multipath over ALUA ----
start_tgtd() {
  "$BIN/tgtd" -f -C $CP --iscsi "portal=127.0.0.1:$PORT" --state-dir "$WORK/state" >>"$WORK/tgtd.log" 2>&1 &
  TGTD_PID=$!
  wait_port $PORT
}
ADM=("$BIN/tgtadm" -C $CP --lld iscsi)
IQ=iqn.2026-11.org.swift-iscsi
cat >"$SHARE/env" <<EOF
HOST_PORT=$PORT
MPATH_PORT=$PORT2
IQN_DISK=$IQ:kp-disk
IQN_CHAP=$IQ:kp-chap
IQN_MUTUAL=$IQ:kp-mutual
IQN_THIN=$IQ:kp-thin
IQN_MPATH=$IQ:kp-mpath
IQN_RBD=$IQ:kp-rbd
GUEST_IQN_B=$IQ:kernel-guest-b
VENDOR=SWIFTKP
PRODUCT=KPDISK
REV=0042
SERIAL=KPSN0001
DISK_BLOCKS=$((512 * 2048))
CHAP_USER=kpuser
CHAP_PASS=kpsecret123456
CHAP_OUT_USER=kpout
CHAP_OUT_PASS=kpoutsecret654321
LIO_IQN_PREFIX=iqn.2003-01.org.linux-iscsi.kernel-peers
LIO_SIZE_MB=256
RUN_LINUX=${RUN_LINUX:-1}
EOF
. "$SHARE/env"
start_tgtd
setup_target() {  # setup_target TID IQN SIZE_MB [PARAMS]
  truncate -s "$3M" "/dev/shm/kp-$1.img"
  "${ADM[@]}" --op new --mode target --tid "$1" -T "$2" &&
    "${ADM[@]}" --op new --mode logicalunit --tid "$1" --lun 1 -b "/dev/shm/kp-$1.img" &&
    { [ -z "${4:-}" ] || "${ADM[@]}" --op update --mode logicalunit --tid "$1" --lun 1 --params "$4"; } &&
    "${ADM[@]}" --op bind --mode target --tid "$1" -I ALL
}
{
  setup_target 1 "$IQN_DISK" 512 "vendor_id=$VENDOR,product_id=$PRODUCT,product_rev=$REV,scsi_sn=$SERIAL" &&
    setup_target 2 "$IQN_CHAP" 64 && setup_target 3 "$IQN_MUTUAL" 64 &&
    setup_target 4 "$IQN_THIN" 512 thin_provisioning=1 && setup_target 5 "$IQN_MPATH" 256 &&
    "${ADM[@]}" --op new --mode account --user "$CHAP_USER" --password "$CHAP_PASS" &&
    "${ADM[@]}" --op new --mode account --user "$CHAP_OUT_USER" --password "$CHAP_OUT_PASS" &&
    "${ADM[@]}" --op bind --mode account --tid 2 --user "$CHAP_USER" &&
    "${ADM[@]}" --op bind --mode account --tid 3 --user "$CHAP_USER" &&
    "${ADM[@]}" --op bind --mode account --tid 3 --user "$CHAP_OUT_USER" --outgoing &&
    "${ADM[@]}" --op new --mode portal --param "portal=127.0.0.1:$PORT2,2" &&
    "${ADM[@]}" --op update --mode logicalunit --tid 5 --lun 1 --params "alua_state=1:active,alua_state=2:nonoptimized"
} >"$WORK/setup.log" 2>&1 || { fail tgtd-setup "$(tail -n 3 "$WORK/setup.log" | tr '\n' ' ')"; exit 1; }

# Two gateways on one RBD image for dm-multipath (RUN_LINUX=0 or no Ceph: left out).
. scripts/kernel-peers-rbd.sh
if [ "${RUN_LINUX:-1}" = 1 ]; then rbd_start; else echo "RBD=0 # RUN_LINUX=0" >>"$SHARE/env"; fi

cp scripts/kernel-peers-guest.sh "$SHARE/guest.sh"
chmod 755 "$SHARE/guest.sh"
[ -f scripts/kernel-peers-lio.py ] && install -m 755 scripts/kernel-peers-lio.py "$SHARE/lio-setup.py"

# --- requests from the guest ---------------------------------------------------------------------
# handle CMD: runs one request; prints the answer's body; returns non-zero on failure.
handle() {
  case "$1" in
    restart-tgtd)
      local t0; t0=$(date +%s%N)
      kill -9 "$TGTD_PID"; wait "$TGTD_PID" 2>/dev/null
      sleep 5
      start_tgtd || return 1
      echo "tgtd killed with SIGKILL, back after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      ;;
    alloc-thin) du -k "/dev/shm/kp-4.img" | cut -f1 ;;
    drop-portal)
      # The portal goes away (no listener) and the connections that came through it are dropped:
      # the session from the second path is the one whose initiator is $GUEST_IQN_B.
      "${ADM[@]}" --op delete --mode portal --param "portal=127.0.0.1:$PORT2,2" || return 1
      local conns sid cid n=0
      conns=$("${ADM[@]}" --op show --mode conn --tid 5) || return 1
      while read -r sid cid; do
        "${ADM[@]}" --op delete --mode conn --tid 5 --sid "$sid" --cid "$cid" || return 1
        n=$((n + 1))
      done < <(echo "$conns" | awk -v ini="$GUEST_IQN_B" '
        /^Session:/ { sid = $2 } /Connection:/ { cid = $2 } /Initiator:/ { if ($2 == ini) print sid, cid }')
      [ $n -ge 1 ] || { echo "no connection from $GUEST_IQN_B: $conns"; return 1; }
      echo "portal $PORT2 deleted, $n connection(s) of $GUEST_IQN_B dropped"
      ;;
    add-portal) "${ADM[@]}" --op new --mode portal --param "portal=127.0.0.1:$PORT2,2" && echo "portal $PORT2 back" ;;
    alua-swap)
      # With targetcli, as an administrator moves the active path: TPG 2's group becomes
      # Active/optimized, TPG 1's Active/non-optimized.
      "$BIN/targetcli" -C $CP /backstores/fileio/tgt_5_1/alua/tpg2 set alua alua_access_state=0 &&
        "$BIN/targetcli" -C $CP /backstores/fileio/tgt_5_1/alua/tpg1 set alua alua_access_state=1
      ;;
    kill-rbd-owner) rbd_kill_owner ;;
    start-rbd-gw1) rbd_gw_start 1 && echo "gateway 1 back" ;;
    *) echo "unknown request $1"; return 1 ;;
  esac
}
# grpc REQUEST: asks the guest (its lio_requests loop, running while it waits in `rpc lio-ready`)
# to change LIO: REQUEST is lio-setup.py's arguments. Waits 90 s at most; prints the answer's body;
# fails if the guest did. (The counter lives in a file: grpc runs in $(...) subshells.)
grpc() {
  local GRPCN
  GRPCN=$(($(cat "$WORK/grpcn" 2>/dev/null || echo 0) + 1)); echo $GRPCN >"$WORK/grpcn"
  echo "$*" >"$SHARE/grpc/req.$GRPCN.tmp" && mv "$SHARE/grpc/req.$GRPCN.tmp" "$SHARE/grpc/req.$GRPCN"
  local i=0
  while [ ! -f "$SHARE/grpc/ans.$GRPCN" ]; do
    sleep 0.2; i=$((i + 1)); [ $i -lt 450 ] || { echo "the guest did not answer '$*' within 90 s"; return 1; }
  done
  sed 1d "$SHARE/grpc/ans.$GRPCN"
  [ "$(head -n 1 "$SHARE/grpc/ans.$GRPCN")" = ok ]
}
# lio_checks: stage 2, while the guest's LIO waits: our iscsid/iscsiadm against it, then libiscsi's
# conformance suite (KERNEL_PEERS_CONFORMANCE=0 leaves the suite out).
lio_checks() {
  local L=127.0.0.1:$LIO_PORT A="$BIN/iscsiadm" out missing="" n iqn dev link mnt=$WORK/mnt t
  lstep() { STEP=$1; t=$(date +%s); }
  lpass() { pass "$STEP"; TIMINGS+=("$STEP=$(($(date +%s) - t))s"); }
  lfail() { fail "$STEP" "$1"; TIMINGS+=("$STEP=$(($(date +%s) - t))s"); }
  lrec() { "$A" -m node -T "$LIO_IQN_PREFIX:$1" -p "$L" -o update -n "$2" -v "$3" >/dev/null; }
  llogin() { "$A" -m node -T "$LIO_IQN_PREFIX:$1" -p "$L" -l >"$WORK/lio-login.out" 2>&1; }
  llogout() { "$A" -m node -T "$LIO_IQN_PREFIX:$1" -p "$L" -u >/dev/null 2>&1; }
  ldev() {  # the block device of target $1's session (via open-iscsi's by-path link)
    link="$ISCSI_ROOT/dev/disk/by-path/ip-$L-iscsi-$LIO_IQN_PREFIX:$1-lun-0"
    dev=$(readlink "$link" 2>/dev/null)
    [ -b "$dev" ]
  }
  # lio_io NAME: writes 8 MiB through the device, reads it back with direct IO.
  lio_io() {
    ldev "$1" || { echo "no block device ($link)"; return 1; }
    dd if="$WORK/lio-data" of="$dev" bs=1M count=8 oflag=direct conv=fsync status=none &&
      [ "$(dd if="$dev" bs=1M count=8 iflag=direct status=none | sha256sum)" = "$(head -c 8M "$WORK/lio-data" | sha256sum)" ] ||
      { echo "data read back differs"; return 1; }
  }
  head -c 48M /dev/urandom >"$WORK/lio-data"
  # Our multipath's settings (lio-multipath*): a failed path is checked every second; with no
  # path left commands wait 30 s.
  printf '%s\n' "multipath.polling_interval = 1" "multipath.no_path_retry = 30" \
    "multipath.path_selector = queue-length 0" >"$ISCSI_ROOT/iscsid.conf"
  if ! "$BIN/iscsid" >"$WORK/iscsid.out" 2>&1; then
    fail lio-iscsid "$(tr '\n' ' ' <"$WORK/iscsid.out")"; return
  fi

  lstep lio-discovery
  if out=$("$A" -m discovery -t st -p "$L" 2>&1); then
    for n in lio-open lio-chap lio-mutual; do
      echo "$out" | grep -qx "10.0.2.15:3260,1 $LIO_IQN_PREFIX:$n" || missing="$missing $n"
    done
    if [ -z "$missing" ]; then lpass; else lfail "not listed:$missing; got: $(echo $out)"; fi
  else lfail "$(echo $out)"; fi
  # LIO answers with the guest's own address (10.0.2.15): static records at the forwarded port.
  "$A" -m node -o delete >/dev/null 2>&1
  for n in lio-open lio-chap lio-mutual; do "$A" -m node -o new -T "$LIO_IQN_PREFIX:$n" -p "$L" >/dev/null; done

  lstep lio-login-blockdev
  if ! llogin lio-open; then lfail "$(tr '\n' ' ' <"$WORK/lio-login.out")"
  elif ! ldev lio-open; then lfail "no block device at $link: $(tr '\n' ' ' <"$WORK/lio-login.out")"
  elif [ "$(blockdev --getsize64 "$dev")" != $((LIO_SIZE_MB << 20)) ]; then lfail "$dev has $(blockdev --getsize64 "$dev") bytes"
  elif ! "$A" -m session -P 3 | grep -q "Attached scsi disk $(basename "$dev")[[:space:]]*State: running"; then lfail "-P 3 does not show $dev"
  else lpass; fi

  lstep lio-mkfs-fsck-sha256
  mkdir -p "$mnt"
  if ! ldev lio-open; then lfail "no device"
  elif ! mkfs.ext4 -q -F "$dev" >"$WORK/lio-mkfs.out" 2>&1; then lfail "mkfs: $(tr '\n' ' ' <"$WORK/lio-mkfs.out")"
  elif ! { mount "$dev" "$mnt" && cp "$WORK/lio-data" "$mnt/data" && umount "$mnt"; }; then lfail "mount/copy"; umount "$mnt" 2>/dev/null
  else
    llogout lio-open
    if ! llogin lio-open || ! ldev lio-open; then lfail "login again: $(tr '\n' ' ' <"$WORK/lio-login.out")"
    elif ! fsck.ext4 -fn "$dev" >"$WORK/lio-fsck.out" 2>&1; then lfail "fsck: $(tail -n 3 "$WORK/lio-fsck.out" | tr '\n' ' ')"
    else
      mount -o ro "$dev" "$mnt"
      if [ "$(sha256sum <"$mnt/data")" = "$(sha256sum <"$WORK/lio-data")" ]; then lpass; else lfail "sha256 differs after logout and login"; fi
      umount "$mnt"
    fi
  fi
  llogout lio-open

  lstep lio-digests
  lrec lio-open "node.conn[0].iscsi.HeaderDigest" CRC32C
  lrec lio-open "node.conn[0].iscsi.DataDigest" CRC32C
  if ! llogin lio-open; then lfail "$(tr '\n' ' ' <"$WORK/lio-login.out")"
  elif ! "$A" -m session -P 2 | grep -q "HeaderDigest: CRC32C" || ! "$A" -m session -P 2 | grep -q "DataDigest: CRC32C"; then
    lfail "not negotiated: $("$A" -m session -P 2 | grep -i digest | tr '\n' ' ')"
  elif ! out=$(lio_io lio-open); then lfail "$out"
  else lpass; fi
  llogout lio-open

  # lmoves TARGET: the step passes when TARGET logs in and moves data; logs out either way.
  lmoves() {
    if ! llogin "$1"; then lfail "$(tr '\n' ' ' <"$WORK/lio-login.out")"
    elif ! out=$(lio_io "$1"); then lfail "$out"
    else lpass; fi
    llogout "$1"
  }
  lstep lio-chap
  # LIO closes the connection, without a Login Response, on a login that offers no CHAP; iscsid
  # would try that login again for initial_login_retry_max x login_timeout (120 s): once is enough.
  lrec lio-chap node.session.initial_login_retry_max 0
  if llogin lio-chap; then lfail "a login without CHAP was admitted"; llogout lio-chap
  else
    lrec lio-chap node.session.auth.authmethod CHAP
    lrec lio-chap node.session.auth.username "$CHAP_USER"
    lrec lio-chap node.session.auth.password wrongsecret99
    if llogin lio-chap; then lfail "a wrong secret was admitted"; llogout lio-chap
    else
      lrec lio-chap node.session.auth.password "$CHAP_PASS"
      lmoves lio-chap
    fi
  fi

  lstep lio-chap-mutual
  lrec lio-mutual node.session.auth.authmethod CHAP
  lrec lio-mutual node.session.auth.username "$CHAP_USER"
  lrec lio-mutual node.session.auth.password "$CHAP_PASS"
  lrec lio-mutual node.session.auth.username_in "$CHAP_OUT_USER"
  lrec lio-mutual node.session.auth.password_in wrongtarget99
  if llogin lio-mutual; then lfail "a target with the wrong secret was accepted"; llogout lio-mutual
  else
    lrec lio-mutual node.session.auth.password_in "$CHAP_OUT_PASS"
    lmoves lio-mutual
  fi
  lio_multipath
  stop_iscsid

  if [ "${KERNEL_PEERS_CONFORMANCE:-1}" = 1 ]; then
    lstep lio-conformance
    out=$(python3 "$SHARED/tools/conformance.py" "iscsi://$L/$LIO_IQN_PREFIX:lio-open/0" \
      --multipath "iscsi://$L/$LIO_IQN_PREFIX:lio-open/0" --json "$WORK/lio-conformance.json" 2>&1 | tee "$WORK/lio-conformance.out" | tail -n 1)
    # The suite's score is a measurement of LIO, not a verdict on us: this step checks only that it ran.
    if echo "$out" | grep -q "^conformance: [0-9]* passed"; then lpass; echo "lio-conformance: LIO scores ${out#conformance: }"
    else lfail "the suite did not run: $out"; fi
  fi
}

# lio_multipath: (part of lio_checks) our native multipath over lio-mpath's two TPGs: tpg1 through
# 127.0.0.1:4710 (guest 3260), ALUA Active/non-optimized, and tpg2 through 127.0.0.1:4711 (guest
# 3261), Active/optimized; then the guest disables tpg2 (closing its session) during fio verify.
lio_multipath() {
  local M=$LIO_IQN_PREFIX:lio-mpath P1=127.0.0.1:$LIO_PORT P2=127.0.0.1:$LIO_PORT2 alua links by_id n
  local w0 w1 fpid frc
  # mgroups: `iscsiadm -m multipath` as "PRIO STATUS PORTAL STATE ...|" per path group, in order.
  mgroups() {
    "$A" -m multipath 2>/dev/null | awk '
      /policy=/ { if (g != "") print g; p = $0; sub(/.*prio=/, "", p); sub(/ .*/, "", p)
                  s = $0; sub(/.*status=/, "", s); sub(/ .*/, "", s); g = p " " s; next }
      { for (i = 1; i < NF - 1; i++) if ($i ~ /^session[0-9]+$/) g = g " " $(i + 1) " " $(i + 2) }
      END { if (g != "") print g }' | tr '\n' '|'
  }
  # wait_groups PATTERN: until mgroups matches the extended regex (60 s at most).
  wait_groups() {
    for _ in $(seq 1 120); do mgroups | grep -Eqx "$1" && return 0; sleep 0.5; done
    return 1
  }
  # writes: tpg1's and tpg2's LUN 0 write_mbytes in LIO ("1:N 2:M").
  writes() { grpc lun-writes lio-mpath; }
  mb() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2://p"; }
  alua=$(cat "$SHARE/lio-mpath-alua" 2>/dev/null)
  if [ "$alua" = groups ]; then
    ALL_UP="50 active $P2 active\|10 enabled $P1 active\|"
  else
    echo "lio-multipath: LIO did not take the ALUA groups ('$alua'): both TPGs in default_tg_pt_gp, one path group"
    ALL_UP="50 active ($P1 active $P2|$P2 active $P1) active\|"
  fi

  lstep lio-multipath
  for p in "$P1" "$P2"; do "$A" -m node -o new -T "$M" -p "$p" >/dev/null; done
  # (LIO's portals are 0.0.0.0: SendTargets names the address and port the discovery session
  # came in on, 10.0.2.15:3260, for tpg2 too; the tags tell the TPGs apart.)
  out=$("$A" -m discovery -t st -p "$L" 2>&1)
  if ! echo "$out" | grep -qx "10.0.2.15:3260,1 $M" || ! echo "$out" | grep -qx "10.0.2.15:326[01],2 $M"; then
    lfail "discovery does not list both of lio-mpath's TPGs: $(echo $out)"
  elif ! "$A" -m node -T "$M" -p "$P1" -l >"$WORK/lio-login.out" 2>&1 || ! "$A" -m node -T "$M" -p "$P2" -l >>"$WORK/lio-login.out" 2>&1; then
    lfail "login: $(tr '\n' ' ' <"$WORK/lio-login.out")"
  elif ! wait_groups "$ALL_UP"; then lfail "path groups '$(mgroups)', expected '$ALL_UP'"
  else
    "$A" -m multipath >"$WORK/lio-multipath.txt" 2>&1
    dev=$(readlink "$ISCSI_ROOT/dev/disk/by-path/ip-$P1-iscsi-$M-lun-0")
    links=$(readlink "$ISCSI_ROOT/dev/disk/by-path/ip-$P2-iscsi-$M-lun-0")
    by_id=$(for l in "$ISCSI_ROOT"/dev/disk/by-id/*; do [ "$(readlink "$l")" = "$dev" ] && echo "${l##*/}"; done)
    n=$(echo "$by_id" | grep -c .)
    if ! [ -b "$dev" ] || [ "$links" != "$dev" ]; then lfail "by-path links name '$dev' and '$links', not one block device"
    elif [ "$n" != 1 ] || [ "$(ls "$ISCSI_ROOT/dev/disk/by-id" | grep -c '^wwn-0x')" != 1 ]; then
      lfail "by-id links on $dev: $(echo $by_id); all: $(ls "$ISCSI_ROOT/dev/disk/by-id" | tr '\n' ' ')"
    elif [ "$("$A" -m session -P 3 | grep -c "Attached scsi disk $(basename "$dev")[[:space:]]*State: running")" != 2 ]; then
      lfail "-P 3 does not show $(basename "$dev") under both sessions"
    elif ! head -n 1 "$WORK/lio-multipath.txt" | grep -q "^3[0-9a-f]* $(basename "$dev") LIO-ORG,"; then
      lfail "map line: $(head -n 1 "$WORK/lio-multipath.txt")"
    elif [ "$alua" = groups ] && ! grep -q "hwhandler='1 alua'" "$WORK/lio-multipath.txt"; then
      lfail "no alua handler: $(tr '\n' '|' <"$WORK/lio-multipath.txt")"
    elif [ "$(blockdev --getsize64 "$dev")" != $((LIO_SIZE_MB << 20)) ]; then lfail "$dev has $(blockdev --getsize64 "$dev") bytes"
    elif ! w0=$(writes); then lfail "guest: $w0"
    elif ! dd if="$WORK/lio-data" of="$dev" bs=1M count=32 oflag=direct conv=fsync status=none; then lfail "32 MiB of writes failed"
    elif ! w1=$(writes); then lfail "guest: $w1"
    elif [ "$alua" = groups ] && { [ $(($(mb "$w1" 2) - $(mb "$w0" 2))) -lt 32 ] || [ "$(mb "$w1" 1)" != "$(mb "$w0" 1)" ]; }; then
      lfail "32 MiB should go through tpg2 (optimized) only: LIO's write_mbytes $w0 -> $w1"
    else
      lpass; echo "lio-multipath: $(basename "$dev") (${by_id}), 32 MiB written: LIO's write_mbytes per TPG $w0 -> $w1"
      sed 's/^/   /' "$WORK/lio-multipath.txt"
    fi
  fi

  lstep lio-multipath-failover
  if ! [ -b "$dev" ] || ! mgroups | grep -Eqx "$ALL_UP"; then lfail "no device with both paths"
  else
    w0=$(writes)
    fio --name=liompath --filename="$dev" --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bsrange=4k-128k \
      --size=96M --loops=2 --verify=crc32c --verify_fatal=1 --verify_state_save=0 --randrepeat=0 \
      >"$WORK/lio-fio.out" 2>&1 &
    fpid=$!
    sleep 2
    if ! kill -0 $fpid 2>/dev/null; then lfail "fio ended before the path went away: $(grep -m 2 -iE 'err|bw=' "$WORK/lio-fio.out" | tr '\n' ' ')"; wait $fpid
    elif ! out=$(grpc tpg-enable lio-mpath 2 0); then lfail "guest: $out"; wait $fpid
    else
      running=$(kill -0 $fpid 2>/dev/null && echo yes || echo no)
      wait $fpid; frc=$?
      w1=$(writes)
      "$A" -m multipath >"$WORK/lio-multipath-failover.txt" 2>&1
      g=$(mgroups)
      if [ $frc != 0 ] || ! grep -q "err= 0" "$WORK/lio-fio.out"; then
        lfail "fio (rc $frc): $(grep -m 3 -iE 'err|verify|fail' "$WORK/lio-fio.out" | tr '\n' ' ')"
      elif [ $running != yes ]; then lfail "fio ended before tpg2 was disabled: make it longer"
      elif ! echo "$g" | grep -q "$P2 failed" || ! echo "$g" | grep -q "$P1 active"; then
        lfail "after tpg2 was disabled: '$g', expected $P2 failed and $P1 active"
      elif [ "$alua" = groups ] && ! echo "$g" | grep -q "10 active $P1 active"; then lfail "the non-optimized group is not active: '$g'"
      elif [ "$(mb "$w1" 1)" = "$(mb "$w0" 1)" ]; then lfail "nothing was written through tpg1: $w0 -> $w1"
      else
        lpass; echo "lio-multipath-failover: fio $(grep -oE 'WRITE: bw=[^ ]+' "$WORK/lio-fio.out"), no error; write_mbytes $w0 -> $w1; $g"
      fi
    fi
  fi

  lstep lio-multipath-failback
  if ! out=$(grpc tpg-enable lio-mpath 2 1); then lfail "guest: $out"
  elif ! wait_groups "$ALL_UP"; then lfail "tpg2's path did not come back: '$(mgroups)'"
  elif ! w0=$(writes) || ! dd if="$WORK/lio-data" of="$dev" bs=1M count=16 oflag=direct conv=fsync status=none || ! w1=$(writes); then
    lfail "16 MiB of writes failed"
  elif [ "$alua" = groups ] && { [ $(($(mb "$w1" 2) - $(mb "$w0" 2))) -lt 16 ] || [ "$(mb "$w1" 1)" != "$(mb "$w0" 1)" ]; }; then
    lfail "16 MiB should go through tpg2 again: write_mbytes $w0 -> $w1"
  elif [ "$(dd if="$dev" bs=1M count=16 iflag=direct status=none | sha256sum)" != "$(head -c 16M "$WORK/lio-data" | sha256sum)" ]; then
    lfail "data read back differs"
  else lpass; echo "lio-multipath-failback: tpg2's path back after $(($(date +%s) - t)) s; write_mbytes $w0 -> $w1; $(mgroups)"; fi
  "$A" -m node -T "$M" -u >/dev/null 2>&1
}

# --- the guest -----------------------------------------------------------------------------------
GUEST_TIMEOUT=${GUEST_TIMEOUT:-1800}
t_boot=$(date +%s)
qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 1536 -nodefaults -display none -no-reboot \
  -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 init=/sbin/kp-init net.ifnames=0 panic=-1 loglevel=4" \
  -drive "file=$IMG/root.img,format=raw,if=virtio,snapshot=on" \
  -virtfs "local,path=$SHARE,mount_tag=kp,security_model=none,id=kp" \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$LIO_PORT-:3260,hostfwd=tcp:127.0.0.1:$LIO_PORT2-:3261" -device virtio-net-pci,netdev=n0 \
  -serial "file:$WORK/console.log" >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!
shown=0 n=0 booted=""
show_results() {
  [ -f "$SHARE/results" ] || return 0
  local total
  total=$(wc -l <"$SHARE/results")
  if [ "$total" -gt "$shown" ]; then
    sed -n "$((shown + 1)),${total}p" "$SHARE/results" | while read -r line; do echo "$line"; done
    PASSES=$((PASSES + $(sed -n "$((shown + 1)),${total}p" "$SHARE/results" | grep -c '^PASS ')))
    FAILS=$((FAILS + $(sed -n "$((shown + 1)),${total}p" "$SHARE/results" | grep -c '^FAIL ')))
    shown=$total
  fi
}
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if [ -z "$booted" ] && [ -f "$SHARE/booted" ]; then
    booted=$(($(date +%s) - t_boot)); TIMINGS+=("boot=${booted}s")
  fi
  while [ -f "$SHARE/rpc/req.$((n + 1))" ]; do
    n=$((n + 1))
    req=$(cat "$SHARE/rpc/req.$n")
    if [ "$req" = lio-ready ]; then
      # Stage 2 prints its own PASS/FAIL lines while LIO waits in the guest.
      show_results; lio_checks; status=ok body=""
    else
      # Not in a subshell: a restarted tgtd's pid must reach TGTD_PID.
      if handle $req >"$WORK/answer" 2>&1; then status=ok; else status=failed; fi
      body=$(cat "$WORK/answer")
    fi
    printf '%s\n%s\n' "$status" "$body" >"$SHARE/rpc/ans.$n.tmp"
    mv "$SHARE/rpc/ans.$n.tmp" "$SHARE/rpc/ans.$n"
  done
  show_results
  if [ $(($(date +%s) - t_boot)) -gt "$GUEST_TIMEOUT" ]; then
    fail guest "still running after $GUEST_TIMEOUT s (last lines: $(tail -n 2 "$SHARE/guest.log" 2>/dev/null | tr '\n' ' '))"
    kill "$QEMU_PID"
    break
  fi
  sleep 0.5
done
wait "$QEMU_PID" 2>/dev/null
QEMU_PID=""
show_results
[ -n "$booted" ] || fail guest-boot "the guest never ran its script: $(tail -n 5 "$WORK/console.log" | tr '\n' ' ')"
if [ -n "$booted" ] && [ ! -f "$SHARE/finished" ]; then
  fail guest "the guest stopped before its last step: $(tail -n 3 "$SHARE/guest.log" 2>/dev/null | tr '\n' ' ')"
fi
TIMINGS+=("guest=$(($(date +%s) - t_boot))s")
[ -f "$SHARE/timings" ] && TIMINGS+=($(awk '{ printf "%s=%ss\n", $2, $3 }' "$SHARE/timings"))
[ -n "${KEEP:-}" ] && cp "$SHARE"/*.txt "$SHARE/guest.log" "$WORK/" 2>/dev/null
echo "kernel-peers timings: ${TIMINGS[*]} total=$(($(date +%s) - T_START))s"
echo "kernel-peers: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
