#!/usr/bin/env python3
"""One-shot SCSI probes through the raw initiator of hostile-initiator.py, for scripts that need
to see a gateway's answer directly (not through a multipath device).

usage: scsi-probe.py TARGET OP:PORT...
  rtpg:PORT   prints "PORT gID:STATE[ports] ..." from REPORT TARGET PORT GROUPS
              (STATE: AO, ANO, SB, UA, or the number)
  write:PORT  WRITE(10) of one 512-byte block at LBA 8; prints "PORT write GOOD" or the sense
Each probe logs in as iqn.2026-12.org.swift-iscsi:probe, swallows the power-on unit attention
and logs out. Exits 1 if a login fails."""
import importlib.util
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("hostile", os.path.join(here, "hostile-initiator.py"))
hi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hi)
STATES = {0: "AO", 1: "ANO", 2: "SB", 3: "UA"}


def rtpg(conn):
    cdb = bytes([0xA3, 0x0A]) + b"\0" * 4 + struct.pack(">I", 4096) + b"\0\0"
    task = conn.run(cdb, edtl=4096, read=True)
    if task.status != 0:
        return "RTPG " + task.describe()
    data = bytes(task.data)
    length, out, at = struct.unpack_from(">I", data, 0)[0], [], 4
    while at + 8 <= min(len(data), 4 + length):
        state, gid, count = data[at] & 0x0F, struct.unpack_from(">H", data, at + 2)[0], data[at + 7]
        ports = [struct.unpack_from(">H", data, at + 8 + 4 * i + 2)[0] for i in range(count)]
        out.append("g%d:%s%s" % (gid, STATES.get(state, state), ports))
        at += 8 + 4 * count
    return " ".join(out)


target = sys.argv[1]
for probe in sys.argv[2:]:
    op, port = probe.split(":")
    conn = hi.Conn(int(port))
    if conn.login(target=target, initiator="iqn.2026-12.org.swift-iscsi:probe") != (0, 0):
        print("login through port %s failed" % port)
        sys.exit(1)
    conn.run(hi.cdb_test_unit_ready())
    if op == "rtpg":
        print(port, rtpg(conn))
    elif op == "write":
        task = conn.run(bytes([0x2A, 0, 0, 0, 0, 8, 0, 0, 1, 0]), edtl=512, write=True, data=b"p" * 512)
        print(port, "write", task.describe() if task.status else "GOOD")
    else:
        print("unknown probe " + op)
        sys.exit(2)
