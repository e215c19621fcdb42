#!/usr/bin/env python3
"""ALUA over the wire, as an initiator sees it: one session through each of two target portal
groups of one target, then the standard INQUIRY's TPGS, REPORT TARGET PORT GROUPS, VPD 0x83's
target port designators, the command rules of a standby group, the unit attention a state
change posts, and SET TARGET PORT GROUPS. Uses the raw initiator of hostile-initiator.py.

usage: alua-check.py TARGET PORT_TPG1 PORT_TPG2
Expects tpg1 in an Active/optimized group (id 0) and tpg2 in a Standby group (id 2). After its
SET TARGET PORT GROUPS it prints "waiting" and reads a line: the caller puts the states back
with targetcli meanwhile. Prints one "ok ..." line per check; exits 1 with "FAIL ..." on the
first failure."""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_support import fail, hi, ok, rtpg  # noqa: E402
import probe_support  # noqa: E402

target, port1, port2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def session(port, name):
    return probe_support.session(port, target, "iqn.2026-12.org.swift-iscsi:alua-" + name)


def vpd83_ports(conn):
    task = conn.run(hi.cdb_inquiry(0x83, 1024), edtl=1024, read=True)
    data = bytes(task.data)
    found, at = {}, 4
    while at + 4 <= len(data):
        kind, assoc, size = data[at + 1] & 0x0F, (data[at + 1] >> 4) & 0x03, data[at + 3]
        value = data[at + 4:at + 4 + size]
        if assoc == 1 and kind in (4, 5):
            found[kind] = struct.unpack_from(">H", value, 2)[0]
        if assoc == 1 and kind == 8:
            found[8] = value.rstrip(b"\0").decode()
        at += 4 + size
    return found


def sense_of(task):
    return hi.parse_sense(task.sense) if task.status == 2 and task.sense else None


one, two = session(port1, "one"), session(port2, "two")
for conn, tag in ((one, 1), (two, 2)):
    if conn.login_keys.get("TargetPortalGroupTag") != str(tag):
        fail("login through tpg%d answered TargetPortalGroupTag=%s" % (tag, conn.login_keys.get("TargetPortalGroupTag")))
ok("logins answer TargetPortalGroupTag 1 and 2")

inquiry = bytes(one.run(hi.cdb_inquiry(None, 96), edtl=96, read=True).data)
if (inquiry[5] >> 4) & 3 != 3:
    fail("standard INQUIRY TPGS is %d, expected 3 (implicit and explicit)" % ((inquiry[5] >> 4) & 3))
ok("standard INQUIRY reports TPGS 3")

for conn, tag in ((one, 1), (two, 2)):
    ports = vpd83_ports(conn)
    if ports.get(4) != tag or 5 not in ports or not str(ports.get(8, "")).endswith(",t,0x%04x" % tag):
        fail("VPD 0x83 through tpg%d: target port designators %s" % (tag, ports))
ok("VPD 0x83 gives each session its own relative target port, group and port name")

active, standby = (one, two)
expected = {0: (0, [1]), 2: (2, [2])}
groups = rtpg(one)
got = {gid: (g[0], g[2]) for gid, g in groups.items()}
if got != expected:
    fail("REPORT TARGET PORT GROUPS: %s, expected %s" % (got, expected))
ok("REPORT TARGET PORT GROUPS: group 0 Active/optimized with port 1, group 2 Standby with port 2")

read = hi.cdb_read16(0, 8)
task = standby.run(read, edtl=4096, read=True)
if sense_of(task) != (2, 0x04, 0x0B):
    fail("READ through the standby group: " + task.describe())
task = standby.run(hi.cdb_test_unit_ready())
if sense_of(task) != (2, 0x04, 0x0B):
    fail("TEST UNIT READY through the standby group: " + task.describe())
if active.run(read, edtl=4096, read=True).status != 0:
    fail("READ through the active group failed")
if standby.run(hi.cdb_read_capacity16(), edtl=32, read=True).status != 0:
    fail("READ CAPACITY(16) through the standby group failed")
ok("standby: READ and TEST UNIT READY answer NOT READY 04/0B, READ CAPACITY works; the active group reads")

# SET TARGET PORT GROUPS through the active session: group 2 becomes Active/optimized, group 0 Standby.
params = b"\0" * 4 + bytes([0x00, 0, 0, 2]) + bytes([0x02, 0, 0, 0])
cdb = bytes([0xA4, 0x0A]) + b"\0" * 4 + struct.pack(">I", len(params)) + b"\0\0"
task = one.run(cdb, edtl=len(params), write=True, data=params)
if task.status != 0:
    fail("SET TARGET PORT GROUPS: " + task.describe())
first = two.wait(two.command(hi.cdb_test_unit_ready()), 5.0)
if sense_of(first) != (6, 0x2A, 0x06):
    fail("the other session's next command after SET TARGET PORT GROUPS: " + first.describe())
ok("SET TARGET PORT GROUPS: the other I_T nexus sees ASYMMETRIC ACCESS STATE CHANGED once")
got = {gid: g[0] for gid, g in rtpg(two).items()}
if got != {0: 2, 2: 0}:
    fail("after SET TARGET PORT GROUPS: states %s" % got)
if two.run(read, edtl=4096, read=True).status != 0 or sense_of(one.run(read, edtl=4096, read=True)) != (2, 0x04, 0x0B):
    fail("after SET TARGET PORT GROUPS the command rules did not follow the states")
ok("after SET TARGET PORT GROUPS tpg2 reads and tpg1 is standby")

print("waiting", flush=True)
sys.stdin.readline()  # the administrator swaps the states back with targetcli
first = one.wait(one.command(hi.cdb_test_unit_ready()), 5.0)
if sense_of(first) != (6, 0x2A, 0x06):
    fail("after the administrator's change: " + first.describe())
got = {gid: g[0] for gid, g in rtpg(one).items()}
if got != {0: 0, 2: 2}:
    fail("after the administrator's change: states %s" % got)
ok("an administrator's change posts ASYMMETRIC ACCESS STATE CHANGED and RTPG follows")
for conn in (one, two):
    conn.logout()
