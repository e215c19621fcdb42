/// A target reported by SendTargets discovery.
public struct DiscoveredTarget: Sendable, Equatable, Codable {
    public var name: String
    public var portal: Portal

    public init(name: String, portal: Portal) {
        self.name = name
        self.portal = portal
    }
}

/// A logical unit seen on a session.
public struct SessionLUN: Sendable, Equatable, Codable {
    public var lun: Int
    public var device: String?

    public init(lun: Int, device: String? = nil) {
        self.lun = lun
        self.device = device
    }
}

/// A logged-in session, as `-m session` prints it.
public struct SessionInfo: Sendable, Equatable, Codable {
    public var sid: Int
    public var target: String
    public var portal: Portal
    public var persistentPortal: Portal
    public var iface: String
    public var initiatorName: String
    public var localAddress: String
    public var connectionState: String
    public var sessionState: String
    /// The node record the session was made from (timeouts and CHAP names for `-P 3`).
    public var record: Record
    /// Negotiated operational values, by iSCSI key (HeaderDigest, MaxRecvDataSegmentLength, ...).
    public var negotiated: [String: String]
    public var luns: [SessionLUN]
    public var statistics: [String: UInt64]
    /// Lines iscsiadm prints after a login or rescan: why a LUN got no block device, a LUN that
    /// disappeared (nil when there is nothing to say).
    public var notes: [String]?

    public init(
        sid: Int, target: String, portal: Portal, persistentPortal: Portal? = nil, iface: String = "default",
        initiatorName: String, localAddress: String = "", connectionState: String = "LOGGED IN",
        sessionState: String = "LOGGED_IN", record: Record = Record(kind: .node), negotiated: [String: String] = [:],
        luns: [SessionLUN] = [], statistics: [String: UInt64] = [:]
    ) {
        self.sid = sid
        self.target = target
        self.portal = portal
        self.persistentPortal = persistentPortal ?? portal
        self.iface = iface
        self.initiatorName = initiatorName
        self.localAddress = localAddress
        self.connectionState = connectionState
        self.sessionState = sessionState
        self.record = record
        self.negotiated = negotiated
        self.luns = luns
        self.statistics = statistics
    }
}

/// What iscsid needs from an initiator implementation; the lead binds it to `ISCSIInitiator`.
/// Errors should be `ISCSIError` (their code becomes iscsiadm's exit status); others map to
/// `ISCSI_ERR_LOGIN`/`ISCSI_ERR`.
public protocol SessionBackend: Sendable {
    /// SendTargets discovery against `portal` with the settings of its discovery record
    /// (`discovery.sendtargets.auth.*`, timeouts).
    func discover(portal: Portal, record: Record, initiatorName: String) async throws -> [DiscoveredTarget]
    /// Logs in to the node (`node.name`, `node.conn[0].address/port`, `node.session.auth.*`,
    /// digests, timeouts in `node.record`) as session `sid`; returns the session.
    func login(node: NodeEntry, sid: Int, initiatorName: String) async throws -> SessionInfo
    /// Logs out of session `sid`.
    func logout(sid: Int) async throws
    /// The live sessions, refreshed (state, LUNs, statistics).
    func sessions() async -> [SessionInfo]
    /// REPORT LUNS again on session `sid` and update its LUN list (and block devices).
    func rescan(sid: Int) async throws -> SessionInfo
    /// The block devices as multipath-tools' `multipath -ll` lists its maps.
    func multipathListing() async -> String
}

extension SessionBackend {
    /// Backends without block devices have no maps.
    public func multipathListing() async -> String { "" }
}
