#!/usr/bin/env bash
# A hostile initiator against our tgtd (issue 10): one logged-in (or logging-in) initiator must not
# be able to take the daemon down. scripts/hostile-initiator.py is a raw-socket iSCSI initiator
# (python3 stdlib); this driver starts a fresh tgtd for each scenario, serving a sparse 1 GiB file
# LUN on /dev/shm, and the python side measures tgtd (VmRSS every 0.2 s and VmHWM from
# /proc/PID/status, open fds) while it attacks, runs the normal client beside the attack
# (libiscsi's iscsi-inq / iscsi-readcapacity16 / iscsi-perf -t 3 and fresh python logins) and
# checks tgtd is still alive at the end. Every number is printed on a `measured: ...` line and
# every bound on a `bound: ...: PASS|FAIL` line; the script exits non-zero when any bound fails.
#
#  7 sanity          (first) the python client itself, no attack: logs in with ImmediateData=No and
#                    InitialR2T=Yes, writes 1 MiB through R2Ts and reads it back intact; 192 KiB with
#                    immediate data + R2Ts; a discovery session lists the target.
#  1 huge-edtl       WRITE(16) of one 512-byte block, EDTL 0xFFFFFFFF, 512 bytes immediate data
#                    (variant huge-edtl-four: four such WRITE(16)s with EDTL 256 MiB). Bounds: answered
#                    within 2 s (CHECK CONDITION 05/0E/03 or 05/24/00, or GOOD with the residual);
#                    VmRSS grows < 32 MiB; logins, discovery, iscsi-inq, iscsi-readcapacity16 meanwhile
#                    each succeed within 5 s.
#  2 no-reading      (tgtd --iscsi nop_interval=2,nop_timeout=6) 4,000 READ(16) of 256 KiB pushed on a
#                    connection with a 4 KiB SO_RCVBUF that is never read. Bounds: VmRSS grows < 128 MiB;
#                    iscsi-perf -t 3 gives >0 IOPS and iscsi-inq works meanwhile; tgtd closes the stuck
#                    connection within 15 s after the client stopped reading (watched for 75 s).
#    max-transfer    Block Limits VPD (B0h) MAXIMUM and OPTIMAL TRANSFER LENGTH are non-zero; READ(16)
#                    of 1 GiB gets CHECK CONDITION 05/24/00; a READ of exactly MAXIMUM TRANSFER LENGTH
#                    blocks works.
#  3 stalled-logins  (tgtd --iscsi login_timeout=5) 500 connections from 127.0.0.2, each sends 8 bytes of
#                    a Login Request then one byte every 3 s. Bounds: each is closed by tgtd within
#                    login_timeout + 2 s of opening (max and median lifetime printed); a silent
#                    connection likewise; tgtd's open fds stay < 200 and its RSS grows < 32 MiB; a
#                    normal client from 127.0.0.1 logs in and does IO throughout (each step within 5 s).
#  4 tsih-probe      session A logged in; another initiator (other ISID and name) logs in with A's TSIH
#                    and with an unused TSIH. Bound: the same Status-Class/Detail for both, 0x02/0x0a.
#  5 unknown-ahs     WRITE(10) of one block with immediate data and an AHS of type 0x3f. Bounds: a
#                    Reject (reason printed); the block read back on another session is unchanged.
#  6 cmdsn-window    10 commands with CmdSN MaxCmdSN+1..+10 are not answered; one inside the window is.
#
# Today's tgtd does not know the new --iscsi options (nop_interval, nop_timeout, login_timeout): when
# it refuses one, the scenario runs on a tgtd with portal= only and reports that bound as FAIL.
#
# Needs `swift build -c release` first (BIN=.build/release), python3, libiscsi-bin, root (RLIMIT_NOFILE).
# Ports: iSCSI 3540-3549, tgtd control ports 130-139. KEEP=1 keeps $WORK (tgtd logs, each scenario's
# output) and says where. ONLY="sanity tsih-probe" runs only the named scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-hostile.XXXXXX)
export TGTD_RUN_DIR=$WORK/run
mkdir -p "$TGTD_RUN_DIR"
IQN=iqn.2026-11.org.swift-iscsi:hostile
IMG=/dev/shm/hostile-$$.img
OURS_PID=
cleanup() {
  [ -n "$OURS_PID" ] && kill -9 "$OURS_PID" 2>/dev/null || true
  rm -f "$IMG"
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
for tool in "$BIN/tgtd" "$BIN/tgtadm"; do
  [ -x "$tool" ] || { echo "FAIL: $tool missing: run swift build -c release first" >&2; exit 1; }
done
command -v iscsi-inq >/dev/null || { echo "FAIL: iscsi-inq missing (apt-get install libiscsi-bin)" >&2; exit 1; }

# alive PID: the process exists and is not a zombie.
alive() {
  local status
  status=$(cat "/proc/$1/status" 2>/dev/null) || return 1
  ! grep -q '^State:[[:space:]]*[ZX]' <<<"$status"
}

# start_target CONTROL_PORT ISCSI_PORT LOG [ISCSI_OPTION]: our tgtd (as start_ours) with one more
# --iscsi option. When tgtd exits refusing it, tgtd is started again with the portal alone and
# OPTION_OK=0. Sets OURS_PID.
start_target() {
  local cp=$1 port=$2 log=$3 opt=${4:-}
  OPTION_OK=1
  if [ -n "$opt" ]; then
    "$BIN/tgtd" -f -C "$cp" --iscsi "portal=127.0.0.1:$port" --iscsi "$opt" --state-dir "$WORK/state-$cp" >"$log" 2>&1 &
    OURS_PID=$!
    for _ in $(seq 1 100); do
      alive "$OURS_PID" || break
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
      sleep 0.1
    done
    alive "$OURS_PID" && { echo "FAIL: tgtd with --iscsi $opt does not listen on $port" >&2; exit 1; }
    wait "$OURS_PID" || true
    if ! grep -qi "option" "$log"; then
      echo "FAIL: tgtd with --iscsi $opt exited:" >&2
      cat "$log" >&2
      exit 1
    fi
    echo "measured: tgtd refused --iscsi $opt: $(grep -i -m1 option "$log")"
    mv "$log" "$log.refused"
    OPTION_OK=0
  fi
  start_ours "$cp" "$port" "$log"
}

stop_target() {
  if alive "$OURS_PID"; then
    kill "$OURS_PID"
    for _ in $(seq 1 50); do alive "$OURS_PID" || break; sleep 0.1; done
    alive "$OURS_PID" && kill -9 "$OURS_PID"
  fi
  wait "$OURS_PID" 2>/dev/null || true
  OURS_PID=
}

RESULTS=()
FAILED=0
# scenario LABEL CONTROL_PORT ISCSI_PORT ISCSI_OPTION PYTHON_ARGS...: a fresh tgtd and LUN, one
# python scenario (under `timeout 200`), then tgtd stopped.
scenario() {
  local label=$1 cp=$2 port=$3 opt=$4 status
  shift 4
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $label "* ]]; then return 0; fi
  echo "== $label"
  rm -f "$IMG"
  truncate -s 1G "$IMG"
  start_target "$cp" "$port" "$WORK/tgtd-$label.log" "$opt"
  export_lun "$BIN/tgtadm" "$cp" "$IQN" "$IMG"
  iscsi-inq "iscsi://127.0.0.1:$port/$IQN/1" >/dev/null  # warm up: the first session's allocations
  set +e
  timeout 200 python3 scripts/hostile-initiator.py "$@" --label "$label" --port "$port" --pid "$OURS_PID" \
    --iqn "$IQN" --option "$opt" --option-ok "$OPTION_OK" 2>&1 | tee "$WORK/$label.out"
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" = 124 ] && echo "bound: $label: scenario finishes within 200 s: FAIL (timed out)"
  if ! alive "$OURS_PID"; then
    echo "measured: $label: tgtd = dead after the scenario; its log ends:"
    tail -5 "$WORK/tgtd-$label.log" | sed 's/^/  /'
  fi
  stop_target
  if [ "$status" = 0 ]; then RESULTS+=("PASS $label"); else RESULTS+=("FAIL $label (exit $status)"); FAILED=1; fi
}

START=$(date +%s)
scenario sanity 130 3540 "" sanity
scenario huge-edtl 131 3541 "" huge-edtl
scenario huge-edtl-four 132 3542 "" huge-edtl --variant four
scenario no-reading 133 3543 "nop_interval=2,nop_timeout=6" no-reading
scenario max-transfer 134 3544 "" max-transfer
scenario stalled-logins 135 3545 "login_timeout=5" stalled-logins --login-timeout 5
scenario tsih-probe 136 3546 "" tsih-probe
scenario unknown-ahs 137 3547 "" unknown-ahs
scenario cmdsn-window 138 3548 "" cmdsn-window

echo "== summary ($(( $(date +%s) - START )) s)"
for r in "${RESULTS[@]}"; do echo "$r"; done
passed=$(printf '%s\n' "${RESULTS[@]}" | grep -c '^PASS' || true)
echo "hostile-initiator: $passed passed, $(( ${#RESULTS[@]} - passed )) failed"
exit $FAILED
