#!/usr/bin/env bash
# Benchmark our initiator's load generator (iscsi-tool perf) against libiscsi's iscsi-perf in one
# run, both reading from Debian's tgtd serving a 1 GiB file on /dev/shm: 4 KiB reads with 32
# outstanding and 128 KiB reads with 8 outstanding. Prints each figure and the ratio
# ours/libiscsi. Usage: scripts/bench-initiator.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SECS=${1:-10}
WORK=$(mktemp -d /tmp/iscsi-bench-initiator.XXXXXX)
IQN=iqn.2026-11.org.swift-iscsi:bench-initiator
LUN=/dev/shm/bench-initiator.img
URL="iscsi://127.0.0.1:3441/$IQN/1"
TOOL="$BIN/iscsi-tool"
PEER_PID=
cleanup() {
  [ -n "$PEER_PID" ] && kill -9 "$PEER_PID" 2>/dev/null || true
  rm -f "$LUN"
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -x "$TOOL" ] || swift build -c release --product iscsi-tool

truncate -s 1G "$LUN"
start_peer 141 3441 "$WORK/peer.log"
export_lun tgtadm 141 "$IQN" "$LUN"
# Reads of a never-written sparse file would not touch memory: fill it first.
qemu-img bench -f raw -w -c 4096 -d 8 -s 262144 "$URL" >/dev/null

# blocks depth -> "IOPS MBPS" (both tools print "iops average N (M MB/s)")
libiscsi_read() {
  iscsi-perf -m "$2" -b "$1" -t "$SECS" "$URL" 2>&1 | tr '\r' '\n' |
    sed -n 's/^ *iops average \([0-9]*\) (\([0-9]*\) MB\/s).*/\1 \2/p' | tail -n 1
}
ours_read() {
  "$TOOL" perf "$URL" -m "$2" -b "$1" -t "$SECS" 2>&1 |
    sed -n 's/^ *iops average \([0-9]*\) (\([0-9]*\) MB\/s).*/\1 \2/p' | tail -n 1
}

row() { # name unit ours libiscsi
  python3 - "$@" <<'PY'
import sys
name, unit, ours, peer = sys.argv[1], sys.argv[2], float(sys.argv[3] or 0), float(sys.argv[4] or 0)
print("%-34s %14s %14s %8.2f" % (name, "%d %s" % (ours, unit), "%d %s" % (peer, unit), ours / peer if peer else 0))
PY
}
# Alternate ours/libiscsi per load so drift on a noisy machine hits both sides alike.
read -r o1 o1m <<<"$(ours_read 8 32)";   read -r p1 p1m <<<"$(libiscsi_read 8 32)"
read -r o2 o2m <<<"$(ours_read 256 8)";  read -r p2 p2m <<<"$(libiscsi_read 256 8)"
printf '%-34s %14s %14s %8s\n' "load (Debian tgtd, /dev/shm)" "iscsi-tool" "iscsi-perf" "ratio"
row "4 KiB reads, 32 outstanding" IOPS "${o1:-0}" "${p1:-0}"
row "4 KiB reads, 32 outstanding" MB/s "${o1m:-0}" "${p1m:-0}"
row "128 KiB reads, 8 outstanding" IOPS "${o2:-0}" "${p2:-0}"
row "128 KiB reads, 8 outstanding" MB/s "${o2m:-0}" "${p2m:-0}"
