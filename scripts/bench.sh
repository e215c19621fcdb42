#!/usr/bin/env bash
# Benchmark our tgtd against Debian's tgtd in one run on this machine, each serving a file on
# /dev/shm: 4 KiB and 128 KiB reads (iscsi-perf), 4 KiB and 128 KiB writes (qemu-img bench).
# Prints each figure and the ratio ours/tgtd. Usage: scripts/bench.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SECS=${1:-10}
# Ports (iSCSI and tgtd control) of ours and of Debian's tgtd, to run beside other users of the machine.
P1=${BENCH_OURS_PORT:-3301} P2=${BENCH_PEER_PORT:-3302} C1=${BENCH_OURS_CONTROL:-31} C2=${BENCH_PEER_CONTROL:-32}
WORK=$(mktemp -d /tmp/iscsi-bench.XXXXXX)
export TGTD_RUN_DIR=$WORK/run
mkdir -p "$TGTD_RUN_DIR"
IQN=iqn.2026-11.org.swift-iscsi:bench
OURS_PID= PEER_PID=
cleanup() {
  [ -n "$OURS_PID" ] && kill "$OURS_PID" 2>/dev/null || true
  [ -n "$PEER_PID" ] && kill -9 "$PEER_PID" 2>/dev/null || true
  rm -f /dev/shm/bench-ours-$P1.img /dev/shm/bench-peer-$P2.img
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -x "$BIN/tgtd" ] || swift build -c release

truncate -s 1G /dev/shm/bench-ours-$P1.img /dev/shm/bench-peer-$P2.img
start_ours "$C1" "$P1" "$WORK/ours.log"
start_peer "$C2" "$P2" "$WORK/peer.log"
export_lun "$BIN/tgtadm" "$C1" "$IQN" /dev/shm/bench-ours-$P1.img
export_lun tgtadm "$C2" "$IQN" /dev/shm/bench-peer-$P2.img
# Reads of never-written sparse files would not touch memory: fill both files first.
for port in "$P1" "$P2"; do
  qemu-img bench -f raw -w -c 4096 -d 8 -s 262144 "iscsi://127.0.0.1:$port/$IQN/1" >/dev/null
done

perf_read() { # port blocks depth -> "IOPS MBPS"
  iscsi-perf -m "$3" -b "$2" -t "$SECS" "iscsi://127.0.0.1:$1/$IQN/1" 2>&1 | tr '\r' '\n' |
    sed -n 's/^ *iops average \([0-9]*\) (\([0-9]*\) MB\/s).*/\1 \2/p' | tail -n 1
}
bench_write() { # port size depth count -> "IOPS MBPS"
  local secs
  secs=$(qemu-img bench -f raw -w -c "$4" -d "$3" -s "$2" "iscsi://127.0.0.1:$1/$IQN/1" 2>&1 |
    sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
  python3 -c "s=$secs; print(int($4/s), int($4*$2/s/1e6))"
}

printf '%-34s %12s %12s %8s\n' "load" "ours" "tgtd" "ratio"
row() { # name metric-index ours peer
  python3 - "$@" <<'PY'
import sys
name, unit, ours, peer = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
print("%-34s %12s %12s %8.2f" % (name, "%d %s" % (ours, unit), "%d %s" % (peer, unit), ours / peer if peer else 0))
PY
}
# Alternate ours/peer per load so drift on a noisy machine hits both sides alike.
read -r o1 o1m <<<"$(perf_read "$P1" 8 32)";   read -r p1 p1m <<<"$(perf_read "$P2" 8 32)"
read -r o2 o2m <<<"$(perf_read "$P1" 256 8)";  read -r p2 p2m <<<"$(perf_read "$P2" 256 8)"
read -r o3 o3m <<<"$(bench_write "$P1" 4096 32 200000)";   read -r p3 p3m <<<"$(bench_write "$P2" 4096 32 200000)"
read -r o4 o4m <<<"$(bench_write "$P1" 131072 8 20000)";  read -r p4 p4m <<<"$(bench_write "$P2" 131072 8 20000)"
row "4 KiB reads, 32 outstanding" IOPS "$o1" "$p1"
row "128 KiB reads, 8 outstanding" MB/s "$o2m" "$p2m"
row "4 KiB writes, 32 in parallel" IOPS "$o3" "$p3"
row "128 KiB writes, 8 in parallel" MB/s "$o4m" "$p4m"
