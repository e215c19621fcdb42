# Sourced by kernel-peers.sh: two of our gateways on one RBD image of a one-OSD cluster for the
# guest's dm-multipath (stage 3's rbd steps). Ports 4720 (TPG 1) and 4721 (TPG 2), control 472-473.
# rbd_start writes RBD=1 and the portals into $SHARE/env, or RBD=0 with the reason when it cannot.
RBD_PORTS=("" 4720 4721)
RBD_PIDS=("" "" "")
RBD_CONF=""

rbd_gw_start() {  # rbd_gw_start N
  "$BIN/tgtd" -f -C "$((471 + $1))" --iscsi "portal=127.0.0.1:${RBD_PORTS[$1]},$1" --state-dir "$WORK/rbd-state-$1" \
    >>"$WORK/rbd-gw$1.log" 2>&1 &
  RBD_PIDS[$1]=$!
  wait_port "${RBD_PORTS[$1]}"
}

rbd_start() {
  local n why=""
  if ! command -v ceph-mon >/dev/null || ! command -v rbd >/dev/null; then
    why="no Ceph (apt-get install ceph-mon ceph-osd ceph-common)"
  elif ! bash scripts/ceph-cluster.sh start "$WORK/ceph" >"$WORK/ceph-start.log" 2>&1; then
    why="the Ceph cluster did not start: $(tail -n 2 "$WORK/ceph-start.log" | tr '\n' ' ')"
  fi
  if [ -z "$why" ]; then
    RBD_CONF=$WORK/ceph/ceph.conf
    timeout 60 rbd -c "$RBD_CONF" create --size 256M rbd/kp-rbd >"$WORK/rbd-setup.log" 2>&1 || why="rbd create failed"
  fi
  if [ -z "$why" ]; then
    for n in 1 2; do
      rbd_gw_start $n
      {
        local A=("$BIN/tgtadm" -C "$((471 + n))" --lld iscsi)
        "${A[@]}" --op new --mode target --tid 1 -T "$IQN_RBD" &&
          "${A[@]}" --op update --mode target --tid 1 --name portal_groups --value 1,2 &&
          "${A[@]}" --op new --mode logicalunit --tid 1 --lun 1 --bstype rbd --backing-store rbd/kp-rbd \
            --bsopts "conf=$RBD_CONF;cache=0" &&
          "${A[@]}" --op update --mode logicalunit --tid 1 --lun 1 --params alua_state=1:active,alua_state=2:active &&
          "${A[@]}" --op bind --mode target --tid 1 -I ALL
      } >>"$WORK/rbd-setup.log" 2>&1 || { why="gateway $n setup: $(tail -n 2 "$WORK/rbd-setup.log" | tr '\n' ' ')"; break; }
      # Gateway 1 opens the image first and holds its lock.
      [ $n = 1 ] && ! rbd_wait_holds 1 1 && { why="gateway 1 never took the image's lock"; break; }
    done
  fi
  if [ -n "$why" ]; then
    echo "RBD=0 # $why" >>"$SHARE/env"
    echo "kernel-peers: rbd steps left out: $why"
    return 0
  fi
  printf 'RBD=1\nRBD_PORT1=%s\nRBD_PORT2=%s\n' "${RBD_PORTS[1]}" "${RBD_PORTS[2]}" >>"$SHARE/env"
}

rbd_holds() { lock_takeovers "$WORK/rbd-gw$1.log"; }
rbd_wait_holds() { wait_lock_takeovers "$WORK/rbd-gw$1.log" "$2"; }  # rbd_wait_holds N COUNT

# The guest's request: kill -9 the lock holder (gateway 1) and time the other's take-over.
rbd_kill_owner() {
  local count t0 t1
  count=$(rbd_holds 2)
  t0=$(date +%s.%N)
  kill -9 "${RBD_PIDS[1]}"
  wait "${RBD_PIDS[1]}" 2>/dev/null
  RBD_PIDS[1]=""
  rbd_wait_holds 2 $((count + 1)) || { echo "gateway 2 did not take the lock within 30 s"; return 1; }
  t1=$(date +%s.%N)
  local took
  took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  TIMINGS+=("rbd-takeover=${took}s")
  echo "gateway 1 killed with SIGKILL; gateway 2 holds the lock $took s later"
}

rbd_stop() {
  local n
  for n in 1 2; do [ -n "${RBD_PIDS[$n]}" ] && kill -9 "${RBD_PIDS[$n]}" 2>/dev/null; done
  [ -n "$RBD_CONF" ] && bash scripts/ceph-cluster.sh stop "$WORK/ceph" --purge >/dev/null 2>&1
  return 0
}
