#!/bin/sh
# Runs INSIDE the Debian guest that scripts/kernel-peers.sh boots (PID 1's child, from the 9p share
# mounted at /mnt/kp). Linux's own iSCSI initiator (open-iscsi + iscsi_tcp) and dm-multipath against
# our tgtd on the host (10.0.2.2), then LIO set up for our initiator on the host. Every step writes
# exactly one line to $S/results: "PASS name" or "FAIL name: why"; "TIME name seconds" lines go to
# $S/timings. Requests to the host (restart tgtd, drop a portal, ...) go through $S/rpc; the host's
# requests to change LIO during its checks (disable a TPG, ...) come through $S/grpc.
S=/mnt/kp
. $S/env   # HOST_PORT, MPATH_PORT, IQN_*, VENDOR, PRODUCT, REV, SERIAL, DISK_BLOCKS, CHAP_* ...
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
pass() { echo "PASS $1" >>$S/results; log "PASS $1"; timing "$1"; }
fail() { echo "FAIL $1: $2" >>$S/results; log "FAIL $1: $2"; timing "$1"; }
STEP_T0=$(date +%s)
start() { STEP_T0=$(date +%s); log "== $1"; }
timing() { echo "TIME $1 $(( $(date +%s) - STEP_T0 ))" >>$S/timings; }
# rpc CMD ARGS: asks the host, waits (240 s at most) for its answer; prints it; fails if the host did.
rpc() {  # (the counter lives in a file: rpc runs in $(...) subshells)
  RPCN=$(( $(cat /tmp/rpcn 2>/dev/null || echo 0) + 1 )); echo $RPCN >/tmp/rpcn
  echo "$*" >$S/rpc/req.$RPCN.tmp && mv $S/rpc/req.$RPCN.tmp $S/rpc/req.$RPCN
  i=0
  while [ ! -f $S/rpc/ans.$RPCN ]; do
    sleep 0.5; i=$((i + 1)); [ $i -lt 480 ] || { log "rpc $* got no answer"; return 1; }
  done
  sed 1d $S/rpc/ans.$RPCN
  [ "$(head -n 1 $S/rpc/ans.$RPCN)" = ok ]
}

# --- the guest's system -------------------------------------------------------------------------
log "guest.sh started; uptime $(cat /proc/uptime)"
echo "$(cut -d' ' -f1 /proc/uptime)" >$S/booted
for m in virtio_net iscsi_tcp crc32c_generic crc32c_intel dm_multipath dm_round_robin scsi_dh_alua sd_mod sg loop \
  target_core_mod target_core_file target_core_iblock iscsi_target_mod; do modprobe $m 2>/dev/null || log "no module $m"; done
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
mkdir -p /run/lock/iscsi /run/udev /etc/target
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config   # LIO's tree
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add >/dev/null 2>&1; udevadm settle -t 30
iscsid || log "iscsid did not start"
sleep 1
dmesg -C

# disk_of TARGET PORTAL: the sdX the kernel made for that session ("" if none).
disk_of() {
  sid=$(iscsiadm -m session 2>/dev/null | grep " $2,[0-9]* $1 " | sed 's/.*\[\([0-9]*\)\].*/\1/' | head -n 1)
  [ -n "$sid" ] || return 0
  iscsiadm -m session -r "$sid" -P 3 2>/dev/null | sed -n 's/.*Attached scsi disk \([a-z]*\).*/\1/p' | head -n 1
}
# wait_disk TARGET PORTAL: up to 30 s for the disk to appear; prints it.
wait_disk() {
  for _ in $(seq 1 60); do d=$(disk_of "$1" "$2"); [ -n "$d" ] && [ -b /dev/$d ] && { echo $d; return 0; }; sleep 0.5; done
  return 1
}
new_record() {  # new_record IQN PORTAL [iface]
  iscsiadm -m node -o new -T "$1" -p "$2" ${3:+-I $3} >/dev/null &&
  iscsiadm -m node -T "$1" -p "$2" ${3:+-I $3} -o update -n node.session.timeo.replacement_timeout -v "${4:-90}" >/dev/null
}
upd() { iscsiadm -m node -T "$1" -p "$2" -o update -n "$3" -v "$4" >/dev/null; }
login() { iscsiadm -m node -T "$1" -p "$2" ${3:+-I $3} -l >/tmp/login.out 2>&1; }
logout() { iscsiadm -m node -T "$1" -p "$2" -u >/dev/null 2>&1; }
P=10.0.2.2:$HOST_PORT
head -c 48M /dev/urandom >/tmp/data
want=$(sha256sum </tmp/data)
# writer DEV SECONDS: rewrites /tmp/data onto DEV (direct IO) for SECONDS at least and until
# /tmp/writer.stop exists plus one whole pass; counts failed passes in /tmp/writer.fail.
writer() {
  rm -f /tmp/writer.stop; echo 0 >/tmp/writer.fail; echo 0 >/tmp/writer.passes
  end=$(( $(date +%s) + $2 )); stop_seen=0
  while :; do
    [ -f /tmp/writer.stop ] && stop_seen=1
    dd if=/tmp/data of=$1 bs=1M oflag=direct conv=fsync status=none 2>>/tmp/writer.err || echo $(( $(cat /tmp/writer.fail) + 1 )) >/tmp/writer.fail
    echo $(( $(cat /tmp/writer.passes) + 1 )) >/tmp/writer.passes
    [ $stop_seen = 1 ] && [ $(date +%s) -ge $end ] && break
  done
}
readback() { dd if=$1 bs=1M count=48 iflag=direct status=none | sha256sum; }

# RUN_LINUX=0 (from the env file) leaves stages 1 and 3 out.
if [ "${RUN_LINUX:-1}" = 1 ]; then
# --- stage 1: Linux's initiator against our tgtd -------------------------------------------------
start linux-discovery
if out=$(iscsiadm -m discovery -t st -p $P 2>&1); then
  missing=""
  for iqn in $IQN_DISK $IQN_CHAP $IQN_MUTUAL $IQN_THIN $IQN_MPATH; do
    echo "$out" | grep -q "127.0.0.1:$HOST_PORT,1 $iqn\$" || missing="$missing $iqn"
  done
  if [ -z "$missing" ]; then pass linux-discovery; else fail linux-discovery "not listed:$missing; got: $(echo $out)"; fi
else fail linux-discovery "iscsiadm exit: $(echo $out)"; fi
# The answers carry 127.0.0.1, the host's own address: static records at 10.0.2.2 instead.
iscsiadm -m node -o delete >/dev/null 2>&1
for iqn in $IQN_DISK $IQN_CHAP $IQN_MUTUAL $IQN_THIN; do new_record $iqn $P; done

start linux-login
DISK=""
if login $IQN_DISK $P && DISK=$(wait_disk $IQN_DISK $P); then
  state=$(cat /sys/block/$DISK/device/state)
  if [ "$state" = running ]; then pass linux-login; else fail linux-login "$DISK state $state"; fi
else fail linux-login "$(cat /tmp/login.out | tr '\n' ' ') disk '$DISK'"; fi

if [ -n "$DISK" ]; then
  D=/dev/$DISK
  start linux-inquiry-sysfs
  dev=/sys/block/$DISK/device
  v=$(cat $dev/vendor | sed 's/ *$//'); m=$(cat $dev/model | sed 's/ *$//'); r=$(cat $dev/rev | sed 's/ *$//')
  sz=$(cat /sys/block/$DISK/size); lbs=$(cat /sys/block/$DISK/queue/logical_block_size)
  wwid=$(cat $dev/wwid 2>/dev/null); typ=$(cat $dev/type)
  if [ "$v/$m/$r" != "$VENDOR/$PRODUCT/$REV" ]; then fail linux-inquiry-sysfs "vendor/model/rev $v/$m/$r, expected $VENDOR/$PRODUCT/$REV"
  elif [ "$sz" != "$DISK_BLOCKS" ] || [ "$lbs" != 512 ]; then fail linux-inquiry-sysfs "size $sz x $lbs, expected $DISK_BLOCKS x 512"
  elif [ "$typ" != 0 ]; then fail linux-inquiry-sysfs "type $typ"
  # (sysfs gives VPD attributes no size: read them)
  elif [ -z "$(od -An -tx1 $dev/vpd_pg83 | head -n 1)" ] || [ -z "$(od -An -tx1 $dev/vpd_pg80 | head -n 1)" ]; then fail linux-inquiry-sysfs "the kernel read no VPD 0x80/0x83"
  elif ! tail -c +5 $dev/vpd_pg80 | grep -q "$SERIAL"; then fail linux-inquiry-sysfs "vpd_pg80 lacks $SERIAL"
  elif [ -z "$wwid" ]; then fail linux-inquiry-sysfs "no wwid"
  else pass linux-inquiry-sysfs; log "wwid $wwid"; fi

  start linux-sg3-utils
  inq=$(sg_inq $D 2>&1 | tr -s ' '); sn=$(sg_vpd -p sn $D 2>&1 | tr -s ' '); cap=$(sg_readcap -l $D 2>&1 | tr -s ' ')
  { echo "$inq"; echo "$sn"; echo "$cap"; sg_vpd -p di $D; sg_vpd -p bl $D; } >$S/sg3-utils.txt 2>&1
  sg_vpd -p di -r $D >/tmp/pg83.raw 2>/dev/null
  naa=$(echo "$wwid" | sed -n 's/^naa\.//p')
  if ! echo "$inq" | grep -q "Vendor identification: $VENDOR" || ! echo "$inq" | grep -q "Product identification: $PRODUCT" ||
    ! echo "$inq" | grep -q "Product revision level: $REV"; then fail linux-sg3-utils "sg_inq: $(echo $inq | head -c 300)"
  elif ! echo "$sn" | grep -q "Unit serial number: $SERIAL"; then fail linux-sg3-utils "sg_vpd -p sn: $(echo $sn)"
  elif [ "$(od -An -tx1 /tmp/pg83.raw | tee $S/pg83-sg_vpd.hex)" != "$(od -An -tx1 $dev/vpd_pg83 | tee $S/pg83-kernel.hex)" ]; then
    fail linux-sg3-utils "sg_vpd -p di differs from the kernel's vpd_pg83"
  elif [ -n "$naa" ] && ! sg_vpd -p di $D | tr -d ' ' | grep -qi "0x$naa"; then fail linux-sg3-utils "wwid $wwid not in sg_vpd -p di"
  elif ! echo "$cap" | grep -q "Last LBA=$((DISK_BLOCKS - 1)) " || ! echo "$cap" | grep -q "Logical block length=512 bytes"; then
    fail linux-sg3-utils "sg_readcap: $(echo $cap | head -c 300)"
  elif ! sg_vpd -p bl $D >/dev/null 2>&1; then fail linux-sg3-utils "no Block Limits VPD"
  else pass linux-sg3-utils; fi

  start linux-mkfs-fsck-sha256
  mkdir -p /mnt/d
  if ! mkfs.ext4 -q -F $D >/tmp/mkfs.out 2>&1; then fail linux-mkfs-fsck-sha256 "mkfs: $(cat /tmp/mkfs.out)"
  elif ! { mount $D /mnt/d && cp /tmp/data /mnt/d/data && umount /mnt/d; }; then fail linux-mkfs-fsck-sha256 "mount/copy failed"
  else
    echo 3 >/proc/sys/vm/drop_caches
    blockdev --flushbufs $D
    if ! fsck.ext4 -fn $D >/tmp/fsck.out 2>&1; then fail linux-mkfs-fsck-sha256 "fsck: $(tail -n 3 /tmp/fsck.out)"
    else
      mount -o ro $D /mnt/d; got=$(sha256sum </mnt/d/data); umount /mnt/d
      if [ "$got" = "$want" ]; then pass linux-mkfs-fsck-sha256; else fail linux-mkfs-fsck-sha256 "sha256 differs"; fi
    fi
  fi

  start linux-fio-verify
  if fio --name=verify --filename=$D --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite \
      --bsrange=4k-128k --size=64M --verify=crc32c --verify_fatal=1 --do_verify=1 --output=/tmp/fio.out >/dev/null 2>&1 &&
    grep -q "err= 0" /tmp/fio.out; then pass linux-fio-verify
  else fail linux-fio-verify "$(grep -m 3 -i 'err\|verify' /tmp/fio.out | tr '\n' ' ')"; fi


  start linux-tgtd-kill9-restart
  sid=$(iscsiadm -m session | grep " $P,[0-9]* $IQN_DISK " | sed 's/.*\[\([0-9]*\)\].*/\1/')
  writer $D 10 & wpid=$!
  sleep 3
  if ! kill -0 $wpid 2>/dev/null; then fail linux-tgtd-kill9-restart "the writer ended before the kill"
  elif ! out=$(rpc restart-tgtd); then fail linux-tgtd-kill9-restart "host: $out"
  else
    log "host: $out"
    touch /tmp/writer.stop; wait $wpid
    sid2=$(iscsiadm -m session | grep " $P,[0-9]* $IQN_DISK " | sed 's/.*\[\([0-9]*\)\].*/\1/')
    st=$(cat /sys/block/$DISK/device/state)
    if [ "$(cat /tmp/writer.fail)" != 0 ]; then fail linux-tgtd-kill9-restart "$(cat /tmp/writer.fail) write passes failed: $(tail -n 2 /tmp/writer.err | tr '\n' ' ')"
    elif [ "$(readback $D)" != "$want" ]; then fail linux-tgtd-kill9-restart "data read back differs"
    elif [ "$sid" != "$sid2" ] || [ "$st" != running ]; then fail linux-tgtd-kill9-restart "session $sid -> '$sid2', device $st"
    elif ! dmesg | grep -q "detected conn error"; then fail linux-tgtd-kill9-restart "the kernel saw no connection error: was IO in flight?"
    else pass linux-tgtd-kill9-restart; log "$(cat /tmp/writer.passes) passes"; fi
  fi

  start linux-digests
  logout $IQN_DISK $P
  upd $IQN_DISK $P "node.conn[0].iscsi.HeaderDigest" CRC32C
  upd $IQN_DISK $P "node.conn[0].iscsi.DataDigest" CRC32C
  if login $IQN_DISK $P && DISK=$(wait_disk $IQN_DISK $P); then
    D=/dev/$DISK
    p2=$(iscsiadm -m session -P 2 | grep -i "digest")
    if ! echo "$p2" | grep -q "HeaderDigest: CRC32C" || ! echo "$p2" | grep -q "DataDigest: CRC32C"; then fail linux-digests "negotiated: $(echo $p2)"
    elif ! dd if=/tmp/data of=$D bs=1M oflag=direct conv=fsync status=none; then fail linux-digests "write failed"
    elif [ "$(readback $D)" != "$want" ]; then fail linux-digests "data read back differs"
    elif ! fio --name=dverify --filename=$D --direct=1 --ioengine=libaio --iodepth=8 --rw=randwrite --bsrange=4k-128k \
        --size=16M --verify=crc32c --verify_fatal=1 --output=/tmp/fio2.out >/dev/null 2>&1; then fail linux-digests "fio: $(grep -m 2 err /tmp/fio2.out)"
    else pass linux-digests; fi
    logout $IQN_DISK $P
  else fail linux-digests "login: $(cat /tmp/login.out | tr '\n' ' ')"; fi
fi

start linux-chap
if login $IQN_CHAP $P; then fail linux-chap "login without CHAP was admitted"; logout $IQN_CHAP $P
else
  upd $IQN_CHAP $P node.session.auth.authmethod CHAP
  upd $IQN_CHAP $P node.session.auth.username "$CHAP_USER"
  upd $IQN_CHAP $P node.session.auth.password wrongsecret99
  if login $IQN_CHAP $P; then fail linux-chap "a wrong CHAP secret was admitted"; logout $IQN_CHAP $P
  else
    upd $IQN_CHAP $P node.session.auth.password "$CHAP_PASS"
    if login $IQN_CHAP $P && d=$(wait_disk $IQN_CHAP $P) && dd if=/tmp/data of=/dev/$d bs=1M oflag=direct status=none &&
      [ "$(readback /dev/$d)" = "$want" ]; then pass linux-chap
    else fail linux-chap "CHAP login or IO failed: $(cat /tmp/login.out | tr '\n' ' ')"; fi
    logout $IQN_CHAP $P
  fi
fi

start linux-chap-mutual
upd $IQN_MUTUAL $P node.session.auth.authmethod CHAP
upd $IQN_MUTUAL $P node.session.auth.username "$CHAP_USER"
upd $IQN_MUTUAL $P node.session.auth.password "$CHAP_PASS"
upd $IQN_MUTUAL $P node.session.auth.username_in "$CHAP_OUT_USER"
upd $IQN_MUTUAL $P node.session.auth.password_in wrongtarget99
if login $IQN_MUTUAL $P; then fail linux-chap-mutual "a target with the wrong secret was accepted"; logout $IQN_MUTUAL $P
else
  upd $IQN_MUTUAL $P node.session.auth.password_in "$CHAP_OUT_PASS"
  if login $IQN_MUTUAL $P && d=$(wait_disk $IQN_MUTUAL $P) && dd if=/tmp/data of=/dev/$d bs=1M oflag=direct status=none &&
    [ "$(readback /dev/$d)" = "$want" ]; then pass linux-chap-mutual
  else fail linux-chap-mutual "mutual CHAP login or IO failed: $(cat /tmp/login.out | tr '\n' ' ')"; fi
  logout $IQN_MUTUAL $P
fi

start linux-fstrim-thin
if login $IQN_THIN $P && d=$(wait_disk $IQN_THIN $P); then
  mode=$(cat /sys/block/$d/device/scsi_disk/*/provisioning_mode 2>/dev/null)
  dmax=$(cat /sys/block/$d/queue/discard_max_bytes)
  if [ "$mode" != unmap ] || [ "$dmax" = 0 ]; then fail linux-fstrim-thin "provisioning_mode '$mode', discard_max_bytes $dmax"
  elif ! { mkfs.ext4 -q -F -E nodiscard /dev/$d && mount -o nodiscard /dev/$d /mnt/d; }; then fail linux-fstrim-thin "mkfs/mount"
  else
    for i in 1 2 3; do cp /tmp/data /mnt/d/f$i; done; sync
    a1=$(rpc alloc-thin); rm -f /mnt/d/f*; sync
    tr=$(fstrim -v /mnt/d 2>&1); a2=$(rpc alloc-thin); umount /mnt/d
    log "allocated $a1 KiB before, $a2 KiB after fstrim ($tr)"
    if ! [ "$a1" -ge 0 ] 2>/dev/null || ! [ "$a2" -ge 0 ] 2>/dev/null; then fail linux-fstrim-thin "host gave no allocation: '$a1' '$a2'"
    elif [ $((a1 - a2)) -lt $((100 * 1024)) ]; then fail linux-fstrim-thin "backing file $a1 KiB -> $a2 KiB after fstrim ($tr)"
    else pass linux-fstrim-thin; fi
  fi
  logout $IQN_THIN $P
else fail linux-fstrim-thin "login: $(cat /tmp/login.out | tr '\n' ' ')"; fi

start linux-dmesg
# Lines at warning level or worse about SCSI/iSCSI disks; the connection loss and the relogin of
# the kill -9 step (and the unit attention a restarted target reports) are normal.
dmesg -l emerg,alert,crit,err,warn >/tmp/dmesg.warn
dmesg >$S/dmesg-stage1.txt
grep -E 'sd |scsi|iscsi|connection[0-9]|session[0-9]|sd[a-z]' /tmp/dmesg.warn |
  grep -vE 'detected conn error \(10(1[01]|20)\)|Power-on or device reset occurred' >/tmp/dmesg.bad
if [ -s /tmp/dmesg.bad ]; then fail linux-dmesg "$(head -n 3 /tmp/dmesg.bad | tr '\n' '|')"; else pass linux-dmesg; fi

# --- stage 3: dm-multipath over two target portal groups with ALUA -------------------------------
# Target 5's unit is Active/optimized through TPG 1 (portal HOST_PORT) and Active/non-optimized
# through TPG 2 (MPATH_PORT): multipath-tools' alua prioritiser must put them in two path groups.
start mpath-map
cat >/etc/multipath.conf <<EOF
defaults {
    user_friendly_names no
    find_multipaths no
    polling_interval 2
    path_grouping_policy group_by_prio
    prio alua
    failback immediate
}
blacklist {
    devnode "^vd[a-z]"
}
EOF
# mp_groups MAP: one line per path group, in multipath's order: "PRIO STATUS DEV..."
mp_groups() {
  multipath -ll "$1" 2>/dev/null | awk '
    /policy=/ { if (g != "") print g; p = $0; sub(/.*prio=/, "", p); sub(/ .*/, "", p)
                s = $0; sub(/.*status=/, "", s); sub(/ .*/, "", s); g = p " " s; next }
    { for (i = 1; i <= NF; i++) if ($i ~ /^sd[a-z]+$/) g = g " " $i }
    END { if (g != "") print g }'
}
# mp_verify MAP SIZE: fio writes SIZE of random 4-128 KiB blocks through the map, 16 in flight,
# and reads every block back against its checksum.
mp_verify() {
  fio --name=mpverify --filename=$1 --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bsrange=4k-128k \
    --size=$2 --verify=crc32c --verify_fatal=1 --do_verify=1 --output=/tmp/mpfio.out >/dev/null 2>&1 &&
    grep -q "err= 0" /tmp/mpfio.out
}
P2=10.0.2.2:$MPATH_PORT
iscsiadm -m iface -I kpb -o new >/dev/null
iscsiadm -m iface -I kpb -o update -n iface.initiatorname -v "$GUEST_IQN_B" >/dev/null
new_record $IQN_MPATH $P "" 10
iscsiadm -m node -o new -T $IQN_MPATH -p $P2 -I kpb >/dev/null
iscsiadm -m node -T $IQN_MPATH -p $P2 -I kpb -o update -n node.session.timeo.replacement_timeout -v 10 >/dev/null
multipathd
MAP=""
if login $IQN_MPATH $P && login $IQN_MPATH $P2 kpb && d1=$(wait_disk $IQN_MPATH $P) && d2=$(wait_disk $IQN_MPATH $P2); then
  udevadm settle -t 30
  for _ in $(seq 1 30); do
    multipath -r >/dev/null 2>&1
    maps=$(dmsetup ls --target multipath 2>/dev/null | awk '{print $1}')
    [ "$(echo "$maps" | grep -c .)" = 1 ] && [ "$(mp_groups "$maps" | wc -l)" = 2 ] && break
    sleep 1
  done
  multipath -ll >$S/multipath-ll.txt 2>&1
  n=$(echo "$maps" | grep -c .)
  groups=$(mp_groups "$maps" | tr '\n' '|')
  if [ "$n" != 1 ]; then fail mpath-map "$n maps: $(echo $maps) ($d1, $d2)"
  elif ! grep -q "hwhandler='1 alua'" $S/multipath-ll.txt; then fail mpath-map "no alua hardware handler: $(tr '\n' '|' <$S/multipath-ll.txt)"
  elif [ "$groups" != "50 active $d1|10 enabled $d2|" ]; then
    fail mpath-map "path groups '$groups', expected '50 active $d1|10 enabled $d2|': $(tr '\n' '|' <$S/multipath-ll.txt)"
  else MAP=/dev/mapper/$maps; pass mpath-map; fi
else fail mpath-map "logins/disks: $(cat /tmp/login.out | tr '\n' ' ') '$d1' '$d2'"; fi

if [ -n "$MAP" ]; then
  start mpath-alua-follow
  if ! out=$(rpc alua-swap); then fail mpath-alua-follow "host: $out"
  else
    ok=0
    for _ in $(seq 1 60); do
      [ "$(mp_groups $MAP | tr '\n' '|')" = "50 active $d2|10 enabled $d1|" ] && { ok=1; break; }
      sleep 1
    done
    multipath -ll $MAP >$S/multipath-ll-after-swap.txt 2>&1
    if [ $ok != 1 ]; then fail mpath-alua-follow "after targetcli's swap the groups are '$(mp_groups $MAP | tr '\n' '|')'"
    else pass mpath-alua-follow; fi
  fi

  start mpath-path-loss
  # fio verification through the map while the now active group's portal (TPG 2) goes away.
  mp_verify $MAP 96M & fpid=$!
  sleep 3
  if ! out=$(rpc drop-portal); then fail mpath-path-loss "host: $out"; wait $fpid
  else
    log "host: $out"
    ok=0
    for _ in $(seq 1 90); do
      multipath -ll $MAP 2>&1 | tr -s ' ' >/tmp/mp.txt
      grep -q 'failed faulty' /tmp/mp.txt && grep -q 'active ready running' /tmp/mp.txt && { ok=1; break; }
      sleep 1
    done
    wait $fpid; frc=$?
    cp /tmp/mp.txt $S/multipath-ll-after-loss.txt
    if [ $ok != 1 ]; then fail mpath-path-loss "multipath never showed one failed and one active path: $(tr '\n' '|' </tmp/mp.txt)"
    elif [ $frc != 0 ]; then fail mpath-path-loss "fio: $(grep -m 3 -i 'err\|verify' /tmp/mpfio.out | tr '\n' ' ')"
    else pass mpath-path-loss; fi
  fi

  start mpath-path-returns
  if ! out=$(rpc add-portal); then fail mpath-path-returns "host: $out"
  else
    ok=0
    # Linux's scsi_dh_alua made TPG 1's group Active/optimized with SET TARGET PORT GROUPS when
    # it failed over (the groups allow explicit changes), so both groups may now be optimized.
    for _ in $(seq 1 120); do
      [ "$(multipath -ll $MAP 2>/dev/null | tr -s ' ' | grep -c 'active ready running')" = 2 ] && { ok=1; break; }
      sleep 1
    done
    log "path groups after the return: $(mp_groups $MAP | tr '\n' '|')"
    if [ $ok != 1 ]; then fail mpath-path-returns "the path did not come back: $(multipath -ll $MAP | tr '\n' '|')"
    elif ! mp_verify $MAP 16M; then fail mpath-path-returns "fio: $(grep -m 3 -i 'err\|verify' /tmp/mpfio.out | tr '\n' ' ')"
    else pass mpath-path-returns; fi
  fi
fi

# Two of our gateways on one Ceph RBD image (host's kernel-peers-rbd.sh): the unit is
# Active/optimized through the gateway holding the image's lock (gateway 1, TPG 1) and
# Active/non-optimized through the other; fio verify survives kill -9 of the holder.
if [ "${RBD:-0}" = 1 ]; then
  start rbd-mpath-map
  R1=10.0.2.2:$RBD_PORT1 R2=10.0.2.2:$RBD_PORT2
  # Short replacement timeouts: the path fails (and dm-multipath moves on) 5 s after the gateway died.
  new_record $IQN_RBD $R1 "" 5
  new_record $IQN_RBD $R2 kpb 5
  RMAP=""
  if login $IQN_RBD $R1 && login $IQN_RBD $R2 kpb && r1=$(wait_disk $IQN_RBD $R1) && r2=$(wait_disk $IQN_RBD $R2); then
    udevadm settle -t 30
    for _ in $(seq 1 30); do
      multipath -r >/dev/null 2>&1
      for m in $(dmsetup ls --target multipath 2>/dev/null | awk '{print $1}'); do
        mp_groups $m | grep -q " $r1" && RMAP=$m
      done
      [ -n "$RMAP" ] && [ "$(mp_groups $RMAP | wc -l)" = 2 ] && break
      sleep 1
    done
    groups=$(mp_groups "$RMAP" | tr '\n' '|')
    multipath -ll $RMAP >$S/multipath-ll-rbd.txt 2>&1
    if [ -z "$RMAP" ]; then fail rbd-mpath-map "no map for $r1/$r2"
    elif [ "$groups" != "50 active $r1|10 enabled $r2|" ]; then
      fail rbd-mpath-map "path groups '$groups', expected '50 active $r1|10 enabled $r2|'"; RMAP=""
    else RMAP=/dev/mapper/$RMAP; pass rbd-mpath-map; fi
  else fail rbd-mpath-map "logins/disks: $(cat /tmp/login.out | tr '\n' ' ') '$r1' '$r2'"; fi

  if [ -n "$RMAP" ]; then
    start rbd-owner-kill
    mp_verify $RMAP 96M & fpid=$!
    sleep 3
    if ! out=$(rpc kill-rbd-owner); then fail rbd-owner-kill "host: $out"; wait $fpid
    else
      log "host: $out"
      echo "$out" >$S/rbd-takeover.txt
      wait $fpid; frc=$?
      multipath -ll $RMAP 2>&1 | tr -s ' ' >$S/multipath-ll-rbd-after-kill.txt
      if [ $frc != 0 ]; then fail rbd-owner-kill "fio: $(grep -m 3 -i 'err\|verify' /tmp/mpfio.out | tr '\n' ' ')"
      elif ! grep -q "active ready running" $S/multipath-ll-rbd-after-kill.txt; then
        fail rbd-owner-kill "no active path left: $(tr '\n' '|' <$S/multipath-ll-rbd-after-kill.txt)"
      else pass rbd-owner-kill; fi
    fi
    rpc start-rbd-gw1 >/dev/null || log "gateway 1 did not come back"
  fi
  logout $IQN_RBD $R1; iscsiadm -m node -T $IQN_RBD -p $R2 -I kpb -u >/dev/null 2>&1
fi
multipathd shutdown >/dev/null 2>&1
iscsiadm -m node -u >/dev/null 2>&1
fi  # RUN_LINUX

# --- stage 2: LIO for our initiator on the host --------------------------------------------------
# lio_requests: while the host runs its LIO checks (and this shell waits in `rpc lio-ready`), the
# host asks for changes to LIO through $S/grpc/req.N ("tpg-enable lio-mpath 2 0", ...: arguments
# of lio-setup.py); the answer goes to $S/grpc/ans.N ("ok" or "failed", then the output). Each
# request gets 60 s; the loop ends once /tmp/lio-requests.stop exists.
lio_requests() {
  rn=0
  while [ ! -f /tmp/lio-requests.stop ]; do
    if [ -f $S/grpc/req.$((rn + 1)) ]; then
      rn=$((rn + 1)); req=$(cat $S/grpc/req.$rn)
      if out=$(timeout 60 python3 $S/lio-setup.py $req 2>&1); then st=ok; else st=failed; fi
      log "host asked: $req: $st $(echo $out)"
      printf '%s\n%s\n' "$st" "$out" >$S/grpc/ans.$rn.tmp && mv $S/grpc/ans.$rn.tmp $S/grpc/ans.$rn
    else sleep 0.3; fi
  done
}
if [ -x $S/lio-setup.py ] && [ "${RUN_LIO:-1}" = 1 ]; then
  start lio-setup
  if python3 $S/lio-setup.py >/tmp/lio.out 2>&1; then
    log "LIO up: $(tr '\n' '|' </tmp/lio.out)"
    lio_requests & lpid=$!
    rpc lio-ready >/tmp/lio-host.out 2>&1 || log "host's LIO checks: $(tail -n 3 /tmp/lio-host.out)"
    touch /tmp/lio-requests.stop; wait $lpid
  else fail lio-setup "$(tail -n 3 /tmp/lio.out | tr '\n' ' ')"; fi
fi
log "guest.sh done"
echo done >$S/finished
