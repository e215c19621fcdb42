#!/usr/bin/env bash
# The daemons' control sockets against hostile local clients (issue 10, findings 6 and 7), measured
# and bounded on the release binaries (`swift build -c release` first):
#  a) root's `tgtadm --op show` answers within TGTADM_LIMIT_MS while 3 root and 3 unprivileged
#     (setpriv --reuid=nobody) clients trickle one byte every 2 s to tgtd's control socket;
#  b) iscsid's resident memory grows by at most RSS_LIMIT_KB while 40 unprivileged clients each
#     announce a 16 MiB request and then trickle, and `iscsiadm -m session` still answers.
# Exits non-zero on any failed bound; prints what it measured.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
TGTADM_LIMIT_MS=${TGTADM_LIMIT_MS:-1000}
RSS_LIMIT_KB=${RSS_LIMIT_KB:-8192}
TRICKLE_SECONDS=${TRICKLE_SECONDS:-10}
WORK=$(mktemp -d /tmp/iscsi-ctl.XXXXXX)
chmod 755 "$WORK"  # the unprivileged clients need to reach the sockets and the script
export TGTD_RUN_DIR=$WORK/tgtd-run ISCSID_RUN_DIR=$WORK/iscsid-run ISCSI_ROOT=$WORK/iscsi-root
mkdir -p -m 755 "$TGTD_RUN_DIR" "$ISCSI_ROOT"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# trickle.py SOCKET ANNOUNCED HEADER_AT_ONCE SECONDS: connects, sends a frame header announcing
# ANNOUNCED bytes (all at once, or a byte at a time), then one byte every 2 s; when the daemon
# closes the connection it notes whether an answer came (a refusal) or none (cut off), waits 2 s
# and connects again. Prints "connections answered cut".
cat >"$WORK/trickle.py" <<'EOF'
import socket, struct, sys, time
path, announced, header_at_once, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", float(sys.argv[4])
end = time.monotonic() + seconds
connections = answered = cut = 0
while time.monotonic() < end:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        connections += 1
        header = struct.pack(">I", announced)
        pending = [header] if header_at_once else [header[i:i + 1] for i in range(4)]
        while time.monotonic() < end:
            s.send(pending.pop(0) if pending else b"{")
            time.sleep(2)
    except OSError:
        s.settimeout(1)
        try:
            reply = s.recv(4096)
        except OSError:
            reply = b""
        if reply:
            answered += 1
        else:
            cut += 1
        time.sleep(2)
    finally:
        s.close()
print(connections, answered, cut)
EOF
chmod 644 "$WORK/trickle.py"

# tricklers N AS_NOBODY SOCKET ANNOUNCED HEADER_AT_ONCE NAME: N clients in the background.
tricklers() {
  local n=$1 nobody=$2 socket=$3 announced=$4 at_once=$5 name=$6
  for i in $(seq 1 "$n"); do
    if [ "$nobody" = 1 ]; then
      "${NOBODY[@]}" /usr/bin/python3 "$WORK/trickle.py" "$socket" "$announced" "$at_once" "$TRICKLE_SECONDS" \
        >"$WORK/$name-$i.out" &
    else
      python3 "$WORK/trickle.py" "$socket" "$announced" "$at_once" "$TRICKLE_SECONDS" >"$WORK/$name-$i.out" &
    fi
    TRICKLERS+=($!)
  done
}
# totals NAME: "connections answered cut" summed over NAME's clients.
totals() { cat "$WORK/$1"-*.out | awk '{c += $1; a += $2; x += $3} END {print c, a, x}'; }

echo "== a) tgtd: tgtadm --op show while 3 root and 3 unprivileged clients trickle a byte every 2 s"
start_ours 110 3510 "$WORK/tgtd.log"
PIDS+=("$OURS_PID")
ADM="$BIN/tgtadm -C 110 --lld iscsi"
$ADM --op new --mode target --tid 1 -T iqn.2026-11.org.swift-iscsi:ctl
TGTD_SOCKET=$TGTD_RUN_DIR/socket.110
TRICKLERS=()
tricklers 3 0 "$TGTD_SOCKET" 200 0 tgtd-root
tricklers 3 1 "$TGTD_SOCKET" 200 0 tgtd-nobody
worst=0 times=()
for _ in $(seq 1 $((TRICKLE_SECONDS - 2))); do
  sleep 1
  start=$(now_ms)
  $ADM --op show --mode target | grep -q "iqn.2026-11.org.swift-iscsi:ctl" || fail "tgtadm --op show did not list the target"
  took=$(( $(now_ms) - start ))
  times+=("$took")
  [ "$took" -gt "$worst" ] && worst=$took
done
cp "$BIN/tgtadm" "$WORK/tgtadm" && chmod 755 "$WORK/tgtadm"
out=$("${NOBODY[@]}" env TGTD_RUN_DIR="$TGTD_RUN_DIR" "$WORK/tgtadm" -C 110 --op show --mode target 2>&1) &&
  fail "an unprivileged tgtadm was served"
[ "$out" = "tgtadm: permission denied" ] || fail "unprivileged tgtadm got: $out"
wait "${TRICKLERS[@]}"
read -r root_connections _ root_cut <<<"$(totals tgtd-root)"
read -r nobody_connections nobody_answered _ <<<"$(totals tgtd-nobody)"
echo "tgtadm --op show took ${times[*]} ms (worst $worst ms, bound $TGTADM_LIMIT_MS ms)"
echo "root tricklers: $root_connections connections, $root_cut cut off at the request deadline"
echo "unprivileged tricklers: $nobody_connections connections, $nobody_answered refused with an answer"
[ "$worst" -le "$TGTADM_LIMIT_MS" ] || fail "tgtadm --op show took $worst ms"
[ "$root_cut" -ge 3 ] || fail "root tricklers were not cut off"
[ "$nobody_answered" -ge 3 ] || fail "unprivileged tricklers were not refused"
grep -q "control request from pid [0-9]* (uid 0) not complete within 3 s" "$WORK/tgtd.log" ||
  fail "tgtd did not log why it cut a trickler off"
grep -m1 "not complete within" "$WORK/tgtd.log"
kill -0 "$OURS_PID" || fail "tgtd died"

echo "== b) iscsid: memory while 40 unprivileged clients announce 16 MiB each and trickle"
"$BIN/iscsid" -f >"$WORK/iscsid.log" 2>&1 &
ISCSID_PID=$!
PIDS+=("$ISCSID_PID")
for _ in $(seq 1 100); do
  ISCSID_SOCKET=$(ls "$ISCSID_RUN_DIR"/*.sock 2>/dev/null || true)
  [ -n "$ISCSID_SOCKET" ] && break
  sleep 0.1
done
[ -n "$ISCSID_SOCKET" ] || fail "iscsid did not make its socket"
session() { # prints the milliseconds iscsiadm -m session took; fails unless it answered
  local start status=0 out
  start=$(now_ms)
  out=$("$BIN/iscsiadm" -m session 2>&1) || status=$?
  [ "$status" = 21 ] && [ "$out" = "iscsiadm: No active sessions." ] || fail "iscsiadm -m session: $status $out"
  echo $(( $(now_ms) - start ))
}
session >/dev/null
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$ISCSID_PID/status"; }
baseline=$(rss) peak=$baseline
TRICKLERS=()
tricklers 40 1 "$ISCSID_SOCKET" $((16 << 20)) 1 iscsid-nobody
worst=0
for i in $(seq 1 $((TRICKLE_SECONDS * 4))); do
  sleep 0.25
  now=$(rss)
  [ "$now" -gt "$peak" ] && peak=$now
  if [ $((i % 8)) = 0 ]; then
    took=$(session)
    [ "$took" -gt "$worst" ] && worst=$took
  fi
done
wait "${TRICKLERS[@]}"
read -r connections answered _ <<<"$(totals iscsid-nobody)"
echo "iscsid VmRSS: baseline $baseline kB, peak $peak kB (+$((peak - baseline)) kB, bound +$RSS_LIMIT_KB kB)"
echo "unprivileged clients: $connections connections announcing 16 MiB, $answered refused with an answer"
echo "iscsiadm -m session meanwhile: worst $worst ms"
[ $((peak - baseline)) -le "$RSS_LIMIT_KB" ] || fail "iscsid grew by $((peak - baseline)) kB"
[ "$answered" -ge 40 ] || fail "unprivileged clients were not refused"
[ "$worst" -le "$TGTADM_LIMIT_MS" ] || fail "iscsiadm -m session took $worst ms"
kill -0 "$ISCSID_PID" || fail "iscsid died"
echo "control sockets: all bounds held"
