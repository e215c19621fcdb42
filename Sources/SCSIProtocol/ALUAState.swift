/// An asymmetric access state (SPC-4 5.15.2.4, the ASYMMETRIC ACCESS STATE of REPORT and SET
/// TARGET PORT GROUPS). LIO's `alua_access_state` uses the same numbers.
public enum ALUAState: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
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

    /// multipath-tools' alua prioritizer: 50 optimized, 10 non-optimized, 1 standby, 0 otherwise.
    public var priority: Int {
        switch self {
        case .activeOptimized: return 50
        case .activeNonOptimized, .logicalBlockDependent: return 10
        case .standby: return 1
        default: return 0
        }
    }

    /// As multipath-tools and sg_rtpg name it.
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
