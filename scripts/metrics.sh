#!/usr/bin/env bash
# Statistics and the Prometheus endpoints against real IO:
#  - tgtd --metrics: libiscsi's iscsi-perf reads 4 KiB blocks; the scrape's read count and bytes
#    agree (bytes = 4096 x reads) and match tgtadm --op stat; a failed login is counted by reason;
#    the endpoint refuses a non-loopback address and drops a client that never finishes.
#  - iscsid --metrics and iscsiadm -m session -s: 1 MiB read through the session's block device;
#    scsicmd_pdus grew by the commands the target completed, and rxdata_octets by the bytes the
#    target read plus a 48-byte header per PDU received.
# Ports: METRICS_BASE (default 4561) .. +5; tgtd control port METRICS_CONTROL (default 456).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BASE=${METRICS_BASE:-4561}
ISCSI_PORT=$BASE TGTD_METRICS=$((BASE + 1)) ISCSID_METRICS=$((BASE + 2)) CONTROL=${METRICS_CONTROL:-456}
WORK=$(mktemp -d /tmp/iscsi-metrics.XXXXXX)
export TGTD_RUN_DIR=$WORK/run ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$TGTD_RUN_DIR" "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
ADM="$BIN/iscsiadm"
IQN=iqn.2026-11.test:metrics
OURS_PID=
cleanup() {
  stop_iscsid
  [ -n "$OURS_PID" ] && kill "$OURS_PID" 2>/dev/null || true
  rm -f /dev/shm/metrics-ours.img
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# metric URL NAME [LABEL-FILTER]: the sum of the samples of NAME (whose labels contain the filter).
metric() {
  curl -sf "$1" | awk -v name="$2" -v filter="${3:-}" '
    $1 == name || index($1, name "{") == 1 { if (filter == "" || index($1, filter)) sum += $2 }
    END { printf "%d\n", sum }'
}

echo "== tgtd --metrics: refused off loopback"
if "$BIN/tgtd" -f -C "$CONTROL" --metrics "0.0.0.0:$TGTD_METRICS" >"$WORK/refused.log" 2>&1; then
  fail "tgtd served metrics on 0.0.0.0 without --metrics-allow-remote"
fi
grep -q "not a loopback address" "$WORK/refused.log" || fail "refusal: $(cat "$WORK/refused.log")"

truncate -s 256M /dev/shm/metrics-ours.img
"$BIN/tgtd" -f -C "$CONTROL" --iscsi "portal=127.0.0.1:$ISCSI_PORT" --state-dir "$WORK/state" \
  --metrics "127.0.0.1:$TGTD_METRICS" >"$WORK/ours.log" 2>&1 &
OURS_PID=$!
wait_port "$ISCSI_PORT"
wait_port "$TGTD_METRICS"
export_lun "$BIN/tgtadm" "$CONTROL" "$IQN" /dev/shm/metrics-ours.img
URL="http://127.0.0.1:$TGTD_METRICS/metrics"
LU='lun="1"'

echo "== tgtd: 4 KiB reads with iscsi-perf, then a scrape"
reads0=$(metric "$URL" iscsi_target_lu_reads_total "$LU")
iscsi-perf -m 8 -b 8 -t 2 "iscsi://127.0.0.1:$ISCSI_PORT/$IQN/1" >"$WORK/perf.out" 2>&1 || fail "iscsi-perf: $(tail -3 "$WORK/perf.out")"
reads=$(( $(metric "$URL" iscsi_target_lu_reads_total "$LU") - reads0 ))
bytes=$(metric "$URL" iscsi_target_lu_read_bytes_total "$LU")
[ "$reads" -gt 1000 ] || fail "reads after iscsi-perf: $reads"
[ "$bytes" -eq $((reads * 4096)) ] || fail "read bytes $bytes for $reads 4 KiB reads"
count=$(metric "$URL" iscsi_target_lu_read_latency_seconds_count "$LU")
[ "$count" -eq "$reads" ] || fail "latency histogram count $count, reads $reads"
inf=$(metric "$URL" iscsi_target_lu_read_latency_seconds_bucket "le=\"+Inf\"")
[ "$inf" -eq "$reads" ] || fail "+Inf bucket $inf, reads $reads"
[ "$(metric "$URL" iscsi_target_lu_queue_depth "$LU")" -eq 0 ] || fail "queue depth after the load"
[ "$(metric "$URL" iscsi_target_logins_total 'type="normal"')" -ge 1 ] || fail "no normal login counted"
echo "ok: $reads reads, $bytes bytes"

echo "== tgtd: a login to a missing target is counted"
iscsi-inq "iscsi://127.0.0.1:$ISCSI_PORT/iqn.2026-11.test:absent/1" >/dev/null 2>&1 || true
[ "$(metric "$URL" iscsi_target_login_failures_total 'reason="not_found"')" -eq 1 ] || fail "not_found failures"

echo "== tgtd: a discovery ended by a reset (as open-iscsi's) is no error in the log"
python3 - "$ISCSI_PORT" <<'PY'
import socket, struct, sys
keys = b"InitiatorName=iqn.2026-11.test:reset\0SessionType=Discovery\0AuthMethod=None\0"
bhs = bytearray(48)
bhs[0], bhs[1] = 0x43, 0x83  # immediate Login Request, T=1, security stage to full feature
bhs[5:8] = len(keys).to_bytes(3, "big")
bhs[8:14] = bytes([0x40, 0, 0, 1, 0, 0])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(bytes(bhs) + keys + b"\0" * ((4 - len(keys) % 4) % 4))
s.recv(4096)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
sleep 0.5
grep -q "iqn.2026-11.test:reset logged in to discovery" "$WORK/ours.log" || fail "the discovery login did not happen"
if grep -q "Connection reset" "$WORK/ours.log"; then fail "a reset after discovery logged as an error: $(grep "Connection reset" "$WORK/ours.log")"; fi

echo "== tgtd: a client that never finishes its request is dropped"
start=$(date +%s)
# Sends half a request and waits for the server to hang up (at most 20 s).
python3 - "$TGTD_METRICS" <<'PY' || fail "the metrics endpoint held an unfinished request"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
s.settimeout(20)
sys.exit(0 if s.recv(1) == b"" else 1)
PY
[ $(( $(date +%s) - start )) -le 10 ] || fail "unfinished request held more than 10 s"
curl -sf "$URL" >/dev/null || fail "endpoint gone after the hostile client"

echo "== iscsid --metrics and iscsiadm -m session -s: 1 MiB read through the block device"
if "$BIN/iscsid" -f --metrics "10.0.0.1:$ISCSID_METRICS" >"$WORK/iscsid-refused.log" 2>&1; then
  fail "iscsid served metrics off loopback"
fi
"$BIN/iscsid" --metrics "127.0.0.1:$ISCSID_METRICS" || fail "iscsid did not start"
wait_port "$ISCSID_METRICS"
"$ADM" -m discovery -t st -p "127.0.0.1:$ISCSI_PORT" >/dev/null
"$ADM" -m node -T "$IQN" -p "127.0.0.1:$ISCSI_PORT" -l >"$WORK/login.out" 2>&1 || fail "login: $(cat "$WORK/login.out")"
link="$ISCSI_ROOT/dev/disk/by-path/ip-127.0.0.1:$ISCSI_PORT-iscsi-$IQN-lun-1"
[ -L "$link" ] || fail "no block device: $(cat "$WORK/login.out")"
sid=$("$ADM" -m session | sed -n "s/^tcp: \[\([0-9]*\)\] 127.0.0.1:$ISCSI_PORT,1 $IQN .*/\1/p")
[ -n "$sid" ] || fail "no session listed"
stat() { "$ADM" -m session -r "$sid" -s | sed -n "s/^\t$1: //p"; }
received() { # every PDU counter of what the target sent
  local total=0 name
  for name in noprx_pdus scsirsp_pdus tmfrsp_pdus textrsp_pdus datain_pdus logoutrsp_pdus r2t_pdus async_pdus rjt_pdus; do
    total=$((total + $(stat $name)))
  done
  echo $total
}
"$ADM" -m session -r "$sid" -s >"$WORK/stats0"
grep -q "^Stats for session \[sid: $sid, target: $IQN, portal: 127.0.0.1,$ISCSI_PORT\]$" "$WORK/stats0" || fail "stats header: $(head -1 "$WORK/stats0")"
grep -q "^iSCSI SNMP:$" "$WORK/stats0" && grep -q "^iSCSI Extended:$" "$WORK/stats0" || fail "stats sections: $(cat "$WORK/stats0")"
cmd0=$(stat scsicmd_pdus) rx0=$(stat rxdata_octets) pdus0=$(received)
tcmd0=$(metric "$URL" iscsi_target_lu_commands_total) tbytes0=$(metric "$URL" iscsi_target_lu_read_bytes_total)
dd if="$(readlink -f "$link")" of=/dev/null bs=64k count=16 iflag=direct 2>"$WORK/dd.err" || fail "dd: $(cat "$WORK/dd.err")"
cmd1=$(stat scsicmd_pdus) rx1=$(stat rxdata_octets) pdus1=$(received)
tcmd1=$(metric "$URL" iscsi_target_lu_commands_total) tbytes1=$(metric "$URL" iscsi_target_lu_read_bytes_total)
commands=$((cmd1 - cmd0)) data=$((tbytes1 - tbytes0))
[ "$commands" -ge 1 ] || fail "scsicmd_pdus did not grow"
[ "$commands" -eq $((tcmd1 - tcmd0)) ] || fail "scsicmd_pdus grew by $commands, the target completed $((tcmd1 - tcmd0))"
[ "$data" -ge 1048576 ] || fail "the target read $data bytes for a 1 MiB dd"
[ $((rx1 - rx0)) -eq $((data + 48 * (pdus1 - pdus0))) ] ||
  fail "rxdata_octets grew by $((rx1 - rx0)), expected $data data bytes + 48 x $((pdus1 - pdus0)) PDUs"
echo "ok: $commands commands, rxdata_octets +$((rx1 - rx0)) = $data + 48 x $((pdus1 - pdus0))"
ICURL="http://127.0.0.1:$ISCSID_METRICS/metrics"
[ "$(metric "$ICURL" iscsi_initiator_scsicmd_pdus_total "sid=\"$sid\"")" -eq "$cmd1" ] || fail "iscsid metrics scsicmd_pdus"
[ "$(metric "$ICURL" iscsi_initiator_rxdata_octets_total "sid=\"$sid\"")" -ge "$rx1" ] || fail "iscsid metrics rxdata_octets"
[ "$(metric "$ICURL" iscsi_initiator_sessions)" -eq 1 ] || fail "iscsid metrics sessions"

echo "== tgtadm --op stat and --op show --mode conn agree"
"$BIN/tgtadm" -C "$CONTROL" --lld iscsi --op show --mode conn --tid 1 >"$WORK/conn.out"
grep -q "^        IP Address: 127.0.0.1$" "$WORK/conn.out" || fail "show conn: $(cat "$WORK/conn.out")"
tsih=$(sed -n 's/^Session: //p' "$WORK/conn.out" | head -1)
"$BIN/tgtadm" -C "$CONTROL" --lld iscsi --op stat --mode session --sid "$tsih" >"$WORK/stat.out"
head -1 "$WORK/stat.out" | grep -q "^tgt lun sid rd_subm(bytes,cmds)" || fail "stat session: $(cat "$WORK/stat.out")"
"$BIN/tgtadm" -C "$CONTROL" --lld iscsi --op show --mode lld | grep -q "^        Target 1: $IQN$" || fail "show lld"
"$ADM" -m node -T "$IQN" -p "127.0.0.1:$ISCSI_PORT" -u >/dev/null || fail "logout"
echo "metrics: all checks passed"
