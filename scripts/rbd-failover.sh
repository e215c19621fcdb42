#!/usr/bin/env bash
# Two of our gateways serving one RBD image as one target (issue 14), on a three-OSD cluster
# (pool size 3, min_size 2), with our iscsid's multipath on top:
#   1. gateway 1 (portal group 1) and gateway 2 (portal group 2) export the image with an ALUA
#      group per gateway; the lock holder (gateway 1, first to open it) is active/optimized on
#      both, the other non-optimized: one block device, writes go through gateway 1 only;
#   2. fio with verification (random writes 4-128 KiB, 16 deep, direct) while OSD 1 is killed:
#      no error (the cluster goes on with two copies);
#   3. fio with verification while gateway 1, the lock owner, is killed with -9: no error; gateway 2
#      breaks gateway 1's lock (blocklisting its client: none of its writes can land afterwards),
#      takes it and turns active/optimized. The take-over time (kill to gateway 2 holding the lock)
#      and fio's longest write are printed;
#   4. gateway 1 restarted comes back non-optimized (the lock stays where it is) and the map uses
#      it as a standby path; then gateway 2 is killed during fio verify: the lock moves back;
#   5. gateway 2 restarted; a write through it from another initiator takes the lock while
#      gateway 1 is alive: gateway 1 is blocklisted (fenced), reopens the image with a new client
#      and reports itself non-optimized; writes through the map go on.
#
# Needs root, FUSE, loop devices, fio, Ceph (scripts/ceph-cluster.sh). Ports 4876-4877, control 476-477.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-rbd-failover.XXXXXX)
export TGTD_RUN_DIR=$WORK/run ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$TGTD_RUN_DIR" "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
ADM="$BIN/iscsiadm"
IQN=iqn.2026-12.test:rbd-failover
IMAGE=rbd/failover
GW_PID=("" "" "")
FIO_PID=
cleanup() {
  local rc=$?
  [ -n "$FIO_PID" ] && kill -9 "$FIO_PID" 2>/dev/null || true
  stop_iscsid
  for n in 1 2; do [ -n "${GW_PID[$n]}" ] && kill -9 "${GW_PID[$n]}" 2>/dev/null || true; done
  bash scripts/ceph-cluster.sh stop "$WORK/ceph" --purge >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ]; then tail -n 15 "$WORK"/gw*.log >&2 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  "$ADM" -m multipath >&2 2>/dev/null || true
  exit 1
}
port() { echo $((4875 + $1)); }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

bash scripts/ceph-cluster.sh start "$WORK/ceph" --osds 3 >"$WORK/ceph-start.log" 2>&1 ||
  { cat "$WORK/ceph-start.log" >&2; fail "cluster did not start"; }
CONF=$WORK/ceph/ceph.conf
timeout 60 rbd -c "$CONF" create --size 512M "$IMAGE"

start_gw() {
  "$BIN/tgtd" -f -C "$((475 + $1))" --iscsi "portal=127.0.0.1:$(port "$1"),$1" --state-dir "$WORK/state-$1" \
    >>"$WORK/gw$1.log" 2>&1 &
  GW_PID[$1]=$!
  wait_port "$(port "$1")"
}
wait_holds() {  # wait_holds N COUNT: until gateway N has taken the lock COUNT times (30 s at most)
  wait_lock_takeovers "$WORK/gw$1.log" "$2" || fail "gateway $1 did not take the lock within 30 s"
}
written() { lu_bytes_written "$((475 + $1))"; }  # bytes gateway N's LU 1 has written
# The longest write fio saw (ms): how long the application waited across the failover.
longest_write() {
  /usr/bin/python3 - "$WORK/fio-$1.out" <<'PYEOF'
import json, sys
text = open(sys.argv[1]).read()
doc, _ = json.JSONDecoder().raw_decode(text[text.index("\n{") + 1:])
print("%.0f" % (max(job["write"]["lat_ns"]["max"] for job in doc["jobs"]) / 1e6))
PYEOF
}

cat >"$ISCSI_ROOT/iscsid.conf" <<EOF
node.session.timeo.replacement_timeout = 15
multipath.polling_interval = 1
multipath.no_path_retry = 15
EOF
for n in 1 2; do
  start_gw "$n"
  A() { timeout 20 "$BIN/tgtadm" -C "$((475 + n))" --lld iscsi "$@"; }
  A --op new --mode target --tid 1 -T "$IQN"
  A --op update --mode target --tid 1 --name portal_groups --value 1,2
  A --op new --mode logicalunit --tid 1 --lun 1 --bstype rbd --backing-store "$IMAGE" --bsopts "conf=$CONF;cache=0"
  # One ALUA group per gateway; their states follow the lock, not these words.
  A --op update --mode logicalunit --tid 1 --lun 1 --params alua_state=1:active,alua_state=2:active
  A --op bind --mode target --tid 1 -I ALL
  [ "$n" = 1 ] && wait_holds 1 1
done
"$BIN/iscsid" || fail "iscsid did not start"

echo "== one image, two gateways, one device; the lock holder is active/optimized"
for n in 1 2; do "$ADM" -m discovery -t st -p "127.0.0.1:$(port "$n")" >/dev/null; done
"$ADM" -m node -T $IQN -l >"$WORK/login.out" 2>&1 || fail "login: $(cat "$WORK/login.out")"
links=("$ISCSI_ROOT"/dev/disk/by-id/wwn-0x*)
[ ${#links[@]} = 1 ] && [ -L "${links[0]}" ] || fail "expected one by-id link, got: ${links[*]}"
DEV=$(readlink "${links[0]}")
paths_up 2
"$ADM" -m multipath | tee "$WORK/multipath.txt" | sed 's/^/   /'
[ "$(grep -c "policy=" "$WORK/multipath.txt")" = 2 ] || fail "not two path groups (optimized and not)"
before1=$(written 1) before2=$(written 2)
dd if=/dev/urandom of="$DEV" bs=1M count=16 oflag=direct status=none || fail "writes through the map failed"
moved1=$(($(written 1) - before1)) moved2=$(($(written 2) - before2))
[ $moved1 -ge $((16 << 20)) ] && [ $moved2 = 0 ] || fail "writes should go through the lock holder: gw1 $moved1, gw2 $moved2 bytes"
echo "   16 MiB written: $moved1 bytes through gateway 1 (lock holder), $moved2 through gateway 2"

echo "== fio verify while OSD 1 is killed"
run_fio osd 256M 3
sleep 2
kill -0 "$FIO_PID" 2>/dev/null || fail "fio finished before the OSD was killed"
bash scripts/ceph-cluster.sh kill-osd "$WORK/ceph" 1 >/dev/null
wait_fio osd
echo "   fio: no error, longest write $(longest_write osd) ms"
bash scripts/ceph-cluster.sh start-osd "$WORK/ceph" 1 >/dev/null

takeover() {  # takeover VICTIM SURVIVOR
  local victim=$1 survivor=$2 count start took
  count=$(lock_takeovers "$WORK/gw$survivor.log")
  echo "== fio verify while gateway $victim (lock holder) is killed with -9"
  run_fio "kill$victim" 256M 3
  sleep 2
  kill -0 "$FIO_PID" 2>/dev/null || fail "fio finished before the kill"
  start=$(now)
  kill_gw "$victim"
  wait_holds "$survivor" $((count + 1))
  took=$(elapsed "$start" "$(now)")
  wait_fio "kill$victim"
  echo "   gateway $survivor took the lock ${took} s after the kill; fio: no error, longest write $(longest_write "kill$victim") ms"
  echo "takeover gw$victim->gw$survivor ${took} s, longest write $(longest_write "kill$victim") ms" >>"$WORK/takeovers"
}
takeover 1 2

echo "== gateway 1 back: non-optimized, the lock stays with gateway 2"
start_gw 1
paths_up 2
grep -q "RBD lock held elsewhere (port groups 2)" "$WORK/gw1.log" || fail "restarted gateway 1 does not see gateway 2 holding the lock"
before1=$(written 1) before2=$(written 2)
dd if=/dev/urandom of="$DEV" bs=1M count=16 oflag=direct status=none || fail "writes after gateway 1 came back"
moved1=$(($(written 1) - before1)) moved2=$(($(written 2) - before2))
[ $moved2 -ge $((16 << 20)) ] && [ $moved1 = 0 ] || fail "writes should stay on gateway 2: gw1 $moved1, gw2 $moved2 bytes"
echo "   16 MiB written through gateway 2 only"

takeover 2 1

echo "== a live holder fenced by a take-over reopens its image and comes back non-optimized"
start_gw 2
paths_up 2
probe() { /usr/bin/python3 scripts/scsi-probe.py "$IQN" "$@"; }
# A write through gateway 2 (not the holder) from another initiator: gateway 2 breaks gateway 1's
# lock while gateway 1 is alive, which blocklists gateway 1's client.
[ "$(probe write:"$(port 2)")" = "$(port 2) write GOOD" ] || fail "a write through gateway 2 did not take the lock"
for _ in $(seq 1 300); do
  grep -q "reopened with a new client" "$WORK/gw1.log" && break
  sleep 0.1
done
grep -q "reopened with a new client" "$WORK/gw1.log" || fail "fenced gateway 1 did not reopen its image within 30 s"
# (Until the new client has read the holder's tags, every group reads non-optimized.)
for _ in $(seq 1 50); do
  states=$(probe rtpg:"$(port 1)")
  echo "$states" | grep -q "g1:ANO\[1\] g2:AO\[2\]" && break
  sleep 0.2
done
echo "$states" | grep -q "g1:ANO\[1\] g2:AO\[2\]" || fail "gateway 1 after reopening reports: $states"
dd if=/dev/urandom of="$DEV" bs=1M count=8 oflag=direct status=none || fail "writes through the map after the fencing"
echo "   gateway 1 fenced, reopened and non-optimized ($states); writes through the map go on"
echo "rbd-failover: all passed ($(tr '\n' ';' <"$WORK/takeovers"))"
