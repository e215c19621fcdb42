#!/usr/bin/env bash
# Smoke test of scripts/ceph-cluster.sh: starts a throwaway cluster in a temporary directory, makes a
# 256 MiB RBD image, writes it through librbd (python3-rbd) and reads it back (librbd and `rbd export`),
# comparing sha256 sums, runs a short `rbd bench`, reports start-up time and the daemons' RSS, then stops
# the cluster and removes it. Exits non-zero on any failure.
#
#   bash scripts/ceph-smoke.sh [--osds N] [--keep]     (--keep: leave the cluster running, print its dir)
#
# Needs: ceph-mon ceph-osd ceph-common python3-rbd python3-rados (Debian 12, Ceph 16.2).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER="$HERE/ceph-cluster.sh"
PY=/usr/bin/python3  # Debian's python, where python3-rbd lives (not a pyenv/venv one first on PATH)
OSDS=1 KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --osds) OSDS=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--osds N] [--keep]" >&2; exit 2 ;;
  esac
done

for cmd in ceph-mon ceph-osd ceph rbd; do
  command -v "$cmd" >/dev/null || { echo "ceph-smoke: $cmd missing (apt-get install ceph-mon ceph-osd ceph-common)" >&2; exit 1; }
done
"$PY" -c 'import rbd, rados' 2>/dev/null || { echo "ceph-smoke: python3-rbd/python3-rados missing" >&2; exit 1; }

DIR=$(mktemp -d /tmp/ceph-smoke.XXXXXX)
cleanup() {
  local rc=$?
  if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
    echo "ceph-smoke: cluster left running in $DIR (stop: bash $CLUSTER stop $DIR --purge)"
  elif [ "$rc" != 0 ] && [ -f "$DIR/ceph.conf" ]; then
    bash "$CLUSTER" stop "$DIR" || true
    rm -rf "$DIR/block"  # the bluestore files (sparse, but written); the logs are what tells
    echo "ceph-smoke: FAILED (rc $rc); cluster stopped, logs left in $DIR/log" >&2
  else
    bash "$CLUSTER" stop "$DIR" --purge >/dev/null 2>&1 || rm -rf "$DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT

t0=$(date +%s.%N)
out=$(bash "$CLUSTER" start "$DIR" --osds "$OSDS")
t1=$(date +%s.%N)
eval "$(grep -E '^CEPH_(CONF|KEYRING)=' <<<"$out")"
[ -n "${CEPH_CONF:-}" ] && [ -f "$CEPH_CONF" ] || { echo "ceph-smoke: start printed no CEPH_CONF" >&2; exit 1; }
startup=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
echo "ceph-smoke: cluster with $OSDS OSD(s) usable in $startup s"

timeout -k 5 30 rbd -c "$CEPH_CONF" create --size 256M rbd/smoke </dev/null

# Write the whole image in 4 MiB chunks of random data, then 64 scattered unaligned small writes;
# flush, close, reopen, read it all back: the sums must agree with the expected contents.
timeout -k 5 300 "$PY" - "$CEPH_CONF" >"$DIR/py.out" <<'EOF'
import hashlib, os, random, sys, time
import rados, rbd
conf = sys.argv[1]
size = 256 << 20
chunk = 4 << 20
expect = bytearray(os.urandom(size))
with rados.Rados(conffile=conf) as cluster:
    with cluster.open_ioctx("rbd") as ioctx:
        with rbd.Image(ioctx, "smoke") as image:
            assert image.size() == size, image.size()
            t = time.monotonic()
            for off in range(0, size, chunk):
                assert image.write(bytes(expect[off:off + chunk]), off) == chunk
            rnd = random.Random(14)
            for _ in range(64):
                n = rnd.randrange(1, 9000)
                off = rnd.randrange(0, size - n)
                data = os.urandom(n)
                assert image.write(data, off) == n
                expect[off:off + n] = data
            image.flush()
            wt = time.monotonic() - t
        with rbd.Image(ioctx, "smoke", read_only=True) as image:
            t = time.monotonic()
            h = hashlib.sha256()
            for off in range(0, size, chunk):
                got = image.read(off, chunk)
                assert len(got) == chunk
                h.update(got)
            rt = time.monotonic() - t
want = hashlib.sha256(expect).hexdigest()
if h.hexdigest() != want:
    print("MISMATCH", want, h.hexdigest())
    sys.exit(1)
print(want, f"{size / wt / 1e6:.0f}", f"{size / rt / 1e6:.0f}")
EOF
read -r want wmb rmb <"$DIR/py.out"
echo "ceph-smoke: librbd wrote 256 MiB at $wmb MB/s, read it back at $rmb MB/s, sha256 ${want:0:16}... matches"

got=$(timeout -k 5 120 rbd -c "$CEPH_CONF" export --no-progress rbd/smoke - </dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "ceph-smoke: rbd export sha256 $got, expected $want" >&2; exit 1; }
echo "ceph-smoke: rbd export gives the same sha256"

for io in write read; do
  line=$(timeout -k 5 120 rbd -c "$CEPH_CONF" bench --io-type "$io" --io-size 4K --io-threads 16 \
    --io-total 16M --io-pattern rand rbd/smoke </dev/null | tail -n 1)
  echo "ceph-smoke: rbd bench 4 KiB random $io: $(sed -n 's/.*ops\/sec: \([0-9.]*\).*/\1/p' <<<"$line" | cut -d. -f1) IOPS"
done

rss=""
while read -r name pid; do
  kb=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$kb" ] || continue
  rss+="$name $((kb / 1024)) MiB, "
  total=$(( ${total:-0} + kb / 1024 ))
done <"$DIR/pids"
echo "ceph-smoke: RSS ${rss}total ${total:-0} MiB"

timeout -k 5 30 rbd -c "$CEPH_CONF" rm --no-progress rbd/smoke </dev/null
echo "ceph-smoke: OK (start-up $startup s)"
