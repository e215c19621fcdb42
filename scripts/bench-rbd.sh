#!/usr/bin/env bash
# Benchmark our tgtd's RBD backstore against Debian's tgt-rbd (issue 14), in one run: both gateways
# serve the SAME RBD image of one throwaway Ceph cluster (scripts/ceph-cluster.sh, or an existing
# one with --conf) over 127.0.0.1, and every round runs each load on both, alternating which goes
# first. Loads: 4 KiB and 128 KiB reads (libiscsi's iscsi-perf, sequential), 4 KiB and 128 KiB
# writes (qemu-img bench -w, sequential). Prints every round, then the medians and ratios ours/tgt-rbd.
#
# Both gateways keep the image open for the whole run. Reads need no lock; a write takes librbd's
# exclusive lock, which moves between the two librbd clients when the other one writes (measured:
# 0.1-0.3 s per move). So before each measured write run, the gateway about to be measured gets one
# 4 KiB write followed by a flush (qemu-img bench -w -c 1 --flush-interval=1): it takes the lock
# outside the measurement and is the first flush librbd needs to see before its cache turns from
# write-through to write-back (rbd_cache_writethrough_until_flush). The time of that step is printed.
#
# Usage: scripts/bench-rbd.sh [--secs S] [--rounds N] [--osds N] [--size MiB] [--conf CEPH_CONF]
#   --secs S     seconds per read run; write runs are sized for about S s on tgt-rbd (default 5)
#   --rounds N   rounds (default 3)
#   --osds N     OSDs of the throwaway cluster (default 1)
#   --size MiB   image size (default 1024); the image is filled (rbd bench) before the first read
#   --conf FILE  use this running cluster's pool rbd instead of starting one (the image is removed after)
#   --aa         A/A check of the method: a second Debian tgt-rbd stands in for ours (ratios show the noise)
# Ports: portals 4901 (ours) and 4902 (tgt-rbd), control numbers 491 and 492 (BENCH_RBD_* to change).
# Needs: tgt tgt-rbd libiscsi-bin qemu-utils qemu-block-extra ceph-mon ceph-osd ceph-common, and
# `swift build -c release` (done here when .build/release/tgtd is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SECS=5 ROUNDS=3 OSDS=1 SIZE_MB=1024 EXT_CONF= AA=0
while [ $# -gt 0 ]; do
  case $1 in
    --secs) SECS=${2:?}; shift 2 ;;
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --osds) OSDS=${2:?}; shift 2 ;;
    --size) SIZE_MB=${2:?}; shift 2 ;;
    --conf) EXT_CONF=$(realpath "${2:?}"); shift 2 ;;
    --aa) AA=1; shift ;;
    *) sed -n '/^# Usage/,/^# Ports/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
P1=${BENCH_RBD_OURS_PORT:-4901} P2=${BENCH_RBD_PEER_PORT:-4902}
C1=${BENCH_RBD_OURS_CONTROL:-491} C2=${BENCH_RBD_PEER_CONTROL:-492}
for cmd in iscsi-perf qemu-img rbd ceph-mon ceph-osd; do
  command -v "$cmd" >/dev/null || { echo "bench-rbd: $cmd missing" >&2; exit 1; }
done
[ -x /usr/sbin/tgtd ] && [ -f /usr/lib/tgt/backing-store/bs_rbd.so ] ||
  { echo "bench-rbd: Debian's tgtd with bs_rbd missing (apt-get install tgt tgt-rbd)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/iscsi-bench-rbd.XXXXXX)
export TGTD_RUN_DIR=$WORK/run
mkdir -p "$TGTD_RUN_DIR"
IQN=iqn.2026-12.org.swift-iscsi:bench-rbd
IMAGE=bench-rbd-$$
OURS_PID= PEER_PID= CONF=
cleanup() {
  local rc=$?
  # Close the image on both gateways first, so no watcher or lock is left behind on the cluster.
  [ -n "$OURS_PID" ] && timeout 30 "$BIN/tgtadm" -C "$C1" --lld iscsi --op delete --mode logicalunit --tid 1 --lun 1 >/dev/null 2>&1 || true
  [ -n "$PEER_PID" ] && timeout 30 /usr/sbin/tgtadm -C "$C2" --lld iscsi --op delete --mode logicalunit --tid 1 --lun 1 >/dev/null 2>&1 || true
  [ -n "$PEER_PID" ] && kill -9 "$PEER_PID" 2>/dev/null || true
  if [ -n "$OURS_PID" ] && kill "$OURS_PID" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$OURS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$OURS_PID" 2>/dev/null || true
  fi
  if [ -n "$EXT_CONF" ]; then
    timeout -k 5 60 rbd -c "$EXT_CONF" rm --no-progress "rbd/$IMAGE" </dev/null >/dev/null 2>&1 || true
  elif [ -f "$WORK/ceph/ceph.conf" ]; then
    bash scripts/ceph-cluster.sh stop "$WORK/ceph" --purge >/dev/null 2>&1 || true
  fi
  if [ "$rc" != 0 ]; then
    echo "bench-rbd: FAILED (rc $rc); logs:" >&2
    tail -n 20 "$WORK"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ "$AA" = 1 ]; then
  # Debian's tgtd in the place of ours: start_ours passes --state-dir, which it does not know.
  BIN=$WORK/aa-bin
  mkdir -p "$BIN"
  printf '%s\n' '#!/bin/bash' 'a=(); while [ $# -gt 0 ]; do case $1 in --state-dir) shift 2 ;; *) a+=("$1"); shift ;; esac; done' \
    'exec /usr/sbin/tgtd "${a[@]}"' >"$BIN/tgtd"
  chmod +x "$BIN/tgtd"
  ln -s /usr/sbin/tgtadm "$BIN/tgtadm"
  echo "bench-rbd: A/A run: \"ours\" is a second Debian tgt-rbd"
fi
[ -x "$BIN/tgtd" ] || swift build -c release

if [ -n "$EXT_CONF" ]; then
  CONF=$EXT_CONF
else
  out=$(bash scripts/ceph-cluster.sh start "$WORK/ceph" --osds "$OSDS")
  CONF=$(sed -n 's/^CEPH_CONF=//p' <<<"$out")
fi
crbd() { timeout -k 5 600 rbd -c "$CONF" "$@" </dev/null; }
# Default features of Ceph 16 (layering, exclusive-lock, object-map, fast-diff, deep-flatten).
crbd create --size "${SIZE_MB}M" "rbd/$IMAGE"
# Fill it, so that reads reach the OSD instead of being answered from the object map as holes.
crbd bench --io-type write --io-size 4M --io-threads 4 --io-total "${SIZE_MB}M" --io-pattern seq "rbd/$IMAGE" >/dev/null

[ "$P1" != "$P2" ] && [ "$C1" != "$C2" ] || { echo "bench-rbd: the two gateways need different ports and control numbers" >&2; exit 2; }
start_ours "$C1" "$P1" "$WORK/ours.log"
[ "$AA" = 1 ] && disown "$OURS_PID"  # Debian's tgtd ignores SIGTERM: SIGKILLed at the end
start_peer "$C2" "$P2" "$WORK/peer.log"
for side in ours peer; do
  if [ $side = ours ]; then adm=$BIN/tgtadm cp=$C1; else adm=/usr/sbin/tgtadm cp=$C2; fi
  "$adm" -C "$cp" --lld iscsi --op new --mode target --tid 1 -T "$IQN"
  "$adm" -C "$cp" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 --bstype rbd \
    --backing-store "rbd/$IMAGE" --bsopts "conf=$CONF;id=admin"
  "$adm" -C "$cp" --lld iscsi --op bind --mode target --tid 1 -I ALL
done
# Each portal must be its own gateway's (not, say, a port already taken by someone else).
for x in "$P1 $OURS_PID ours" "$P2 $PEER_PID tgt-rbd"; do
  set -- $x
  ss -Htlnp "sport = :$1" | grep -q "pid=$2," || { echo "bench-rbd: 127.0.0.1:$1 is not served by $3's tgtd (pid $2)" >&2; exit 1; }
done
url() { echo "iscsi://127.0.0.1:$1/$IQN/1"; }
# iscsi-perf counts in logical blocks: ask each LU its block size.
block_size() { iscsi-readcapacity16 "$(url "$1")" | sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES: *\([0-9]*\).*/\1/p'; }
declare -A BS=([ours]=$(block_size "$P1") [peer]=$(block_size "$P2"))
declare -A PORT=([ours]=$P1 [peer]=$P2)
echo "bench-rbd: image rbd/$IMAGE, ${SIZE_MB} MiB, filled; block size ours ${BS[ours]}, tgt-rbd ${BS[peer]}; $ROUNDS rounds of ${SECS} s"

perf_read() { # side bytes depth -> MB/s or IOPS
  local out
  out=$(iscsi-perf -m "$3" -b $(($2 / BS[$1])) -t "$SECS" "$(url "${PORT[$1]}")" 2>&1 | tr '\r' '\n' |
    sed -n 's/^ *iops average \([0-9]*\) (\([0-9]*\) MB\/s).*/\1 \2/p' | tail -n 1)
  [ -n "$out" ] || { echo "bench-rbd: iscsi-perf against ${1} gave no figure" >&2; exit 1; }
  set -- $out "$2"
  if [ "$3" -ge 131072 ]; then echo "$2"; else echo "$1"; fi
}
first_flush() { # side: one 4 KiB write + flush (takes the exclusive lock; librbd cache -> write-back)
  local t0 t1
  t0=$(date +%s.%N)
  qemu-img bench -f raw -w -c 1 -d 1 --flush-interval=1 -s 4096 "$(url "${PORT[$1]}")" >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print('%.2f' % ($t1 - $t0))"
}
bench_write() { # side bytes depth -> MB/s or IOPS
  local count secs
  if [ "$2" -ge 131072 ]; then count=$((SECS * 2000)); else count=$((SECS * 15000)); fi
  secs=$(qemu-img bench -f raw -w -c "$count" -d "$3" -s "$2" "$(url "${PORT[$1]}")" 2>&1 |
    sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
  [ -n "$secs" ] || { echo "bench-rbd: qemu-img bench against ${1} gave no figure" >&2; exit 1; }
  if [ "$2" -ge 131072 ]; then python3 -c "print(int($count * $2 / $secs / 1e6))"; else python3 -c "print(int($count / $secs))"; fi
}
loads=("read 4096 32" "read 131072 8" "write 4096 32" "write 131072 8")
declare -A results
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="peer ours"; else order="ours peer"; fi
  line="round $round:"
  for l in "${loads[@]}"; do
    set -- $l
    for side in $order; do
      if [ "$1" = read ]; then
        v=$(perf_read "$side" "$2" "$3")
      else
        f=$(first_flush "$side")
        line+=" [$side first flush ${f}s]"
        v=$(bench_write "$side" "$2" "$3")
      fi
      results["$l $side"]+="$v "
      line+=" $1 $(($2 / 1024))K $side $v;"
    done
  done
  echo "$line"
done

echo
echo "medians of $ROUNDS rounds (${SECS} s reads; writes after a first flush, see above)"
printf '%-48s %20s %20s %7s\n' "load" "tgt-rbd" "ours" "ratio"
for l in "${loads[@]}"; do
  python3 - "$l" "${results["$l peer"]}" "${results["$l ours"]}" <<'PY'
import statistics, sys
kind, size, depth = sys.argv[1].split()
peer = [int(x) for x in sys.argv[2].split()]
ours = [int(x) for x in sys.argv[3].split()]
unit = "MB/s" if int(size) >= 131072 else "IOPS"
if kind == "read":
    name = "%d KiB reads, %s outstanding (iscsi-perf)" % (int(size) // 1024, depth)
else:
    name = "%d KiB writes, %s deep (qemu-img bench)" % (int(size) // 1024, depth)
p, o = statistics.median(peer), statistics.median(ours)
print("%-48s %20s %20s %7.2f" % (name, "%d %s" % (p, unit), "%d %s" % (o, unit), o / p if p else 0))
PY
done
