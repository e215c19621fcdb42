#!/usr/bin/env bash
# Several target portal groups in one tgtd: portals carry a TPG tag (`--iscsi portal=H:P,TAG`,
# `tgtadm --mode portal --param portal=H:P,TAG`, targetcli's `tpgN/portals`), a target is served
# through its groups only (`portal_groups`, LIO's `tpgN` nodes), SendTargets lists each target
# with the portals of its groups and their tags, logins through another group are refused, and
# all of it survives a restart and targetcli saveconfig/restoreconfig (LIO's fields alone too).
# Peers: libiscsi's iscsi-ls and iscsi-inq. One line per check; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-tpgs.XXXXXX)
export TGTD_RUN_DIR=$WORK/run
mkdir -p "$TGTD_RUN_DIR"
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$WORK/tgtd.log" ] && tail -n 20 "$WORK/tgtd.log" >&2; exit 1; }
ok() { echo "ok  $*"; }

CP=$((700 + RANDOM % 200))
P1=$((20000 + RANDOM % 20000)) P2=$((P1 + 1)) P3=$((P1 + 2)) P4=$((P1 + 3))
IQA=iqn.2026-12.org.swift-iscsi:tpgs-all
IQB=iqn.2026-12.org.swift-iscsi:tpgs-one
IQC=iqn.2026-12.org.swift-iscsi:tpgs-lio
INI=iqn.2026-12.org.swift-iscsi:tpgs-host
truncate -s 16M "$WORK/a.img" "$WORK/b.img" "$WORK/c.img"
A() { "$BIN/tgtadm" -C "$CP" --lld iscsi "$@"; }
T() { TARGETCLI_SAVEFILE=$WORK/saveconfig.json "$BIN/targetcli" -C "$CP" "$@"; }
start() {
  "$BIN/tgtd" -f -C "$CP" --iscsi "portal=127.0.0.1:$P1,portal=127.0.0.1:$P2,2" --state-dir "$WORK/state" \
    >>"$WORK/tgtd.log" 2>&1 &
  PID=$!
  wait_port "$P1"
}
stop() {
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
}
# discovered PORT: "TARGET ADDRESS,TAG" lines of a SendTargets answer, sorted.
discovered() {
  iscsi-ls -s -i "$INI" "iscsi://127.0.0.1:$1" 2>&1 | sed -n 's/^Target:\([^ ]*\) Portal:\(.*\)$/\1 \2/p' | sort
}
# logs_in PORT IQN: whether a login (and an INQUIRY of LUN 1) through that portal succeeds.
logs_in() { iscsi-inq -i "$INI" "iscsi://127.0.0.1:$1/$2/1" >/dev/null 2>&1; }

start
A --op new --mode target --tid 1 -T $IQA
A --op new --mode logicalunit --tid 1 --lun 1 -b "$WORK/a.img"
A --op bind --mode target --tid 1 -I ALL
A --op new --mode target --tid 2 -T $IQB
A --op new --mode logicalunit --tid 2 --lun 1 -b "$WORK/b.img"
A --op bind --mode target --tid 2 -I ALL
A --op update --mode target --tid 2 --name portal_groups --value 1
A --op new --mode portal --param "portal=127.0.0.1:$P3,3"

show=$(A --op show --mode portal)
expected="Portal: 127.0.0.1:$P1,1
Portal: 127.0.0.1:$P2,2
Portal: 127.0.0.1:$P3,3"
[ "$show" = "$expected" ] || fail "portal show: $show"
ok "tgtadm --mode portal --op show lists each portal with its tag"
out=$(A --op new --mode portal --param "portal=127.0.0.1:$P2,5" 2>&1) && fail "a second group on one portal was accepted"
case $out in *"already a portal 127.0.0.1:$P2 (in portal group 2)"*) ;; *) fail "refusal: $out" ;; esac
ok "a portal already in another group is refused: $out"
out=$(A --op update --mode target --tid 2 --name portal_groups --value 1,x 2>&1) && fail "portal_groups 1,x accepted"
ok "bad portal_groups refused: $out"

check_serving() { # WHEN
  local want got
  want=$(printf '%s\n' "$IQA 127.0.0.1:$P1,1" "$IQA 127.0.0.1:$P2,2" "$IQA 127.0.0.1:$P3,3" "$IQB 127.0.0.1:$P1,1" | sort)
  got=$(discovered "$P1")
  [ "$got" = "$want" ] || fail "$1: SendTargets answered:
$got
expected:
$want"
  ok "$1: SendTargets lists a target with the portals of its groups only, tags included"
  logs_in "$P2" $IQA || fail "$1: login to $IQA through group 2 refused"
  logs_in "$P3" $IQA || fail "$1: login to $IQA through group 3 refused"
  logs_in "$P1" $IQB || fail "$1: login to $IQB through group 1 refused"
  if logs_in "$P2" $IQB; then fail "$1: $IQB (group 1 only) let a login in through group 2"; fi
  ok "$1: logins through a target's groups succeed, through another group are refused"
}
check_serving "tgtadm"
stop
start
check_serving "after a restart"

# targetcli: a target with tpg1 and tpg2, a portal made under tpg2.
T /backstores/fileio create name=c file_or_dev="$WORK/c.img" >/dev/null
T /iscsi create $IQC >/dev/null
T /iscsi/$IQC create 2 >/dev/null
T /iscsi/$IQC/tpg2/portals create 127.0.0.1 $P4 >/dev/null
for tag in 1 2; do
  T /iscsi/$IQC/tpg$tag/luns create /backstores/fileio/c >/dev/null
  T /iscsi/$IQC/tpg$tag set attribute generate_node_acls=1 >/dev/null
done
tree=$(T ls /iscsi/$IQC)
echo "$tree" | grep -q "o- tpg2" || fail "targetcli ls has no tpg2:
$tree"
echo "$tree" | grep -q "127.0.0.1:$P4" || fail "targetcli ls has no portal $P4 under tpg2:
$tree"
echo "$tree" | grep -q "TPGs: 2" || fail "targetcli ls does not count two TPGs:
$tree"
ok "targetcli: $IQC has tpg1 and tpg2, the new portal under tpg2"
out=$(T /iscsi/$IQC/tpg1/portals create 127.0.0.1 $P4 2>&1) && fail "one portal in two groups accepted"
ok "targetcli refuses a portal of tpg2 under tpg1: $out"
logs_in "$P4" $IQC || fail "login to $IQC through its tpg2 portal refused"
logs_in "$P2" $IQC || fail "login to $IQC through the other tpg2 portal refused"
if logs_in "$P3" $IQC; then fail "$IQC (tpg1, tpg2) let a login in through group 3"; fi
ok "targetcli: logins through tpg1 and tpg2 succeed, through group 3 refused"
before=$(discovered "$P1")

T saveconfig >/dev/null
python3 - "$WORK/saveconfig.json" "$IQC" "$P4" <<'PY' || fail "saveconfig.json lacks the TPGs"
import json, sys
config = json.load(open(sys.argv[1]))
target = next(t for t in config["targets"] if t["wwn"] == sys.argv[2])
tags = sorted(t["tag"] for t in target["tpgs"])
assert tags == [1, 2], tags
tpg2 = next(t for t in target["tpgs"] if t["tag"] == 2)
assert any(p["port"] == int(sys.argv[3]) for p in tpg2["portals"]), tpg2["portals"]
PY
ok "saveconfig.json has tpg1 and tpg2 with their portals"
python3 - "$WORK/saveconfig.json" "$WORK/lio-only.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config.pop("swift_iscsi", None)
json.dump(config, open(sys.argv[2], "w"))
PY
for source in saveconfig.json lio-only.json; do
  T clearconfig confirm=True >/dev/null
  T restoreconfig "$WORK/$source" >/dev/null 2>"$WORK/restore.err" || fail "restoreconfig $source: $(cat "$WORK/restore.err")"
  after=$(discovered "$P1")
  [ "$after" = "$before" ] || fail "after restoreconfig $source SendTargets answered:
$after
before:
$before"
  logs_in "$P4" $IQC || fail "after restoreconfig $source: login through tpg2 refused"
  ok "restoreconfig $source: the same targets, groups and portals"
done
# ALUA: tpg1 in default_tg_pt_gp (Active/optimized), tpg2 in a Standby group of the object.
T /backstores/fileio/c/alua create secondary 2 >/dev/null
T /backstores/fileio/c/alua/secondary set alua alua_access_state=2 >/dev/null
T /iscsi/$IQC/tpg2/luns/lun1 set alua alua_tg_pt_gp_name=secondary >/dev/null
tree=$(T ls /backstores/fileio/c)
echo "$tree" | grep -q "secondary .*\[ALUA state: Standby\]" || fail "targetcli ls does not show the standby group:
$tree"
ok "targetcli: an ALUA group made Standby and tpg2's LUN put in it"
mkfifo "$WORK/to-check"
python3 scripts/alua-check.py $IQC "$P1" "$P2" <"$WORK/to-check" >"$WORK/alua.out" 2>&1 &
CHECK=$!
exec 7>"$WORK/to-check"
for _ in $(seq 1 100); do grep -q "^waiting\|^FAIL" "$WORK/alua.out" && break; sleep 0.1; done
grep "^ok" "$WORK/alua.out" || true
grep -q "^waiting" "$WORK/alua.out" || { exec 7>&-; fail "alua-check: $(grep -v '^ok' "$WORK/alua.out")"; }
state=$(T /backstores/fileio/c/alua/default_tg_pt_gp get alua alua_access_state | grep '^alua_access_state=')
[ "$state" = "alua_access_state=2" ] || fail "an initiator's SET TARGET PORT GROUPS did not reach the model: $state"
ok "SET TARGET PORT GROUPS from an initiator is in the model (targetcli get alua: $state)"
T /backstores/fileio/c/alua/default_tg_pt_gp set alua alua_access_state=0 >/dev/null
T /backstores/fileio/c/alua/secondary set alua alua_access_state=2 >/dev/null
echo >&7
exec 7>&-
wait "$CHECK" || fail "alua-check: $(grep -v '^ok' "$WORK/alua.out")"
grep "^ok" "$WORK/alua.out" | tail -n 1

# tgtadm's LU parameters say the same per portal group, and a restart keeps every state.
A --op update --mode logicalunit --tid 1 --lun 1 --params alua_state=2:standby,alua_preferred=1:1
out=$(A --op update --mode logicalunit --tid 1 --lun 1 --params alua_state=2:sleepy 2>&1) && fail "alua_state sleepy accepted"
ok "tgtadm refuses a bad ALUA state: $out"
stop
start
state=$(T /backstores/fileio/c/alua/secondary get alua alua_access_state | grep '^alua_access_state=')
[ "$state" = "alua_access_state=2" ] || fail "after a restart the standby group is $state"
groups=$(T ls /backstores/fileio/tgt_1_1)
echo "$groups" | grep -q "tpg2 .*\[ALUA state: Standby\]" || fail "tgtadm's alua_state=2:standby is not in the tree after a restart:
$groups"
ok "after a restart: targetcli's and tgtadm's ALUA groups and states are back"
echo "portal-groups: all checks passed"
