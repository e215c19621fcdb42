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
