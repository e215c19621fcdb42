#!/usr/bin/env bash
# tgtadm on bad input, side by side with Debian's tgt 1.0.85 (issue 11): every case runs against
# Debian's tgtd with Debian's tgtadm and against our tgtd with our tgtadm, each set up alike
# (target 1 with LUN 1 on a file, open to all, accounts alice and bob, alice bound to target 1).
# A case agrees when the exit codes are equal and our first line of stderr is tgt's, or tgt's
# followed by ": <reason>" (ours says why where tgt only says "invalid request").
# A few cases are differences kept on purpose (marked "deliberate" below): tgt answers success
# to input it then ignores or cannot use, ours refuses it with exit 22 and a reason.
# Prints one line per case and a summary; fails when any case differs other than as marked.
# Uses $BIN (release by default: `swift build -c release` first).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
OURS_CONTROL=${OURS_CONTROL:-191} OURS_PORT=${OURS_PORT:-3491}
PEER_CONTROL=${PEER_CONTROL:-192} PEER_PORT=${PEER_PORT:-3492}
WORK=$(mktemp -d /tmp/tgtadm-bad-input.XXXXXX)
export TGTD_RUN_DIR=$WORK/run
mkdir -p "$TGTD_RUN_DIR"
OURS_PID= PEER_PID=
cleanup() {
  [ -z "$OURS_PID" ] || kill "$OURS_PID" 2>/dev/null || true
  [ -z "$PEER_PID" ] || kill -9 "$PEER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
command -v tgtd >/dev/null || { echo "Debian's tgt is not installed (apt-get install tgt)" >&2; exit 1; }
DISK=$WORK/disk.img
truncate -s 64M "$DISK"

start_peer "$PEER_CONTROL" "$PEER_PORT" "$WORK/peer.log"
start_ours "$OURS_CONTROL" "$OURS_PORT" "$WORK/ours.log"
PEER_ADM=(tgtadm -C "$PEER_CONTROL")
OURS_ADM=("$BIN/tgtadm" -C "$OURS_CONTROL")

fixture() {
  "$@" --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.test:bad-input
  "$@" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$DISK"
  "$@" --lld iscsi --op bind --mode target --tid 1 -I ALL
  "$@" --op new --mode account --user alice --password secret-one
  "$@" --op new --mode account --user bob --password secret-two
  "$@" --op bind --mode account --tid 1 --user alice
}
fixture "${PEER_ADM[@]}"
fixture "${OURS_ADM[@]}"

# NAME | KIND | ARGUMENTS (@DISK@ is the fixture's file, @PORT@ the daemon's own iSCSI port). KIND: same, or deliberate (tgt exits 0,
# ours refuses with "invalid request: <reason>"). Tids and LUNs differ from case to case so that
# what tgt accepts in one case does not change the next.
CASES=$(cat <<'EOF'
unknown mode|same|--op show --mode bogus
unknown operation|same|--op bogus --mode target
new target without --tid|same|--op new --mode target -T iqn.2026-11.test:x
new target with --tid 0|same|--op new --mode target --tid 0 -T iqn.2026-11.test:x
--tid not a number|same|--op new --mode target --tid abc -T iqn.2026-11.test:x
duplicate tid|same|--op new --mode target --tid 1 -T iqn.2026-11.test:other
duplicate target name|same|--op new --mode target --tid 2 -T iqn.2026-11.test:bad-input
upper-case IQN|deliberate|--op new --mode target --tid 3 -T iqn.2026-11.TEST:upper
name that is no iSCSI name|deliberate|--op new --mode target --tid 4 -T foo
delete a missing target|same|--op delete --mode target --tid 9
show a missing target|same|--op show --mode target --tid 9
LUN on a missing target|same|--op new --mode logicalunit --tid 9 --lun 2 -b @DISK@
duplicate LUN|same|--op new --mode logicalunit --tid 1 --lun 1 -b @DISK@
LUN 0|same|--op new --mode logicalunit --tid 1 --lun 0 -b @DISK@
LUN without --lun|same|--op new --mode logicalunit --tid 1 -b @DISK@
--lun not a number|same|--op new --mode logicalunit --tid 1 --lun abc -b @DISK@
missing backing file|same|--op new --mode logicalunit --tid 1 --lun 2 -b /nonexistent/disk.img
block size 1000|deliberate|--op new --mode logicalunit --tid 1 --lun 3 -b @DISK@ --blocksize 1000
unknown --bstype|same|--op new --mode logicalunit --tid 1 --lun 4 -b @DISK@ --bstype bogus
bad --bsoflags|same|--op new --mode logicalunit --tid 1 --lun 5 -b @DISK@ --bsoflags bogus
--params on a new LUN|same|--op new --mode logicalunit --tid 1 --lun 6 -b @DISK@ --params readonly=1
delete a missing LUN|same|--op delete --mode logicalunit --tid 1 --lun 7
update a missing LUN|same|--op update --mode logicalunit --tid 1 --lun 7 --params readonly=1
unknown LUN parameter|same|--op update --mode logicalunit --tid 1 --lun 1 --params bogus=1
duplicate account|same|--op new --mode account --user alice --password secret-three
account without password|same|--op new --mode account --user carol
delete a missing account|same|--op delete --mode account --user nobody
bind a missing account|same|--op bind --mode account --tid 1 --user nobody
bind an account to a missing target|same|--op bind --mode account --tid 9 --user alice
unbind an account not bound|same|--op unbind --mode account --tid 1 --user bob
ACL on a missing target|same|--op bind --mode target --tid 9 -I ALL
duplicate ACL|same|--op bind --mode target --tid 1 -I ALL
unbind a missing ACL|same|--op unbind --mode target --tid 1 -I 10.9.9.9
initiator address 10.0.0.300|deliberate|--op bind --mode target --tid 1 -I 10.0.0.300
unknown target parameter|same|--op update --mode target --tid 1 --name bogus --value 1
bad target state|same|--op update --mode target --tid 1 --name state --value bogus
unbracketed IPv6 portal|deliberate|--op new --mode portal --param portal=::1:4354
portal parameter without portal=|same|--op new --mode portal --param bogus
portal added twice|same|--op new --mode portal --param portal=127.0.0.1:@PORT@
delete a missing portal|same|--op delete --mode portal --param portal=127.0.0.1:4699
unknown --lld|same|--lld bogus --op show --mode target
bad debug value|same|--op update --mode sys --name debug --value maybe
EOF
)

agree=0 deliberate=0 differ=0 total=0
while IFS='|' read -r name kind arguments; do
  arguments=${arguments//@DISK@/$DISK}
  read -r -a peer_args <<<"${arguments//@PORT@/$PEER_PORT}"
  read -r -a ours_args <<<"${arguments//@PORT@/$OURS_PORT}"
  total=$((total + 1))
  set +e
  peer_err=$("${PEER_ADM[@]}" "${peer_args[@]}" 2>&1 >/dev/null); peer_rc=$?
  ours_err=$("${OURS_ADM[@]}" "${ours_args[@]}" 2>&1 >/dev/null); ours_rc=$?
  set -e
  peer_line=${peer_err%%$'\n'*} ours_line=${ours_err%%$'\n'*}
  if [ "$kind" = deliberate ]; then
    if [ "$peer_rc" = 0 ] && [ "$ours_rc" = 22 ] && [[ "$ours_line" == "tgtadm: invalid request: "* ]]; then
      deliberate=$((deliberate + 1))
      printf 'deliberate %-36s tgt: exit 0; ours: exit 22 %s\n' "$name" "$ours_line"
      continue
    fi
  elif [ "$peer_rc" = "$ours_rc" ] && { [ "$ours_line" = "$peer_line" ] || [[ "$ours_line" == "$peer_line: "* ]]; }; then
    agree=$((agree + 1))
    printf 'agree      %-36s exit %s %s\n' "$name" "$ours_rc" "$ours_line"
    continue
  fi
  differ=$((differ + 1))
  printf 'DIFFER     %-36s tgt: exit %s %s; ours: exit %s %s\n' "$name" "$peer_rc" "$peer_line" "$ours_rc" "$ours_line"
done <<<"$CASES"

echo "tgtadm-bad-input: $agree/$total cases agree with tgt, $deliberate differ on purpose, $differ differ"
[ "$differ" = 0 ]
