#!/usr/bin/env bash
# Native multipath in our iscsid (issue 13): two of our tgtd processes ("gateways") export ONE
# file under one target name with the same scsi_id/scsi_sn; iscsid logs in to both and must show
# ONE block device (one loop device, one by-id link, both by-path links on it, the same
# "Attached scsi disk" under each session, two paths in `iscsiadm -m multipath`). Then:
#   1. fio with verification (random writes 4 KiB-128 KiB, 16 deep, libaio, direct) completes
#      without an error while gateway 1 is killed with -9;
#   2. gateway 1 comes back and its path is used again (failback);
#   3. the same with gateway 2 killed;
#   4. both gateways gone for less than the no-path queue time, then one back: no error;
#   5. both gone for longer: IO fails with EIO within the bound, and works again once one is back;
#   6. ALUA across the gateways (as ceph-iscsi sets them up): gateway 1's portal is TPG 1,
#      Active/optimized, gateway 2's is TPG 2, Active/non-optimized, both gateways saying so for
#      both ports: two path groups, writes go through gateway 1 only; gateway 1 killed during fio
#      verify: no error, IO through the non-optimized path; gateway 1 back: writes go to it again.
#
# Why two processes over one file are coherent: our tgtd writes with pwrite through the kernel's
# page cache and keeps no data of its own, so both processes see the same pages, a write is the
# page cache's once acknowledged (a kill -9 loses nothing acknowledged), and a read through one
# gateway sees what the other wrote. fio's verify phase checks exactly that: blocks written
# through both paths are read back through the one left.
#
# Needs root, FUSE, loop devices and fio. Ports 4801-4802, tgtd control numbers 480-481.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-mpath.XXXXXX)
export TGTD_RUN_DIR=$WORK/run ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$TGTD_RUN_DIR" "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
ADM="$BIN/iscsiadm"
LUN=/dev/shm/mpath-$$.img
IQN=iqn.2026-11.test:mpath
SCSI_ID=beefcafe4801 SCSI_SN=MPATH4801
# Queue for 15 polling intervals of 1 s when no path is left (multipath.conf's no_path_retry).
NO_PATH_SECONDS=15
GW_PID=("" "" "")
TAG=("" 1 1)  # each gateway's portal group tag
FIO_PID=
cleanup() {
  [ -n "$FIO_PID" ] && kill -9 "$FIO_PID" 2>/dev/null || true
  stop_iscsid
  for n in 1 2; do [ -n "${GW_PID[$n]}" ] && kill -9 "${GW_PID[$n]}" 2>/dev/null || true; done
  rm -f "$LUN"
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  "$ADM" -m multipath >&2 2>/dev/null || true
  exit 1
}
port() { echo $((4800 + $1)); }

# start_gw N: gateway N on port 480N, control 48N (a restart replays its saved configuration).
start_gw() {
  "$BIN/tgtd" -f -C "48$1" --iscsi "portal=127.0.0.1:$(port "$1"),${TAG[$1]}" --state-dir "$WORK/state-$1" >>"$WORK/gw$1.log" 2>&1 &
  GW_PID[$1]=$!
  wait_port "$(port "$1")"
}
truncate -s 512M "$LUN"
cat >"$ISCSI_ROOT/iscsid.conf" <<EOF
node.session.timeo.replacement_timeout = 15
multipath.polling_interval = 1
multipath.no_path_retry = $NO_PATH_SECONDS
multipath.path_selector = queue-length 0
EOF
for n in 1 2; do
  start_gw $n
  cp=48$n
  timeout 10 "$BIN/tgtadm" -C $cp --lld iscsi --op new --mode target --tid 1 -T $IQN
  timeout 10 "$BIN/tgtadm" -C $cp --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$LUN"
  timeout 10 "$BIN/tgtadm" -C $cp --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 \
    --params "scsi_id=$SCSI_ID,scsi_sn=$SCSI_SN"
  timeout 10 "$BIN/tgtadm" -C $cp --lld iscsi --op bind --mode target --tid 1 -I ALL
done
"$BIN/iscsid" || fail "iscsid did not start"

echo "== two gateways, one LU: one block device"
for n in 1 2; do "$ADM" -m discovery -t st -p "127.0.0.1:$(port $n)" >/dev/null; done
"$ADM" -m node -T $IQN -l >"$WORK/login.out" 2>&1 || fail "login: $(cat "$WORK/login.out")"
links=("$ISCSI_ROOT"/dev/disk/by-id/wwn-0x*)
[ ${#links[@]} = 1 ] && [ -L "${links[0]}" ] || fail "expected one by-id link, got: ${links[*]}"
DEV=$(readlink "${links[0]}")
[ -b "$DEV" ] || fail "$DEV is not a block device"
for n in 1 2; do
  by_path="$ISCSI_ROOT/dev/disk/by-path/ip-127.0.0.1:$(port $n)-iscsi-$IQN-lun-1"
  [ "$(readlink "$by_path")" = "$DEV" ] || fail "by-path link of gateway $n does not name $DEV"
done
attached=$("$ADM" -m session -P 3 | grep -c "Attached scsi disk $(basename "$DEV")[[:space:]]*State: running")
[ "$attached" = 2 ] || fail "-P 3 shows $(basename "$DEV") under $attached sessions, not 2"
loops=$(losetup -j "$(losetup -nO BACK-FILE "$DEV")" | wc -l)
[ "$loops" = 1 ] || fail "$loops loop devices on the LU's FUSE file"
paths_up 2
"$ADM" -m multipath | tee "$WORK/multipath.txt" | sed 's/^/   /'
head -1 "$WORK/multipath.txt" | grep -q "^3[0-9a-f]* $(basename "$DEV") IET,VIRTUAL-DISK$" || fail "map line"

for victim in 1 2; do
  echo "== fio verify while gateway $victim is killed with -9"
  run_fio kill$victim
  sleep 1.5
  kill -0 "$FIO_PID" 2>/dev/null || fail "fio finished before the kill: make the run longer"
  kill_gw $victim
  wait_fio kill$victim
  "$ADM" -m multipath | grep -q "failed faulty" || fail "the killed gateway's path is not shown failed"
  echo "   fio: $(grep -oE "WRITE: bw=[^ ]+" "$WORK/fio-kill$victim.out"), no error"
  start_gw $victim
  paths_up 2
  echo "   gateway $victim back, both paths active (failback)"
done

echo "== both gateways gone for less than the no-path queue time ($NO_PATH_SECONDS s), then one back"
run_fio shortgap
sleep 1
kill_gw 1
kill_gw 2
sleep 4
start_gw 2
wait_fio shortgap
echo "   fio waited for a path and completed without an error"
start_gw 1
paths_up 2

echo "== both gateways gone for longer: EIO within the bound"
kill_gw 1
kill_gw 2
killed=$(date +%s.%N)
set +e
dd if=/dev/zero of="$DEV" bs=4k count=1 seek=100 oflag=direct 2>"$WORK/dd.err"
status=$?
set -e
elapsed=$(echo "$(date +%s.%N) - $killed" | bc)
[ $status != 0 ] || fail "a write succeeded with both gateways gone"
grep -q "Input/output error" "$WORK/dd.err" || fail "not EIO: $(cat "$WORK/dd.err")"
awk -v e="$elapsed" -v n=$NO_PATH_SECONDS 'BEGIN { exit !(e >= n - 1 && e <= n + 4) }' ||
  fail "EIO after ${elapsed} s, expected about $NO_PATH_SECONDS s"
echo "   EIO after ${elapsed} s (no_path_retry $NO_PATH_SECONDS x 1 s)"
start_gw 1
paths_up 1
dd if=/dev/zero of="$DEV" bs=4k count=1 seek=100 oflag=direct 2>"$WORK/dd.err" || fail "IO after a gateway returned: $(cat "$WORK/dd.err")"
echo "   IO works again once a gateway is back"

written() { lu_bytes_written "48$1"; }  # bytes gateway N's LU 1 has written
echo "== ALUA across the gateways: TPG 1 (gateway 1) Active/optimized, TPG 2 (gateway 2) Active/non-optimized"
"$ADM" -m node -u >/dev/null
"$ADM" -m node -o delete >/dev/null
TAG[2]=2
kill_gw 1
start_gw 1
start_gw 2
for n in 1 2; do
  timeout 10 "$BIN/tgtadm" -C 48$n --lld iscsi --op update --mode target --tid 1 --name portal_groups --value 1,2
  timeout 10 "$BIN/tgtadm" -C 48$n --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 \
    --params alua_state=1:active,alua_state=2:nonoptimized
  "$ADM" -m discovery -t st -p "127.0.0.1:$(port $n)" >/dev/null
done
"$ADM" -m node -T $IQN -l >"$WORK/login.out" 2>&1 || fail "login: $(cat "$WORK/login.out")"
paths_up 2
"$ADM" -m multipath | tee "$WORK/multipath-alua.txt" | sed 's/^/   /'
groups=$(grep -o "prio=[0-9]* status=[a-z]*" "$WORK/multipath-alua.txt" | tr '\n' ' ')
[ "$(grep -c "policy=" "$WORK/multipath-alua.txt")" = 2 ] || fail "not two path groups: $groups"
grep -A1 "status=active" "$WORK/multipath-alua.txt" | grep -q ":0:0:1 " || fail "no path under the active group"
before1=$(written 1) before2=$(written 2)
dd if=/dev/urandom of="$DEV" bs=1M count=32 oflag=direct status=none || fail "writes through the map failed"
moved1=$(( $(written 1) - before1 )) moved2=$(( $(written 2) - before2 ))
[ $moved1 -ge $((32 << 20)) ] && [ $moved2 = 0 ] ||
  fail "writes should all go through the optimized gateway: gateway 1 $moved1 bytes, gateway 2 $moved2"
echo "   32 MiB written: $moved1 bytes through gateway 1 (optimized), $moved2 through gateway 2"
run_fio alua
sleep 1.5
kill -0 "$FIO_PID" 2>/dev/null || fail "fio finished before the kill: make the run longer"
kill_gw 1
wait_fio alua
echo "   gateway 1 killed during fio verify: $(grep -oE "WRITE: bw=[^ ]+" "$WORK/fio-alua.out"), no error (non-optimized path)"
start_gw 1
paths_up 2
before1=$(written 1) before2=$(written 2)
dd if=/dev/urandom of="$DEV" bs=1M count=32 oflag=direct status=none || fail "writes after failback failed"
moved1=$(( $(written 1) - before1 )) moved2=$(( $(written 2) - before2 ))
[ $moved1 -ge $((32 << 20)) ] && [ $moved2 = 0 ] ||
  fail "after failback writes should go through gateway 1 again: gateway 1 $moved1 bytes, gateway 2 $moved2"
echo "   gateway 1 back: writes go through it again (failback to the optimized group)"
echo "multipath: all checks passed"
