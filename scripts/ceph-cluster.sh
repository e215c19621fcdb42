#!/usr/bin/env bash
# A throwaway single-host Ceph cluster for tests: one monitor and N bluestore OSDs on sparse files,
# run by hand (no systemd, no containers, no manager), everything under one directory.
#
#   ceph-cluster.sh start DIR [--osds N] [--timeout S]   create and start; last lines: CEPH_CONF=..., CEPH_KEYRING=...
#   ceph-cluster.sh stop DIR [--purge]                    stop every daemon (bounded); --purge removes DIR
#   ceph-cluster.sh status DIR                            one line per daemon, then `ceph -s`
#   ceph-cluster.sh kill-osd DIR ID                       SIGKILL one OSD (for failure tests)
#   ceph-cluster.sh start-osd DIR ID [--timeout S]        start it again and wait until it is active
#
# Needs Debian 12's ceph-mon ceph-osd ceph-common (Ceph 16.2). Clients need only `-c DIR/ceph.conf`
# (the admin keyring is named in it). Several clusters may run at once in different directories: each
# has its own fsid, monitor port (6800-6899, never Ceph's 3300/6789), admin sockets and logs. The
# monitor and OSDs speak msgr2 only; OSDs bind ports from 6900-6999 (`ms bind port min/max`), four
# per OSD. Nothing under /etc/ceph or /var/lib/ceph is read or written.
set -euo pipefail

MON_PORT_MIN=6800 MON_PORT_MAX=6899
OSD_PORT_MIN=6900 OSD_PORT_MAX=6999
CLI_TIMEOUT=${CEPH_CLI_TIMEOUT:-20}   # seconds, for every ceph/rados/rbd call
BLOCK_SIZE=$((4 * 1024 * 1024 * 1024)) # sparse bluestore file per OSD

die() { echo "ceph-cluster: $*" >&2; exit 1; }
log() { echo "ceph-cluster: $*" >&2; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The cluster's own CLI, always bounded; stdin closed so nothing waits on a terminal.
cceph() { timeout -k 5 "$CLI_TIMEOUT" ceph -c "$CONF" --connect-timeout 10 "$@" </dev/null; }
crados() { timeout -k 5 "$CLI_TIMEOUT" rados -c "$CONF" "$@" </dev/null; }
crbd() { timeout -k 5 "$CLI_TIMEOUT" rbd -c "$CONF" "$@" </dev/null; }

set_paths() {
  DIR=$(realpath -m "$1")
  CONF=$DIR/ceph.conf
  KEYRING=$DIR/ceph.client.admin.keyring
  PIDS=$DIR/pids
  RUN=$DIR/run
}

port_free() {
  ! ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null | grep -q .
}

pick_mon_port() {
  local p tries
  for tries in $(seq 1 50); do
    p=$((MON_PORT_MIN + RANDOM % (MON_PORT_MAX - MON_PORT_MIN + 1)))
    if port_free "$p"; then
      echo "$p"; return 0
    fi
  done
  die "no free monitor port in $MON_PORT_MIN-$MON_PORT_MAX"
}

# pid_alive PID: the process exists and is one of this cluster's daemons (pids can be reused).
pid_alive() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$CONF"
}

# daemon_pid NAME: the recorded pid of mon.a / osd.N (last record wins).
daemon_pid() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "$PIDS" 2>/dev/null; }

# start_daemon NAME CMD...: start in the background, in its own session, and record its pid.
start_daemon() {
  local name=$1; shift
  setsid "$@" -f -c "$CONF" </dev/null >>"$DIR/log/$name.stdout" 2>&1 &
  echo "$name $!" >>"$PIDS"
}

# asok_state SOCKET: the daemon's "state" from its admin socket (OSD: active, booting...; monitor:
# leader, probing...), or nothing.
asok_state() {
  local cmd=status out
  case $1 in */mon.*) cmd=mon_status ;; esac
  out=$(timeout -k 2 5 ceph --admin-daemon "$1" "$cmd" 2>/dev/null </dev/null) || true
  sed -n 's/.*"state": "\([a-z_]*\)".*/\1/p' <<<"$out" | sed -n 1p
}

osd_active() { [ "$(asok_state "$RUN/osd.$1.asok")" = active ]; }

# wait_until DEADLINE WHAT CMD...: retry CMD each second until it succeeds or the deadline passes.
wait_until() {
  local deadline=$1 what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "timed out waiting for: $what"
      return 1
    fi
    sleep 1
  done
}

write_conf() {  # write_conf FSID PORT NOSDS
  local size=1 min=1
  if [ "$3" -ge 3 ]; then size=3; min=2; elif [ "$3" -eq 2 ]; then size=2; min=1; fi
  cat >"$CONF" <<EOF
# Throwaway test cluster made by scripts/ceph-cluster.sh; clients: ceph -c $CONF ...
[global]
fsid = $1
mon host = [v2:127.0.0.1:$2]
mon initial members = a
ms bind msgr1 = false
ms bind msgr2 = true
ms bind port min = $OSD_PORT_MIN
ms bind port max = $OSD_PORT_MAX
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $RUN
admin socket = $RUN/\$name.asok
pid file = $RUN/\$name.pid
crash dir = $DIR/crash
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
mon data = $DIR/mon.\$id
osd data = $DIR/osd.\$id
osd objectstore = bluestore
bluestore block path = $DIR/block/osd.\$id.img
bluestore block create = true
bluestore block size = $BLOCK_SIZE
bluestore fsck on mount = false
osd memory target = 939524096
osd crush chooseleaf type = 0
osd pool default size = $size
osd pool default min size = $min
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
mon warn on insecure global id reclaim allowed = false
# Without a manager and peers, a killed OSD would stay "up" for 900 s; let the mon notice in ~30 s.
osd beacon report interval = 5
mon osd report timeout = 30
client mount timeout = 30

[mon]
keyring = $DIR/mon.\$id/keyring
public addr = 127.0.0.1

[osd]
keyring = $DIR/osd.\$id/keyring
public addr = 127.0.0.1
cluster addr = 127.0.0.1

[client]
keyring = $KEYRING
admin socket = $RUN/\$cluster-\$name.\$pid.asok
log file = $DIR/log/client.log
EOF
}

# create_osd ID: register the OSD's key with the monitor, then make its bluestore.
create_osd() {
  local id=$1 uuid key got
  uuid=$(uuidgen)
  key=$(ceph-authtool --gen-print-key)
  mkdir -p "$DIR/osd.$id"
  printf '{"cephx_secret": "%s"}\n' "$key" >"$DIR/osd.$id/secrets.json"
  got=$(cceph osd new "$uuid" "$id" -i "$DIR/osd.$id/secrets.json") || die "ceph osd new $id failed"
  [ "$got" = "$id" ] || die "ceph osd new gave id '$got', wanted $id"
  rm -f "$DIR/osd.$id/secrets.json"
  ceph-authtool --create-keyring "$DIR/osd.$id/keyring" --name "osd.$id" --add-key "$key" >/dev/null
  timeout -k 5 120 ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" --no-mon-config \
    >>"$DIR/log/osd.$id.mkfs" 2>&1 || die "ceph-osd --mkfs for osd.$id failed (see $DIR/log/osd.$id.mkfs)"
}

# start_mon FSID NOSDS DEADLINE: the monitor on a port of its own; another port if someone took it
# between the check and the bind (up to 3 tries).
start_mon() {
  local fsid=$1 nosds=$2 deadline=$3 try pid
  for try in 1 2 3; do
    MON_PORT=$(pick_mon_port)
    write_conf "$fsid" "$MON_PORT" "$nosds"
    rm -rf "$DIR/mon.a" "$RUN/mon.a.asok"
    mkdir -p "$DIR/mon.a"
    for f in mon.a.log mon.a.stdout; do [ ! -f "$DIR/log/$f" ] || mv "$DIR/log/$f" "$DIR/log/$f.try$((try - 1))"; done
    monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
    timeout -k 5 60 ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring" \
      >>"$DIR/log/mon.a.mkfs" 2>&1 || die "ceph-mon --mkfs failed (see $DIR/log/mon.a.mkfs)"
    start_daemon mon.a ceph-mon -i a
    pid=$(daemon_pid mon.a)
    until cceph mon stat >/dev/null 2>&1; do
      if ! pid_alive "$pid"; then
        if grep -qs "bind.*Address already in use" "$DIR/log/mon.a.log" "$DIR/log/mon.a.stdout"; then
          log "port $MON_PORT was taken meanwhile; trying another"
          continue 2
        fi
        tail -n 5 "$DIR/log/mon.a.log" "$DIR/log/mon.a.stdout" >&2 2>/dev/null || true
        die "the monitor exited (see $DIR/log/mon.a.log)"
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        die "the monitor on 127.0.0.1:$MON_PORT does not answer (see $DIR/log/mon.a.log)"
      fi
      sleep 1
    done
    return 0
  done
  die "could not start the monitor on a free port"
}

cmd_start() {
  local nosds=1 tmo=180 fsid t0 deadline i pgs
  [ $# -ge 1 ] || usage
  set_paths "$1"; shift
  while [ $# -gt 0 ]; do
    case $1 in
      --osds) nosds=${2:?}; shift 2 ;;
      --timeout) tmo=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $nosds =~ ^[1-9][0-9]?$ ]] || die "--osds wants 1-99"
  case $DIR in /etc/ceph*|/var/lib/ceph*) die "not under $DIR" ;; esac
  if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
    die "$DIR exists and is not empty (stop DIR --purge first)"
  fi
  t0=$SECONDS; deadline=$((SECONDS + tmo))
  # A start that fails stops what it started, so no daemon outlives a failed test; DIR stays.
  trap 'rc=$?; if [ $rc != 0 ]; then log "start failed; stopping what was started"; cmd_stop "$DIR" || true; fi; exit $rc' EXIT
  mkdir -p "$DIR" "$RUN" "$DIR/log" "$DIR/block" "$DIR/crash" "$DIR/mon.a"
  : >"$PIDS"
  fsid=$(uuidgen)
  # Keys: the monitor's, and client.admin's (in its own keyring, named by the conf for clients).
  ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$KEYRING" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$DIR/mon.keyring" --import-keyring "$KEYRING" >/dev/null
  chmod 600 "$KEYRING" "$DIR/mon.keyring"
  start_mon "$fsid" "$nosds" "$deadline"
  for ((i = 0; i < nosds; i++)); do
    create_osd "$i"
    start_daemon "osd.$i" ceph-osd -i "$i"
  done
  for ((i = 0; i < nosds; i++)); do
    wait_until "$deadline" "osd.$i to be active (admin socket $RUN/osd.$i.asok)" osd_active "$i" ||
      die "osd.$i not active; see $DIR/log/osd.$i.log"
  done

  pgs=$((nosds >= 3 ? 32 : 16))
  cceph osd pool create rbd "$pgs" "$pgs" replicated >/dev/null 2>&1 || die "pool create failed"
  if [ "$nosds" -eq 1 ]; then
    cceph osd pool set rbd size 1 --yes-i-really-mean-it >/dev/null 2>&1 || die "pool size 1 refused"
  fi
  wait_until "$deadline" "rbd pool init" crbd pool init rbd ||
    die "rbd pool init failed"
  wait_until "$deadline" "rados -p rbd ls" crados -p rbd ls ||
    die "pool rbd does not list"
  probe_rbd() { crbd create rbd/.ready-probe --size 1M && crbd info rbd/.ready-probe && crbd rm --no-progress rbd/.ready-probe; }
  wait_until "$deadline" "rbd create/info/rm of a 1 MiB probe image" probe_rbd ||
    die "rbd does not serve IO"

  trap - EXIT
  log "cluster up in $((SECONDS - t0)) s: fsid $fsid, monitor 127.0.0.1:$MON_PORT (msgr2), $nosds OSD(s), pool rbd"
  echo "CEPH_CONF=$CONF"
  echo "CEPH_KEYRING=$KEYRING"
}

# stop_pid NAME PID SECONDS: SIGTERM, wait, then SIGKILL.
stop_pids() {
  local deadline=$((SECONDS + $1)) left p; shift
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  while :; do
    left=()
    for p in "$@"; do pid_alive "$p" && left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "still running after SIGTERM: ${left[*]}; sending SIGKILL"
      for p in "${left[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
      sleep 1
      return 0
    fi
    sleep 0.2
  done
}

cmd_stop() {
  local purge=0 name pid osds=() mons=()
  [ $# -ge 1 ] || usage
  set_paths "$1"; shift
  [ "${1:-}" = --purge ] && purge=1
  [ -f "$CONF" ] || die "$DIR holds no cluster (no ceph.conf)"
  if [ -f "$PIDS" ]; then
    while read -r name pid; do
      pid_alive "$pid" || continue
      case $name in osd.*) osds+=("$pid") ;; *) mons+=("$pid") ;; esac
    done <"$PIDS"
  fi
  # OSDs first (they tell the monitor they are going), then the monitor.
  [ ${#osds[@]} -eq 0 ] || stop_pids 30 "${osds[@]}"
  [ ${#mons[@]} -eq 0 ] || stop_pids 15 "${mons[@]}"
  if [ "$purge" = 1 ]; then
    case $DIR in /|/etc*|/var/lib/ceph*|"$HOME") die "refusing to remove $DIR" ;; esac
    rm -rf "$DIR"
    log "stopped and removed $DIR"
  else
    log "stopped; $DIR left for inspection (remove it with: $0 stop $DIR --purge)"
  fi
}

cmd_status() {
  local name pid state
  [ $# -ge 1 ] || usage
  set_paths "$1"
  [ -f "$CONF" ] || die "$DIR holds no cluster (no ceph.conf)"
  while read -r name pid; do
    [ "$(daemon_pid "$name")" = "$pid" ] || continue  # an older record of a restarted OSD
    if pid_alive "$pid"; then
      state=$(asok_state "$RUN/$name.asok"); state=${state:-no answer on admin socket}
      echo "$name pid $pid running, $state, rss $(awk '/VmRSS/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$pid/status")"
    else
      echo "$name pid $pid not running"
    fi
  done <"$PIDS"
  cceph -s || echo "ceph -s failed or timed out"
}

cmd_kill_osd() {
  [ $# -ge 2 ] || usage
  set_paths "$1"
  local pid; pid=$(daemon_pid "osd.$2")
  pid_alive "$pid" || die "osd.$2 is not running"
  kill -KILL "$pid"
  log "osd.$2 (pid $pid) killed"
}

cmd_start_osd() {
  local tmo=120
  [ $# -ge 2 ] || usage
  set_paths "$1"
  [ "${3:-}" = --timeout ] && tmo=${4:?}
  [ -d "$DIR/osd.$2" ] || die "no osd.$2 in $DIR"
  ! pid_alive "$(daemon_pid "osd.$2")" || die "osd.$2 is already running"
  rm -f "$RUN/osd.$2.asok"
  start_daemon "osd.$2" ceph-osd -i "$2"
  wait_until $((SECONDS + tmo)) "osd.$2 to be active" osd_active "$2" || die "osd.$2 not active; see $DIR/log/osd.$2.log"
  log "osd.$2 active"
}

[ $# -ge 1 ] || usage
sub=$1; shift
case $sub in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  kill-osd) cmd_kill_osd "$@" ;;
  start-osd) cmd_start_osd "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
