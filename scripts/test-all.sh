#!/usr/bin/env bash
# Every test: unit tests (warnings are errors), then the integration run against real peers
# (libiscsi's tools and conformance suite, qemu-img, Debian's tgtd for comparison), then each
# fuzz target for a bounded time. scripts/kernel-peers.sh boots a Debian guest under QEMU for Linux's
# initiator, dm-multipath and LIO (its image is cached outside the clone).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release -Xswiftc -warnings-as-errors
swift test -Xswiftc -warnings-as-errors
bash scripts/install-check.sh
bash scripts/readme-examples.sh
bash scripts/integration.sh
bash scripts/hostile-initiator.sh
bash scripts/seeds-admin.sh
bash scripts/config-matrix.sh
bash scripts/portal-groups.sh
bash scripts/tgtadm-bad-input.sh
bash scripts/control-sockets.sh
bash scripts/initiator.sh
bash scripts/metrics.sh
bash scripts/initiator-recovery.sh
bash scripts/initiator-bad-input.sh
bash scripts/iscsiadm-compat.sh
bash scripts/hostile-target.sh
bash scripts/block-devices.sh
bash scripts/multipath.sh
bash scripts/kernel-peers.sh
bash scripts/ceph-smoke.sh
bash scripts/rbd-gateways.sh
bash scripts/rbd-failover.sh
bash scripts/fuzz.sh
