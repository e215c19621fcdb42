import SCSIProtocol

/// Which path of a multipath LU the next command takes. Pure: the multipath runner tells it
/// what happened (sessions up and down, failed commands, port group states) and asks it.
///
/// As dm-multipath with the ALUA prioritizer and `group_by_prio`: paths whose port group is
/// active/optimized are used first, spread by the policy; active/non-optimized ones only when no
/// optimized path works; standby, unavailable, offline and transitioning ones never carry media
/// access. LUs without ALUA (TPGS 0) have every path active/optimized. A path that failed a
/// command stays out until its session logs in again or the checker finds it working.
public struct PathSelector: Sendable {
    public enum Policy: String, Sendable, CaseIterable {
        /// One command per path in turn (dm's round-robin with rr_min_io_rq 1).
        case roundRobin = "round-robin"
        /// The path with the fewest commands in flight; ties in turn (dm's queue-length).
        case queueLength = "queue-length"
    }

    public struct Path: Sendable, Equatable {
        public let id: Int
        /// The session is logged in.
        public var connected: Bool
        /// A command failed on the path since it last proved itself (dm's failed path).
        public var failed = false
        /// TARGET PORT GROUP and RELATIVE TARGET PORT IDENTIFIER of the port (VPD 0x83).
        public var group: UInt16?
        public var relativePort: UInt16?
        public var state: ALUAState = .activeOptimized
        public var inFlight = 0

        public var usable: Bool { connected && !failed && state.allowsMediaAccess }

        /// multipath's path state words: "active ready running", "failed faulty running"...
        public var checkerState: String {
            if !connected { return "failed faulty offline" }
            if failed { return "failed faulty running" }
            return state.allowsMediaAccess ? "active ready running" : "active ghost running"
        }
    }

    public var policy: Policy
    public private(set) var paths: [Path] = []
    private var cursor = 0

    public init(policy: Policy = .queueLength) {
        self.policy = policy
    }

    /// More than one path: commands fail fast on a lost connection and are sent elsewhere.
    public var isMultipath: Bool { paths.count > 1 }
    public var hasUsablePath: Bool { paths.contains { $0.usable } }

    public mutating func add(id: Int, connected: Bool, group: UInt16? = nil, relativePort: UInt16? = nil) {
        guard index(id) == nil else { return }
        var path = Path(id: id, connected: connected, group: group, relativePort: relativePort)
        // A new path of a group whose state is known takes that state.
        if let group, let known = paths.first(where: { $0.group == group }) { path.state = known.state }
        paths.append(path)
    }

    public mutating func remove(id: Int) {
        paths.removeAll { $0.id == id }
    }

    /// The session logged in (again) or lost its connection. A new login clears a failure.
    public mutating func connectionChanged(id: Int, up: Bool) {
        guard let i = index(id) else { return }
        paths[i].connected = up
        if up { paths[i].failed = false }
    }

    /// A command failed on the path with a path error.
    public mutating func pathFailed(id: Int) {
        guard let i = index(id) else { return }
        paths[i].failed = true
    }

    /// The checker's command went through: the path is back.
    public mutating func reinstate(id: Int) {
        guard let i = index(id) else { return }
        paths[i].failed = false
    }

    /// The port answered with an ALUA state (sense 02/04/0A-0C): every path of its group has it.
    public mutating func stateReported(id: Int, _ state: ALUAState) {
        guard let i = index(id) else { return }
        guard let group = paths[i].group else { return paths[i].state = state }
        for j in paths.indices where paths[j].group == group { paths[j].state = state }
    }

    /// A REPORT TARGET PORT GROUPS answer: each path takes its group's state (matched by group,
    /// else by relative port). Paths in no listed group keep theirs.
    public mutating func portGroups(_ groups: [TargetPortGroup]) {
        for i in paths.indices {
            let match =
                groups.first { g in paths[i].group == g.id }
                ?? groups.first { g in paths[i].relativePort.map { g.relativePorts.contains($0) } ?? false }
            guard let match else { continue }
            paths[i].group = match.id
            paths[i].state = match.state
        }
    }

    /// The path for the next command (its in-flight count goes up), or nil when none may carry
    /// it. A single path is always chosen: its session does the waiting, as without multipath.
    public mutating func take() -> Int? {
        guard paths.count > 1 else {
            guard !paths.isEmpty else { return nil }
            paths[0].inFlight += 1
            return paths[0].id
        }
        let best = paths.lazy.filter(\.usable).map(\.state.priority).max()
        guard let best else { return nil }
        var chosen: Int?
        let count = paths.count
        for step in 0..<count {
            let i = (cursor + step) % count
            guard paths[i].usable, paths[i].state.priority == best else { continue }
            if policy == .roundRobin {
                chosen = i
                break
            }
            if chosen == nil || paths[i].inFlight < paths[chosen!].inFlight { chosen = i }
        }
        guard let i = chosen else { return nil }
        cursor = (i + 1) % count
        paths[i].inFlight += 1
        return paths[i].id
    }

    /// A command taken with `take` ended.
    public mutating func finished(id: Int) {
        guard let i = index(id), paths[i].inFlight > 0 else { return }
        paths[i].inFlight -= 1
    }

    public func path(_ id: Int) -> Path? { index(id).map { paths[$0] } }

    private func index(_ id: Int) -> Int? { paths.firstIndex { $0.id == id } }
}
