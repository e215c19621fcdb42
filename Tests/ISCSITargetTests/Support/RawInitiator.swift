#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import ISCSIProtocol
import ISCSITestSupport
import NIOCore
import XCTest

/// What a read from the target produced.
enum Received {
    case pdu(ISCSIPDU)
    /// The target closed (or reset) the connection.
    case closed
    /// Nothing arrived in time.
    case timeout
}

/// The C library's close, out of reach of `RawInitiator.close()`.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }

struct RawInitiatorError: Error, CustomStringConvertible {
    var description: String
}

/// A deliberately simple iSCSI initiator over a blocking POSIX socket: it writes whatever bytes a
/// test builds (well-formed or not) and reads PDUs back with a timeout, so no test can hang.
final class RawInitiator {
    private var fd: Int32
    private var buffer = ByteBuffer()
    private var decoder = PDUFrameDecoder(limits: FramingLimits(maxDataSegmentLength: 0xff_ffff))
    private let encoder = PDUEncoder()

    let isid: UInt64
    var cmdSN: UInt32 = 1
    var expStatSN: UInt32 = 0
    var nextITT: UInt32 = 0x100
    /// Filled in by a successful `login`.
    var tsih: UInt16 = 0
    var targetMaxRecvDataSegmentLength = 8192

    static let defaultTimeout: TimeInterval = 5

    /// `receiveBuffer`: SO_RCVBUF, for a peer that reads slowly or not at all.
    init(
        port: Int, isid: UInt64 = UInt64.random(in: 0x40_0000_0000...0x40_ffff_ffff_ff), receiveBuffer: Int32? = nil
    ) throws {
        self.isid = isid
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw RawInitiatorError(description: "socket: errno \(errno)") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let error = errno
            closeDescriptor(fd)
            throw RawInitiatorError(description: "connect to port \(port): errno \(error)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            closeDescriptor(fd)
            fd = -1
        }
    }

    func takeITT() -> UInt32 {
        defer { nextITT &+= 1 }
        return nextITT
    }

    // MARK: Writing

    /// Writes raw bytes; false when the target already closed the connection.
    @discardableResult
    func sendRaw(_ bytes: ByteBuffer) -> Bool {
        var remaining = bytes
        while remaining.readableBytes > 0 {
            let written = remaining.withUnsafeReadableBytes { raw in
                Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            remaining.moveReaderIndex(forwardBy: written)
        }
        return true
    }

    @discardableResult
    func send(_ pdu: ISCSIPDU) -> Bool {
        var bytes = ByteBuffer()
        encoder.encode(pdu, into: &bytes)
        return sendRaw(bytes)
    }

    // MARK: Reading

    /// Takes at most `maxBytes` from the socket without waiting, for a peer that reads slowly:
    /// they are kept for `receive`. False once the target has closed the connection.
    func receiveSome(maxBytes: Int) -> Bool {
        var chunk = [UInt8](repeating: 0, count: maxBytes)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if count > 0 {
            buffer.writeBytes(chunk[0..<count])
            return true
        }
        return count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    }

    /// The next PDU, or closed/timeout. Keeps ExpStatSN current.
    func receive(timeout: TimeInterval = RawInitiator.defaultTimeout) -> Received {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            do {
                if let frame = try decoder.next(from: &buffer) {
                    let pdu = try ISCSIPDU(frame: frame)
                    noteStatSN(pdu)
                    return .pdu(pdu)
                }
            } catch {
                XCTFail("target sent bytes that do not frame: \(error)")
                return .closed
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return .timeout }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, min(left * 1000, 60_000))))
            if ready < 0 {
                if errno == EINTR { continue }
                return .closed
            }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return .closed }
            buffer.writeBytes(chunk[0..<count])
        }
    }

    /// The next PDU; a test failure (and nil) when the connection closed or nothing came.
    func expectPDU(
        timeout: TimeInterval = RawInitiator.defaultTimeout, file: StaticString = #filePath, line: UInt = #line
    ) -> ISCSIPDU? {
        switch receive(timeout: timeout) {
        case .pdu(let pdu): return pdu
        case .closed:
            XCTFail("connection closed while a PDU was expected", file: file, line: line)
            return nil
        case .timeout:
            XCTFail("no PDU within \(timeout) s", file: file, line: line)
            return nil
        }
    }

    /// True when the target closes the connection within `timeout`, ignoring PDUs sent before.
    func waitForClose(timeout: TimeInterval = RawInitiator.defaultTimeout) -> (closed: Bool, before: [ISCSIPDU]) {
        var before: [ISCSIPDU] = []
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            switch receive(timeout: max(0, deadline.timeIntervalSinceNow)) {
            case .pdu(let pdu): before.append(pdu)
            case .closed: return (true, before)
            case .timeout: return (false, before)
            }
        }
    }

    private func noteStatSN(_ pdu: ISCSIPDU) {
        let statSN: UInt32?
        switch pdu {
        case .scsiResponse(let r): statSN = r.statSN
        case .nopIn(let r): statSN = r.initiatorTaskTag == ISCSITag.reserved ? nil : r.statSN
        case .taskManagementResponse(let r): statSN = r.statSN
        case .textResponse(let r): statSN = r.statSN
        case .logoutResponse(let r): statSN = r.statSN
        case .reject(let r): statSN = r.statSN
        case .loginResponse(let r): statSN = r.statusClass == .success ? r.statSN : nil
        case .dataIn(let r): statSN = r.statusPresent ? r.statSN : nil
        default: statSN = nil
        }
        if let statSN { expStatSN = statSN &+ 1 }
    }

    // MARK: Login

    struct LoginKeys {
        var initiatorName = Fixture.initiatorName
        var targetName: String? = Fixture.targetName
        var discovery = false
        var operational: [String] = [
            "HeaderDigest=None", "DataDigest=None", "MaxRecvDataSegmentLength=8192", "ImmediateData=Yes",
            "InitialR2T=No", "MaxBurstLength=262144", "FirstBurstLength=65536", "MaxOutstandingR2T=1",
            "ErrorRecoveryLevel=0",
        ]
    }

    func loginRequest(
        csg: UInt8, nsg: UInt8, transit: Bool, continue: Bool = false, data: ByteBuffer, itt: UInt32 = 0x0a11
    ) -> ISCSIPDU {
        .loginRequest(
            LoginRequest(
                transit: transit, continue: `continue`, csg: LoginStage(rawValue: csg), nsg: LoginStage(rawValue: nsg),
                isid: isid, initiatorTaskTag: itt, cid: 1, cmdSN: cmdSN, expStatSN: expStatSN, dataSegment: data))
    }

    /// Security stage then operational stage; returns the final Login Response, or the first
    /// failing one. Throws when the connection breaks.
    func login(_ keys: LoginKeys = LoginKeys()) throws -> LoginResponse {
        var security = ["InitiatorName=\(keys.initiatorName)", "SessionType=\(keys.discovery ? "Discovery" : "Normal")", "AuthMethod=None"]
        if let target = keys.targetName { security.append("TargetName=\(target)") }
        send(loginRequest(csg: 0, nsg: 1, transit: true, data: Fixture.text(security)))
        let first = try loginResponse()
        guard first.statusClass == .success else { return first }
        guard first.transit, first.nsg == .loginOperationalNegotiation else {
            throw RawInitiatorError(description: "target did not move to the operational stage: \(first)")
        }
        send(loginRequest(csg: 1, nsg: 3, transit: true, data: Fixture.text(keys.operational)))
        let second = try loginResponse()
        guard second.statusClass == .success else { return second }
        guard second.transit, second.nsg == .fullFeaturePhase else {
            throw RawInitiatorError(description: "target did not complete the login: \(second)")
        }
        tsih = second.tsih
        if let declared = Fixture.keys(second.dataSegment)["MaxRecvDataSegmentLength"].flatMap(Int.init) {
            targetMaxRecvDataSegmentLength = declared
        }
        return second
    }

    func loginResponse() throws -> LoginResponse {
        switch receive() {
        case .pdu(.loginResponse(let response)): return response
        case .pdu(let other): throw RawInitiatorError(description: "expected a Login Response, got \(other.opcode)")
        case .closed: throw RawInitiatorError(description: "connection closed during login")
        case .timeout: throw RawInitiatorError(description: "no Login Response in time")
        }
    }

    // MARK: Full feature phase helpers

    /// Sends a NOP-Out that wants an answer (non-immediate, consuming a CmdSN).
    func ping(data: ByteBuffer = ByteBuffer()) -> UInt32 {
        let itt = takeITT()
        send(.nopOut(NOPOut(immediate: false, initiatorTaskTag: itt, cmdSN: cmdSN, expStatSN: expStatSN, dataSegment: data)))
        cmdSN &+= 1
        return itt
    }

    func scsiCommand(
        cdb: ByteBuffer, read: Bool = false, write: Bool = false, length: UInt32, immediateData: ByteBuffer = ByteBuffer(),
        final: Bool = true, lun: UInt64 = SAMLUN.encode(1)
    ) -> UInt32 {
        let itt = takeITT()
        send(
            .scsiCommand(
                SCSICommand(
                    final: final, read: read, write: write, lun: lun, initiatorTaskTag: itt,
                    expectedDataTransferLength: length, cmdSN: cmdSN, expStatSN: expStatSN, cdb: cdb,
                    dataSegment: immediateData)))
        cmdSN &+= 1
        return itt
    }

    func logout() -> LogoutResponse? {
        send(.logoutRequest(LogoutRequest(immediate: true, initiatorTaskTag: takeITT(), cmdSN: cmdSN, expStatSN: expStatSN)))
        guard case .pdu(.logoutResponse(let response)) = receive() else { return nil }
        return response
    }
}
