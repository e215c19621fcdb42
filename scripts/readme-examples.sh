#!/usr/bin/env bash
# Runs the README's quick start and its admin examples (the code blocks of "Managing targets" and
# "LIO's targetcli", line by line, as written) with our executables first on PATH and Debian's
# libiscsi tools, and checks what they say. Also checks that a `--demo` run leaves nothing for a
# later plain tgtd on the same control port.
#
# The examples use fixed ports, control ports and paths (/var/lib/swift-tgtd, /run/swift-tgtd,
# /dev/shm, /srv, /etc/target), so the script runs in private network and mount namespaces
# (unshare -mn, as root): a loopback of its own, tmpfs over /run/swift-tgtd, /run/swift-iscsid,
# /dev/shm and /tmp/iscsi-root, and throw-away overlays over /etc, /srv and /var/lib. Only the
# loop device iscsid attaches (and detaches at the logout) is seen outside.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${README_EXAMPLES_INSIDE:-}" != 1 ]; then
  exec unshare -mn --propagation private env README_EXAMPLES_INSIDE=1 bash "$0" "$@"
fi
. scripts/lib.sh
WORK=$(mktemp -d /tmp/readme-examples.XXXXXX)
PIDS=() CREATED_ROOT=0
cleanup() {
  stop_iscsid  # first, while the target still answers its logouts
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  umount /etc /srv /var/lib "$WORK/overlay" 2>/dev/null || true
  if [ "$CREATED_ROOT" = 1 ]; then umount /tmp/iscsi-root 2>/dev/null || true; rmdir /tmp/iscsi-root || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

ip link set lo up
mkdir -p /run/swift-tgtd
mount -t tmpfs tmpfs /run/swift-tgtd
mount -t tmpfs tmpfs /dev/shm
mkdir -p "$WORK/overlay"
mount -t tmpfs tmpfs "$WORK/overlay"
for dir in /etc /srv /var/lib; do
  name=${dir//\//_}
  mkdir -p "$WORK/overlay/$name.up" "$WORK/overlay/$name.work"
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$WORK/overlay/$name.up,workdir=$WORK/overlay/$name.work" "$dir"
done
unset TGTD_RUN_DIR ISCSI_ROOT
export ISCSID_RUN_DIR=/run/swift-iscsid  # iscsid's default, set for stop_iscsid
mkdir -p /run/swift-iscsid
mount -t tmpfs tmpfs /run/swift-iscsid

mkdir -p "$WORK/bin"
for tool in tgtd tgtadm tgt-admin targetcli iscsid iscsiadm iscsi-tool; do
  [ -x "$BIN/$tool" ] || fail "$BIN/$tool is missing (swift build -c release first)"
  ln -s "$PWD/$BIN/$tool" "$WORK/bin/$tool"
done
export PATH="$WORK/bin:$PATH"
command -v iscsi-ls >/dev/null || fail "iscsi-ls is missing (Debian's libiscsi-bin)"

in_readme() { grep -qF -- "$1" README.md || fail "the README no longer says: $1"; }

# readme_block HEADING: the first fenced block after the line HEADING.
readme_block() {
  awk -v heading="$1" '$0 == heading { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    found && inside { print }' README.md
}

# run_block HEADING: each line of the block in this shell (so `&` and variables work), stopping at
# the first failure; after a line that starts a daemon in the background, waits for its portal.
# `IQN` stands for the target `targetcli /iscsi create` made.
IQN=
run_block() {
  local line command out status
  [ -n "$(readme_block "$1")" ] || fail "no code block after \"$1\""
  while IFS= read -r -u 3 line; do
    [ -n "$line" ] || continue
    command=${line//IQN/$IQN}
    echo "+ $command"
    status=0
    if [[ $command == *' &'* ]]; then
      eval "$command" >"$WORK/bg-$((${#PIDS[@]})).log" 2>&1 </dev/null
      PIDS+=($!)
      [[ $command =~ portal=127\.0\.0\.1:([0-9]+) ]] && wait_port "${BASH_REMATCH[1]}"
      continue
    fi
    # In this shell (an `export` must last), output to a file.
    eval "$command" >"$WORK/command.out" 2>&1 </dev/null || status=$?
    out=$(cat "$WORK/command.out")
    [ -z "$out" ] || sed 's/^/    /' <<<"$out" | tee -a "$WORK/block.log"
    [ $status = 0 ] || fail "README (\"$1\"): exit $status: $command"
    if [[ $command == "targetcli /iscsi create"* ]]; then
      IQN=$(sed -n 's/^Created target \(.*\)\.$/\1/p' <<<"$out")
      [ -n "$IQN" ] || fail "targetcli /iscsi create named no target"
    fi
  done 3< <(readme_block "$1")
}

stop_daemons() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

echo "== quick start"
in_readme "swift run -c release tgtd -f --demo --iscsi portal=127.0.0.1:3260"
in_readme '`iscsi-ls -s iscsi://127.0.0.1:3260`'
in_readme '`iscsi-inq iscsi://127.0.0.1:3260/iqn.2026-11.org.swift-iscsi:demo/1`'
in_readme 'iscsi-tool inq iscsi://127.0.0.1:3260/iqn.2026-11.org.swift-iscsi:demo/1`'
in_readme '`/var/lib/swift-tgtd/disk0.img`'
in_readme "libiscsi-bin"
tgtd -f --demo --iscsi portal=127.0.0.1:3260 >"$WORK/demo.out" 2>"$WORK/demo.err" &
PIDS+=($!)
wait_port 3260
for _ in $(seq 1 50); do [ -s "$WORK/demo.out" ] && break; sleep 0.1; done
url=$(cat "$WORK/demo.out")
[ "$url" = "iscsi://127.0.0.1:3260/iqn.2026-11.org.swift-iscsi:demo/1" ] || fail "tgtd --demo printed '$url'"
[ -f /var/lib/swift-tgtd/disk0.img ] || fail "no /var/lib/swift-tgtd/disk0.img"
[ "$(stat -c %s /var/lib/swift-tgtd/disk0.img)" = 1073741824 ] || fail "disk0.img is not 1 GiB"
[ -S /run/swift-tgtd/socket.0 ] || fail "no /run/swift-tgtd/socket.0"
iscsi-ls -s iscsi://127.0.0.1:3260 | tee "$WORK/ls.out"
grep -q "iqn.2026-11.org.swift-iscsi:demo" "$WORK/ls.out" || fail "iscsi-ls does not list the demo target"
iscsi-inq iscsi://127.0.0.1:3260/iqn.2026-11.org.swift-iscsi:demo/1 | head -3
iscsi-tool inq iscsi://127.0.0.1:3260/iqn.2026-11.org.swift-iscsi:demo/1
stop_daemons
ls /var/lib/swift-tgtd
[ -f /var/lib/swift-tgtd/tgtd-0-demo.json ] || fail "the demo's configuration is not in tgtd-0-demo.json"
[ ! -e /var/lib/swift-tgtd/tgtd-0.json ] || fail "the demo wrote tgtd-0.json"

echo "== a plain tgtd afterwards has no demo target"
tgtd -f --iscsi portal=127.0.0.1:3260 >"$WORK/plain.log" 2>&1 &
PIDS+=($!)
wait_port 3260
[ -z "$(tgtadm --lld iscsi --op show --mode target)" ] || fail "the demo target came back without --demo"
stop_daemons
echo "ok  no targets"
tgtd -f --demo --iscsi portal=127.0.0.1:3260 >"$WORK/demo2.out" 2>&1 &
PIDS+=($!)
wait_port 3260
[ "$(tgtadm --lld iscsi --op show --mode target | grep -c '^Target ')" = 1 ] ||
  fail "a second --demo run does not have the demo target once"
stop_daemons
echo "ok  the next --demo run has the demo target, once"
rm -rf /var/lib/swift-tgtd

echo "== Managing targets (tgt's command line)"
run_block "## Managing targets (tgt's command line)"
tgtadm -C 5 --lld iscsi --op show --mode target | grep -q "Backing store path: /dev/shm/disk1.img" ||
  fail "the LUN is not there"

echo "== CHAP accounts"
# The second block of the section (the first is tgtd's and the LUN's).
chap_block() {
  awk '/^CHAP accounts, as in tgt/ { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    found && inside { print }' README.md
}
[ -n "$(chap_block)" ] || fail "no CHAP block"
while IFS= read -r -u 3 line; do
  echo "+ $line"
  out=$(eval "$line" 2>&1 </dev/null) || fail "README (CHAP): exit $?: $line: $out"
  [ -z "$out" ] || sed 's/^/    /' <<<"$out"
done 3< <(chap_block)
grep -q "Vendor" <<<"$out" || fail "the mutual CHAP login did not answer INQUIRY: $out"
tgtadm -C 5 --lld iscsi --op show --mode target | grep -A3 "Account information" | tee "$WORK/accounts"
grep -q "christina" "$WORK/accounts" && grep -q "tgtout (outgoing)" "$WORK/accounts" ||
  fail "the accounts are not bound as the README says"
if iscsi-ls -s 'iscsi://christina%wrongsecret1@127.0.0.1:3265' >/dev/null 2>&1; then
  fail "a wrong CHAP secret logged in"
fi
echo "ok  one-way and mutual CHAP logins; a wrong secret is refused"

echo "== The initiator: iscsiadm, iscsid (against the target and account above)"
in_readme "(IQN is \`iqn.2026-11.test:disk1\`)"
IQN=iqn.2026-11.test:disk1
[ -d /tmp/iscsi-root ] || { mkdir /tmp/iscsi-root; CREATED_ROOT=1; }
mount -t tmpfs tmpfs /tmp/iscsi-root
run_block "## The initiator: iscsiadm, iscsid, iscsi-tool"
[ "$ISCSI_ROOT" = /tmp/iscsi-root ] || fail "the block's export did not take"
grep -q "Attached scsi disk loop[0-9]*[[:space:]]*State: running" "$WORK/block.log" || fail "no disk attached"
[ -z "$(iscsiadm -m session 2>/dev/null)" ] || fail "a session is left after the logout"
stop_iscsid
unset ISCSI_ROOT
echo "ok  discovery, CHAP login, block device, mkfs, rescan, logout"
stop_daemons

echo "== LIO's targetcli"
tgtd -f --iscsi portal=127.0.0.1:3260 >"$WORK/tgtd-0.log" 2>&1 &
PIDS+=($!)
wait_port 3260
run_block "## LIO's targetcli"
[ -s /etc/target/saveconfig.json ] || fail "no /etc/target/saveconfig.json"
targetcli ls | tee "$WORK/tree"
grep -q "iqn.2026-11.example:client" "$WORK/tree" || fail "the ACL is not in the tree"
grep -q "disk1" "$WORK/tree" || fail "the LUN is not in the tree"
iscsi-ls -s "iscsi://u%secret12345@127.0.0.1:3260" -i iqn.2026-11.example:client | tee "$WORK/ls.out" ||
  fail "the ACL's initiator cannot log in with its CHAP account"
grep -q "$IQN" "$WORK/ls.out" || fail "iscsi-ls does not list $IQN"
stop_daemons
echo "readme-examples: all passed"
