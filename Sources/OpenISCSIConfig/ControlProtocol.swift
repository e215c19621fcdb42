/// A request from iscsiadm to iscsid over the control socket (JSON).
public enum ControlRequest: Sendable, Equatable, Codable {
    case discover(portal: Portal, record: Record)
    case login(NodeEntry)
    case logout(sid: Int)
    case sessions
    case rescan(sid: Int)
    /// `iscsiadm -m multipath`: the block devices as multipath maps.
    case multipath
    case ping
    /// `iscsiadm -k 0`: iscsid answers, then exits as on SIGTERM.
    case shutdown
}

/// iscsid's answer.
public enum ControlResponse: Sendable, Equatable, Codable {
    case ok
    case targets([DiscoveredTarget])
    case session(SessionInfo)
    case sessions([SessionInfo])
    /// Text iscsiadm prints as it is (the multipath listing).
    case text(String)
    case failure(ISCSIError)
}
