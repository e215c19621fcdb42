#!/usr/bin/env bash
# One configuration model behind three tools: a configuration made with each of tgtadm,
# tgt-admin (targets.conf) and targetcli is saved and restored with each of a daemon restart,
# tgt-admin --dump / -e and targetcli saveconfig / restoreconfig (and what targetcli made, also
# from LIO's fields of saveconfig.json alone, as LIO writes it), and the restored daemon must
# behave as the original: the same logins (ACLs by initiator name and address, one-way and
# mutual CHAP, discovery CHAP, wrong secrets refused), the same `tgtadm --op show` (LU
# parameters, ACLs, bound accounts), the same unit serials and thin provisioning as Debian's
# libiscsi tools read them. One line per cell; exits non-zero when a cell differs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WORK=$(mktemp -d /tmp/iscsi-matrix.XXXXXX)
export TGTD_RUN_DIR=$WORK/run
mkdir -p "$TGTD_RUN_DIR"
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Ports and control numbers of this run only.
CP=$((700 + RANDOM % 200))
PORT=$((20000 + RANDOM % 20000))
IQN1=iqn.2026-12.org.swift-iscsi:matrix-open
IQN2=iqn.2026-12.org.swift-iscsi:matrix-acl
H1=iqn.2026-12.org.swift-iscsi:host1
H2=iqn.2026-12.org.swift-iscsi:host2
F1=$WORK/d1.img F2=$WORK/d2.img F3=$WORK/d3.img
truncate -s 64M "$F1" "$F2" "$F3"
A() { "$BIN/tgtadm" -C "$CP" --lld iscsi "$@"; }
T() { "$BIN/targetcli" -C "$CP" "$@" >/dev/null; }

start() { # STATE
  "$BIN/tgtd" -f -C "$CP" --iscsi "portal=127.0.0.1:$PORT" --state-dir "$1" >>"$WORK/tgtd.log" 2>&1 &
  PID=$!
  wait_port "$PORT"
}
stop() {
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
}

# The three ways of making one configuration: target 1 open to ALL with one-way and mutual
# CHAP (tgt accounts, LIO TPG credentials), a read-only write-thru unit and a thin unit with its
# own serial; target 2 for one initiator name (tgt adds an address rule; LIO gives the ACL its
# own CHAP); discovery CHAP.
make_tgtadm() {
  A --op new --mode target --tid 1 -T $IQN1
  A --op new --mode logicalunit --tid 1 --lun 1 -b "$F1" --bsoflags sync
  A --op update --mode logicalunit --tid 1 --lun 1 --params readonly=1
  A --op new --mode logicalunit --tid 1 --lun 2 -b "$F2"
  A --op update --mode logicalunit --tid 1 --lun 2 --params thin_provisioning=1,scsi_sn=MATRIX2
  A --op bind --mode target --tid 1 -I ALL
  A --op new --mode account --user alice --password alicesecret1
  A --op new --mode account --user bob --password bobsecret123
  A --op new --mode account --user disc --password discsecret12
  A --op bind --mode account --tid 1 --user alice
  A --op bind --mode account --tid 1 --user bob --outgoing
  A --op bind --mode account --user disc
  A --op new --mode target --tid 2 -T $IQN2
  A --op new --mode logicalunit --tid 2 --lun 1 -b "$F3"
  A --op bind --mode target --tid 2 --initiator-name $H1
  A --op bind --mode target --tid 2 -I 10.0.0.0/8
}

make_tgt_admin() {
  cat >"$WORK/made.conf" <<EOF
default-driver iscsi
incomingdiscoveryuser disc discsecret12
<target $IQN1>
	<backing-store $F1>
		lun 1
		bsoflags sync
		readonly 1
	</backing-store>
	<backing-store $F2>
		lun 2
		scsi_sn MATRIX2
		params thin_provisioning=1
	</backing-store>
	incominguser alice alicesecret1
	outgoinguser bob bobsecret123
</target>
<target $IQN2>
	backing-store $F3
	initiator-name $H1
	initiator-address 10.0.0.0/8
</target>
EOF
  "$BIN/tgt-admin" -C "$CP" -e -c "$WORK/made.conf"
}

make_targetcli() {
  T /backstores/fileio create name=d1 file_or_dev="$F1" write_back=false
  T /backstores/fileio create name=d2 file_or_dev="$F2" wwn=MATRIX2
  T /backstores/fileio/d2 set attribute emulate_tpu=1 emulate_tpws=1
  T /backstores/fileio create name=d3 file_or_dev="$F3"
  T /iscsi create $IQN1
  T /iscsi/$IQN1/tpg1/luns create /backstores/fileio/d1
  T /iscsi/$IQN1/tpg1/luns create /backstores/fileio/d2
  T /iscsi/$IQN1/tpg1 set attribute generate_node_acls=1 authentication=1
  T /iscsi/$IQN1/tpg1 set auth userid=alice password=alicesecret1 mutual_userid=bob mutual_password=bobsecret123
  T /iscsi create $IQN2
  T /iscsi/$IQN2/tpg1/luns create /backstores/fileio/d3
  T /iscsi/$IQN2/tpg1/acls create $H1
  T /iscsi/$IQN2/tpg1/acls/$H1 set auth userid=h1user password=h1secret1234
  T /iscsi set discovery_auth enable=1 userid=disc password=discsecret12
}

# What an initiator meets: each probe's outcome (ok/refused) and what it reads.
probe() { # NAME COMMAND...
  local name=$1; shift
  if out=$("$@" 2>&1); then echo "$name: ok"; else echo "$name: refused"; fi
  case $name in
    serial* | capacity*) printf '%s\n' "$out" | { grep -E "Serial|LBPME|LOGICAL BLOCK LENGTH|Total size" || true; } | sed "s/^/$name: /" ;;
  esac
}
U="127.0.0.1:$PORT"
fingerprint() {
  {
    A --op show --mode target
    A --op show --mode account | sort  # the list's order is creation order, not behaviour
    probe "discovery without CHAP" iscsi-ls -i $H1 "iscsi://$U"
    probe "discovery with CHAP" iscsi-ls -i $H1 "iscsi://disc%discsecret12@$U"
    probe "open target without CHAP" iscsi-inq -i $H1 "iscsi://$U/$IQN1/1"
    probe "open target, one-way CHAP" iscsi-inq -i $H2 "iscsi://alice%alicesecret1@$U/$IQN1/1"
    probe "open target, wrong secret" iscsi-inq -i $H2 "iscsi://alice%wrongsecret1@$U/$IQN1/1"
    probe "open target, mutual CHAP" iscsi-inq -i $H2 "iscsi://alice%alicesecret1@$U/$IQN1/1?target_user=bob&target_password=bobsecret123"
    probe "open target, wrong target secret" iscsi-inq -i $H2 "iscsi://alice%alicesecret1@$U/$IQN1/1?target_user=bob&target_password=wrongsecret1"
    probe "serial LUN 2" iscsi-inq -i $H2 -e 1 -c 128 "iscsi://alice%alicesecret1@$U/$IQN1/2"
    probe "capacity LUN 2" iscsi-readcapacity16 -i $H2 "iscsi://alice%alicesecret1@$U/$IQN1/2"
    probe "ACL target as host1" iscsi-inq -i $H1 "iscsi://$U/$IQN2/1"
    probe "ACL target as host1, its CHAP" iscsi-inq -i $H1 "iscsi://h1user%h1secret1234@$U/$IQN2/1"
    probe "ACL target as host2" iscsi-inq -i $H2 "iscsi://$U/$IQN2/1"
    probe "ACL target as host2, account" iscsi-inq -i $H2 "iscsi://alice%alicesecret1@$U/$IQN2/1"
  } >"$1"
}

# Save with METHOD from the running daemon, stop it, restore into a fresh one.
save_restore() { # METHOD STATE
  case $1 in
    restart) stop; start "$2" ;;
    tgt-admin)
      "$BIN/tgt-admin" -C "$CP" --dump >"$WORK/dump.conf"
      stop; start "$WORK/state-fresh-$RANDOM"
      "$BIN/tgt-admin" -C "$CP" -e -c "$WORK/dump.conf" ;;
    targetcli)
      T saveconfig "$WORK/saveconfig.json"
      stop; start "$WORK/state-fresh-$RANDOM"
      T restoreconfig "$WORK/saveconfig.json" ;;
    lio-fields)
      # As a file written by LIO itself: LIO's fields only, without our model beside them.
      T saveconfig "$WORK/saveconfig.json"
      python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("swift_iscsi"); json.dump(d, open(sys.argv[1], "w"))' \
        "$WORK/saveconfig.json"
      stop; start "$WORK/state-fresh-$RANDOM"
      T restoreconfig "$WORK/saveconfig.json" ;;
  esac
}

failures=0 cells=0
# What targetcli makes, LIO's fields alone can say: it also comes back from them.
for cell in tgtadm:restart tgtadm:tgt-admin tgtadm:targetcli tgt_admin:restart tgt_admin:tgt-admin tgt_admin:targetcli \
  targetcli:restart targetcli:tgt-admin targetcli:targetcli targetcli:lio-fields; do
  maker=${cell%%:*} method=${cell#*:}
  {
    state="$WORK/state-$maker-$method"
    start "$state"
    make_$maker >/dev/null
    fingerprint "$WORK/before"
    save_restore "$method" "$state" >/dev/null
    fingerprint "$WORK/after"
    stop
    cells=$((cells + 1))
    made=${maker//_/-}
    # Sanity: the configuration does what it says, so a matching pair is not two broken daemons.
    wrong=
    for line in "open target, one-way CHAP: ok" "open target, wrong secret: refused" "open target, mutual CHAP: ok" \
      "open target, wrong target secret: refused" "ACL target as host2: refused" "discovery with CHAP: ok" \
      "discovery without CHAP: refused" "MATRIX2]" "capacity LUN 2: LBPME:1"; do
      grep -qF "$line" "$WORK/before" || wrong="$wrong \"$line\""
    done
    if [ -n "$wrong" ]; then
      echo "FAIL made with $made: expected$wrong"
      failures=$((failures + 1))
    elif diff "$WORK/before" "$WORK/after" >"$WORK/diff"; then
      echo "PASS made with $made, restored by $method: $(grep -c ': ok$' "$WORK/before") logins allowed, $(grep -c ': refused$' "$WORK/before") refused, the same"
    else
      echo "FAIL made with $made, restored by $method:"
      sed 's/^/    /' "$WORK/diff"
      failures=$((failures + 1))
    fi
  }
done
echo "config-matrix: $((cells - failures)) of $cells cells behave the same"
[ "$failures" -eq 0 ]
