#!/usr/bin/env bash
# Multipath throughput (issue 13): fio on the one block device iscsid makes for a LU that two of
# our tgtd processes export (one file on /dev/shm, same scsi_id), through two paths and through
# one (the second session logged out, the device kept). Rounds alternate one path / two paths;
# prints the median of each and the ratio two / one. The machine's cores are shared by both
# gateways, iscsid and fio, so the ratio says what the second path costs or brings here, not on
# separate hosts.
# Usage: scripts/bench-multipath.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SECS=${1:-5}
ROUNDS=${2:-3}
WORK=$(mktemp -d /tmp/iscsi-bench-mpath.XXXXXX)
export TGTD_RUN_DIR=$WORK/run ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$TGTD_RUN_DIR" "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
IQN=iqn.2026-11.test:bench-mpath
LUN=/dev/shm/bench-mpath-$$.img
GW_PID=("" "" "")
cleanup() {
  stop_iscsid
  for n in 1 2; do [ -n "${GW_PID[$n]}" ] && kill "${GW_PID[$n]}" 2>/dev/null || true; done
  sleep 0.5
  rm -f "$LUN"
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v fio >/dev/null || { echo "fio is needed (apt-get install fio)" >&2; exit 1; }

truncate -s 1G "$LUN"
for n in 1 2; do
  port=$((4802 + n))
  "$BIN/tgtd" -f -C "48$((2 + n))" --iscsi "portal=127.0.0.1:$port" --state-dir "$WORK/state-$n" >"$WORK/gw$n.log" 2>&1 &
  GW_PID[$n]=$!
  wait_port $port
  export_lun "$BIN/tgtadm" "48$((2 + n))" "$IQN" "$LUN"
  "$BIN/tgtadm" -C "48$((2 + n))" --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 \
    --params scsi_id=beefcafe4803,scsi_sn=BENCH4803
done
"$BIN/iscsid"
for port in 4803 4804; do "$BIN/iscsiadm" -m discovery -t st -p 127.0.0.1:$port >/dev/null; done
"$BIN/iscsiadm" -m node -T "$IQN" -p 127.0.0.1:4803 -l >/dev/null
DEV=$(readlink "$ISCSI_ROOT"/dev/disk/by-id/wwn-0x*)
[ -b "$DEV" ] || { echo "no block device attached" >&2; exit 1; }
fio --name=fill --filename="$DEV" --direct=1 --ioengine=libaio --rw=write --bs=1M --iodepth=8 --size=1G >/dev/null

paths() { # N: log the second session in (2) or out (1)
  if [ "$1" = 2 ]; then
    "$BIN/iscsiadm" -m node -T "$IQN" -p 127.0.0.1:4804 -l >/dev/null
  else
    "$BIN/iscsiadm" -m node -T "$IQN" -p 127.0.0.1:4804 -u >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 100); do
    [ "$("$BIN/iscsiadm" -m multipath | grep -c "active ready running")" = "$1" ] && return 0
    sleep 0.1
  done
  echo "not $1 paths" >&2
  exit 1
}
# fio_run RW BS DEPTH -> IOPS or MB/s (MB/s for 1 MiB blocks)
fio_run() {
  fio --name=b --filename="$DEV" --direct=1 --ioengine=libaio --rw="$1" --bs="$2" --iodepth="$3" \
    --runtime="$SECS" --time_based --size=1G --output-format=json |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; d=j["read"] if j["read"]["io_bytes"] else j["write"]; print(int(d["bw_bytes"]/1048576) if sys.argv[1]=="1M" else int(d["iops"]))' "$2"
}
tests=("randread 4k 32" "randwrite 4k 32" "read 1M 8" "write 1M 8")
declare -A results
for round in $(seq 1 "$ROUNDS"); do
  for n in 1 2; do
    paths $n
    for t in "${tests[@]}"; do
      set -- $t
      results["$t $n"]+="$(fio_run "$1" "$2" "$3") "
    done
  done
done
printf '%-28s %12s %12s %7s\n' "one LU, our tgtd x2, /dev/shm" "one path" "two paths" "ratio"
for t in "${tests[@]}"; do
  python3 - "$t" "${results["$t 1"]}" "${results["$t 2"]}" <<'PY'
import statistics, sys
name, one, two = sys.argv[1].split(), [int(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()]
unit = "MB/s" if name[1] == "1M" else "IOPS"
label = {"randread": "random reads", "randwrite": "random writes", "read": "seq. reads", "write": "seq. writes"}[name[0]]
a, b = statistics.median(one), statistics.median(two)
print("%-28s %12s %12s %7.2f" % ("%s %s, %s deep" % (label, name[1], name[2]), "%d %s" % (a, unit), "%d %s" % (b, unit), b / a))
PY
done
