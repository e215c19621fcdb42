#!/usr/bin/env python3
"""Persistent reservations across two gateways of one RBD image: initiator X registers and takes
a Write Exclusive reservation through gateway A; initiator Y's write through gateway B must get
RESERVATION CONFLICT, its read must pass, and READ KEYS / READ RESERVATION through B must show X's
key and reservation; after X releases (through A), Y's write through B passes. Uses the raw
initiator of hostile-initiator.py.

usage: pr-gateways.py TARGET PORT_A PORT_B
Prints one "ok ..." line per check; exits 1 with "FAIL ..." on the first failure."""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_support import fail, ok  # noqa: E402
import probe_support  # noqa: E402

target, port_a, port_b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
KEY_X = 0x1122334455667788
RESERVATION_CONFLICT = 0x18


def session(port, name):
    return probe_support.session(port, target, "iqn.2026-12.org.swift-iscsi:pr-" + name)


def prout(conn, action, key=0, sa_key=0, rtype=0):
    params = struct.pack(">QQ", key, sa_key) + b"\0" * 8
    cdb = bytes([0x5F, action, rtype & 0x0F]) + b"\0\0" + struct.pack(">I", len(params)) + b"\0"
    # A gateway killed less than 30 s ago still has a watch on the reservation object: the
    # change waits (8 s at most) for its acknowledgement before it is answered.
    return conn.run(cdb, timeout=20.0, edtl=len(params), write=True, data=params)


def prin(conn, action):
    cdb = bytes([0x5E, action]) + b"\0" * 5 + struct.pack(">H", 256) + b"\0"
    task = conn.run(cdb, edtl=256, read=True)
    if task.status != 0:
        fail("PERSISTENT RESERVE IN %d: %s" % (action, task.describe()))
    return bytes(task.data)


def write(conn, lba=64):
    cdb = bytes([0x2A, 0]) + struct.pack(">I", lba) + b"\0\0\x01\0"
    return conn.run(cdb, edtl=512, write=True, data=b"y" * 512)


def read(conn, lba=64):
    cdb = bytes([0x28, 0]) + struct.pack(">I", lba) + b"\0\0\x01\0"
    return conn.run(cdb, edtl=512, read=True)


x, y = session(port_a, "x"), session(port_b, "y")
if prout(x, 0, sa_key=KEY_X).status != 0:
    fail("REGISTER through A")
if prout(x, 3, key=KEY_X).status != 0:
    fail("CLEAR through A")
if prout(x, 0, sa_key=KEY_X).status != 0 or prout(x, 1, key=KEY_X, rtype=1).status != 0:
    fail("REGISTER + RESERVE (Write Exclusive) through A")
ok("X registered and reserved Write Exclusive through gateway A")

keys = prin(y, 0)
generation, length = struct.unpack_from(">II", keys, 0)
listed = [struct.unpack_from(">Q", keys, 8 + 8 * i)[0] for i in range(length // 8)]
if listed != [KEY_X]:
    fail("READ KEYS through B lists %s, expected X's key" % [hex(k) for k in listed])
ok("READ KEYS through gateway B: X's key, generation %d" % generation)
reservation = prin(y, 1)
if struct.unpack_from(">I", reservation, 4)[0] != 16 or struct.unpack_from(">Q", reservation, 8)[0] != KEY_X \
        or reservation[21] & 0x0F != 1:
    fail("READ RESERVATION through B: %s" % reservation[:24].hex())
ok("READ RESERVATION through gateway B: X holds Write Exclusive")

task = write(y)
if task.status != RESERVATION_CONFLICT:
    fail("Y's write through B: %s, expected RESERVATION CONFLICT" % (task.describe() if task.status else "GOOD"))
ok("Y's write through gateway B: RESERVATION CONFLICT")
if read(y).status != 0:
    fail("Y's read through B under Write Exclusive")
ok("Y's read through gateway B: GOOD (Write Exclusive lets reads through)")
if write(x).status != 0:
    fail("X's write through A (the holder)")
ok("X's write through gateway A: GOOD")

if prout(x, 2, key=KEY_X, rtype=1).status != 0:
    fail("RELEASE through A")
task = write(y)
if task.status != 0:
    fail("Y's write through B after the release: %s" % task.describe())
ok("after X's RELEASE through A, Y's write through B: GOOD")
prout(x, 3, key=KEY_X)
