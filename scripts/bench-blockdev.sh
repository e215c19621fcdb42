#!/usr/bin/env bash
# Block device throughput (issue 5): fio on the loop device iscsid attaches for a LUN (direct IO,
# libaio) beside our load generator (iscsi-tool perf, a session of its own) against the same LUN
# of our tgtd on /dev/shm: sequential 1 MiB reads and writes (8 in flight), random 4 KiB reads and
# writes (32 in flight). Prints each figure and the ratio block device / load generator.
# Usage: scripts/bench-blockdev.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SECS=${1:-10}
WORK=$(mktemp -d /tmp/iscsi-bench-blockdev.XXXXXX)
export TGTD_RUN_DIR=$WORK/run ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$TGTD_RUN_DIR" "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
IQN=iqn.2026-11.org.swift-iscsi:bench-blockdev
LUN=/dev/shm/bench-blockdev.img
URL="iscsi://127.0.0.1:3481/$IQN/1"
OURS_PID= ISCSID_PID=
cleanup() {
  "$BIN/iscsiadm" -m node -u >/dev/null 2>&1 || true
  [ -n "$ISCSID_PID" ] && stop_and_wait "$ISCSID_PID"
  [ -n "$OURS_PID" ] && kill "$OURS_PID" 2>/dev/null || true
  sleep 0.5
  rm -f "$LUN"
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v fio >/dev/null || { echo "fio is needed (apt-get install fio)" >&2; exit 1; }

truncate -s 2G "$LUN"
start_ours 181 3481 "$WORK/ours.log"
export_lun "$BIN/tgtadm" 181 "$IQN" "$LUN"
"$BIN/iscsid"
ISCSID_PID=$(cat "$ISCSID_RUN_DIR"/*.sock.lock)
"$BIN/iscsiadm" -m discovery -t st -p 127.0.0.1:3481 >/dev/null
"$BIN/iscsiadm" -m node -T "$IQN" -p 127.0.0.1:3481 -l >/dev/null
DEV=$(readlink "$ISCSI_ROOT/dev/disk/by-path/ip-127.0.0.1:3481-iscsi-$IQN-lun-1")
[ -b "$DEV" ] || { echo "no block device attached" >&2; exit 1; }
# Fill the LUN so reads touch memory, not holes.
fio --name=fill --filename="$DEV" --direct=1 --ioengine=libaio --rw=write --bs=1M --iodepth=8 --size=2G >/dev/null

# fio_run RW BS DEPTH -> "IOPS MBPS"
fio_run() {
  fio --name=b --filename="$DEV" --direct=1 --ioengine=libaio --rw="$1" --bs="$2" --iodepth="$3" \
    --runtime="$SECS" --time_based --size=2G --output-format=json |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; d=j["read"] if j["read"]["io_bytes"] else j["write"]; print(int(d["iops"]), int(d["bw_bytes"]/1048576))'
}
# tool_run BLOCKS DEPTH FLAGS... -> "IOPS MBPS"
tool_run() {
  local blocks=$1 depth=$2
  shift 2
  "$BIN/iscsi-tool" perf "$URL" -m "$depth" -b "$blocks" -t "$SECS" "$@" 2>&1 |
    sed -n 's/^ *iops average \([0-9]*\) (\([0-9]*\) MB\/s).*/\1 \2/p' | tail -n 1
}
row() { # name unit device tool
  python3 - "$@" <<'PY'
import sys
name, unit, dev, tool = sys.argv[1], sys.argv[2], float(sys.argv[3] or 0), float(sys.argv[4] or 0)
print("%-32s %16s %16s %8.2f" % (name, "%d %s" % (dev, unit), "%d %s" % (tool, unit), dev / tool if tool else 0))
PY
}
read -r d1 d1m <<<"$(fio_run read 1M 8)";        read -r t1 t1m <<<"$(tool_run 2048 8)"
read -r d2 d2m <<<"$(fio_run write 1M 8)";       read -r t2 t2m <<<"$(tool_run 2048 8 --write)"
read -r d3 d3m <<<"$(fio_run randread 4k 32)";   read -r t3 t3m <<<"$(tool_run 8 32 --random)"
read -r d4 d4m <<<"$(fio_run randwrite 4k 32)";  read -r t4 t4m <<<"$(tool_run 8 32 --random --write)"
printf '%-32s %16s %16s %8s\n' "load (our tgtd, /dev/shm)" "block device" "iscsi-tool" "ratio"
row "sequential 1 MiB reads, 8 deep" MB/s "$d1m" "$t1m"
row "sequential 1 MiB writes, 8 deep" MB/s "$d2m" "$t2m"
row "random 4 KiB reads, 32 deep" IOPS "$d3" "$t3"
row "random 4 KiB writes, 32 deep" IOPS "$d4" "$t4"
