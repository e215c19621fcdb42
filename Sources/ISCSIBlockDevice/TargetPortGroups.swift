import NIOCore

/// An ALUA asymmetric access state (SPC-4 6.37, REPORT TARGET PORT GROUPS).
public enum ALUAState: UInt8, Sendable, CustomStringConvertible {
    case activeOptimized = 0x0
    case activeNonOptimized = 0x1
    case standby = 0x2
    case unavailable = 0x3
    case logicalBlockDependent = 0x4
    case offline = 0xE
    case transitioning = 0xF

    /// Media access may be sent through a port in this state.
    public var allowsMediaAccess: Bool {
        self == .activeOptimized || self == .activeNonOptimized || self == .logicalBlockDependent
    }

    /// multipath's prio for the group (multipath-tools' alua prioritizer: 50 optimized, 10
    /// non-optimized, 1 standby, 0 otherwise).
    public var priority: Int {
        switch self {
        case .activeOptimized: return 50
        case .activeNonOptimized, .logicalBlockDependent: return 10
        case .standby: return 1
        default: return 0
        }
    }

    public var description: String {
        switch self {
        case .activeOptimized: return "active/optimized"
        case .activeNonOptimized: return "active/non-optimized"
        case .standby: return "standby"
        case .unavailable: return "unavailable"
        case .logicalBlockDependent: return "lba-dependent"
        case .offline: return "offline"
        case .transitioning: return "transitioning"
        }
    }
}

/// One target port group of a REPORT TARGET PORT GROUPS answer.
public struct TargetPortGroup: Sendable, Equatable {
    public var id: UInt16
    public var state: ALUAState
    /// PREF: the group the target prefers.
    public var preferred: Bool
    /// RELATIVE TARGET PORT IDENTIFIERs of the group's ports.
    public var relativePorts: [UInt16]

    public init(id: UInt16, state: ALUAState, preferred: Bool = false, relativePorts: [UInt16]) {
        self.id = id
        self.state = state
        self.preferred = preferred
        self.relativePorts = relativePorts
    }

    /// MAINTENANCE IN / REPORT TARGET PORT GROUPS (0xA3/0x0A), length format.
    static func reportCDB(allocationLength: UInt32) -> [UInt8] {
        var cdb: [UInt8] = [0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        for i in 0..<4 { cdb[6 + i] = UInt8(truncatingIfNeeded: allocationLength >> (24 - 8 * i)) }
        return cdb
    }

    /// The groups of an RTPG answer (length or extended header format); nil when malformed.
    static func parse(_ data: ByteBuffer) -> [TargetPortGroup]? {
        let base = data.readerIndex
        guard let length = data.getInteger(at: base, as: UInt32.self) else { return nil }
        var at = 4
        // Extended header (FORMAT TYPE 1): a second header of 4 bytes.
        if let format = data.getInteger(at: base + 4, as: UInt8.self), (format >> 4) & 0x7 == 1 { at = 8 }
        let end = min(data.readableBytes, 4 + Int(length))
        var groups: [TargetPortGroup] = []
        while at + 8 <= end, let header = data.getBytes(at: base + at, length: 8) {
            let count = Int(header[7])
            guard at + 8 + 4 * count <= end else { return nil }
            // An unknown state code reads as unavailable: never used for IO.
            let state = ALUAState(rawValue: header[0] & 0x0F) ?? .unavailable
            var ports: [UInt16] = []
            for i in 0..<count {
                ports.append(data.getInteger(at: base + at + 8 + 4 * i + 2, as: UInt16.self)!)
            }
            groups.append(TargetPortGroup(
                id: UInt16(header[2]) << 8 | UInt16(header[3]), state: state, preferred: header[0] & 0x80 != 0,
                relativePorts: ports))
            at += 8 + 4 * count
        }
        return groups
    }
}
