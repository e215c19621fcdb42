#!/usr/bin/env bash
# Benchmark our initiator's load generator (iscsi-tool perf) against libiscsi's iscsi-perf in one
# run, both reading from Debian's tgtd serving a 1 GiB file on /dev/shm: 4 KiB reads with 32
# outstanding and 128 KiB reads with 8 outstanding. Prints each figure and the ratio
# ours/libiscsi. Each load runs ROUNDS times (default 3), alternating the two tools, and the
# medians are compared: one noisy run on a shared 2-core machine decides nothing.
# Usage: [ROUNDS=N] scripts/bench-initiator.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SECS=${1:-10}
ROUNDS=${ROUNDS:-3}
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
# median of "IOPS MBPS" lines, by IOPS
median() { sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }
# measure BLOCKS DEPTH: ROUNDS alternating runs; sets OURS and PEER to the medians.
measure() {
  local ours="" peer="" r
  for r in $(seq 1 "$ROUNDS"); do
    local o p
    o=$(ours_read "$1" "$2"); p=$(libiscsi_read "$1" "$2")
    echo "  round $r, $(( $1 / 2 )) KiB x $2: iscsi-tool ${o:-failed}, iscsi-perf ${p:-failed} (IOPS MB/s)" >&2
    ours+="${o:-0 0}"$'\n'; peer+="${p:-0 0}"$'\n'
  done
  OURS=$(printf '%s' "$ours" | median); PEER=$(printf '%s' "$peer" | median)
}
measure 8 32;   read -r o1 o1m <<<"$OURS"; read -r p1 p1m <<<"$PEER"
measure 256 8;  read -r o2 o2m <<<"$OURS"; read -r p2 p2m <<<"$PEER"
printf '%-34s %14s %14s %8s\n' "load (Debian tgtd, /dev/shm)" "iscsi-tool" "iscsi-perf" "ratio"
row "4 KiB reads, 32 outstanding" IOPS "${o1:-0}" "${p1:-0}"
row "4 KiB reads, 32 outstanding" MB/s "${o1m:-0}" "${p1m:-0}"
row "128 KiB reads, 8 outstanding" IOPS "${o2:-0}" "${p2:-0}"
row "128 KiB reads, 8 outstanding" MB/s "${o2m:-0}" "${p2m:-0}"
