#!/usr/bin/env bash
# The initiator side against real targets: open-iscsi's command lines (our iscsiadm + iscsid, with
# ISCSI_ROOT in a fresh directory) against Debian's tgtd and against ours, with and without CHAP
# and digests; data written by our iscsi-tool read back by qemu-img (libiscsi), and the reverse.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-initiator.XXXXXX)
export TGTD_RUN_DIR=$WORK/run ISCSI_ROOT=$WORK/root ISCSID_RUN_DIR=$WORK/iscsid
mkdir -p "$TGTD_RUN_DIR" "$ISCSI_ROOT" "$ISCSID_RUN_DIR"
PIDS=() KILL9=()
cleanup() {
  stop_iscsid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${KILL9[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f /dev/shm/ini-*.img
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ADM="$BIN/iscsiadm"

truncate -s 128M /dev/shm/ini-peer.img /dev/shm/ini-ours.img
tgtd -f -C 51 --iscsi portal=127.0.0.1:3351 >"$WORK/peer.log" 2>&1 &
KILL9+=($!); disown $!
"$BIN/tgtd" -f -C 52 --iscsi portal=127.0.0.1:3352 --state-dir "$WORK/state" >"$WORK/ours.log" 2>&1 &
PIDS+=($!)
wait_port 3351
wait_port 3352
for side in "tgtadm -C 51 peer" "$BIN/tgtadm -C 52 ours"; do
  set -- $side
  $1 $2 $3 --lld iscsi --op new --mode target --tid 1 -T "iqn.2026-11.test:$4"
  $1 $2 $3 --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "/dev/shm/ini-$4.img"
  $1 $2 $3 --lld iscsi --op bind --mode target --tid 1 -I ALL
  $1 $2 $3 --lld iscsi --op new --mode account --user christina --password 123456secret
  $1 $2 $3 --lld iscsi --op new --mode account --user tgtout --password outsecret12345
done
# As in the seeds: plain `iscsid` detaches, and returns once its control socket listens.
"$BIN/iscsid" || fail "iscsid did not start"
PIDS+=($(cat "$ISCSID_RUN_DIR"/*.sock.lock))

# discover NAME PORT: SendTargets discovery creates the node record.
discover() {
  local name=$1 port=$2 iqn="iqn.2026-11.test:$1"
  out=$($ADM -m discovery -t st -p "127.0.0.1:$port")
  [ "$out" = "127.0.0.1:$port,1 $iqn" ] || fail "$name: discovery printed: $out"
  $ADM -m node | grep -qx "127.0.0.1:$port,1 $iqn" || fail "$name: -m node"
}
# flow NAME PORT: login, sessions, logout.
flow() {
  local name=$1 port=$2 iqn="iqn.2026-11.test:$1"
  out=$($ADM -m node -T "$iqn" -p "127.0.0.1:$port" -l 2>&1) || fail "$name: login: $out"
  $ADM -m session | grep -q "tcp: \[[0-9]*\] 127.0.0.1:$port,1 $iqn (non-flash)" || fail "$name: -m session"
  $ADM -m session -P 3 | grep -q "Target: $iqn" || fail "$name: -m session -P 3"
  $ADM -m host | grep -q "^tcp: \[[0-9]*\] 127.0.0.1,\[<empty>\],<empty> <empty>$" || fail "$name: -m host"
  $ADM -m host -P 1 | grep -q "IPaddress: 127.0.0.1" || fail "$name: -m host -P 1"
  $ADM -m node -T "$iqn" -p "127.0.0.1:$port" -u | grep -q "successful" || fail "$name: logout"
}
update() { $ADM -m node -T "$1" -o update --name "$2" --value="$3"; }

for target in "peer 3351 tgtadm -C 51" "ours 3352 $BIN/tgtadm -C 52"; do
  set -- $target
  name=$1 port=$2 iqn="iqn.2026-11.test:$1"
  tadm="$3 $4 $5"
  echo "== $name: open-iscsi flow"
  discover "$name" "$port"
  flow "$name" "$port"
  echo "== $name: CHAP, mutual CHAP, digests"
  $tadm --lld iscsi --op bind --mode account --tid 1 --user christina
  if $ADM -m node -T "$iqn" -p "127.0.0.1:$port" -l >/dev/null 2>&1; then fail "$name: login without CHAP"; fi
  update "$iqn" node.session.auth.authmethod CHAP
  update "$iqn" node.session.auth.username christina
  update "$iqn" node.session.auth.password 123456secret
  flow "$name" "$port"
  $tadm --lld iscsi --op bind --mode account --tid 1 --user tgtout --outgoing
  update "$iqn" node.session.auth.username_in tgtout
  update "$iqn" node.session.auth.password_in outsecret12345
  # tgtd offers digests only when its target parameters ask for them; ours accepts CRC32C always.
  if [ "$name" = peer ]; then
    $tadm --op update --mode target --tid 1 --name HeaderDigest --value CRC32C
    $tadm --op update --mode target --tid 1 --name DataDigest --value CRC32C
  fi
  update "$iqn" node.conn[0].iscsi.HeaderDigest CRC32C
  update "$iqn" node.conn[0].iscsi.DataDigest CRC32C
  flow "$name" "$port"
  update "$iqn" node.session.auth.password_in wrong-target-secret
  # The target's CHAP answer is wrong: open-iscsi's iscsid ends such a login at once with
  # ISCSI_ERR_FATAL_LOGIN (19), not the retryable login failure (5).
  rc=0; $ADM -m node -T "$iqn" -p "127.0.0.1:$port" -l >/dev/null 2>"$WORK/chap.err" || rc=$?
  [ $rc = 19 ] || fail "$name: wrong target secret: exit $rc, expected 19: $(cat "$WORK/chap.err")"
  grep -qx "iscsiadm: initiator reported error (19 - encountered non-retryable iSCSI login failure)" "$WORK/chap.err" ||
    fail "$name: wrong target secret: $(cat "$WORK/chap.err")"
  $ADM -m node -T "$iqn" -p "127.0.0.1:$port" -o delete
  if $ADM -m node >/dev/null 2>&1; then fail "$name: record not deleted"; fi
  $tadm --lld iscsi --op unbind --mode account --tid 1 --user tgtout --outgoing
  $tadm --lld iscsi --op unbind --mode account --tid 1 --user christina
done

echo "== data: iscsi-tool writes, qemu-img (libiscsi) reads back, and the reverse"
head -c 32M /dev/urandom >"$WORK/a.img"
head -c 32M /dev/urandom >"$WORK/b.img"
"$BIN/iscsi-tool" copy "$WORK/a.img" iscsi://127.0.0.1:3351/iqn.2026-11.test:peer/1
qemu-img convert -f raw -O raw iscsi://127.0.0.1:3351/iqn.2026-11.test:peer/1 "$WORK/a-back.img"
cmp -n $((32 << 20)) "$WORK/a.img" "$WORK/a-back.img" || fail "iscsi-tool -> qemu-img differs"
qemu-img convert -n -f raw -O raw "$WORK/b.img" iscsi://127.0.0.1:3351/iqn.2026-11.test:peer/1
"$BIN/iscsi-tool" copy iscsi://127.0.0.1:3351/iqn.2026-11.test:peer/1 "$WORK/b-back.img"
cmp -n $((32 << 20)) "$WORK/b.img" "$WORK/b-back.img" || fail "qemu-img -> iscsi-tool differs"
echo "initiator: all checks passed"
