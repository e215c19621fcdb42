#!/usr/bin/env bash
# Bad input to the initiator tools: wrong flags, unknown modes and records, missing arguments, a
# closed port, a "target" that answers random bytes, one that closes the connection in the middle
# of the login and one that never answers. Each must end within seconds (every command runs under
# `timeout 20`; a timeout fails the script) with open-iscsi's messages and exit codes (iscsiadm,
# with iscsid running on a private ISCSI_ROOT) or one `iscsi-tool: ...` line and a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-bad-input.XXXXXX)
export ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ADM="$BIN/iscsiadm" TOOL="$BIN/iscsi-tool"
CLOSED=3371 GARBAGE=3372 HANGUP=3373 SILENT=3374

# run CMD...: runs it under `timeout 20`; sets STATUS, OUT, ERR and SECONDS_TAKEN.
run() {
  local start=$(date +%s%N)
  STATUS=0
  timeout 20 "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || STATUS=$?
  SECONDS_TAKEN=$(( ($(date +%s%N) - start) / 1000000000 ))
  OUT=$(cat "$WORK/out") ERR=$(cat "$WORK/err")
  [ $STATUS != 124 ] || fail "hung: $*"
  [ $STATUS -lt 128 ] || fail "crashed with status $STATUS: $*: $ERR"
}
# expect STATUS STDERR CMD...: exact exit status and exact stderr.
expect() {
  local status=$1 err=$2
  shift 2
  run "$@"
  [ "$STATUS" = "$status" ] || fail "$*: exit $STATUS, expected $status (stderr: $ERR)"
  [ "$ERR" = "$err" ] || fail "$*: stderr was:
$ERR
expected:
$err"
  echo "ok ($STATUS, ${SECONDS_TAKEN}s): $*"
}
# expect_tool SECONDS PATTERN CMD...: iscsi-tool fails within SECONDS with one line matching PATTERN.
expect_tool() {
  local limit=$1 pattern=$2
  shift 2
  run "$@"
  [ "$STATUS" != 0 ] || fail "$*: succeeded"
  [ "$(wc -l <"$WORK/err")" = 1 ] || fail "$*: expected one line on stderr, got: $ERR"
  [[ "$ERR" =~ $pattern ]] || fail "$*: stderr '$ERR' does not match '$pattern'"
  [ $SECONDS_TAKEN -le "$limit" ] || fail "$*: took ${SECONDS_TAKEN}s (limit ${limit}s)"
  echo "ok ($STATUS, ${SECONDS_TAKEN}s): $* -> $ERR"
}

# Fake targets: random bytes after accept; read the Login Request, then close; accept and stay mute.
cat >"$WORK/fake.py" <<'EOF'
import os, socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(8)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(30)
        if mode == "garbage":
            for _ in range(2048):
                c.sendall(os.urandom(4096))
        elif mode == "hangup":
            c.recv(48)
        else:
            time.sleep(30)
    except OSError:
        pass
    finally:
        c.close()
EOF
for fake in "garbage $GARBAGE" "hangup $HANGUP" "silent $SILENT"; do
  set -- $fake
  timeout 300 python3 "$WORK/fake.py" "$1" "$2" >"$WORK/fake-$1.log" 2>&1 &
  PIDS+=($!)
  wait_port "$2"
done
(exec 3<>"/dev/tcp/127.0.0.1/$CLOSED") 2>/dev/null && fail "port $CLOSED is in use"
"$BIN/iscsid" -f >"$WORK/iscsid.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$(ls "$ISCSID_RUN_DIR"/*.sock 2>/dev/null | head -1)" ] && break; sleep 0.1; done

echo "== iscsid: command line, one daemon per root"
expect 1 "iscsid: iscsid is already running for $ISCSI_ROOT (pid ${PIDS[-1]})" "$BIN/iscsid"
expect 1 "iscsid: iscsid is already running for $ISCSI_ROOT (pid ${PIDS[-1]})" "$BIN/iscsid" -d 8 -f
expect 1 "iscsid: invalid debug level 'x': use 0 to 8" "$BIN/iscsid" -d x
[ "$("$BIN/iscsid" --version)" = "$("$BIN/iscsiadm" --version | sed s/iscsiadm/iscsid/)" ] || fail "iscsid --version"
[[ "$("$BIN/iscsid" -v)" =~ ^iscsid\ version\ 2\.1\.8\ \(swift-iscsi\ [0-9.]+\)$ ]] || fail "iscsid -v"

echo "== iscsiadm: command line"
expect 7 "iscsiadm: unrecognized option '--bogus'" "$ADM" --bogus
expect 7 "iscsiadm: invalid option -- 'j'" "$ADM" -m node -j
expect 7 "iscsiadm: option requires an argument -- 'm'" "$ADM" -m
expect 7 "iscsiadm: mode -1 is not yet supported" "$ADM" -m bogus
expect 7 "iscsiadm: can not recognize operation: 'bogus'" "$ADM" -m node -o bogus
expect 7 "iscsiadm: Please specify portal as <ipaddr>[:<ipport>]" "$ADM" -m discovery -t st
expect 7 "iscsiadm: Discovery record [127.0.0.1,3260] not found!" "$ADM" -m discovery -t bogus -p 127.0.0.1
expect 7 "iscsiadm: --targetname and --portal are required for new" "$ADM" -m node -o new -T iqn.2026-11.test:x
expect 7 "iscsiadm: Invalid info level 9. Try 0 or 1." "$ADM" -m node -P 9
expect 7 "iscsiadm: unexpected argument 'iqn.2026-11.test:x': name a target with -T iqn.2026-11.test:x" "$ADM" -m node iqn.2026-11.test:x -u
expect 7 "iscsiadm: session mode: option '-x' is not allowed/supported" "$ADM" -m session -x 1
expect 7 "iscsiadm: Ping requires destination ipaddress." "$ADM" -m iface -I default -C ping
expect 21 "iscsiadm: Could not read iface info for nosuch. Make sure an iface config with the file name and iface.iscsi_ifacename nosuch is in $ISCSI_ROOT/ifaces." \
  "$ADM" -m discovery -t st -p 127.0.0.1:$CLOSED -I nosuch
[ ! -e "$ISCSI_ROOT/send_targets/127.0.0.1,$CLOSED" ] || fail "discovery through a missing iface wrote a record"
$ADM -m node -o new -T iqn.2026-11.test:v -p 127.0.0.1:$CLOSED,1 >/dev/null
expect 7 "iscsiadm: unknown value format 'sometimes' for parameter name 'node.startup'
iscsiadm: Unknown parameter node.startup.
iscsiadm: Could not execute operation on all records: invalid parameter" \
  "$ADM" -m node -T iqn.2026-11.test:v -o update -n node.startup -v sometimes
grep -q "^node.startup = manual$" "$ISCSI_ROOT/nodes/iqn.2026-11.test:v/127.0.0.1,$CLOSED,1/default" || fail "a refused value was stored"
$ADM -m node -T iqn.2026-11.test:v -o delete

echo "== iscsiadm: unknown records"
expect 21 "iscsiadm: No records found" "$ADM" -m node -T iqn.none -p 127.0.0.1:1 -l
expect 21 "iscsiadm: No records found" "$ADM" -m node -T iqn.none -o delete
expect 21 "iscsiadm: No records found" "$ADM" -m node -T iqn.none -o update -n node.startup -v automatic
expect 7 "iscsiadm: Discovery record [127.0.0.1,1] not found!" "$ADM" -m discovery -p 127.0.0.1:1 -o show
expect 21 "iscsiadm: No matching sessions found" "$ADM" -m node -T iqn.none -u
expect 22 "iscsiadm: could not read session targetname: 5
iscsiadm: Could not get session info for sid 99" "$ADM" -m session -r 99

echo "== iscsiadm: closed port, garbage, hang-up mid-login, silence"
# As open-iscsi 2.1.8 (measured): 1 + discovery.sendtargets.reopen_max (5) attempts a second
# apart, then "iSCSI PDU timed out" (11).
refused="iscsiadm: cannot make connection to 127.0.0.1: Connection refused"
expect 11 "$refused
$refused
$refused
$refused
$refused
$refused
iscsiadm: connection login retries (reopen_max) 5 exceeded
iscsiadm: Could not perform SendTargets discovery: iSCSI PDU timed out" \
  "$ADM" -m discovery -t st -p 127.0.0.1:$CLOSED
[ $SECONDS_TAKEN -ge 4 ] && [ $SECONDS_TAKEN -le 7 ] || fail "discovery of a closed port took ${SECONDS_TAKEN}s, not 5"
$ADM -m discoverydb -t st -p 127.0.0.1:$HANGUP -o new >/dev/null
$ADM -m discoverydb -t st -p 127.0.0.1:$HANGUP -o update -n discovery.sendtargets.reopen_max -v 1
run "$ADM" -m discoverydb -t st -p 127.0.0.1:$HANGUP -D
[ "$STATUS" = 11 ] || fail "discovery, hang-up: exit $STATUS: $ERR"
hangup='iscsiadm: Connection to Discovery Address 127\.0\.0\.1 failed
iscsiadm: Login I/O error, failed to receive a PDU \([A-Za-z ]+\)
iscsiadm: retrying discovery login to 127\.0\.0\.1'
[[ "$ERR" =~ ^$hangup$'\n'$hangup"
iscsiadm: connection login retries (reopen_max) 1 exceeded
iscsiadm: Could not perform SendTargets discovery: iSCSI PDU timed out"$ ]] ||
  fail "discovery, hang-up: $ERR"
echo "ok ($STATUS, ${SECONDS_TAKEN}s): discovery, hang-up mid-login, reopen_max 1"
$ADM -m discoverydb -t st -p 127.0.0.1:$GARBAGE -o new >/dev/null
$ADM -m discoverydb -t st -p 127.0.0.1:$GARBAGE -o update -n discovery.sendtargets.reopen_max -v 1
run "$ADM" -m discoverydb -t st -p 127.0.0.1:$GARBAGE -D
# Bytes that are no PDU: open-iscsi's "Login I/O error", retried like a broken connection (measured).
# (Random bytes that happen to start like a Login Response, 1 in 64, fail the login instead.)
garbage='iscsiadm: protocol error: [^'$'\n'']+
iscsiadm: Login I/O error, failed to receive a PDU
iscsiadm: retrying discovery login to 127\.0\.0\.1'
if [ "$STATUS" = 11 ]; then
  [[ "$ERR" =~ ^$garbage$'\n'$garbage"
iscsiadm: connection login retries (reopen_max) 1 exceeded
iscsiadm: Could not perform SendTargets discovery: iSCSI PDU timed out"$ ]] || fail "discovery, garbage: $ERR"
else
  [[ "$STATUS" =~ ^(5|19|24)$ ]] && [[ "$ERR" == *"iscsiadm: Could not perform SendTargets discovery: "* ]] ||
    fail "discovery, garbage: exit $STATUS: $ERR"
fi
echo "ok ($STATUS, ${SECONDS_TAKEN}s): discovery, garbage"
$ADM -m discovery -p 127.0.0.1:$CLOSED -o delete >/dev/null 2>&1 || true
$ADM -m discoverydb -t st -p 127.0.0.1:$SILENT -o new >/dev/null
$ADM -m discoverydb -t st -p 127.0.0.1:$SILENT -o update -n discovery.sendtargets.timeo.login_timeout -v 2
# No Login Response: open-iscsi gives up at once with these lines and 19 (measured; it waits 30 s).
# -m discoverydb -D uses the stored record's settings (-m discovery starts from iscsid.conf's).
expect 19 "iscsiadm: Login response timeout. Waited 2 seconds and did not get response PDU.
iscsiadm: discovery login to 127.0.0.1 failed, giving up 2
iscsiadm: Could not perform SendTargets discovery: encountered non-retryable iSCSI login failure" \
  "$ADM" -m discoverydb -t st -p 127.0.0.1:$SILENT -D
[ $SECONDS_TAKEN -le 5 ] || fail "discovery, silent target: login_timeout 2 not applied (${SECONDS_TAKEN}s)"

# login_failure PORT STATUS TEXT: a node login ends with open-iscsi's three lines.
login_failure() {
  local port=$1 status=$2 text=$3 iqn=iqn.2026-11.test:bad
  $ADM -m node -o new -T $iqn -p 127.0.0.1:$port >/dev/null
  $ADM -m node -T $iqn -p 127.0.0.1:$port -o update -n node.conn[0].timeo.login_timeout -v 2
  # One retry window of 1 x 2 s (open-iscsi's initial_login_retry_max x login_timeout).
  $ADM -m node -T $iqn -p 127.0.0.1:$port -o update -n node.session.initial_login_retry_max -v 1
  expect "$status" "iscsiadm: Could not login to [iface: default, target: $iqn, portal: 127.0.0.1,$port].
iscsiadm: initiator reported error ($status - $text)
iscsiadm: Could not log into all portals" "$ADM" -m node -T $iqn -p 127.0.0.1:$port -l
  [ "$OUT" = "Logging in to [iface: default, target: $iqn, portal: 127.0.0.1,$port]" ] || fail "login stdout: $OUT"
  [ $SECONDS_TAKEN -le 5 ] || fail "login to port $port took ${SECONDS_TAKEN}s"
  $ADM -m node -T $iqn -p 127.0.0.1:$port -o delete
}
login_failure $CLOSED 4 "encountered connection failure"
login_failure $HANGUP 4 "encountered connection failure"
# Garbage: retried as "Login I/O error" until the window closes, then 5 (as open-iscsi's iscsid);
# bytes that happen to start like a Login Response (1 in 64) end the login with 19 or 24 instead.
iqn=iqn.2026-11.test:bad
$ADM -m node -o new -T $iqn -p 127.0.0.1:$GARBAGE >/dev/null
$ADM -m node -T $iqn -o update -n node.conn[0].timeo.login_timeout -v 2
$ADM -m node -T $iqn -o update -n node.session.initial_login_retry_max -v 1
run "$ADM" -m node -T $iqn -l
case $STATUS in
  5) text="encountered iSCSI login failure" ;;
  19) text="encountered non-retryable iSCSI login failure" ;;
  24) text="iSCSI login failed due to authorization failure" ;;
  *) fail "login to garbage: exit $STATUS: $ERR" ;;
esac
[ "$ERR" = "iscsiadm: Could not login to [iface: default, target: $iqn, portal: 127.0.0.1,$GARBAGE].
iscsiadm: initiator reported error ($STATUS - $text)
iscsiadm: Could not log into all portals" ] || fail "login to garbage: $ERR"
[ $SECONDS_TAKEN -le 5 ] || fail "login to port $GARBAGE took ${SECONDS_TAKEN}s"
echo "ok ($STATUS, ${SECONDS_TAKEN}s): login to garbage"
$ADM -m node -T $iqn -o delete
login_failure $SILENT 8 "connection timed out"
grep -q "cannot make connection to 127.0.0.1: Connection refused" "$WORK/iscsid.log" ||
  fail "iscsid did not log why the login failed"
# The first login to a closed port is tried again within initial_login_retry_max x login_timeout
# (here 2 x 2 s): at 0 s, after DefaultTime2Wait (2 s), after 3 s more; then exit 4 as open-iscsi.
iqn=iqn.2026-11.test:retry
$ADM -m node -o new -T $iqn -p 127.0.0.1:$CLOSED >/dev/null
$ADM -m node -T $iqn -o update -n node.conn[0].timeo.login_timeout -v 2
$ADM -m node -T $iqn -o update -n node.session.initial_login_retry_max -v 2
run "$ADM" -m node -T $iqn -l
[ "$STATUS" = 4 ] || fail "login retries: exit $STATUS: $ERR"
[ $SECONDS_TAKEN -ge 4 ] && [ $SECONDS_TAKEN -le 7 ] || fail "login retries took ${SECONDS_TAKEN}s, not 5"
[ "$(grep -c "target: $iqn, .*trying again in" "$WORK/iscsid.log")" = 2 ] || fail "login retries: $(grep "$iqn" "$WORK/iscsid.log")"
echo "ok ($STATUS, ${SECONDS_TAKEN}s): a closed portal's login tried 3 times within 2 x 2 s"
$ADM -m node -T $iqn -o delete
expect 21 "iscsiadm: No active sessions." "$ADM" -m session
expect 21 "iscsiadm: No iSCSI hosts." "$ADM" -m host
expect 7 "iscsiadm: Apply requires iface." "$ADM" -m iface -o apply
expect 6 "iscsiadm: Could not read iface qla4xxx.00:0e:1e:04:8b:2e (6)." "$ADM" -m iface -I qla4xxx.00:0e:1e:04:8b:2e -o apply
expect 21 "iscsiadm: Could not get list of targets from firmware. (err 21)" "$ADM" -m fw -l
expect 7 "iscsiadm: STATS mode requires host no" "$ADM" -m host -C stats
expect 21 "iscsiadm: No iSCSI hosts." "$ADM" -m host -H 1 -C bogus
kill -0 "${PIDS[-1]}" 2>/dev/null || fail "iscsid died"

echo "== iscsi-tool"
run "$TOOL" --bogus
[ "$STATUS" = 64 ] && [[ "$ERR" == "Error: Unknown option '--bogus'"* ]] || fail "iscsi-tool --bogus: $STATUS $ERR"
run "$TOOL" inq
[ "$STATUS" = 64 ] && [[ "$ERR" == "Error: Missing expected argument '<url>'"* ]] || fail "iscsi-tool inq: $STATUS $ERR"
run "$TOOL" copy --replacement-timeout -1 a b
[ "$STATUS" = 64 ] || fail "iscsi-tool --replacement-timeout -1: $STATUS $ERR"
expect_tool 2 "^iscsi-tool: invalid iSCSI URL: " "$TOOL" inq notaurl
expect_tool 2 "^iscsi-tool: invalid iSCSI URL: " "$TOOL" inq iscsi://127.0.0.1:$CLOSED/iqn.2026-11.test:x
expect_tool 2 "^iscsi-tool: exactly one of SRC and DST" "$TOOL" copy a b
u=127.0.0.1
expect_tool 2 "^iscsi-tool: cannot make connection to $u:$CLOSED: Connection refused$" "$TOOL" inq iscsi://$u:$CLOSED/iqn.2026-11.test:x/1
expect_tool 2 "^iscsi-tool: cannot make connection to $u:$CLOSED: Connection refused$" "$TOOL" discover iscsi://$u:$CLOSED
expect_tool 2 "^iscsi-tool: connection failed: " "$TOOL" inq iscsi://$u:$HANGUP/iqn.2026-11.test:x/1
expect_tool 2 "^iscsi-tool: connection failed: " "$TOOL" discover iscsi://$u:$HANGUP
expect_tool 2 "^iscsi-tool: (protocol error|login failed): " "$TOOL" inq iscsi://$u:$GARBAGE/iqn.2026-11.test:x/1
expect_tool 2 "^iscsi-tool: (protocol error|login failed): " "$TOOL" capacity iscsi://$u:$GARBAGE/iqn.2026-11.test:x/1
expect_tool 5 "^iscsi-tool: timed out: login did not complete within 2 s$" \
  "$TOOL" inq --login-timeout 2 iscsi://$u:$SILENT/iqn.2026-11.test:x/1
expect_tool 5 "^iscsi-tool: timed out: login did not complete within 2 s$" \
  "$TOOL" copy --login-timeout 2 "$WORK/out" iscsi://$u:$SILENT/iqn.2026-11.test:x/1
echo "initiator-bad-input: all checks passed"
