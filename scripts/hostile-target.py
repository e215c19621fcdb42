#!/usr/bin/env python3
"""A deliberately misbehaving iSCSI target for scripts/hostile-target.sh.

Usage: hostile-target.py MODE PORT COUNTFILE [STALL_SECONDS]

Logs in plainly (AuthMethod=None, no digests, InitialR2T=Yes, ImmediateData=No), serves one
64 MiB LUN of zeros (LUN 1) well enough for INQUIRY, REPORT LUNS, READ CAPACITY, reads and
writes, and misbehaves as MODE says:

  good               no misbehaviour (checks the harness itself)
  silent             after login, never answers anything
  nop-storm          after login, floods NOP-Ins that ask for an answer; answers nothing else
  reject-storm       after login, floods Rejects of PDUs we never got; answers nothing else
  async-logout       right after login asks for a logout (Async Message), then answers nothing
  datain-overflow    Data-In 512 bytes beyond the command's expected length
  unknown-itt        Data-In with an ITT the initiator never sent
  datasn-gap         the status-bearing Data-In skips a DataSN
  s-without-f        Data-In with the S bit but not F, then a CHECK CONDITION response
  r2t-overflow       R2T for 4 KiB more than the write's length (reads are fine)
  version            Login Response with version-max and version-active 0x7f
  hangup-after-login completes the login, then closes the connection
  stall-login        reads the Login Request and never answers it
  slow-login         answers the login after STALL_SECONDS, then behaves

Every connection that sends a Login Request counts as a login; the count is rewritten to
COUNTFILE after each one.
"""
import os
import socket
import struct
import sys
import threading
import time

MODE, PORT, COUNTFILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
STALL = float(sys.argv[4]) if len(sys.argv) > 4 else 3600.0
BLOCKS, BLOCK = 131072, 512
DATAIN_MODES = {"datain-overflow", "unknown-itt", "datasn-gap", "s-without-f"}
MUTE_MODES = {"silent", "nop-storm", "reject-storm", "async-logout"}

count_lock = threading.Lock()
logins = 0


def count_login():
    global logins
    with count_lock:
        logins += 1
        with open(COUNTFILE + ".tmp", "w") as f:
            f.write("%d\n" % logins)
        os.replace(COUNTFILE + ".tmp", COUNTFILE)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_pdu(sock):
    bhs = recv_exact(sock, 48)
    length = int.from_bytes(bhs[5:8], "big")
    recv_exact(sock, bhs[4] * 4)
    data = recv_exact(sock, (length + 3) & ~3)[:length]
    return bhs, data


def text_pairs(data):
    pairs = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            key, value = item.split(b"=", 1)
            pairs[key.decode()] = value.decode()
    return pairs


def encode_text(pairs):
    return b"".join(("%s=%s" % kv).encode() + b"\0" for kv in pairs)


def sense(key, asc, ascq=0):
    fixed = bytes([0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0])
    return struct.pack(">H", len(fixed)) + fixed


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.write_lock = threading.Lock()
        self.stat_sn = 1
        self.exp_cmd_sn = 1
        self.tsih = 0

    def send(self, header, data=b""):
        header = bytearray(header)
        header[5:8] = len(data).to_bytes(3, "big")
        with self.write_lock:
            self.sock.sendall(bytes(header) + data + b"\0" * ((4 - len(data) % 4) % 4))

    def status_fields(self, header, advance=True):
        struct.pack_into(">III", header, 24, self.stat_sn, self.exp_cmd_sn, self.exp_cmd_sn + 31)
        if advance:
            self.stat_sn += 1

    # Login

    def login(self):
        first = True
        while True:
            bhs, data = read_pdu(self.sock)
            if bhs[0] & 0x3F != 0x03:
                return False
            if first:
                count_login()
                if MODE == "stall-login":
                    time.sleep(STALL)
                    return False
                if MODE == "slow-login":
                    time.sleep(STALL)
            flags, itt = bhs[1], bhs[16:20]
            transit, csg, nsg = flags & 0x80, (flags >> 2) & 3, flags & 3
            self.exp_cmd_sn = struct.unpack(">I", bhs[24:28])[0]
            offers = text_pairs(data)
            answers = []
            if csg == 0:
                if "AuthMethod" in offers:
                    answers += [("AuthMethod", "None"), ("TargetPortalGroupTag", "1")]
            else:
                answers += self.operational(offers)
            requested_tsih = struct.unpack(">H", bhs[14:16])[0]
            final = transit and nsg == 3
            if final:
                self.tsih = requested_tsih or (logins & 0x7FFF) + 1
            header = bytearray(48)
            header[0] = 0x23
            header[1] = (0x80 if transit else 0) | (csg << 2) | (nsg if transit else 0)
            if MODE == "version" and first:
                header[2] = header[3] = 0x7F
            header[8:14] = bhs[8:14]
            struct.pack_into(">H", header, 14, self.tsih if final else 0)
            header[16:20] = itt
            self.status_fields(header)
            self.send(header, encode_text(answers))
            first = False
            if final:
                return True

    @staticmethod
    def operational(offers):
        mine = {
            "HeaderDigest": "None", "DataDigest": "None", "MaxConnections": "1", "InitialR2T": "Yes",
            "ImmediateData": "No", "MaxOutstandingR2T": "1", "DataPDUInOrder": "Yes",
            "DataSequenceInOrder": "Yes", "ErrorRecoveryLevel": "0", "DefaultTime2Retain": "0",
            "IFMarker": "No", "OFMarker": "No",
        }
        answers = []
        for key, value in offers.items():
            if key in mine:
                answers.append((key, mine[key]))
            elif key == "MaxBurstLength":
                answers.append((key, str(min(int(value), 262144))))
            elif key == "FirstBurstLength":
                answers.append((key, str(min(int(value), 65536))))
            elif key == "DefaultTime2Wait":
                answers.append((key, str(max(int(value), 2))))
        answers.append(("MaxRecvDataSegmentLength", "262144"))
        return answers

    # Full feature phase

    def serve(self):
        if not self.login():
            return
        if MODE == "hangup-after-login":
            return
        if MODE == "nop-storm":
            threading.Thread(target=self.storm, args=(self.nop_in,), daemon=True).start()
        elif MODE == "reject-storm":
            threading.Thread(target=self.storm, args=(self.reject,), daemon=True).start()
        elif MODE == "async-logout":
            header = bytearray(48)
            header[0], header[1] = 0x32, 0x80
            header[16:20] = b"\xff\xff\xff\xff"
            self.status_fields(header)
            header[36] = 1  # the target requests a logout
            struct.pack_into(">HHH", header, 38, 0, 0, 10)
            self.send(header)
        while True:
            bhs, data = read_pdu(self.sock)
            if bhs[0] & 0x40 == 0:
                self.exp_cmd_sn = max(self.exp_cmd_sn, struct.unpack(">I", bhs[24:28])[0] + 1)
            if MODE in MUTE_MODES:
                continue
            opcode = bhs[0] & 0x3F
            if opcode == 0x01:
                self.command(bhs)
            elif opcode == 0x00 and bhs[16:20] != b"\xff\xff\xff\xff":
                header = bytearray(48)
                header[0], header[1] = 0x20, 0x80
                header[16:20] = bhs[16:20]
                header[20:24] = b"\xff\xff\xff\xff"
                self.status_fields(header)
                self.send(header, data)
            elif opcode == 0x02:
                header = bytearray(48)
                header[0], header[1] = 0x22, 0x80
                header[16:20] = bhs[16:20]
                self.status_fields(header)
                self.send(header)
            elif opcode == 0x06:
                header = bytearray(48)
                header[0], header[1] = 0x26, 0x80
                header[16:20] = bhs[16:20]
                self.status_fields(header)
                self.send(header)
                return

    def storm(self, make):
        tag = 1
        try:
            while True:
                for _ in range(50):
                    self.send(*make(tag))
                    tag = (tag + 1) & 0x7FFFFFFF
                time.sleep(0.005)
        except OSError:
            pass

    def nop_in(self, tag):
        header = bytearray(48)
        header[0], header[1] = 0x20, 0x80
        header[16:20] = b"\xff\xff\xff\xff"
        struct.pack_into(">I", header, 20, tag)  # asks for a NOP-Out
        self.status_fields(header, advance=False)
        return (header,)

    def reject(self, tag):
        rejected = bytearray(48)
        rejected[0] = 0x40
        struct.pack_into(">I", rejected, 16, 0x7FFF0000 | (tag & 0xFFFF))
        header = bytearray(48)
        header[0], header[1], header[2] = 0x3F, 0x80, 0x09
        header[16:20] = b"\xff\xff\xff\xff"
        self.status_fields(header)
        return (header, bytes(rejected))

    def command(self, bhs):
        itt, cdb = bhs[16:20], bhs[32:48]
        expected = struct.unpack(">I", bhs[20:24])[0]
        writing = bhs[1] & 0x20
        op = cdb[0]
        if writing:
            return self.write(bhs, itt, expected)
        data, sense_data = self.scsi_data(cdb)
        if data is None:
            return self.response(itt, 2, sense_data)
        if expected == 0:
            return self.response(itt, 0)
        data = b"\0" * expected if op in (0x28, 0x88) else data[:expected]
        if MODE in DATAIN_MODES:
            return self.misbehave(itt, data, expected)
        self.data_in(itt, data, expected)

    def scsi_data(self, cdb):
        """(data, sense) for a read-type command; data None means CHECK CONDITION with sense."""
        op = cdb[0]
        if op == 0x12:  # INQUIRY
            if cdb[1] & 1:
                page = cdb[2]
                if page == 0x00:
                    return bytes([0, 0, 0, 3, 0x00, 0x80, 0x83]), None
                if page == 0x80:
                    return bytes([0, 0x80, 0, 4]) + b"0001", None
                if page == 0x83:
                    return bytes([0, 0x83, 0, 0]), None
                return None, sense(5, 0x24)
            return bytes([0, 0, 5, 2, 31, 0, 0, 0]) + b"HOSTILE " + b"FAKE TARGET     " + b"0001", None
        if op == 0xA0:  # REPORT LUNS: LUN 1
            return struct.pack(">II", 8, 0) + bytes([0, 1, 0, 0, 0, 0, 0, 0]), None
        if op == 0x25:
            return struct.pack(">II", BLOCKS - 1, BLOCK), None
        if op == 0x9E and cdb[1] & 0x1F == 0x10:
            return struct.pack(">QI", BLOCKS - 1, BLOCK) + b"\0" * 20, None
        if op in (0x28, 0x88):
            return b"", None
        if op in (0x00, 0x35, 0x91):  # TEST UNIT READY, SYNCHRONIZE CACHE
            return b"", None
        return None, sense(5, 0x20)

    def data_in(self, itt, data, expected, data_sn=0):
        offset = 0
        while True:
            piece = data[offset:offset + 65536]
            last = offset + len(piece) >= len(data)
            header = bytearray(48)
            header[0] = 0x25
            header[1] = 0x81 if last else 0
            if last and len(data) < expected:
                header[1] |= 0x02
                struct.pack_into(">I", header, 44, expected - len(data))
            header[16:20] = itt
            header[20:24] = b"\xff\xff\xff\xff"
            self.status_fields(header, advance=last)
            struct.pack_into(">II", header, 36, data_sn, offset)
            self.send(header, piece)
            if last:
                return
            offset += len(piece)
            data_sn += 1

    def misbehave(self, itt, data, expected):
        header = bytearray(48)
        header[0] = 0x25
        header[20:24] = b"\xff\xff\xff\xff"
        if MODE == "datain-overflow":
            header[1] = 0x81
            header[16:20] = itt
            self.status_fields(header)
            return self.send(header, data + b"\0" * (expected - len(data) + 512))
        if MODE == "unknown-itt":
            header[1] = 0x81
            struct.pack_into(">I", header, 16, struct.unpack(">I", itt)[0] ^ 0x5A5A0000)
            self.status_fields(header)
            return self.send(header, data)
        if MODE == "datasn-gap":
            half = max(1, len(data) // 2)
            header[16:20] = itt
            self.status_fields(header, advance=False)
            self.send(header, data[:half])
            header[1] = 0x81
            self.status_fields(header)
            struct.pack_into(">II", header, 36, 2, half)  # DataSN 2 after 0: a gap
            return self.send(header, data[half:])
        # s-without-f: status on a Data-In that is not final, then the real (bad) status.
        header[1] = 0x01
        header[16:20] = itt
        self.status_fields(header)
        self.send(header, data)
        self.response(itt, 2, sense(0x0B, 0))

    def response(self, itt, status, sense_data=b""):
        header = bytearray(48)
        header[0], header[1], header[3] = 0x21, 0x80, status
        header[16:20] = itt
        self.status_fields(header)
        self.send(header, sense_data)

    def write(self, bhs, itt, expected):
        offset, ttt = 0, 0x100
        while offset < expected:
            length = min(expected - offset, 262144)
            if MODE == "r2t-overflow":
                length = expected - offset + 4096
            header = bytearray(48)
            header[0], header[1] = 0x31, 0x80
            header[16:20] = itt
            struct.pack_into(">I", header, 20, ttt)
            self.status_fields(header, advance=False)
            struct.pack_into(">III", header, 36, ttt - 0x100, offset, length)
            self.send(header)
            received = 0
            while received < length:
                out, data = read_pdu(self.sock)
                if out[0] & 0x3F != 0x05:
                    return
                received += len(data)
                if out[1] & 0x80:
                    break
            offset += received
            ttt += 1
        self.response(itt, 0)


def handle(sock):
    try:
        sock.settimeout(600)
        Connection(sock).serve()
    except (OSError, EOFError):
        pass
    finally:
        sock.close()


def main():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", PORT))
    server.listen(16)
    with open(COUNTFILE, "w") as f:
        f.write("0\n")
    while True:
        sock, _ = server.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


main()
