#!/usr/bin/env python3
"""A raw-socket iSCSI initiator (RFC 7143) that plays a hostile client against tgtd.

Stdlib only. One scenario per run (see scripts/hostile-initiator.sh, which starts a fresh tgtd
for each and passes its pid):

    hostile-initiator.py SCENARIO --port P --pid PID --iqn IQN [--option-ok 0|1] [--option TEXT]

Every measured number is printed on its own `measured: ...` line and every checked bound on a
`bound: ...: PASS|FAIL (...)` line. Exit status: 0 when every bound holds, 1 when one fails,
2 when the scenario itself broke (an exception in this client).

The PDU layer is deliberately small: `make_bhs` builds a 48-byte Basic Header Segment from a
few fields, `Conn` frames PDUs on a TCP socket, logs in (security stage with AuthMethod=None,
then operational negotiation), sends SCSI commands with any CDB / EDTL / immediate data / AHS,
answers R2Ts with Data-Out, gathers Data-In and SCSI Responses per task, notes Rejects and
answers NOP-In pings while `well_behaved`.
"""
import argparse
import errno
import os
import random
import re
import resource
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

# --------------------------------------------------------------------------------------------
# PDU layer (RFC 7143 section 11)

OP_NOP_OUT, OP_SCSI_CMD, OP_LOGIN, OP_TEXT, OP_DATA_OUT, OP_LOGOUT = 0x00, 0x01, 0x03, 0x04, 0x05, 0x06
OP_NOP_IN, OP_SCSI_RSP, OP_TMF_RSP, OP_LOGIN_RSP, OP_TEXT_RSP = 0x20, 0x21, 0x22, 0x23, 0x24
OP_DATA_IN, OP_LOGOUT_RSP, OP_R2T, OP_ASYNC, OP_REJECT = 0x25, 0x26, 0x31, 0x32, 0x3F
RESERVED_TAG = 0xFFFFFFFF
MASK32 = 0xFFFFFFFF
BHS_LEN = 48

REJECT_REASONS = {
    0x02: "data (payload) digest error", 0x03: "SNACK reject", 0x04: "protocol error",
    0x05: "command not supported", 0x06: "immediate command reject - too many immediate commands",
    0x07: "task in progress", 0x08: "invalid data ACK", 0x09: "invalid PDU field",
    0x0A: "long operation reject - can't generate target transfer tag - out of resources",
    0x0B: "deprecated", 0x0C: "waiting for logout",
}
SENSE_KEYS = {0: "NO SENSE", 1: "RECOVERED ERROR", 2: "NOT READY", 3: "MEDIUM ERROR", 4: "HARDWARE ERROR",
              5: "ILLEGAL REQUEST", 6: "UNIT ATTENTION", 7: "DATA PROTECT", 0xB: "ABORTED COMMAND",
              0xE: "MISCOMPARE"}


def lun_field(lun):
    """SAM LUN field for LUN < 256 (peripheral device addressing)."""
    return bytes([0, lun]) + bytes(6)


def make_bhs(opcode, flags=0, immediate=False, lun=0, itt=0, fields=None, raw=None):
    """A BHS: opcode (with the I bit), flags at byte 1, LUN at 8-15, ITT at 16-19, then
    `fields` ({offset: u32}) and `raw` ({offset: bytes}). TotalAHSLength and DataSegmentLength
    (bytes 4-7) are filled in by `encode`."""
    b = bytearray(BHS_LEN)
    b[0] = (opcode & 0x3F) | (0x40 if immediate else 0)
    b[1] = flags
    b[8:16] = lun if isinstance(lun, (bytes, bytearray)) else lun_field(lun)
    struct.pack_into(">I", b, 16, itt)
    for off, val in (fields or {}).items():
        struct.pack_into(">I", b, off, val & MASK32)
    for off, val in (raw or {}).items():
        b[off:off + len(val)] = val
    return b


def encode(bhs, ahs=b"", data=b""):
    assert len(ahs) % 4 == 0 and len(ahs) <= 1020
    b = bytearray(bhs)
    b[4] = len(ahs) // 4
    b[5:8] = len(data).to_bytes(3, "big")
    return bytes(b) + ahs + data + bytes((-len(data)) % 4)


class PDU:
    def __init__(self, bhs, ahs, data):
        self.bhs, self.ahs, self.data = bhs, ahs, data

    opcode = property(lambda self: self.bhs[0] & 0x3F)
    flags = property(lambda self: self.bhs[1])
    itt = property(lambda self: self.u32(16))

    def u32(self, off):
        return struct.unpack_from(">I", self.bhs, off)[0]


def text_keys(data):
    keys = {}
    for item in bytes(data).split(b"\0"):
        if item:
            k, _, v = item.decode("utf-8", "replace").partition("=")
            keys[k] = v
    return keys


def text_data(pairs):
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs.items())


def sn_after(a, b):
    """Serial number arithmetic (RFC 1982): a > b."""
    return a != b and ((a - b) & MASK32) < 0x80000000


# SCSI CDBs -----------------------------------------------------------------------------------

def cdb_read16(lba, blocks):
    return struct.pack(">BBQIBB", 0x88, 0, lba, blocks, 0, 0)


def cdb_write16(lba, blocks):
    return struct.pack(">BBQIBB", 0x8A, 0, lba, blocks, 0, 0)


def cdb_read10(lba, blocks):
    return struct.pack(">BBIBHB", 0x28, 0, lba, 0, blocks, 0)


def cdb_write10(lba, blocks):
    return struct.pack(">BBIBHB", 0x2A, 0, lba, 0, blocks, 0)


def cdb_inquiry(page=None, alloc=255):
    return struct.pack(">BBBHB", 0x12, 1 if page is not None else 0, page or 0, alloc, 0)


def cdb_read_capacity16(alloc=32):
    return struct.pack(">BBQIBB", 0x9E, 0x10, 0, alloc, 0, 0)


def cdb_test_unit_ready():
    return bytes(6)


def parse_sense(sense):
    if len(sense) < 4:
        return None
    code = sense[0] & 0x7F
    if code in (0x72, 0x73):
        return sense[1] & 0x0F, sense[2], sense[3]
    if len(sense) >= 14:
        return sense[2] & 0x0F, sense[12], sense[13]
    return sense[2] & 0x0F, 0, 0


class Task:
    def __init__(self, itt, lun, data_out=None, discard=False):
        self.itt, self.lun, self.data_out, self.discard = itt, lun, data_out, discard
        self.data = bytearray()
        self.received = 0
        self.done = False
        self.status = None
        self.response = None
        self.sense = None
        self.residual = 0
        self.underflow = self.overflow = False
        self.reject = None
        self.r2ts = []
        self.first_answer = None  # monotonic time of the first PDU for this task
        self.text = None
        self.logout_response = None
        self.conn_closed = False  # the connection closed before this task was done

    def describe(self):
        if self.reject is not None:
            return "Reject reason 0x%02x (%s)" % (self.reject, REJECT_REASONS.get(self.reject, "?"))
        if not self.done:
            if self.conn_closed:
                return "no answer; the target closed the connection"
            if self.r2ts:
                off, length = self.r2ts[0][1], self.r2ts[0][2]
                return "no status; %d R2T(s), first for offset %d length %d (the target waits for data)" % (
                    len(self.r2ts), off, length)
            return "no answer"
        if self.status is None:
            return "done"
        text = {0: "GOOD", 2: "CHECK CONDITION", 8: "BUSY", 0x18: "RESERVATION CONFLICT",
                0x28: "TASK SET FULL"}.get(self.status, "status 0x%02x" % self.status)
        if self.status == 2 and self.sense:
            s = parse_sense(self.sense)
            if s:
                text += " %s ASC/ASCQ %02X/%02X" % (SENSE_KEYS.get(s[0], hex(s[0])), s[1], s[2])
        if self.underflow or self.overflow:
            text += " residual %s %d" % ("underflow" if self.underflow else "overflow", self.residual)
        return text


class Closed(Exception):
    pass


class Conn:
    """One TCP connection and its (single-connection) session."""

    def __init__(self, port, host="127.0.0.1", source=None, rcvbuf=None, timeout=5.0, well_behaved=True):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.well_behaved = well_behaved
        self.buf = bytearray()
        self.pos = 0
        self.isid = b"\x80" + os.urandom(5)
        self.tsih = 0
        self.cmdsn = random.randint(1, 1 << 20)
        self.expstatsn = 0
        self.expcmdsn = self.maxcmdsn = None
        self.next_tag = 0x10
        self.tasks = {}
        self.events = []  # PDUs not tied to a task we know (Rejects of unknown tasks, async, ...)
        self.pings_answered = 0
        self.closed = None  # why the target closed the connection, once it has
        # Negotiated (defaults until the login answers them).
        self.target_mrdsl = 8192
        self.first_burst = 65536
        self.max_burst = 262144
        self.immediate_data = True
        self.initial_r2t = True
        self.login_keys = {}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def new_itt(self):
        self.next_tag = (self.next_tag + 1) & 0x7FFFFFFF
        return self.next_tag

    # Framing --------------------------------------------------------------------------------

    def send(self, bhs, ahs=b"", data=b""):
        self.sock.sendall(encode(bhs, ahs, data))

    def _fill(self, n, deadline):
        while len(self.buf) - self.pos < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out")
            self.sock.settimeout(left)
            chunk = self.sock.recv(max(1 << 20, n))
            if not chunk:
                raise Closed("connection closed by the target")
            self.buf += chunk

    def _take(self, n):
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        if self.pos > (4 << 20) or self.pos == len(self.buf):
            del self.buf[:self.pos]
            self.pos = 0
        return out

    def recv_pdu(self, timeout):
        deadline = time.monotonic() + timeout
        self._fill(BHS_LEN, deadline)
        head = self.buf[self.pos:self.pos + BHS_LEN]
        ahs_len = head[4] * 4
        dsl = int.from_bytes(head[5:8], "big")
        self._fill(BHS_LEN + ahs_len + dsl + (-dsl) % 4, deadline)
        bhs = self._take(BHS_LEN)
        ahs = self._take(ahs_len)
        data = self._take(dsl)
        self._take((-dsl) % 4)
        return PDU(bhs, ahs, data)

    # Dispatch of full-feature-phase PDUs ------------------------------------------------------

    def _note_sn(self, pdu, advances_statsn):
        statsn, expcmdsn, maxcmdsn = pdu.u32(24), pdu.u32(28), pdu.u32(32)
        if advances_statsn:
            self.expstatsn = (statsn + 1) & MASK32
        if self.maxcmdsn is None or sn_after(maxcmdsn, self.maxcmdsn):
            self.maxcmdsn = maxcmdsn
        if self.expcmdsn is None or sn_after(expcmdsn, self.expcmdsn):
            self.expcmdsn = expcmdsn

    def pump(self, timeout):
        """Receives and handles one PDU; returns it."""
        pdu = self.recv_pdu(timeout)
        now = time.monotonic()
        op = pdu.opcode
        task = self.tasks.get(pdu.itt)
        if task is not None and task.first_answer is None:
            task.first_answer = now
        if op == OP_NOP_IN:
            self._note_sn(pdu, pdu.itt != RESERVED_TAG)
            if pdu.u32(20) != RESERVED_TAG and self.well_behaved:
                # A ping: answer with the target's TTT, ITT reserved, immediate, CmdSN not advanced.
                self.send(make_bhs(OP_NOP_OUT, 0x80, immediate=True, lun=pdu.bhs[8:16], itt=RESERVED_TAG,
                                   fields={20: pdu.u32(20), 24: self.cmdsn, 28: self.expstatsn}))
                self.pings_answered += 1
            if task:
                task.done = True
        elif op == OP_SCSI_RSP:
            self._note_sn(pdu, True)
            if task:
                task.response = pdu.bhs[2]
                task.status = pdu.bhs[3]
                task.overflow, task.underflow = bool(pdu.flags & 0x04), bool(pdu.flags & 0x02)
                task.residual = pdu.u32(44)
                if len(pdu.data) >= 2:
                    n = struct.unpack_from(">H", pdu.data)[0]
                    task.sense = pdu.data[2:2 + n]
                task.done = True
        elif op == OP_DATA_IN:
            status_present = bool(pdu.flags & 0x01)
            self._note_sn(pdu, status_present)
            if task:
                offset = pdu.u32(40)
                task.received += len(pdu.data)
                if not task.discard:
                    end = offset + len(pdu.data)
                    if end > len(task.data):
                        task.data.extend(bytes(end - len(task.data)))
                    task.data[offset:end] = pdu.data
                if status_present:
                    task.status = pdu.bhs[3]
                    task.overflow, task.underflow = bool(pdu.flags & 0x04), bool(pdu.flags & 0x02)
                    task.residual = pdu.u32(44)
                    task.done = True
        elif op == OP_R2T:
            self._note_sn(pdu, False)
            if task:
                r2t = (pdu.u32(20), pdu.u32(40), pdu.u32(44))
                task.r2ts.append(r2t)
                if task.data_out is not None:
                    self._send_data_out(task, *r2t)
        elif op == OP_REJECT:
            self._note_sn(pdu, True)
            rejected_itt = struct.unpack_from(">I", pdu.data, 16)[0] if len(pdu.data) >= 20 else None
            rtask = self.tasks.get(rejected_itt)
            if rtask is not None:
                rtask.reject = pdu.bhs[2]
                rtask.done = True
                if rtask.first_answer is None:
                    rtask.first_answer = now
            else:
                self.events.append(pdu)
        elif op in (OP_TEXT_RSP, OP_LOGOUT_RSP, OP_TMF_RSP):
            self._note_sn(pdu, True)
            if task:
                task.text = pdu.data
                task.logout_response = pdu.bhs[2]
                task.done = True
        else:
            if op == OP_ASYNC:
                self._note_sn(pdu, True)
            self.events.append(pdu)
        return pdu

    def _send_data_out(self, task, ttt, offset, length):
        pos, end, datasn = offset, offset + length, 0
        while pos < end:
            n = min(self.target_mrdsl, end - pos)
            final = pos + n == end
            self.send(make_bhs(OP_DATA_OUT, 0x80 if final else 0, lun=task.lun, itt=task.itt,
                               fields={20: ttt, 28: self.expstatsn, 36: datasn, 40: pos}),
                      data=task.data_out[pos:pos + n])
            pos += n
            datasn += 1

    def wait(self, itt, timeout):
        """Pumps PDUs until task `itt` is done or `timeout` passes; returns the task."""
        deadline = time.monotonic() + timeout
        task = self.tasks[itt]
        while not task.done:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self.pump(left)
            except socket.timeout:
                break
            except (Closed, OSError) as e:
                self.closed = "%s" % (e or type(e).__name__)
                for t in self.tasks.values():
                    t.conn_closed = t.conn_closed or not t.done
                break
        return task

    def wait_all(self, itts, timeout):
        deadline = time.monotonic() + timeout
        for itt in itts:
            self.wait(itt, max(0.0, deadline - time.monotonic()))
        return [self.tasks[i] for i in itts]

    # Login -------------------------------------------------------------------------------------

    def login(self, target=None, initiator="iqn.2026-11.org.swift-iscsi:hostile-initiator", discovery=False,
              tsih=0, operational=None, timeout=5.0):
        """Security stage (AuthMethod=None) then operational negotiation. Returns
        (status_class, status_detail); on success the session is in full feature phase and
        the negotiated values are set from what the target answered."""
        itt = self.new_itt()
        self.tsih = tsih
        first = {"InitiatorName": initiator, "SessionType": "Discovery" if discovery else "Normal"}
        if not discovery:
            first["TargetName"] = target
        first["AuthMethod"] = "None"
        ops = {"HeaderDigest": "None", "DataDigest": "None", "MaxRecvDataSegmentLength": "262144"}
        if not discovery:
            ops.update({"ImmediateData": "Yes", "InitialR2T": "No", "FirstBurstLength": "65536",
                        "MaxBurstLength": "262144", "MaxOutstandingR2T": "1", "ErrorRecoveryLevel": "0",
                        "MaxConnections": "1"})
        ops.update(operational or {})
        stage, keys, tries = 0, first, 0
        deadline = time.monotonic() + timeout
        while True:
            tries += 1
            if tries > 8:
                raise RuntimeError("login did not finish in 8 exchanges")
            nsg = 1 if stage == 0 else 3
            flags = 0x80 | (stage << 2) | nsg  # T=1, CSG, NSG
            bhs = make_bhs(OP_LOGIN, flags, immediate=True, itt=itt,
                           fields={20: 0, 24: self.cmdsn, 28: self.expstatsn},
                           raw={2: b"\x00\x00", 8: self.isid + struct.pack(">H", tsih)})
            self.send(bhs, data=text_data(keys))
            pdu = self.recv_pdu(max(0.01, deadline - time.monotonic()))
            if pdu.opcode != OP_LOGIN_RSP:
                raise RuntimeError("expected a Login Response, got opcode 0x%02x" % pdu.opcode)
            status = (pdu.bhs[36], pdu.bhs[37])
            self.expstatsn = (pdu.u32(24) + 1) & MASK32
            self.expcmdsn, self.maxcmdsn = pdu.u32(28), pdu.u32(32)
            if status != (0, 0):
                return status
            answered = text_keys(pdu.data)
            self.login_keys.update(answered)
            transit, rsp_nsg = bool(pdu.flags & 0x80), pdu.flags & 0x03
            if transit and rsp_nsg == 3:
                self.tsih = struct.unpack_from(">H", pdu.bhs, 14)[0]
                self._apply_negotiated(ops)
                return status
            if transit and stage == 0:
                stage, keys = 1, ops
            else:
                keys = {}  # the target stayed in its stage: ask again with nothing new

    def _apply_negotiated(self, offered):
        got = dict(offered)
        got.update(self.login_keys)
        self.target_mrdsl = int(self.login_keys.get("MaxRecvDataSegmentLength", 8192))
        if "FirstBurstLength" in got and got["FirstBurstLength"].isdigit():
            self.first_burst = int(got["FirstBurstLength"])
        if "MaxBurstLength" in got and got["MaxBurstLength"].isdigit():
            self.max_burst = int(got["MaxBurstLength"])
        self.immediate_data = got.get("ImmediateData", "Yes") == "Yes"
        self.initial_r2t = got.get("InitialR2T", "Yes") == "Yes"

    # Full feature phase ---------------------------------------------------------------------------

    def command(self, cdb, edtl=0, read=False, write=False, data=b"", immediate=None, ahs=b"", lun=1,
                cmdsn=None, itt=None, discard=False, service_r2t=True, final=True, send=True):
        """Sends a SCSI Command; returns its ITT (or the encoded PDU when send=False)."""
        if itt is None:
            itt = self.new_itt()
        if immediate is None:
            limit = min(self.first_burst, self.target_mrdsl, edtl)
            immediate = data[:limit] if write and self.immediate_data else b""
        if cmdsn is None:
            cmdsn = self.cmdsn
            self.cmdsn = (self.cmdsn + 1) & MASK32
        flags = (0x80 if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | 0x01  # SIMPLE
        bhs = make_bhs(OP_SCSI_CMD, flags, lun=lun, itt=itt,
                       fields={20: edtl, 24: cmdsn, 28: self.expstatsn}, raw={32: cdb.ljust(16, b"\0")})
        self.tasks[itt] = Task(itt, lun, data_out=data if (write and service_r2t) else None, discard=discard)
        if not send:
            return encode(bhs, ahs, immediate)
        self.send(bhs, ahs, immediate)
        return itt

    def run(self, cdb, timeout=5.0, **kw):
        """Sends a command and waits for it; a UNIT ATTENTION (e.g. the power-on one a new
        nexus gets first) is retried, as initiators do."""
        for _ in range(4):
            task = self.wait(self.command(cdb, **kw), timeout)
            sense = parse_sense(task.sense) if task.status == 2 and task.sense else None
            if not (sense and sense[0] == 6):
                break
        return task

    def send_targets(self, timeout=5.0):
        itt = self.new_itt()
        self.tasks[itt] = Task(itt, 0)
        self.send(make_bhs(OP_TEXT, 0x80, itt=itt, fields={20: RESERVED_TAG, 24: self.cmdsn, 28: self.expstatsn}),
                  data=text_data({"SendTargets": "All"}))
        self.cmdsn = (self.cmdsn + 1) & MASK32
        task = self.wait(itt, timeout)
        return text_keys(task.text or b"") if task.done else None, (task.text or b"")

    def logout(self, timeout=5.0):
        itt = self.new_itt()
        self.tasks[itt] = Task(itt, 0)
        self.send(make_bhs(OP_LOGOUT, 0x80 | 0, itt=itt, fields={24: self.cmdsn, 28: self.expstatsn}))
        self.cmdsn = (self.cmdsn + 1) & MASK32
        task = self.wait(itt, timeout)
        self.close()
        return task.done and task.logout_response == 0


# --------------------------------------------------------------------------------------------
# Measuring tgtd

def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def kib(value):
    return int(value.split()[0])


def alive(pid):
    try:
        return proc_status(pid).get("State", "Z")[0] not in "ZX"
    except FileNotFoundError:
        return False


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except FileNotFoundError:
        return 0


class Sampler(threading.Thread):
    """VmRSS (and open fds) of tgtd every 0.2 s."""

    def __init__(self, pid, interval=0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop_event = threading.Event()
        st = proc_status(pid)
        self.base_rss = kib(st["VmRSS"])
        self.base_hwm = kib(st["VmHWM"])
        self.peak_rss = self.base_rss
        self.base_fds = fd_count(pid)
        self.peak_fds = self.base_fds
        self.samples = 0
        self.dead = False
        self.hwm = None
        self.last_rss = self.base_rss

    def sample(self):
        try:
            st = proc_status(self.pid)
            rss = kib(st["VmRSS"])
            self.hwm = kib(st["VmHWM"])
        except (FileNotFoundError, KeyError):
            self.dead = True
            return
        self.last_rss = rss
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_fds = max(self.peak_fds, fd_count(self.pid))
        self.samples += 1

    def run(self):
        while not self.stop_event.wait(self.interval):
            self.sample()

    def finish(self):
        self.stop_event.set()
        self.join()
        self.sample()

    @property
    def growth_mib(self):
        return (self.peak_rss - self.base_rss) / 1024.0

    def report_rss(self, limit_mib):
        measured("tgtd VmRSS baseline", "%d KiB" % self.base_rss)
        measured("tgtd VmRSS peak (%d samples, every %.1f s)" % (self.samples, self.interval), "%d KiB" % self.peak_rss)
        measured("tgtd VmRSS at the end", "%d KiB" % self.last_rss)
        if self.hwm is not None:
            measured("tgtd VmHWM at the end", "%d KiB (%d KiB at the baseline)" % (self.hwm, self.base_hwm))
        measured("tgtd VmRSS growth (peak - baseline)", "%.1f MiB" % self.growth_mib)
        bound("tgtd VmRSS grows by less than %d MiB" % limit_mib, self.growth_mib < limit_mib,
              "grew %.1f MiB" % self.growth_mib)


# --------------------------------------------------------------------------------------------
# Reporting

SCENARIO = "?"
FAILED = []


def measured(name, value):
    print("measured: %s: %s = %s" % (SCENARIO, name, value), flush=True)


def bound(text, ok, detail=""):
    print("bound: %s: %s: %s%s" % (SCENARIO, text, "PASS" if ok else "FAIL", " (%s)" % detail if detail else ""),
          flush=True)
    if not ok:
        FAILED.append(text)


def note(text):
    print("  %s" % text, flush=True)


# --------------------------------------------------------------------------------------------
# The normal client beside every attack

def url(a):
    return "iscsi://127.0.0.1:%d/%s/1" % (a.port, a.iqn)


def libiscsi(a, tool, *extra, timeout=10.0):
    t0 = time.monotonic()
    try:
        p = subprocess.run([tool, *extra, url(a)], capture_output=True, text=True, timeout=timeout)
        ok, out = p.returncode == 0, (p.stdout + p.stderr).strip()
    except subprocess.TimeoutExpired:
        ok, out = False, "timed out after %g s" % timeout
    return ok, time.monotonic() - t0, out


def perf_iops(out):
    """The last 'iops average N' of iscsi-perf (it redraws one status line with \r)."""
    found = re.findall(r"iops average (\d+)", out)
    return int(found[-1]) if found else None


def python_login_io(a, source=None):
    """A fresh normal session: login, READ(16) of 8 blocks, logout."""
    t0 = time.monotonic()
    c = None
    try:
        c = Conn(a.port, source=source, timeout=5)
        st = c.login(target=a.iqn, initiator="iqn.2026-11.org.swift-iscsi:normal-client", timeout=5)
        if st != (0, 0):
            return False, time.monotonic() - t0, "login status %d/%d" % st
        t = c.run(cdb_read16(0, 8), edtl=4096, read=True, timeout=5)
        if not (t.done and t.status == 0 and t.received == 4096):
            return False, time.monotonic() - t0, "READ(16): " + t.describe()
        c.logout()
        return True, time.monotonic() - t0, "ok"
    except (OSError, Closed, RuntimeError) as e:
        return False, time.monotonic() - t0, "%s: %s" % (type(e).__name__, e)
    finally:
        if c:
            c.close()


def python_discovery(a):
    t0 = time.monotonic()
    c = None
    try:
        c = Conn(a.port, timeout=5)
        st = c.login(discovery=True, initiator="iqn.2026-11.org.swift-iscsi:normal-client", timeout=5)
        if st != (0, 0):
            return False, time.monotonic() - t0, "discovery login status %d/%d" % st
        keys, raw = c.send_targets()
        if keys is None or a.iqn.encode() not in raw:
            return False, time.monotonic() - t0, "SendTargets did not list %s" % a.iqn
        c.logout()
        return True, time.monotonic() - t0, "ok"
    except (OSError, Closed, RuntimeError) as e:
        return False, time.monotonic() - t0, "%s: %s" % (type(e).__name__, e)
    finally:
        if c:
            c.close()


def check_normal_client(a, limit=5.0, perf=False, which=("login", "discovery", "inq", "readcap")):
    """The normal client during the attack: each step must succeed within `limit` seconds."""
    steps = []
    if "login" in which:
        steps.append(("python login + READ(16) + logout", lambda: python_login_io(a)))
    if "discovery" in which:
        steps.append(("python discovery login + SendTargets", lambda: python_discovery(a)))
    if "inq" in which:
        steps.append(("iscsi-inq", lambda: libiscsi(a, "iscsi-inq")))
    if "readcap" in which:
        steps.append(("iscsi-readcapacity16", lambda: libiscsi(a, "iscsi-readcapacity16")))
    for name, fn in steps:
        ok, took, out = fn()
        measured("normal client: %s took" % name, "%.2f s" % took)
        bound("normal client: %s succeeds within %g s during the attack" % (name, limit), ok and took <= limit,
              "%s in %.2f s" % ("ok" if ok else out.splitlines()[-1][:200] if out else "failed", took))
    if perf:
        ok, took, out = libiscsi(a, "iscsi-perf", "-t", "3", timeout=15)
        iops = perf_iops(out)
        measured("normal client: iscsi-perf -t 3 IOPS", "%s" % (iops if iops is not None else "none reported"))
        bound("normal client: iscsi-perf -t 3 does IO (>0 IOPS) during the attack", ok and bool(iops),
              "exit %s, %s IOPS, %.1f s" % ("0" if ok else "non-zero", iops, took))


def check_alive(a):
    ok = alive(a.pid)
    bound("tgtd is still alive", ok, "pid %d %s" % (a.pid, "running" if ok else "gone"))


def check_option(a):
    if a.option:
        bound("tgtd accepts --iscsi %s" % a.option, a.option_ok,
              "accepted" if a.option_ok else "today's tgtd refused it; this run has portal= only")


def block_size(c):
    t = c.run(cdb_read_capacity16(), edtl=32, read=True)
    if not (t.done and t.status == 0 and len(t.data) >= 12):
        raise RuntimeError("READ CAPACITY(16): " + t.describe())
    last_lba, bs = struct.unpack_from(">QI", t.data)
    return bs, last_lba + 1


def login_or_die(c, a, **kw):
    st = c.login(target=a.iqn, **kw)
    if st != (0, 0):
        raise RuntimeError("login failed with status %d/%d" % st)


# --------------------------------------------------------------------------------------------
# Scenarios

def s1_huge_edtl(a):
    """WRITE(16) of one block with EDTL 0xFFFFFFFF and 512 bytes of immediate data (variant
    'four': four such WRITE(16)s with EDTL 256 MiB each)."""
    edtls = [0xFFFFFFFF] if a.variant != "four" else [256 << 20] * 4
    sampler = Sampler(a.pid)
    sampler.start()
    c = Conn(a.port, well_behaved=True)
    login_or_die(c, a)
    bs, _ = block_size(c)
    measured("negotiated ImmediateData / FirstBurstLength / target MaxRecvDataSegmentLength",
             "%s / %d / %d" % ("Yes" if c.immediate_data else "No", c.first_burst, c.target_mrdsl))
    block = bytes([0xC3]) * bs
    sent = time.monotonic()
    itts = [c.command(cdb_write16(100 + i, 1), edtl=e, write=True, data=block, immediate=block, service_r2t=False)
            for i, e in enumerate(edtls)]
    tasks = c.wait_all(itts, 2.0)
    all_ok = True
    for t, e in zip(tasks, edtls):
        took = (t.first_answer - sent) if t.first_answer else None
        measured("answer to WRITE(16) of 1 block, EDTL=0x%08x, %d bytes immediate" % (e, bs),
                 "%s%s" % (t.describe(), ", first PDU after %.3f s" % took if took is not None else ""))
        expected_residual = e - bs
        sense = parse_sense(t.sense) if t.sense else None
        good = t.done and t.status == 0 and t.underflow and t.residual == expected_residual
        check = t.done and t.status == 2 and sense is not None and sense[0] == 5 and sense[1:] in ((0x0E, 0x03), (0x24, 0))
        if good:
            note("answered GOOD with residual underflow %d" % t.residual)
        elif check:
            note("answered CHECK CONDITION ILLEGAL REQUEST %02X/%02X" % sense[1:])
        all_ok &= bool(good or check)
    bound("every WRITE(16) with a huge EDTL is answered within 2 s (CHECK CONDITION 05/0E/03 or 05/24/00, "
          "or GOOD with the residual)", all_ok, "; ".join(t.describe() for t in tasks))
    check_normal_client(a)
    # Whatever the attack connection got after its 2 s (an R2T once tgtd has zero-filled the buffer).
    late = time.monotonic() + 1.0
    while time.monotonic() < late:
        try:
            c.pump(max(0.01, late - time.monotonic()))
        except (socket.timeout, Closed, OSError):
            break
    for t, e in zip(tasks, edtls):
        if t.first_answer is not None:
            measured("by the end, WRITE(16) EDTL=0x%08x" % e, "%s, first PDU after %.3f s" % (
                t.describe(), t.first_answer - sent))
        else:
            measured("by the end, WRITE(16) EDTL=0x%08x" % e, "no answer after %.1f s" % (time.monotonic() - sent))
    sampler.finish()
    sampler.report_rss(32)
    check_alive(a)
    c.close()


def tcp_connections(port):
    """{(local_port, remote_port): (state, inode)} of 127.0.0.1 TCP sockets, from /proc/net/tcp."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            w = line.split()
            lp = int(w[1].split(":")[1], 16)
            rp = int(w[2].split(":")[1], 16)
            out[(lp, rp)] = (int(w[3], 16), int(w[9]))
    return out


def target_holds(pid, port, client_port):
    """Whether tgtd still has an fd on its end of the connection from `client_port`."""
    entry = tcp_connections(port).get((port, client_port))
    if entry is None or entry[1] == 0:
        return False
    want = "socket:[%d]" % entry[1]
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == want:
                    return True
            except OSError:
                pass
    except FileNotFoundError:
        return False
    return False


def s2_no_reading(a):
    """4,000 READ(16) of 256 KiB on a connection whose reader never reads."""
    count, blocks_per = a.count, 512
    sampler = Sampler(a.pid)
    sampler.start()
    c = Conn(a.port, rcvbuf=4096, well_behaved=False)
    login_or_die(c, a)
    client_port = c.sock.getsockname()[1]
    bs, nblocks = block_size(c)
    stopped_reading = time.monotonic()  # the READ CAPACITY answer was the last thing read
    closed = {"after": None}

    def watch_close():
        """Polls every 0.2 s whether tgtd still has an fd on its end of the connection."""
        while time.monotonic() - stopped_reading < a.close_wait:
            if not target_holds(a.pid, a.port, client_port):
                closed["after"] = time.monotonic() - stopped_reading
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch_close, daemon=True)
    watcher.start()
    stream = b"".join(
        c.command(cdb_read16((i * blocks_per) % (nblocks - blocks_per), blocks_per), edtl=blocks_per * bs,
                  read=True, discard=True, send=False)
        for i in range(count))
    c.sock.setblocking(False)
    sent, deadline = 0, time.monotonic() + a.send_seconds
    sel = selectors.DefaultSelector()
    sel.register(c.sock, selectors.EVENT_WRITE)
    while sent < len(stream) and time.monotonic() < deadline:
        if not sel.select(timeout=0.2):
            continue
        try:
            sent += c.sock.send(stream[sent:sent + (1 << 16)])
        except BlockingIOError:
            pass
        except OSError as e:
            note("send stopped: %s" % e)
            break
    send_end = time.monotonic()
    pdu_len = len(stream) // count
    measured("READ(16) commands pushed into the socket (never reading)", "%d of %d (%d of %d bytes) in %.2f s" % (
        sent // pdu_len, count, sent, len(stream), send_end - stopped_reading))
    measured("data the commands ask for", "%d MiB" % (count * blocks_per * bs >> 20))
    check_normal_client(a, perf=True, which=("inq",))
    watcher.join()
    close_after = closed["after"]
    limit = a.close_wait
    sampler.finish()
    if close_after is not None:
        measured("tgtd closed the stuck connection after (since the client stopped reading)", "%.1f s" % close_after)
    else:
        measured("tgtd closed the stuck connection after (since the client stopped reading)",
                 "not within %.0f s (still open)" % limit)
    sampler.report_rss(128)
    bound("tgtd closes the stuck connection within 15 s after the client stopped reading",
          close_after is not None and close_after <= 15,
          "%.1f s" % close_after if close_after is not None else "still open after %.0f s" % limit)
    check_alive(a)
    c.close()


def s2_max_transfer(a):
    """Block Limits VPD and a READ(16) of 1 GiB."""
    sampler = Sampler(a.pid)
    sampler.start()
    c = Conn(a.port)
    login_or_die(c, a)
    bs, nblocks = block_size(c)
    t = c.run(cdb_inquiry(0xB0, 255), edtl=255, read=True)
    if not (t.done and t.status == 0 and len(t.data) >= 16 and t.data[1] == 0xB0):
        raise RuntimeError("INQUIRY VPD B0h: " + t.describe())
    mtl, otl = struct.unpack_from(">II", t.data, 8)
    measured("Block Limits VPD: MAXIMUM TRANSFER LENGTH (bytes 8-11)", "%d blocks (%d bytes)" % (mtl, mtl * bs))
    measured("Block Limits VPD: OPTIMAL TRANSFER LENGTH (bytes 12-15)", "%d blocks (%d bytes)" % (otl, otl * bs))
    bound("Block Limits VPD reports a non-zero MAXIMUM TRANSFER LENGTH", mtl != 0, "%d blocks" % mtl)
    bound("Block Limits VPD reports a non-zero OPTIMAL TRANSFER LENGTH", otl != 0, "%d blocks" % otl)
    gib_blocks = (1 << 30) // bs
    t0 = time.monotonic()
    t = c.run(cdb_read16(0, gib_blocks), edtl=1 << 30, read=True, discard=True, timeout=60)
    measured("READ(16) of %d blocks (1 GiB), EDTL 1 GiB" % gib_blocks,
             "%s, %d bytes of Data-In, %.2f s" % (t.describe(), t.received, time.monotonic() - t0))
    sense = parse_sense(t.sense) if t.sense else None
    bound("READ(16) of 1 GiB gets CHECK CONDITION ILLEGAL REQUEST 24/00",
          t.done and t.status == 2 and sense == (5, 0x24, 0), t.describe())
    if mtl:
        want = min(mtl, nblocks)
        t0 = time.monotonic()
        t = c.run(cdb_read16(0, want), edtl=want * bs, read=True, discard=True, timeout=60)
        measured("READ(16) of exactly MAXIMUM TRANSFER LENGTH (%d blocks)" % want,
                 "%s, %d bytes, %.2f s" % (t.describe(), t.received, time.monotonic() - t0))
        bound("READ(16) of exactly MAXIMUM TRANSFER LENGTH blocks works",
              t.done and t.status == 0 and t.received == want * bs, t.describe())
    else:
        bound("READ(16) of exactly MAXIMUM TRANSFER LENGTH blocks works", False,
              "no MAXIMUM TRANSFER LENGTH to try (0 = not reported)")
    sampler.finish()
    measured("tgtd VmRSS baseline / peak", "%d / %d KiB (growth %.1f MiB)" % (
        sampler.base_rss, sampler.peak_rss, sampler.growth_mib))
    check_alive(a)
    c.logout()


def s3_stalled_logins(a):
    """500 connections from 127.0.0.2 that trickle a Login Request a byte every 3 s."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(hard, a.count + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    login_timeout = a.login_timeout
    limit = login_timeout + 2
    sampler = Sampler(a.pid)
    sampler.start()
    measured("tgtd open fds at the baseline", sampler.base_fds)
    # A complete, valid Login Request; each stalled connection only ever sends its first bytes.
    login_pdu = encode(make_bhs(OP_LOGIN, 0x87, immediate=True, itt=1, fields={24: 1},
                                raw={8: b"\x80\x00\x00\x00\x00\x01"}),
                       data=text_data({"InitiatorName": "iqn.2026-11.org.swift-iscsi:stalled",
                                       "SessionType": "Normal", "TargetName": a.iqn, "AuthMethod": "None"}))
    conns = {}  # sock -> [opened, closed_at or None, bytes_sent]
    refused = 0
    sel = selectors.DefaultSelector()
    stop = threading.Event()
    normal = {"ok": 0, "fail": 0, "worst": 0.0, "last_error": ""}

    def normal_client_loop():
        while not stop.is_set():
            for name, fn in (("python login + READ(16)", lambda: python_login_io(a)),
                             ("iscsi-inq", lambda: libiscsi(a, "iscsi-inq"))):
                if stop.is_set():
                    break
                ok, took, out = fn()
                normal["worst"] = max(normal["worst"], took)
                if ok and took <= 5:
                    normal["ok"] += 1
                else:
                    normal["fail"] += 1
                    normal["last_error"] = "%s: %s (%.1f s)" % (name, (out.splitlines() or ["?"])[-1][:160], took)
            stop.wait(0.3)

    worker = threading.Thread(target=normal_client_loop, daemon=True)
    worker.start()
    # Non-blocking connects, all at once: a target that leaves connections in its listen
    # backlog cannot make this phase slow. A connect not done within 3 s counts as refused.
    t_start = time.monotonic()
    pending = set()
    for _ in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind(("127.0.0.2", 0))
            err = s.connect_ex(("127.0.0.1", a.port))
        except OSError:
            err = -1
        if err not in (0, errno.EINPROGRESS):
            refused += 1
            s.close()
            continue
        pending.add(s)
        sel.register(s, selectors.EVENT_WRITE)
    connect_deadline = time.monotonic() + 3
    while pending and time.monotonic() < connect_deadline:
        for key, _ in sel.select(timeout=max(0.0, connect_deadline - time.monotonic())):
            s = key.fileobj
            if s not in pending:
                continue
            pending.discard(s)
            sel.unregister(s)
            now = time.monotonic()
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                refused += 1
                s.close()
                continue
            try:
                s.send(login_pdu[:8])
            except OSError:
                conns[s] = [now, now, 0]  # closed by the target at once
                s.close()
                continue
            conns[s] = [now, None, 8]
            sel.register(s, selectors.EVENT_READ)
    for s in pending:
        sel.unregister(s)
        s.close()
        refused += 1
    t_opened = time.monotonic()
    measured("stalled connections opened from 127.0.0.2", "%d in %.2f s (%d refused or not connected within 3 s)" % (
        len(conns), t_opened - t_start, refused))

    def mark_closed(s, when):
        if conns[s][1] is None:
            conns[s][1] = when
            sel.unregister(s)
            s.close()

    observe_until = t_opened + max(limit + 6, 13)
    next_trickle = t_start + 3
    while time.monotonic() < observe_until and any(v[1] is None for v in conns.values()):
        timeout = max(0.0, min(next_trickle, observe_until) - time.monotonic())
        for key, _ in sel.select(timeout=timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
                if data:
                    continue  # a Login Response (reject) is fine; wait for the close
            except (ConnectionResetError, BlockingIOError, OSError):
                pass
            mark_closed(s, time.monotonic())
        if time.monotonic() >= next_trickle:
            next_trickle += 3
            for s, v in list(conns.items()):
                if v[1] is None and v[2] < len(login_pdu):
                    try:
                        s.send(login_pdu[v[2]:v[2] + 1])
                        v[2] += 1
                    except OSError:
                        mark_closed(s, time.monotonic())
    end = time.monotonic()
    still_open = [s for s, v in conns.items() if v[1] is None]
    lifetimes = sorted(((v[1] if v[1] is not None else end) - v[0]) for v in conns.values())
    for s in still_open:
        sel.unregister(s)
        s.close()
    stop.set()
    worker.join()
    if lifetimes:
        measured("stalled connection lifetime: median", "%.2f s" % statistics.median(lifetimes))
        measured("stalled connection lifetime: max", "%s%.2f s" % (">= " if still_open else "", lifetimes[-1]))
    measured("stalled connections still open at the end of the %.0f s observation" % (end - t_opened),
             len(still_open))
    bound("every stalled connection is closed by tgtd within login_timeout + 2 = %d s of opening" % limit,
          bool(lifetimes) and not still_open and lifetimes[-1] <= limit,
          "%d of %d still open after %.0f s; max lifetime %.1f s" % (
              len(still_open), len(conns), end - t_opened, lifetimes[-1] if lifetimes else 0))
    measured("normal client from 127.0.0.1 during the flood", "%d ok, %d failed, slowest %.2f s" % (
        normal["ok"], normal["fail"], normal["worst"]))
    bound("normal client from 127.0.0.1 logs in and does IO throughout (each step within 5 s)",
          normal["fail"] == 0 and normal["ok"] > 0, normal["last_error"] or "%d ok" % normal["ok"])

    # One silent connection: sends nothing at all.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(("127.0.0.1", a.port))
    opened = time.monotonic()
    closed_after = None
    while closed_after is None and time.monotonic() - opened < limit + 3:
        s.settimeout(max(0.01, limit + 3 - (time.monotonic() - opened)))
        try:
            if not s.recv(4096):
                closed_after = time.monotonic() - opened
        except socket.timeout:
            break
        except OSError:
            closed_after = time.monotonic() - opened
    s.close()
    sampler.finish()
    measured("silent connection closed by tgtd after", "%.2f s" % closed_after if closed_after is not None
             else "not within %d s (still open)" % (limit + 3))
    bound("a silent connection is closed within login_timeout + 2 = %d s" % limit,
          closed_after is not None and closed_after <= limit,
          "%.2f s" % closed_after if closed_after is not None else "still open after %d s" % (limit + 3))
    measured("tgtd open fds: baseline / peak", "%d / %d" % (sampler.base_fds, sampler.peak_fds))
    bound("tgtd's open fds stay under 200 at all times", sampler.peak_fds < 200, "peak %d" % sampler.peak_fds)
    sampler.report_rss(32)
    check_alive(a)


def s4_tsih_probe(a):
    """A live TSIH and an unused one must look the same to another initiator."""
    ca = Conn(a.port)
    login_or_die(ca, a, initiator="iqn.2026-11.org.swift-iscsi:session-a")
    measured("session A TSIH", "0x%04x" % ca.tsih)
    unused = (ca.tsih + 0x1234) & 0xFFFF or 0x4321
    answers = {}
    for label, tsih in (("live TSIH of session A", ca.tsih), ("unused TSIH", unused)):
        c = Conn(a.port)
        try:
            st = c.login(target=a.iqn, initiator="iqn.2026-11.org.swift-iscsi:prober", tsih=tsih)
        except (Closed, OSError):
            st = None
        c.close()
        answers[label] = st
        measured("login with the %s (0x%04x), other ISID and initiator name" % (label, tsih),
                 "Status-Class/Detail %s" % ("0x%02x/0x%02x" % st if st else "none (closed or timed out)"))
    live, dead = answers["live TSIH of session A"], answers["unused TSIH"]
    bound("a live and an unused TSIH get the same login answer", live == dead and live is not None,
          "live %s, unused %s" % (live, dead))
    bound("that answer is 0x02/0x0a (session does not exist)", live == (2, 0x0A) and dead == (2, 0x0A),
          "live %s, unused %s" % (live, dead))
    t = ca.run(cdb_test_unit_ready())
    bound("session A still works after the probe", t.done and t.status == 0, t.describe())
    check_alive(a)
    ca.logout()


def s5_unknown_ahs(a):
    """WRITE(10) with immediate data and an AHS of unknown type 0x3f."""
    lba = 77
    c = Conn(a.port)
    login_or_die(c, a)
    bs, _ = block_size(c)
    old = bytes([0xA5]) * bs
    new = bytes([0x5A]) * bs
    t = c.run(cdb_write10(lba, 1), edtl=bs, write=True, data=old)
    if not (t.done and t.status == 0):
        raise RuntimeError("plain WRITE(10): " + t.describe())
    # AHSLength 5 (reserved byte + 4 bytes), AHSType 0x3f, padded to 8 bytes: TotalAHSLength 2.
    ahs = struct.pack(">HBB", 5, 0x3F, 0) + b"HOST"
    ahs += bytes((-len(ahs)) % 4)
    if not c.immediate_data:
        note("ImmediateData=No was negotiated: the data follows the R2T")
    t = c.run(cdb_write10(lba, 1), edtl=bs, write=True, data=new, ahs=ahs, timeout=3)
    measured("answer to WRITE(10) with immediate data and an AHS of type 0x3f", t.describe())
    if t.reject is not None:
        measured("Reject reason code", "0x%02x (%s)" % (t.reject, REJECT_REASONS.get(t.reject, "?")))
    bound("the command with an unknown AHS type is answered with a Reject", t.reject is not None, t.describe())
    c2 = Conn(a.port)
    login_or_die(c2, a, initiator="iqn.2026-11.org.swift-iscsi:reader")
    t2 = c2.run(cdb_read10(lba, 1), edtl=bs, read=True)
    content = bytes(t2.data)
    what = "old contents (0xA5)" if content == old else "the attack's data (0x5A)" if content == new else "other data"
    measured("block %d read back on another session" % lba, what)
    bound("the command was not executed: the block keeps its old contents", content == old, what)
    check_alive(a)
    c2.logout()
    c.close()


def s6_cmdsn_window(a):
    """Commands beyond MaxCmdSN are ignored, one inside the window is answered."""
    c = Conn(a.port)
    login_or_die(c, a)
    measured("ExpCmdSN / MaxCmdSN from the login response", "%d / %d (window %d)" % (
        c.expcmdsn, c.maxcmdsn, ((c.maxcmdsn - c.expcmdsn) & MASK32) + 1))
    t = c.run(cdb_test_unit_ready())  # clears the power-on UNIT ATTENTION, if any
    if not (t.done and t.status == 0):
        raise RuntimeError("TEST UNIT READY: " + t.describe())
    expcmdsn, maxcmdsn = c.expcmdsn, c.maxcmdsn
    measured("ExpCmdSN / MaxCmdSN after one TEST UNIT READY", "%d / %d" % (expcmdsn, maxcmdsn))
    outside = [c.command(cdb_test_unit_ready(), cmdsn=(maxcmdsn + k) & MASK32) for k in range(1, 11)]
    inside = c.command(cdb_test_unit_ready(), cmdsn=c.cmdsn)
    t_in = c.wait(inside, 3)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            c.pump(max(0.01, deadline - time.monotonic()))
        except (socket.timeout, Closed, OSError):
            break
    answered = [t for t in (c.tasks[i] for i in outside) if t.first_answer is not None]
    measured("commands with CmdSN MaxCmdSN+1..MaxCmdSN+10 answered", "%d of 10%s" % (
        len(answered), (": " + "; ".join(t.describe() for t in answered)) if answered else ""))
    measured("command inside the window", t_in.describe())
    bound("no command beyond MaxCmdSN is answered (RFC 7143 4.2.2.1)", not answered, "%d answered" % len(answered))
    bound("a command inside the window is answered", t_in.done and t_in.status == 0, t_in.describe())
    check_alive(a)
    c.close()


def s7_sanity(a):
    """The client itself: 1 MiB written through R2Ts and read back intact."""
    c = Conn(a.port)
    st = c.login(target=a.iqn, operational={"ImmediateData": "No", "InitialR2T": "Yes"})
    bound("python client logs in (ImmediateData=No, InitialR2T=Yes)", st == (0, 0), "status %d/%d" % st)
    if st != (0, 0):
        return
    measured("negotiated ImmediateData / InitialR2T / MaxBurstLength / target MaxRecvDataSegmentLength",
             "%s / %s / %d / %d" % ("Yes" if c.immediate_data else "No", "Yes" if c.initial_r2t else "No",
                                     c.max_burst, c.target_mrdsl))
    bs, nblocks = block_size(c)
    measured("LUN", "%d blocks of %d bytes" % (nblocks, bs))
    payload = os.urandom(1 << 20)
    blocks = len(payload) // bs
    t = c.run(cdb_write16(1000, blocks), edtl=len(payload), write=True, data=payload, timeout=10)
    measured("WRITE(16) of 1 MiB", "%s after %d R2T(s)" % (t.describe(), len(t.r2ts)))
    bound("1 MiB WRITE(16) through R2Ts completes GOOD", t.done and t.status == 0 and len(t.r2ts) > 0, t.describe())
    t = c.run(cdb_read16(1000, blocks), edtl=len(payload), read=True, timeout=10)
    bound("1 MiB READ(16) returns the data written", t.done and t.status == 0 and bytes(t.data) == payload,
          "%s, %d bytes, %s" % (t.describe(), len(t.data), "intact" if bytes(t.data) == payload else "DIFFERENT"))
    ok = c.logout()
    bound("logout", ok)
    # Immediate data plus R2T on a default session, and discovery.
    c = Conn(a.port)
    login_or_die(c, a)
    payload = os.urandom(192 * 1024)
    t = c.run(cdb_write16(5000, len(payload) // bs), edtl=len(payload), write=True, data=payload, timeout=10)
    t2 = c.run(cdb_read16(5000, len(payload) // bs), edtl=len(payload), read=True, timeout=10)
    bound("192 KiB WRITE(16) with immediate data and R2Ts reads back intact",
          t.done and t.status == 0 and bytes(t2.data) == payload,
          "write %s (%d R2Ts), read %s" % (t.describe(), len(t.r2ts), t2.describe()))
    c.logout()
    ok, took, out = python_discovery(a)
    bound("discovery session lists the target", ok, out)
    check_alive(a)


SCENARIOS = {
    "huge-edtl": s1_huge_edtl,
    "no-reading": s2_no_reading,
    "max-transfer": s2_max_transfer,
    "stalled-logins": s3_stalled_logins,
    "tsih-probe": s4_tsih_probe,
    "unknown-ahs": s5_unknown_ahs,
    "cmdsn-window": s6_cmdsn_window,
    "sanity": s7_sanity,
}


def main():
    global SCENARIO
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True, help="tgtd's pid")
    p.add_argument("--iqn", required=True)
    p.add_argument("--label", help="name printed on every line (default: the scenario)")
    p.add_argument("--variant", default="", help="huge-edtl: 'four' sends four WRITE(16)s with EDTL 256 MiB")
    p.add_argument("--option", default="", help="the --iscsi option tgtd was asked to take")
    p.add_argument("--option-ok", type=int, default=1, help="0 when tgtd refused --option")
    p.add_argument("--count", type=int, default=None, help="commands (no-reading) or connections (stalled-logins)")
    p.add_argument("--send-seconds", type=float, default=15.0)
    p.add_argument("--close-wait", type=float, default=75.0, help="how long to watch for the stuck connection's close")
    p.add_argument("--login-timeout", type=float, default=5.0)
    a = p.parse_args()
    if a.count is None:
        a.count = {"no-reading": 4000, "stalled-logins": 500}.get(a.scenario, 0)
    SCENARIO = a.label or a.scenario
    check_option(a)
    try:
        SCENARIOS[a.scenario](a)
    except Exception as e:  # the scenario broke: say so apart from a failed bound
        import traceback
        traceback.print_exc()
        print("bound: %s: scenario ran to its end: FAIL (%s: %s)" % (SCENARIO, type(e).__name__, e), flush=True)
        if not alive(a.pid):
            print("measured: %s: tgtd = gone (pid %d)" % (SCENARIO, a.pid), flush=True)
        return 2
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
