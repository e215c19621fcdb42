#!/usr/bin/env python3
"""One-shot SCSI probes through the raw initiator of hostile-initiator.py, for scripts that need
to see a gateway's answer directly (not through a multipath device).

usage: scsi-probe.py TARGET OP:PORT...
  rtpg:PORT   prints "PORT gID:STATE[ports] ..." from REPORT TARGET PORT GROUPS
              (STATE: AO, ANO, SB, UA, or the number)
  write:PORT  WRITE(10) of one 512-byte block at LBA 8; prints "PORT write GOOD" or the sense
Each probe logs in as iqn.2026-12.org.swift-iscsi:probe, swallows the power-on unit attention
and logs out. Exits 1 if a login fails."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_support import hi, rtpg  # noqa: E402

STATES = {0: "AO", 1: "ANO", 2: "SB", 3: "UA"}


def describe_groups(conn):
    return " ".join("g%d:%s%s" % (gid, STATES.get(g[0], g[0]), g[2]) for gid, g in sorted(rtpg(conn).items()))


target = sys.argv[1]
for probe in sys.argv[2:]:
    op, port = probe.split(":")
    conn = hi.Conn(int(port))
    if conn.login(target=target, initiator="iqn.2026-12.org.swift-iscsi:probe") != (0, 0):
        print("login through port %s failed" % port)
        sys.exit(1)
    conn.run(hi.cdb_test_unit_ready())
    if op == "rtpg":
        print(port, describe_groups(conn))
    elif op == "write":
        task = conn.run(bytes([0x2A, 0, 0, 0, 0, 8, 0, 0, 1, 0]), edtl=512, write=True, data=b"p" * 512)
        print(port, "write", task.describe() if task.status else "GOOD")
    else:
        print("unknown probe " + op)
        sys.exit(2)
