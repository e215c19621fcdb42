# Shared helpers for the integration and benchmark scripts.
BIN=${BIN:-.build/release}
SHARED=${SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}

# wait_port PORT: until something listens on 127.0.0.1:PORT (10 s at most).
wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# start_ours CONTROL_PORT ISCSI_PORT LOG: our tgtd in the background; sets OURS_PID.
start_ours() {
  "$BIN/tgtd" -f -C "$1" --iscsi "portal=127.0.0.1:$2" --state-dir "$WORK/state-$1" >"$3" 2>&1 &
  OURS_PID=$!
  wait_port "$2"
}

# start_peer CONTROL_PORT ISCSI_PORT LOG: Debian's tgtd in the background; sets PEER_PID.
start_peer() {
  tgtd -f -C "$1" --iscsi "portal=127.0.0.1:$2" >"$3" 2>&1 &
  PEER_PID=$!
  disown "$PEER_PID"  # killed with -9 at the end: no job report
  wait_port "$2"
}

# export_lun TGTADM CONTROL_PORT IQN FILE: target 1 with LUN 1 on FILE, open to all.
export_lun() {
  local adm=$1 cp=$2 iqn=$3 file=$4
  "$adm" -C "$cp" --lld iscsi --op new --mode target --tid 1 -T "$iqn"
  "$adm" -C "$cp" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$file"
  "$adm" -C "$cp" --lld iscsi --op bind --mode target --tid 1 -I ALL
}

# stop_and_wait PID: SIGTERM, then until the process has gone (10 s at most): an iscsid unmounts
# its FUSE directory on the way out, so its work directory can be removed after.
stop_and_wait() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
}

# stop_iscsid: logs out every session of the iscsid serving $ISCSID_RUN_DIR, stops it and waits
# (10 s at most) until it has gone, so its FUSE directory is unmounted before the caller removes it.
stop_iscsid() {
  local lock pid
  lock=$(ls "$ISCSID_RUN_DIR"/*.lock 2>/dev/null | head -n 1) || true
  [ -n "$lock" ] || return 0
  pid=$(cat "$lock" 2>/dev/null) || return 0
  [ -n "$pid" ] || return 0
  "$BIN/iscsiadm" -m node -u >/dev/null 2>&1 || true
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "iscsid (pid $pid) did not stop within 10 s" >&2
}

# --- multipath over several gateways (multipath.sh, rbd-failover.sh): GW_PID[N] holds gateway N's
# tgtd, $ADM is our iscsiadm, $DEV the multipath device, fail() the script's own.

# kill_gw N: gateway N killed with -9 and reaped.
kill_gw() {
  kill -9 "${GW_PID[$1]}"
  wait "${GW_PID[$1]}" 2>/dev/null || true
  GW_PID[$1]=""
}

# paths_up N: until `iscsiadm -m multipath` shows N paths "active ready running" (30 s at most).
paths_up() {
  for _ in $(seq 1 300); do
    [ "$("$ADM" -m multipath | grep -c "active ready running")" = "$1" ] && return 0
    sleep 0.1
  done
  fail "not $1 active paths within 30 s"
}

# run_fio NAME [SIZE] [LOOPS]: fio with verification (random writes 4-128 KiB, 16 deep, direct) on
# $DEV in the background, its report (text, then JSON) in $WORK/fio-NAME.out; sets FIO_PID.
run_fio() {
  fio --name="$1" --filename="$DEV" --direct=1 --ioengine=libaio --rw=randwrite --bsrange=4k-128k \
    --iodepth=16 --size="${2:-384M}" --loops="${3:-5}" --verify=crc32c --verify_fatal=1 --verify_state_save=0 \
    --randrepeat=0 --output-format=normal,json --output="$WORK/fio-$1.out" >/dev/null 2>&1 &
  FIO_PID=$!
}
wait_fio() {
  local status=0
  wait "$FIO_PID" || status=$?
  FIO_PID=
  [ $status = 0 ] || fail "$1: fio failed: $(grep -v '"' "$WORK/fio-$1.out" | grep -iE "err=|verify|fail" | head -5)"
}

# lu_bytes_written CONTROL: bytes LU 1 of target 1 has written (tgtadm --op stat, all sessions).
lu_bytes_written() {
  "$BIN/tgtadm" -C "$1" --lld iscsi --op stat --mode logicalunit --tid 1 --lun 1 |
    awk '$1 == 1 && $2 == 1 { sum += $10 } END { print sum + 0 }'
}

# lock_takeovers LOG: how often a gateway's log says it took its RBD image's lock.
lock_takeovers() { grep -c "RBD lock held by this gateway" "$1" 2>/dev/null || true; }
# wait_lock_takeovers LOG COUNT: until LOG has COUNT such lines (30 s at most; 1 if not).
wait_lock_takeovers() {
  for _ in $(seq 1 600); do
    [ "$(lock_takeovers "$1")" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
