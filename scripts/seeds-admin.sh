#!/usr/bin/env bash
# Every tgtadm, tgt-admin and targetcli command of the seeds (../shared/seeds/001 and 003), in
# order and verbatim (placeholders filled in), against our tgtd on the default control port, each
# effect checked with tgtadm --op show, targetcli ls and logins from Debian's libiscsi tools.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-seeds.XXXXXX)
export TGTD_RUN_DIR=$WORK/run
# targetcli saves on exit as LIO's does; here into the scratch directory, not /etc/target.
export TARGETCLI_SAVEFILE=$WORK/saved-on-exit.json HOME=$WORK
mkdir -p "$TGTD_RUN_DIR" "$WORK/bin"
PIDS=() LOOP=
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
  rm -f /dev/shm/seed-*.img
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# The seeds call the tools by name: ours first on PATH.
for tool in tgtd tgtadm tgt-admin targetcli; do ln -s "$PWD/$BIN/$tool" "$WORK/bin/$tool"; done
export PATH="$WORK/bin:$PATH"
start() { # CONTROL PORT
  tgtd -f -C "$1" --iscsi "portal=127.0.0.1:$2" --state-dir "$WORK/state-$1" >"$WORK/tgtd-$1.log" 2>&1 &
  PIDS+=($!)
  wait_port "$2"
}
show() { tgtadm --lld iscsi --op show --mode target; }
expect_error() { # DESCRIPTION COMMAND...: must fail with one line and change nothing
  local desc=$1; shift
  local before after out
  before=$(show)
  if out=$("$@" 2>&1); then fail "$desc: succeeded"; fi
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$desc: more than one line: $out"
  after=$(show)
  [ "$before" = "$after" ] || fail "$desc: changed the configuration"
  echo "  refused ($desc): $out"
}

start 0 3431
truncate -s 256M /dev/shm/seed-disk1.img

echo "== seed 001: tgtadm"
tgtadm --lld iscsi --op new --mode target --tid=1 --targetname iqn.2013-09.com.inter.10.1:test-target
tgtadm --lld iscsi --op new --mode target --tid 2 -T iqn.2013-05.com.xxxxx:tsan.disk1
tgtadm --lld iscsi --op new --mode=logicalunit --tid=1 --lun=1 --backing-store /dev/shm/seed-disk1.img
tgtadm --lld iscsi --op bind --mode target --tid 1 -I ALL
tgtadm --lld iscsi --op show --mode target --tid=1 >/dev/null
show | grep -q "Backing store path: /dev/shm/seed-disk1.img" || fail "LUN not shown"
iscsi-ls -s iscsi://127.0.0.1:3431 | grep -q "iqn.2013-09.com.inter.10.1:test-target" || fail "target not discovered"
tgtadm --lld iscsi --op delete --mode target --tid=2
show | grep -q "tsan.disk1" && fail "deleted target still shown"
tgtadm --lld iscsi --op new --mode=logicalunit --tid=1 --lun=2 --backing-store /dev/shm/seed-disk1.img
tgtadm --lld iscsi --op delete --mode=logicalunit --tid=1 --lun=2
tgtadm --lld iscsi --op bind --mode=target --tid=1 --initiator-address=127.0.0.1
tgtadm --lld iscsi --op unbind --mode=target --tid=1 --initiator-address=127.0.0.1
# Accounts, one-way CHAP.
tgtadm --lld iscsi -m account -o new --user christina --password 123456
tgtadm --lld iscsi -m account -o bind --tid 1 --user christina
tgtadm --lld iscsi --op show --mode account | grep -q christina || fail "account not listed"
show | grep -A2 "Account information:" | grep -q christina || fail "account not bound"
iscsi-inq "iscsi://christina%123456@127.0.0.1:3431/iqn.2013-09.com.inter.10.1:test-target/1" | grep -q "Vendor:IET" ||
  fail "CHAP login with the seed's account"
if iscsi-inq "iscsi://127.0.0.1:3431/iqn.2013-09.com.inter.10.1:test-target/1" >/dev/null 2>&1; then
  fail "login without CHAP accepted"
fi
tgtadm --lld iscsi -m account -o delete --user christina
tgtadm --lld iscsi --op show --mode account | grep -q christina && fail "deleted account listed"
tgtadm --lld iscsi --op new  --mode account --user christina --password 123456
tgtadm --lld iscsi --op show --mode account >/dev/null
tgtadm --lld iscsi --op bind --mode account --tid 1 --user christina
# The seed creates the same account again before binding it outgoing: tgt refuses that line.
expect_error "account created twice" tgtadm --lld iscsi --op new  --mode account --user christina --password 123456
# The same account bound outgoing too: tgt accepts it silently; ours accepts it (exit 0) with one
# warning line, because mutual CHAP would then use one secret both ways (RFC 7143 9.2.1).
warning=$(tgtadm --lld iscsi --op bind --mode account --tid 1 --user christina --outgoing 2>&1)
[ "$warning" = "tgtadm: warning: account christina is bound to target 1 incoming and outgoing with the same secret: one-way CHAP logins work, mutual CHAP logins will be refused (RFC 7143 forbids one secret both ways)" ] ||
  fail "binding the account both ways: $warning"
echo "  warned: $warning"
show | grep -q "christina (outgoing)" || fail "outgoing account not shown"
# One-way CHAP still logs in, with the seed's 6-character secret, as with tgt.
iscsi-ls -s "iscsi://christina%123456@127.0.0.1:3431" | grep -q "Lun:1 *Type:DIRECT_ACCESS" ||
  fail "one-way CHAP with the account bound both ways"
MUTUAL="iscsi://christina%123456@127.0.0.1:3431/iqn.2013-09.com.inter.10.1:test-target/1?target_user=christina&target_password=123456"
if iscsi-inq "$MUTUAL" >/dev/null 2>&1; then fail "mutual CHAP with one secret both ways accepted"; fi
grep -q "mutual CHAP refused: user christina has the same secret as the target's outgoing account christina" \
  "$WORK/tgtd-0.log" || fail "tgtd did not log why it refused the mutual login"
# libiscsi newer than Debian's 1.19.0 checks CHAP_A (iSCSICHAP.Simple offers 5,6,7,8 and can only
# do MD5): run those cases when ISCSI_TEST_CU names such a build.
if [ -n "${ISCSI_TEST_CU:-}" ] && "$ISCSI_TEST_CU" -l | grep "iSCSICHAP.Simple" >/dev/null; then
  python3 "$SHARED/tools/conformance.py" --only iSCSICHAP --json "$WORK/chap.json" \
    "iscsi://christina%123456@127.0.0.1:3431/iqn.2013-09.com.inter.10.1:test-target/1"
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r["ALL.iSCSICHAP.Simple"]["status"] != "pass" or any(v["status"] == "fail" for v in r.values()))' \
    "$WORK/chap.json" || fail "libiscsi's iSCSICHAP cases"
else
  echo "  (libiscsi's iSCSICHAP cases skipped: set ISCSI_TEST_CU to an iscsi-test-cu newer than 1.19.0)"
fi

echo "== seed 001: tgt-admin --dump > targets.conf, replayed into a fresh daemon"
tgt-admin --dump >"$WORK/targets.conf"
grep -q "<target iqn.2013-09.com.inter.10.1:test-target>" "$WORK/targets.conf" || fail "dump lacks the target"
start 1 3432
# The same backing files are open in the first daemon: tgt-admin skips files in use without --force.
tgt-admin -C 1 -e --force -c "$WORK/targets.conf"
diff -u <(show) <(tgtadm -C 1 --lld iscsi --op show --mode target) || fail "tgt-admin -e did not reproduce the configuration"

echo "== bad input: one line, non-zero, nothing changed"
expect_error "missing tid" tgtadm --lld iscsi --op new --mode target -T iqn.2026-11.test:x
expect_error "unknown tid" tgtadm --lld iscsi --op show --mode target --tid 9
expect_error "duplicate LUN" tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b /dev/shm/seed-disk1.img
expect_error "missing backing file" tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 3 -b /nonexistent.img
expect_error "unknown account" tgtadm --lld iscsi --op bind --mode account --tid 1 --user nobody
expect_error "bad mode" tgtadm --lld iscsi --op show --mode nonsense
expect_error "targets.conf missing" tgt-admin -e -c "$WORK/missing.conf"
expect_error "targetcli missing arguments" targetcli /backstores/fileio create
expect_error "targetcli unknown path" targetcli /nonexistent ls

echo "== seed 003: targetcli, interactive sequence"
truncate -s 64M "$WORK/sda.img"
if LOOP=$(losetup -f --show "$WORK/sda.img" 2>/dev/null); then
  store=block; device=$LOOP
else
  LOOP=; store=fileio; device="$WORK/sda.img"  # no loop device: a file stands in for /dev/sda
fi
out=$(printf 'cd /backstores/%s\ncreate disk0 %s\ncd /iscsi\ncreate\n' "$store" "$device" | targetcli)
echo "$out"
IQN=$(echo "$out" | sed -n 's/^Created target \(iqn\.[^ ]*\)\.$/\1/p')
[[ "$IQN" =~ ^iqn\.2003-01\.org\.linux-iscsi\..*:sn\.[0-9a-f]{12}$ ]] || fail "generated IQN: $IQN"
CLIENT=$IQN:xsk
printf 'cd /iscsi/%s/tpg1/luns\ncreate /backstores/%s/disk0\ncd /iscsi/%s/tpg1/acls/\ncreate %s\n' \
  "$IQN" "$store" "$IQN" "$CLIENT" | targetcli
grep -q "$CLIENT" "$WORK/saved-on-exit.json" || fail "the interactive session did not save on exit"
echo "  saved on exit: $TARGETCLI_SAVEFILE"
targetcli ls | tee "$WORK/ls.txt"
grep -q "o- disk0" "$WORK/ls.txt" || fail "targetcli ls lacks the backstore"
grep -q "o- $CLIENT" "$WORK/ls.txt" || fail "targetcli ls lacks the ACL"
show | grep -q "$IQN" || fail "tgtadm --op show lacks the targetcli target"
iscsi-ls -i "$CLIENT" iscsi://127.0.0.1:3431 | grep -q "Target:$IQN " || fail "the ACL'd initiator does not discover the target"
iscsi-inq -i "$CLIENT" "iscsi://127.0.0.1:3431/$IQN/1" | grep -q "Vendor:IET" || fail "the ACL'd initiator cannot use LUN 1"
iscsi-ls -i iqn.2026-11.test:other iscsi://127.0.0.1:3431 | grep -q "$IQN" && fail "an initiator outside the ACL sees the target"

echo "== seed 003: saveconfig, then restoreconfig"
targetcli saveconfig "$WORK/saveconfig.json"
targetcli clearconfig confirm=True
targetcli ls /iscsi | grep -q "$IQN" && fail "clearconfig left the target"
targetcli restoreconfig "$WORK/saveconfig.json"
targetcli ls >"$WORK/ls-restored.txt"
diff -u "$WORK/ls.txt" "$WORK/ls-restored.txt" || fail "restoreconfig did not rebuild the tree"
iscsi-inq -i "$CLIENT" "iscsi://127.0.0.1:3431/$IQN/1" | grep -q "Vendor:IET" || fail "no LUN after restoreconfig"
echo "seeds: all checks passed"
