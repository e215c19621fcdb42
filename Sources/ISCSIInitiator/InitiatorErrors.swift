import ISCSIProtocol

/// Every failure the initiator reports.
public enum ISCSIInitiatorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The target refused the login: status class and detail (RFC 7143 11.13.5).
    case loginFailed(statusClass: UInt8, statusDetail: UInt8, message: String)
    /// We could not finish the login (negotiation or CHAP check failed on our side).
    case negotiationFailed(String)
    /// The TCP connection to `endpoint` ("host:port") could not be made; `reason` is strerror's text.
    case cannotConnect(endpoint: String, reason: String)
    /// An open connection broke; `reason` is strerror's text or what the peer did.
    case connectionFailed(String)
    case timeout(String)
    case protocolViolation(String)
    /// The connection was lost and could not be re-established in time, or the session ended.
    case sessionFailed(String)
    case taskAborted
    case taskManagementFailed(function: UInt8, response: UInt8)
    case scsiError(status: UInt8, sense: SenseInfo?)
    case invalidURL(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .loginFailed(let c, let d, let message):
            let code = String(format4(UInt16(c) << 8 | UInt16(d)))
            return "login failed: \(Self.loginStatusText(c, d)) (0x\(code))" + (message.isEmpty ? "" : ": \(message)")
        case .negotiationFailed(let m): return "login failed: \(m)"
        case .cannotConnect(let endpoint, let reason): return "cannot make connection to \(endpoint): \(reason)"
        case .connectionFailed(let m): return "connection failed: \(m)"
        case .timeout(let m): return "timed out: \(m)"
        case .protocolViolation(let m): return "protocol error: \(m)"
        case .sessionFailed(let m): return "session failed: \(m)"
        case .taskAborted: return "command aborted"
        case .taskManagementFailed(let f, let r): return "task management function \(f) failed with response \(r)"
        case .scsiError(let status, let sense):
            return "SCSI status 0x\(String(status, radix: 16))" + (sense.map { ", sense \($0)" } ?? "")
        case .invalidURL(let m): return "invalid iSCSI URL: \(m)"
        case .invalidArgument(let m): return m
        }
    }

    private func format4(_ v: UInt16) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    public static func loginStatusText(_ statusClass: UInt8, _ detail: UInt8) -> String {
        switch (statusClass, detail) {
        case (1, 1): return "target moved temporarily"
        case (1, 2): return "target moved permanently"
        case (2, 0): return "initiator error"
        case (2, 1): return "authentication failure"
        case (2, 2): return "authorization failure"
        case (2, 3): return "target not found"
        case (2, 4): return "target removed"
        case (2, 5): return "unsupported version"
        case (2, 6): return "too many connections"
        case (2, 7): return "missing parameter"
        case (2, 8): return "cannot include in session"
        case (2, 9): return "session type not supported"
        case (2, 10): return "session does not exist"
        case (2, 11): return "invalid request during login"
        case (3, 0): return "target error"
        case (3, 1): return "service unavailable"
        case (3, 2): return "out of resources"
        default: return "login status"
        }
    }
}

/// Sense data reduced to what callers act on; fixed (0x70/0x71) and descriptor (0x72/0x73) formats.
public struct SenseInfo: Hashable, Sendable, CustomStringConvertible {
    public var key: UInt8
    public var asc: UInt8
    public var ascq: UInt8

    public init(key: UInt8, asc: UInt8, ascq: UInt8) {
        self.key = key
        self.asc = asc
        self.ascq = ascq
    }

    public init?(bytes: [UInt8]) {
        guard let first = bytes.first else { return nil }
        switch first & 0x7f {
        case 0x70, 0x71:
            guard bytes.count >= 14 else { return nil }
            self.init(key: bytes[2] & 0x0f, asc: bytes[12], ascq: bytes[13])
        case 0x72, 0x73:
            guard bytes.count >= 4 else { return nil }
            self.init(key: bytes[1] & 0x0f, asc: bytes[2], ascq: bytes[3])
        default:
            return nil
        }
    }

    public var keyName: String {
        let names = [
            "NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR", "HARDWARE ERROR", "ILLEGAL REQUEST",
            "UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
            "RESERVED", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
        ]
        return names[Int(key & 0x0f)]
    }

    public var description: String {
        "\(keyName) asc 0x\(String(asc, radix: 16)) ascq 0x\(String(ascq, radix: 16))"
    }
}
