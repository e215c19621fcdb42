#!/usr/bin/env bash
# Session recovery (ErrorRecoveryLevel 0 reinstatement) under `iscsi-tool copy`: the target is
# killed with -9 in the middle of a 256 MiB copy. Restarted within --replacement-timeout, the copy
# must finish (exit 0) with identical data (read back over iSCSI and compared); left down past a
# short timeout, the tool must exit non-zero promptly with exactly one line on stderr.
# Against our tgtd (its configuration persists in --state-dir, so a restart brings the target back)
# and against Debian's tgtd (no persistence: the target is re-created with tgtadm after restart).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-recovery.XXXXXX)
export TGTD_RUN_DIR=$WORK/run
mkdir -p "$TGTD_RUN_DIR"
LUN=/dev/shm/recovery-$$.img
SIZE=$((256 << 20))
TARGET_PID="" KIND="" COPY_PID=""
cleanup() {
  [ -n "$COPY_PID" ] && kill -9 "$COPY_PID" 2>/dev/null || true
  [ -n "$TARGET_PID" ] && kill -9 "$TARGET_PID" 2>/dev/null || true
  rm -f "$LUN"
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
TOOL="$BIN/iscsi-tool"
CP=61 PORT=3361 IQN=iqn.2026-11.test:recovery
URL=iscsi://127.0.0.1:$PORT/$IQN/1

# start_target: our tgtd (configuration replayed from its state directory) or Debian's (target
# created afresh every time); sets TARGET_PID.
start_target() {
  if [ "$KIND" = ours ]; then
    "$BIN/tgtd" -f -C $CP --iscsi portal=127.0.0.1:$PORT --state-dir "$WORK/state" >>"$WORK/tgtd.log" 2>&1 &
    TARGET_PID=$!
    wait_port $PORT
  else
    tgtd -f -C $CP --iscsi portal=127.0.0.1:$PORT >>"$WORK/tgtd.log" 2>&1 &
    TARGET_PID=$!
    disown "$TARGET_PID"
    wait_port $PORT
    timeout 10 tgtadm -C $CP --lld iscsi --op new --mode target --tid 1 -T $IQN
    timeout 10 tgtadm -C $CP --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$LUN"
    timeout 10 tgtadm -C $CP --lld iscsi --op bind --mode target --tid 1 -I ALL
  fi
}

kill_target() {
  kill -9 "$TARGET_PID" 2>/dev/null || true
  [ "$KIND" = ours ] && { wait "$TARGET_PID" 2>/dev/null || true; }
  TARGET_PID=""
}

# kill_mid_copy: waits until the copy has written the LUN's first 64 KiB, kills the target with -9
# and checks the copy was neither finished nor over (the last 64 KiB still differ).
kill_mid_copy() {
  for _ in $(seq 1 300); do
    cmp -s -n 65536 "$WORK/src.img" "$LUN" && break
    kill -0 "$COPY_PID" 2>/dev/null || fail "$KIND: copy ended before it wrote anything"
    sleep 0.02
  done
  kill_target
  KILLED_AT=$(date +%s)
  cmp -s -i $((SIZE - 65536)) -n 65536 "$WORK/src.img" "$LUN" && fail "$KIND: copy finished before the kill"
  kill -0 "$COPY_PID" 2>/dev/null || fail "$KIND: copy ended before the kill"
  echo "   target killed mid-copy"
}

head -c $SIZE /dev/urandom >"$WORK/src.img"
kinds="ours"
if command -v tgtd >/dev/null && command -v tgtadm >/dev/null; then kinds="ours peer"; fi
for KIND in $kinds; do
  rm -rf "$WORK/state"
  truncate -s 0 "$LUN"
  truncate -s $SIZE "$LUN"
  start_target
  if [ "$KIND" = ours ]; then
    timeout 10 "$BIN/tgtadm" -C $CP --lld iscsi --op new --mode target --tid 1 -T $IQN
    timeout 10 "$BIN/tgtadm" -C $CP --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$LUN"
    timeout 10 "$BIN/tgtadm" -C $CP --lld iscsi --op bind --mode target --tid 1 -I ALL
  fi

  echo "== $KIND: target killed mid-copy, back within the replacement timeout"
  # One 4 KiB command at a time keeps the copy long enough to be cut in the middle.
  timeout 300 "$TOOL" copy -m 1 --chunk 8 --replacement-timeout 60 "$WORK/src.img" "$URL" \
    >"$WORK/copy1.out" 2>"$WORK/copy1.err" &
  COPY_PID=$!
  kill_mid_copy
  sleep 2
  start_target
  echo "   target restarted"
  status=0
  wait "$COPY_PID" || status=$?
  COPY_PID=""
  [ $status = 0 ] || fail "$KIND: copy exited $status after the restart: $(cat "$WORK/copy1.err")"
  # Not a terminal: stderr holds the summary line alone.
  grep -qv "^iscsi-tool: copied [0-9]* bytes " "$WORK/copy1.err" &&
    fail "$KIND: copy wrote more than its summary to stderr: $(cat "$WORK/copy1.err")"
  [ "$(wc -l <"$WORK/copy1.err")" = 1 ] || fail "$KIND: no summary line on stderr"
  cmp "$WORK/src.img" "$LUN" || fail "$KIND: the LUN's file differs from the source"
  rm -f "$WORK/back.img"
  timeout 120 "$TOOL" copy "$URL" "$WORK/back.img" || fail "$KIND: read-back failed"
  cmp "$WORK/src.img" "$WORK/back.img" || fail "$KIND: data read back over iSCSI differs"
  echo "   copy completed, data identical"

  echo "== $KIND: target killed mid-copy and left down past a 5 s replacement timeout"
  truncate -s 0 "$LUN"
  truncate -s $SIZE "$LUN"
  timeout 60 "$TOOL" copy -m 1 --chunk 8 --replacement-timeout 5 "$WORK/src.img" "$URL" \
    >"$WORK/copy2.out" 2>"$WORK/copy2.err" &
  COPY_PID=$!
  kill_mid_copy
  status=0
  wait "$COPY_PID" || status=$?
  COPY_PID=""
  elapsed=$(($(date +%s) - KILLED_AT))
  [ $status != 124 ] || fail "$KIND: copy hung past the replacement timeout"
  [ $status != 0 ] || fail "$KIND: copy succeeded with the target down"
  lines=$(wc -l <"$WORK/copy2.err")
  [ "$lines" = 1 ] || fail "$KIND: expected one line on stderr, got $lines: $(cat "$WORK/copy2.err")"
  grep -q "^iscsi-tool: " "$WORK/copy2.err" || fail "$KIND: unexpected message: $(cat "$WORK/copy2.err")"
  [ $elapsed -ge 4 ] || fail "$KIND: gave up after ${elapsed} s, before the 5 s replacement timeout"
  [ $elapsed -le 20 ] || fail "$KIND: took ${elapsed} s to give up after a 5 s replacement timeout"
  echo "   exit $status after ${elapsed} s: $(cat "$WORK/copy2.err")"
done
echo "initiator-recovery: all checks passed"
