"""Shared by the raw-initiator checks (alua-check.py, pr-gateways.py, scsi-probe.py): the raw
initiator of hostile-initiator.py as `hi`, one-line verdicts, logged-in sessions, and REPORT TARGET
PORT GROUPS parsed."""
import importlib.util
import os
import struct
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("hostile", os.path.join(_here, "hostile-initiator.py"))
hi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hi)


def fail(why):
    print("FAIL " + why)
    sys.exit(1)


def ok(what):
    print("ok  " + what, flush=True)


def session(port, target, initiator):
    """A session through PORT, its power-on unit attention taken; FAIL if the login is refused."""
    conn = hi.Conn(port)
    status = conn.login(target=target, initiator=initiator)
    if status != (0, 0):
        fail("login through port %d: status %s" % (port, status))
    conn.run(hi.cdb_test_unit_ready())
    return conn


def rtpg(conn):
    """REPORT TARGET PORT GROUPS: {group id: (state, preferred, [relative ports])}; FAIL on error."""
    cdb = bytes([0xA3, 0x0A]) + b"\0" * 4 + struct.pack(">I", 4096) + b"\0\0"
    task = conn.run(cdb, edtl=4096, read=True)
    if task.status != 0:
        fail("REPORT TARGET PORT GROUPS: " + task.describe())
    data = bytes(task.data)
    length = struct.unpack_from(">I", data, 0)[0]
    groups, at = {}, 4
    while at + 8 <= min(len(data), 4 + length):
        state, pref = data[at] & 0x0F, bool(data[at] & 0x80)
        gid, count = struct.unpack_from(">H", data, at + 2)[0], data[at + 7]
        ports = [struct.unpack_from(">H", data, at + 8 + 4 * i + 2)[0] for i in range(count)]
        groups[gid] = (state, pref, ports)
        at += 8 + 4 * count
    return groups
