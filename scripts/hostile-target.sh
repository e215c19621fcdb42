#!/usr/bin/env bash
# Hostile and broken targets (issue 10, the initiator's findings 8-11). scripts/hostile-target.py
# logs in plainly, then misbehaves as its mode says (silence, NOP-In and Reject storms, a logout
# request never followed up, Data-In past the expected length, with an unknown ITT, with a DataSN
# gap or with S but not F, an R2T for more than the write, a Login Response of version 0x7f, a
# hang-up after every login). Against each, `iscsi-tool inq` (`copy` where writes misbehave) and
# `iscsiadm -m node -l` (iscsid on a private ISCSI_ROOT, short timeouts in the node record) must
# end with a non-zero exit and one clear line (iscsi-tool's message; iscsid's log line beside
# open-iscsi's exit code), within a time and a number of logins bounded below. Then an abandoned
# login (finding 10): iscsiadm killed with -9 mid-login; `-m session` and `-m node -u` must agree,
# and nothing keeps logging in. Prints seconds and logins per run; exits non-zero on any failed
# bound. TCP ports 3520-3539.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-hostile.XXXXXX)
export ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
ADM="$BIN/iscsiadm" TOOL="$BIN/iscsi-tool"
IQN=iqn.2026-11.test:hostile
PIDS=() ISCSID_PID=
cleanup() {
  if [ -n "$ISCSID_PID" ]; then
    "$ADM" -m node -u >/dev/null 2>&1 || true
    stop_and_wait "$ISCSID_PID"
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
for binary in "$ADM" "$TOOL" "$BIN/iscsid"; do [ -x "$binary" ] || fail "$binary missing: run swift build -c release"; done

# Short timeouts everywhere: a command 2 s, each TMF 1 s, logout 2 s, login 3 s, replacement 6 s.
# Worst case of the error handler: 2 + 1 + 1 + 1 s plus scans (a fifth of the shortest, 0.2 s).
TOOL_OPTS=(--login-timeout 3 --replacement-timeout 6 --command-timeout 2 --abort-timeout 1
  --lu-reset-timeout 1 --tgt-reset-timeout 1)
NODE_SETTINGS=("node.conn[0].timeo.login_timeout=3" "node.session.timeo.replacement_timeout=6"
  "node.session.timeo.command_timeout=2" "node.session.err_timeo.abort_timeout=1"
  "node.session.err_timeo.lu_reset_timeout=1" "node.session.err_timeo.tgt_reset_timeout=1"
  "node.conn[0].timeo.logout_timeout=2" "node.session.initial_login_retry_max=0")
# initial_login_retry_max 0: a failed first login is not tried again (open-iscsi retries it for
# retry_max x login_timeout seconds), so each iscsiadm run below is one login.
LIMIT=12  # seconds any run may take

# measure CMD...: runs it under `timeout 60`; sets STATUS, OUT, ERR and TOOK (seconds).
measure() {
  local start
  start=$(date +%s%N)
  STATUS=0
  timeout 60 "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || STATUS=$?
  TOOK=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
  OUT=$(cat "$WORK/out") ERR=$(cat "$WORK/err")
  [ $STATUS != 124 ] || fail "hung: $*"
  [ $STATUS -lt 128 ] || fail "crashed with status $STATUS: $*: $ERR"
}
logins() { cat "$WORK/logins-$1" 2>/dev/null || echo 0; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
port_of() { echo $((3520 + $1)); }

start_target() { # MODE PORT [STALL]
  python3 scripts/hostile-target.py "$1" "$2" "$WORK/logins-$2" ${3:-} >"$WORK/target-$1.log" 2>&1 &
  PIDS+=($!)
  wait_port "$2"
}
make_node() { # PORT: a node record with the short timeouts
  "$ADM" -m node -o new -T $IQN -p "127.0.0.1:$1" >/dev/null
  for setting in "${NODE_SETTINGS[@]}"; do
    "$ADM" -m node -T $IQN -p "127.0.0.1:$1" -o update -n "${setting%%=*}" -v "${setting#*=}"
  done
}
session_listed() { "$ADM" -m session 2>/dev/null | grep -q "127.0.0.1:$1,[-0-9]* $IQN"; }

ROWS=()
# bounded WHAT PORT BEFORE MAXLOGINS PATTERN LINE: the run just measured failed, within LIMIT s,
# after at most MAXLOGINS logins, and LINE (its one clear line) matches PATTERN.
bounded() {
  local what=$1 port=$2 before=$3 max=$4 pattern=$5 line=$6 count
  sleep 0.3  # a reconnect racing the exit would still be counted
  count=$(($(logins "$port") - before))
  [ "$STATUS" != 0 ] || fail "$what: succeeded: $OUT"
  [[ "$line" =~ $pattern ]] || fail "$what: '$line' does not match '$pattern'"
  at_most "$TOOK" $LIMIT || fail "$what: took ${TOOK} s (limit $LIMIT s)"
  [ "$count" -le "$max" ] || fail "$what: $count logins (limit $max)"
  printf 'ok  %-34s exit %2d %5s s %2d logins  %s\n' "$what" "$STATUS" "$TOOK" "$count" "$line"
  ROWS+=("$(printf '| %s | %s | %s | %s |' "$what" "$STATUS" "$TOOK" "$count")")
}

# mode#pattern#status#logins: the clear line's pattern (its end: iscsid names REPORT LUNS, iscsi-tool
# INQUIRY), iscsiadm's exit status (0: the login works, a write through the device fails), the
# logins allowed per run.
HANDLER_FAILED='got no answer within 2 s; ABORT TASK, LOGICAL UNIT RESET and TARGET WARM RESET all failed; connection dropped$'
MODES=(
  "silent#$HANDLER_FAILED#11#2"
  "nop-storm#$HANDLER_FAILED#11#2"
  "reject-storm#$HANDLER_FAILED#11#2"
  "async-logout#got no answer within 2 s; the connection was closing at the target's request; connection dropped\$#11#2"
  "datain-overflow#protocol error: Data-In brings [0-9]+ bytes, more than the [0-9]+ expected\$#5#3"
  "unknown-itt#protocol error: Data-In for unknown task 0x[0-9a-f]+\$#5#3"
  "datasn-gap#protocol error: Data-In DataSN 2, expected 1\$#5#3"
  "s-without-f#protocol error: Data-In carries status \(S bit\) without the F bit\$#5#3"
  "r2t-overflow#protocol error: R2T asks for [0-9]+ bytes at offset 0 of a [0-9]+-byte write\$#0#3"
  "version#login failed: unsupported version: the target answered with version-max 0x7f and version-active 0x7f; only version 0 exists\$#19#1"
  "hangup-after-login#(kept failing for 6 s|already resent 5 times)#4#8"
)
for i in "${!MODES[@]}"; do start_target "${MODES[$i]%%#*}" "$(port_of "$i")"; done
GOOD=3532 STALL=3534 SLOW=3535
start_target good $GOOD
start_target stall-login $STALL
start_target slow-login $SLOW 3

"$BIN/iscsid" -f >"$WORK/iscsid.log" 2>&1 &
ISCSID_PID=$!
for _ in $(seq 1 50); do [ -S "$(ls "$ISCSID_RUN_DIR"/*.sock 2>/dev/null | head -1)" ] && break; sleep 0.1; done

echo "== the harness: a well-behaved fake target works"
measure "$TOOL" inq "${TOOL_OPTS[@]}" iscsi://127.0.0.1:$GOOD/$IQN/1
[ "$STATUS" = 0 ] && [[ "$OUT" == *"Vendor: HOSTILE"* ]] || fail "inq against the good target: $STATUS $ERR"
make_node $GOOD
"$ADM" -m node -T $IQN -p 127.0.0.1:$GOOD -o show | grep -qx "node.session.timeo.command_timeout = 2" ||
  fail "the node record does not keep node.session.timeo.command_timeout"
measure "$ADM" -m node -T $IQN -p 127.0.0.1:$GOOD -l
[ "$STATUS" = 0 ] || fail "login to the good target: $ERR"
measure "$ADM" -m node -T $IQN -p 127.0.0.1:$GOOD -u
[ "$STATUS" = 0 ] || fail "logout from the good target: $ERR"
echo "ok  inq, login and logout against the good target"

for i in "${!MODES[@]}"; do
  IFS='#' read -r mode pattern adm_status max <<<"${MODES[$i]}"
  port=$(port_of "$i") url=iscsi://127.0.0.1:$(port_of "$i")/$IQN/1
  echo "== $mode (port $port)"
  before=$(logins "$port")
  if [ "$mode" = r2t-overflow ]; then
    head -c 1048576 /dev/urandom >"$WORK/src.img"
    measure "$TOOL" copy "${TOOL_OPTS[@]}" "$WORK/src.img" "$url"
  else
    measure "$TOOL" inq "${TOOL_OPTS[@]}" "$url"
  fi
  [ "$(wc -l <"$WORK/err")" = 1 ] || fail "$mode: iscsi-tool printed $(wc -l <"$WORK/err") lines: $ERR"
  bounded "$mode: iscsi-tool" "$port" "$before" "$max" "^iscsi-tool: .*$pattern" "$ERR"

  make_node "$port"
  before=$(logins "$port")
  measure "$ADM" -m node -T $IQN -p "127.0.0.1:$port" -l
  if [ "$adm_status" = 0 ]; then
    # Reads work here: the login succeeds, and a write through the block device fails with EIO.
    [ "$STATUS" = 0 ] || fail "$mode: iscsiadm login: $ERR"
    dev=$ISCSI_ROOT/dev/disk/by-path/ip-127.0.0.1:$port-iscsi-$IQN-lun-1
    if [ -e "$dev" ]; then
      measure dd if="$WORK/src.img" of="$dev" bs=64k count=1 oflag=direct
      bounded "$mode: write to the device" "$port" "$before" "$max" "Input/output error" "$(grep -m1 error "$WORK/err")"
    else
      echo "    (no block device here: $(grep -m1 . "$WORK/out" || true))"
    fi
    measure "$ADM" -m node -T $IQN -p "127.0.0.1:$port" -u
    [ "$STATUS" = 0 ] || fail "$mode: logout: $ERR"
  else
    [ "$STATUS" = "$adm_status" ] || fail "$mode: iscsiadm exit $STATUS, expected $adm_status: $ERR"
    grep -q "^iscsiadm: initiator reported error ($adm_status - " "$WORK/err" || fail "$mode: iscsiadm's message: $ERR"
    line=$(grep "portal: 127.0.0.1,$port\]" "$WORK/iscsid.log" | tail -1 | sed 's/^iscsid: //')
    bounded "$mode: iscsiadm -l" "$port" "$before" "$max" "$pattern" "$line"
    ! session_listed "$port" || fail "$mode: a failed login left a session"
  fi
done

echo "== abandoned logins (finding 10): the iscsiadm client killed with -9 mid-login"
make_node $STALL
"$ADM" -m node -T $IQN -p 127.0.0.1:$STALL -o update -n "node.conn[0].timeo.login_timeout" -v 4
make_node $SLOW
"$ADM" -m node -T $IQN -p 127.0.0.1:$SLOW -o update -n "node.conn[0].timeo.login_timeout" -v 8
kill_mid_login() { # PORT: starts a login, kills the client once the target has seen it
  local before client
  before=$(logins "$1")
  "$ADM" -m node -T $IQN -p "127.0.0.1:$1" -l >/dev/null 2>&1 &
  client=$!
  for _ in $(seq 1 50); do [ "$(logins "$1")" -gt "$before" ] && break; sleep 0.1; done
  [ "$(logins "$1")" -gt "$before" ] || fail "port $1: no login reached the target"
  kill -9 $client
  wait $client 2>/dev/null || true
}
# The login goes on in iscsid: listed by -m session (IN LOGIN), and -m node -u finds and ends it.
kill_mid_login $STALL
"$ADM" -m session -P 1 >"$WORK/session.out" 2>&1 || true
grep -q "iSCSI Connection State: IN LOGIN" "$WORK/session.out" || fail "the login in progress is not listed: $(cat "$WORK/session.out")"
session_listed $STALL || fail "-m session does not list the login in progress"
measure "$ADM" -m node -T $IQN -p 127.0.0.1:$STALL -u
[ "$STATUS" = 0 ] && [[ "$OUT" == *"Logout of [sid: "*", target: $IQN, portal: 127.0.0.1,$STALL] successful."* ]] ||
  fail "-u of a login in progress: $STATUS $OUT $ERR"
! session_listed $STALL || fail "-m session still lists the session -u ended"
echo "ok  a login in progress is listed by -m session and ended by -m node -u"
# Left alone, it fails at its login timeout and both views agree it is gone; no retries follow.
kill_mid_login $STALL
count=$(logins $STALL)
sleep 5
! session_listed $STALL || fail "a failed abandoned login is still listed"
measure "$ADM" -m node -T $IQN -p 127.0.0.1:$STALL -u
[ "$STATUS" = 21 ] && [ "$ERR" = "iscsiadm: No matching sessions found" ] || fail "-u after the login failed: $STATUS $ERR"
sleep 2
[ "$(logins $STALL)" = "$count" ] || fail "iscsid kept logging in: $count then $(logins $STALL) logins"
echo "ok  an abandoned login that fails is gone from -m session and -m node -u alike, with no retries"
# A slow login (answered after 3 s) finishes without its client, and is kept, as open-iscsi does.
kill_mid_login $SLOW
for _ in $(seq 1 60); do
  "$ADM" -m session -P 1 2>/dev/null | grep -q "iSCSI Connection State: LOGGED IN" && break
  sleep 0.1
done
session_listed $SLOW || fail "the finished login is not listed"
measure "$ADM" -m node -T $IQN -p 127.0.0.1:$SLOW -u
[ "$STATUS" = 0 ] || fail "-u of the finished login: $STATUS $ERR"
echo "ok  an abandoned login that finishes is listed, and -m node -u logs it out"

echo "== nothing left, nothing logging in"
measure "$ADM" -m session
[ "$STATUS" = 21 ] || fail "sessions left: $OUT"
counts=$(for port in $(seq 3520 3535); do logins "$port"; done | tr '\n' ' ')
sleep 3
[ "$(for port in $(seq 3520 3535); do logins "$port"; done | tr '\n' ' ')" = "$counts" ] || fail "logins went on after the runs"
kill -0 "$ISCSID_PID" 2>/dev/null || fail "iscsid died"

echo
echo "| run | exit | seconds | logins |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo "hostile-target: all checks passed"
