import Foundation
import SystemSupport

/// iscsiadm's behaviour: record operations on the store itself, everything that needs the
/// network through iscsid (`send`). Output goes to `out`/`err`; `run` returns the exit status.
public final class Iscsiadm {
    public let store: ConfigStore
    public let send: (ControlRequest) throws -> ControlResponse
    private let out: (String) -> Void
    private let err: (String) -> Void

    public init(
        store: ConfigStore, send: @escaping (ControlRequest) throws -> ControlResponse,
        out: @escaping (String) -> Void, err: @escaping (String) -> Void
    ) {
        self.store = store
        self.send = send
        self.out = out
        self.err = err
    }

    private func fail(_ error: ISCSIError) -> Int32 {
        err("iscsiadm: \(error.message)")
        return error.code.rawValue
    }

    public func run(_ arguments: [String]) -> Int32 {
        let line: AdminCommandLine
        do {
            line = try AdminCommandLine.parse(arguments)
        } catch let error as ISCSIError {
            return fail(error)
        } catch {
            return fail(ISCSIError(.invalid, "\(error)"))
        }
        if line.version {
            out(ProductVersion.line("iscsiadm"))
            return 0
        }
        if line.help {
            out("iscsiadm -m discoverydb [-hV] [-d debug_level] [-P printlevel] [-t type -p ip:port -I ifaceN ... [-Dl]] | [[-p ip:port -t type] [-o operation] [-n name] [-v value] [-lD]]")
            out("iscsiadm -m discovery [-hV] [-d debug_level] [-P printlevel] [-t type -p ip:port -I ifaceN ... [-l]] | [[-p ip:port] [-l | -D]] [-W]")
            out("iscsiadm -m node [-hV] [-d debug_level] [-P printlevel] [-L all,manual,automatic,onboot] [-W] [-U all,manual,automatic,onboot] [-S] [[-T targetname -p ip:port -I ifaceN] [-l | -u | -R | -s]] [[-o operation ] [-n name] [-v value]]")
            out("iscsiadm -m session [-hV] [-d debug_level] [-P printlevel] [-r sessionid | sysfsdir [-R | -u | -s] [-o operation] [-n name] [-v value]]")
            out("iscsiadm -m fw [-d debug_level] [-l]")
            out("iscsiadm -m host [-P printlevel] [-H hostno|MAC] [[-C chap [-x chap_tbl_idx]] | [-C flashnode [-A portal_type] [-x flashnode_idx]] | [-C stats]] [[-o operation] [-n name] [-v value]]")
            out("iscsiadm -m iface [-hV] [-d debug_level] [-P printlevel] [-I ifacename | -H hostno|MAC] [[-o operation ] [-n name] [-v value]] [-C ping [-a ip] [-b packetsize] [-c count] [-i interval]]")
            return 0
        }
        for op in line.ops where !["new", "delete", "update", "show", "nonpersistent", "apply", "applyall"].contains(op) {
            return fail(ISCSIError(.invalid, "can not recognize operation: '\(op)'"))
        }
        do {
            switch line.mode {
            case "discovery", "discoverydb": return try discovery(line)
            case "node": return try node(line)
            case "session": return try session(line)
            case "iface": return try iface(line)
            case "host": return try host(line)
            // Boot firmware (iBFT) targets: a software initiator in userspace has no firmware
            // table to read, which open-iscsi reports just like a machine without iBFT.
            case "fw": throw ISCSIError(.noObjectsFound, "Could not get list of targets from firmware. (err 21)")
            case nil: return fail(ISCSIError(.invalid, "You must specify a mode of operation."))
            default: return fail(ISCSIError(.invalid, "mode \(line.mode ?? "") is not yet supported"))
            }
        } catch let error as ISCSIError {
            return fail(error)
        } catch {
            return fail(ISCSIError(.generic, "\(error)"))
        }
    }

    private func parsePortal(_ text: String?) throws -> Portal? {
        guard let text else { return nil }
        guard let portal = Portal(argument: text) else {
            throw ISCSIError(.invalid, "cannot parse portal '\(text)'")
        }
        return portal
    }

    private func nameValue(_ line: AdminCommandLine) throws -> (String, String) {
        guard let name = line.names.first, let value = line.values.first else {
            throw ISCSIError(.invalid, "Update requires name and value")
        }
        return (name, value)
    }

    // MARK: discovery

    private func discovery(_ line: AdminCommandLine) throws -> Int32 {
        let portal = try parsePortal(line.portal)
        let discover = line.mode == "discovery" ? line.discoveryType != nil : line.discover
        if let type = line.discoveryType, !["sendtargets", "st"].contains(type) {
            if ["isns", "fw"].contains(type) {
                throw ISCSIError(.operationNotSupported, "\(type) discovery is not supported")
            }
            throw ISCSIError(.unknownDiscoveryType, "Unsupported discovery type.")
        }
        guard let portal else {
            if line.mode == "discovery" && discover {
                throw ISCSIError(.invalid, "Please specify portal as <ipaddr>[:<ipport>]")
            }
            let portals = store.sendTargetsPortals()
            guard !portals.isEmpty else { throw ISCSIError(.noObjectsFound, "No discovery found.") }
            for portal in portals { out("\(portal.hostPort) via sendtargets") }
            return 0
        }
        if discover {
            return try sendTargets(portal, line)
        }
        let existing = store.readSendTargets(portal)
        let op = line.ops.first ?? "show"
        switch op {
        case "delete":
            guard existing != nil else { throw ISCSIError(.invalid, "Discovery record [\(portal.commaForm)] not found!") }
            for node in store.nodesDiscovered(by: portal) { try store.deleteNode(node) }
            try store.deleteSendTargets(portal)
        case "new":
            try store.writeSendTargets(existing ?? store.newSendTargetsRecord(portal), portal: portal)
            out("New discovery record for [\(portal.commaForm)] added.")
        case "update":
            guard var record = existing else {
                throw ISCSIError(.invalid, "Discovery record [\(portal.commaForm)] not found!")
            }
            let (name, value) = try nameValue(line)
            guard record.set(name, value) else { throw ISCSIError(.invalid, "Cannot modify \(name). Invalid param name.") }
            try store.writeSendTargets(record, portal: portal)
        default:
            guard let record = existing else {
                throw ISCSIError(.invalid, "Discovery record [\(portal.commaForm)] not found!")
            }
            out(record.showText(showPasswords: line.showPasswords), terminator: "")
        }
        return 0
    }

    private func sendTargets(_ portal: Portal, _ line: AdminCommandLine) throws -> Int32 {
        let persistent = !line.ops.contains("nonpersistent")
        let record = store.readSendTargets(portal) ?? store.newSendTargetsRecord(portal)
        if persistent { try store.writeSendTargets(record, portal: portal) }
        let answer: ControlResponse
        do {
            answer = try exchange(.discover(portal: portal, record: record))
        } catch let error as ISCSIError where error.code != .iscsidNotConnected && error.code != .iscsidCommunication {
            // open-iscsi: the cause ("cannot make connection to HOST: Connection refused"),
            // then the summary with iscsi_err_to_str's text; the code is the exit status.
            err("iscsiadm: \(error.message)")
            err("iscsiadm: Could not perform SendTargets discovery: \(error.code.text)")
            return error.code.rawValue
        }
        guard case .targets(let targets) = answer else {
            throw ISCSIError(.iscsidCommunication, "unexpected answer from iscsid")
        }
        let ops = line.ops.isEmpty ? ["new", "update", "delete"] : line.ops
        let iface = line.iface ?? "default"
        var found: [NodeEntry] = []
        if persistent {
            let before = store.nodesDiscovered(by: portal)
            for target in targets {
                let existing = store.nodes(target: target.name, portal: target.portal, iface: iface).first
                if existing != nil && !ops.contains("update") { continue }
                if existing == nil && !ops.contains("new") { continue }
                var record = existing?.record ?? store.newNodeRecord(target: target.name, portal: target.portal, iface: iface)
                record.set("node.discovery_address", portal.address)
                record.set("node.discovery_port", String(portal.port))
                record.set("node.discovery_type", "send_targets")
                let entry = NodeEntry(target: target.name, portal: target.portal, iface: iface, record: record)
                try store.writeNode(entry)
                found.append(entry)
            }
            if ops.contains("delete") {
                for stale in before where !targets.contains(where: { $0.name == stale.target && $0.portal == stale.portal }) {
                    try store.deleteNode(stale)
                }
            }
        } else {
            found = targets.map {
                NodeEntry(target: $0.name, portal: $0.portal, iface: iface,
                          record: store.newNodeRecord(target: $0.name, portal: $0.portal, iface: iface))
            }
        }
        for target in targets { out("\(target.portal.hostPort),\(target.portal.tpgt) \(target.name)") }
        if line.login { return loginNodes(found) }
        return 0
    }

    // MARK: node

    private func node(_ line: AdminCommandLine) throws -> Int32 {
        let portal = try parsePortal(line.portal)
        if let which = line.loginAll { return try loginAll(which) }
        if let which = line.logoutAll { return try logoutAll(which) }
        let matches = store.nodes(target: line.target, portal: portal, iface: line.iface)
        if line.ops.first == "new" {
            guard let target = line.target, let portal else {
                throw ISCSIError(.invalid, "--targetname and --portal are required for new")
            }
            let iface = line.iface ?? "default"
            let entry = NodeEntry(target: target, portal: portal, iface: iface,
                                  record: store.newNodeRecord(target: target, portal: portal, iface: iface))
            try store.writeNode(entry)
            out("New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=\(iface)] \(portal.commaForm),\(portal.tpgt) \(target)] added")
            return 0
        }
        if line.login {
            guard !matches.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
            return loginNodes(matches)
        }
        if line.logout {
            return try logoutSessions { session in
                matches.contains { $0.target == session.target && $0.portal.address == session.portal.address && $0.portal.port == session.portal.port }
            }
        }
        if line.rescan {
            let sessions = try liveSessions()
            let chosen = sessions.filter { session in
                (line.target == nil || session.target == line.target)
                    && (portal == nil || (session.portal.address == portal?.address && session.portal.port == portal?.port))
            }
            guard !chosen.isEmpty else { throw ISCSIError(.noObjectsFound, "No session found.") }
            for session in chosen { try rescan(session) }
            return 0
        }
        let op = line.ops.first ?? (line.target != nil || portal != nil ? "show" : nil)
        switch op {
        case nil:
            guard !matches.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
            if let level = line.printLevel, level >= 1 {
                out(Self.nodeTree(matches), terminator: "")
            } else {
                for entry in matches { out(Self.nodeFlat(entry)) }
            }
        case "show":
            guard !matches.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
            for entry in matches { out(entry.record.showText(showPasswords: line.showPasswords), terminator: "") }
        case "delete":
            guard !matches.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
            for entry in matches { try store.deleteNode(entry) }
        case "update":
            guard !matches.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
            let (name, value) = try nameValue(line)
            let fixed: Set<String> = ["node.name", "node.tpgt", "node.conn[0].address", "node.conn[0].port", "iface.iscsi_ifacename"]
            for var entry in matches {
                guard !fixed.contains(name), entry.record.set(name, value) else {
                    err("iscsiadm: Cannot modify \(name). Invalid param name.")
                    throw ISCSIError(.invalid, "Could not execute operation on all records: invalid parameter")
                }
                try store.writeNode(entry)
            }
        default:
            throw ISCSIError(.invalid, "operation '\(op ?? "")' is not supported for node mode")
        }
        return 0
    }

    public static func nodeFlat(_ entry: NodeEntry) -> String {
        "\(entry.portal.hostPort),\(UInt32(bitPattern: Int32(truncatingIfNeeded: entry.portal.tpgt))) \(entry.target)"
    }

    public static func nodeTree(_ entries: [NodeEntry]) -> String {
        var text = ""
        var lastTarget: String?
        for entry in entries {
            if entry.target != lastTarget { text += "Target: \(entry.target)\n" }
            lastTarget = entry.target
            text += "\tPortal: \(entry.portal.hostPort),\(entry.portal.tpgt)\n\t\tIface Name: \(entry.iface)\n"
        }
        return text
    }

    private func describe(_ node: NodeEntry) -> String {
        "[iface: \(node.iface), target: \(node.target), portal: \(node.portal.commaForm)]"
    }

    private func loginNodes(_ nodes: [NodeEntry]) -> Int32 {
        for node in nodes { out("Logging in to \(describe(node))") }
        var status: Int32 = 0
        for node in nodes {
            do {
                let reply = try exchange(.login(node))
                out("Login to \(describe(node)) successful.")
                if case .session(let info) = reply { for note in info.notes ?? [] { err("iscsiadm: \(note)") } }
            } catch let error as ISCSIError {
                if error.code == .sessionExists {
                    err("iscsiadm: \(node.iface): 1 session requested, but 1 already present.")
                    if status == 0 { status = error.code.rawValue }
                    continue
                }
                if error.code == .iscsidNotConnected { err("iscsiadm: \(error.message)") }
                err("iscsiadm: Could not login to \(describe(node)).")
                err("iscsiadm: initiator reported error (\(error.code.rawValue) - \(error.code.text))")
                status = error.code.rawValue
            } catch {
                status = ISCSIErrorCode.generic.rawValue
            }
        }
        if status != 0 && status != ISCSIErrorCode.sessionExists.rawValue {
            err("iscsiadm: Could not log into all portals")
        }
        return status
    }

    private static func startupMatches(_ which: String, _ record: Record) -> Bool {
        switch which {
        case "all": return true
        case "manual", "automatic", "onboot": return record["node.startup"] == which
        default: return false
        }
    }

    private func loginAll(_ which: String) throws -> Int32 {
        guard ["all", "manual", "automatic", "onboot"].contains(which) else {
            throw ISCSIError(.invalid, "Invalid loginall option \(which).")
        }
        let nodes = store.nodes().filter { Self.startupMatches(which, $0.record) }
        guard !nodes.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
        return loginNodes(nodes)
    }

    private func logoutAll(_ which: String) throws -> Int32 {
        guard ["all", "manual", "automatic", "onboot"].contains(which) else {
            throw ISCSIError(.invalid, "Invalid logoutall option \(which).")
        }
        let nodes = store.nodes()
        return try logoutSessions { session in
            if which == "all" { return true }
            let node = nodes.first { $0.target == session.target && $0.portal.address == session.portal.address && $0.portal.port == session.portal.port }
            return node.map { Self.startupMatches(which, $0.record) } ?? false
        }
    }

    private func logoutSessions(_ filter: (SessionInfo) -> Bool) throws -> Int32 {
        let chosen = try liveSessions().filter(filter)
        guard !chosen.isEmpty else { throw ISCSIError(.noObjectsFound, "No matching sessions found") }
        return logout(chosen)
    }

    private func sessionText(_ session: SessionInfo) -> String {
        "[sid: \(session.sid), target: \(session.target), portal: \(session.portal.commaForm)]"
    }

    private func logout(_ sessions: [SessionInfo]) -> Int32 {
        for session in sessions { out("Logging out of session \(sessionText(session))") }
        var status: Int32 = 0
        for session in sessions {
            do {
                _ = try exchange(.logout(sid: session.sid))
                out("Logout of \(sessionText(session)) successful.")
            } catch let error as ISCSIError {
                // A mounted device: say which, as the code alone does not.
                if error.code == .busy { err("iscsiadm: \(error.message)") }
                err("iscsiadm: Could not logout of \(sessionText(session)).")
                err("iscsiadm: initiator reported error (\(error.code.rawValue) - \(error.code.text))")
                status = error.code.rawValue
            } catch {
                status = ISCSIErrorCode.generic.rawValue
            }
        }
        if status != 0 { err("iscsiadm: Could not logout of all requested sessions") }
        return status
    }

    private func rescan(_ session: SessionInfo) throws {
        out("Rescanning session \(sessionText(session))")
        if case .session(let info) = try exchange(.rescan(sid: session.sid)) {
            for note in info.notes ?? [] { err("iscsiadm: \(note)") }
        }
    }

    // MARK: session

    private func exchange(_ request: ControlRequest) throws -> ControlResponse {
        let response = try send(request)
        if case .failure(let error) = response { throw error }
        return response
    }

    private func liveSessions() throws -> [SessionInfo] {
        guard case .sessions(let sessions) = try exchange(.sessions) else {
            throw ISCSIError(.iscsidCommunication, "unexpected answer from iscsid")
        }
        return sessions
    }

    private func session(_ line: AdminCommandLine) throws -> Int32 {
        var sessions: [SessionInfo]
        do {
            sessions = try liveSessions()
        } catch let error as ISCSIError where error.code == .iscsidNotConnected && line.sid == nil && !line.rescan {
            // Without a daemon there are no sessions (open-iscsi reads them from sysfs).
            sessions = []
        }
        if let sidText = line.sid {
            guard let sid = Int(sidText), sid > 0 else { throw ISCSIError(.invalid, "invalid sid '\(sidText)'") }
            sessions = sessions.filter { $0.sid == sid }
            guard !sessions.isEmpty else {
                err("iscsiadm: could not read session targetname: 5")
                throw ISCSIError(.sysfsLookup, "Could not get session info for sid \(sid)")
            }
        }
        if line.logout { return logout(sessions) }
        if line.rescan {
            guard !sessions.isEmpty else { throw ISCSIError(.noObjectsFound, "No session found.") }
            for session in sessions { try rescan(session) }
            return 0
        }
        if line.stats {
            for session in sessions { out(Self.statsText(session), terminator: "") }
            return 0
        }
        guard !sessions.isEmpty else { throw ISCSIError(.noObjectsFound, "No active sessions.") }
        let level = line.printLevel ?? 0
        guard (0...3).contains(level) || level == -1 else {
            throw ISCSIError(.invalid, "Invalid info level \(level). Try 0 - 3.")
        }
        if level <= 0 {
            for session in sessions { out(Self.sessionFlat(session)) }
        } else {
            out(Self.sessionTree(sessions, level: level, showPasswords: line.showPasswords), terminator: "")
        }
        return 0
    }

    public static func sessionFlat(_ session: SessionInfo) -> String {
        "tcp: [\(session.sid)] \(session.persistentPortal.hostPort),\(session.portal.tpgt) \(session.target) (non-flash)"
    }

    static let transportVersion = "iSCSI Transport Class version 2.0-870\nversion \(RecordSchema.version)\n"

    /// open-iscsi's session tree (usr/session_info.c). `showPasswords` (`--show`) prints the CHAP
    /// secrets instead of stars, and, as open-iscsi does, labels the incoming one "password".
    public static func sessionTree(
        _ sessions: [SessionInfo], level: Int, header: Bool = true, showPasswords: Bool = false
    ) -> String {
        var text = ""
        if level >= 3 && header { text += transportVersion }
        var previous: SessionInfo?
        func line(_ s: String) { text += "\t\t\(s)\n" }
        // Star rules as wide as the title; open-iscsi's "Attached SCSI devices:" has 24 stars.
        func banner(_ title: String, width: Int? = nil) {
            let stars = String(repeating: "*", count: width ?? title.count)
            line(stars); line(title); line(stars)
        }
        func orEmpty(_ text: String?) -> String { text.map { $0.isEmpty ? "<empty>" : $0 } ?? "<empty>" }
        for session in sessions.sorted(by: { ($0.target, $0.sid) < ($1.target, $1.sid) }) {
            if previous?.target != session.target {
                text += "Target: \(session.target) (non-flash)\n"
                previous = nil
            }
            if previous == nil || previous?.portal.address != session.portal.address || previous?.portal.port != session.portal.port {
                text += "\tCurrent Portal: \(session.portal.hostPort),\(session.portal.tpgt)\n"
                text += "\tPersistent Portal: \(session.persistentPortal.hostPort),\(session.portal.tpgt)\n"
            } else {
                text += "\n"
            }
            banner("Interface:")
            line("Iface Name: \(session.iface)")
            line("Iface Transport: tcp")
            line("Iface Initiatorname: \(session.initiatorName)")
            line("Iface IPaddress: \(hostAddress(session))")
            line("Iface HWaddress: default")
            line("Iface Netdev: default")
            line("SID: \(session.sid)")
            line("iSCSI Connection State: \(session.connectionState)")
            line("iSCSI Session State: \(session.sessionState)")
            line("Internal iscsid Session State: \(session.connectionState == "TRANSPORT WAIT" ? "REOPEN" : "NO CHANGE")")
            if level >= 2 {
                let record = session.record
                banner("Timeouts:")
                line("Recovery Timeout: \(record["node.session.timeo.replacement_timeout"] ?? "120")")
                line("Target Reset Timeout: \(record["node.session.err_timeo.tgt_reset_timeout"] ?? "30")")
                line("LUN Reset Timeout: \(record["node.session.err_timeo.lu_reset_timeout"] ?? "30")")
                line("Abort Timeout: \(record["node.session.err_timeo.abort_timeout"] ?? "15")")
                banner("CHAP:")
                line("username: \(orEmpty(record["node.session.auth.username"]))")
                line("password: \(showPasswords ? orEmpty(record["node.session.auth.password"]) : "********")")
                line("username_in: \(orEmpty(record["node.session.auth.username_in"]))")
                line(showPasswords ? "password: \(orEmpty(record["node.session.auth.password_in"]))" : "password_in: ********")
                banner("Negotiated iSCSI params:")
                for key in ["HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength", "MaxXmitDataSegmentLength",
                            "FirstBurstLength", "MaxBurstLength", "ImmediateData", "InitialR2T", "MaxOutstandingR2T"] {
                    if let value = session.negotiated[key] { line("\(key): \(value)") }
                }
            }
            if level >= 3 {
                banner("Attached SCSI devices:", width: 24)
                line("Host Number: \(session.sid)\tState: running")
                for lun in session.luns {
                    line("scsi\(session.sid) Channel 00 Id 0 Lun: \(lun.lun)")
                    if let device = lun.device { text += "\t\t\tAttached scsi disk \(device)\t\tState: running\n" }
                }
            }
            previous = session
        }
        return text
    }

    // MARK: host mode

    /// `-m host`: with software iSCSI each session has its own SCSI host, numbered like the
    /// session (as `-P 3`'s "Host Number" shows). Offload features (CHAP tables, flash nodes,
    /// host statistics) belong to hardware hosts.
    private func host(_ line: AdminCommandLine) throws -> Int32 {
        var sessions: [SessionInfo]
        do {
            sessions = try liveSessions()
        } catch let error as ISCSIError where error.code == .iscsidNotConnected {
            sessions = []
        }
        var hostNumber: Int?
        if let text = line.host {
            guard let number = Int(text), number >= 0 else {
                throw ISCSIError(.invalid, "Invalid host no \(text). \(String(cString: strerror(EINVAL))).")
            }
            hostNumber = number
            sessions = sessions.filter { $0.sid == number }
        }
        if let submode = line.submode {
            guard ["chap", "flashnode", "stats"].contains(submode) else { throw ISCSIError(.invalid, "Invalid Sub Mode") }
            guard let hostNumber else {
                let name = submode == "stats" ? "STATS" : submode.uppercased()
                throw ISCSIError(.invalid, "\(name) mode requires host no")
            }
            guard !sessions.isEmpty else { throw ISCSIError(.hostNotFound, "Could not find host \(hostNumber)") }
            throw ISCSIError(.operationNotSupported, "\(submode) is not supported by host \(hostNumber) (transport tcp)")
        }
        guard !sessions.isEmpty else { throw ISCSIError(.noObjectsFound, "No iSCSI hosts.") }
        let level = line.printLevel ?? 0
        guard (0...4).contains(level) || level == -1 else {
            throw ISCSIError(.invalid, "Invalid info level \(level). Try 0 - 4.")
        }
        let sorted = sessions.sorted { $0.sid < $1.sid }
        if level <= 0 {
            for session in sorted { out(Self.hostFlat(session)) }
            return 0
        }
        var text = level == 4 ? Self.transportVersion : ""
        for session in sorted { text += Self.hostTree(session, level: level, showPasswords: line.showPasswords) }
        out(text, terminator: "")
        return 0
    }

    static func hostFlat(_ session: SessionInfo) -> String {
        "tcp: [\(session.sid)] \(hostAddress(session)),[<empty>],<empty> <empty>"
    }

    private static func hostAddress(_ session: SessionInfo) -> String {
        let address = session.localAddress
        if address.isEmpty { return "<empty>" }
        return address.contains(".") ? address : "[\(address)]"
    }

    static func hostTree(_ session: SessionInfo, level: Int, showPasswords: Bool = false) -> String {
        var text = "Host Number: \(session.sid)\n\tState: running\n\tTransport: tcp\n\tInitiatorname: <empty>\n"
        text += "\tIPaddress: \(hostAddress(session))\n\tHWaddress: <empty>\n\tNetdev: <empty>\n"
        guard level >= 2 else { return text }
        text += "\t*********\n\tSessions:\n\t*********\n"
        // -P 2 adds session state and interface, 3 the iSCSI parameters, 4 the SCSI devices.
        let tree = sessionTree([session], level: level - 1, header: false, showPasswords: showPasswords)
        for line in tree.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            text += "\t\(line)\n"
        }
        return text
    }

    static func statsText(_ session: SessionInfo) -> String {
        var text = "Stats for session [sid: \(session.sid), target: \(session.target), portal: \(session.portal.commaForm)]\n"
        text += "iSCSI SNMP:\n"
        for key in ["txdata_octets", "rxdata_octets", "noptx_pdus", "scsicmd_pdus", "tmfcmd_pdus", "login_pdus",
                    "text_pdus", "dataout_pdus", "logout_pdus", "snack_pdus", "noprx_pdus", "scsirsp_pdus",
                    "tmfrsp_pdus", "textrsp_pdus", "datain_pdus", "logoutrsp_pdus", "r2t_pdus", "async_pdus",
                    "rjt_pdus", "digest_err", "timeout_err"] {
            text += "\t\(key): \(session.statistics[key] ?? 0)\n"
        }
        // iscsi_tcp's custom counters, printed by open-iscsi under their own heading.
        let extended = ["tx_sendpage_failures", "rx_discontiguous_hdr", "eh_abort_cnt"]
        if extended.contains(where: { session.statistics[$0] != nil }) {
            text += "iSCSI Extended:\n"
            for key in extended { text += "\t\(key): \(session.statistics[key] ?? 0)\n" }
        }
        return text
    }

    // MARK: iface

    private func iface(_ line: AdminCommandLine) throws -> Int32 {
        if line.ops.first == "applyall" {
            // Network settings are applied to offload hosts; a tcp host has none to take.
            guard let text = line.host, let number = Int(text) else {
                throw ISCSIError(.invalid, "Applyall requires a valid host number or MAC passed in with the --host argument.")
            }
            let sessions = (try? liveSessions()) ?? []
            guard sessions.contains(where: { $0.sid == number }) else {
                throw ISCSIError(.invalid, "Could not match host\(number) to ifaces.")
            }
            err("iscsiadm: Nothing to configure.")
            out("Applied settings to ifaces attached to host\(number).")
            return 0
        }
        guard let name = line.iface else {
            if line.ops.first == "apply" { throw ISCSIError(.invalid, "Apply requires iface.") }
            for name in store.ifaceNames() {
                guard let record = store.readIface(name) else { continue }
                let fields = ["iface.hwaddress", "iface.ipaddress", "iface.net_ifacename", "iface.initiatorname"]
                    .map { record[$0] ?? "<empty>" }
                out("\(name) \(record["iface.transport_name"] ?? "tcp"),\(fields.joined(separator: ","))")
            }
            return 0
        }
        let builtIn = ConfigStore.builtInIfaces[name] != nil
        switch line.ops.first ?? "show" {
        case "new":
            guard !builtIn else { throw ISCSIError(.invalid, "Can not add interface \(name). Iface default and iser are reserved.") }
            guard store.readIface(name) == nil else { throw ISCSIError(.invalid, "Could not create new interface \(name). Iface exists.") }
            try store.writeIface(store.newIfaceRecord(name), name: name)
            out("New interface \(name) added")
        case "delete":
            guard !builtIn else { throw ISCSIError(.invalid, "Can not delete default or iser iface.") }
            guard store.readIface(name) != nil else { throw ISCSIError(.database, "Could not read iface \(name).") }
            try store.deleteIface(name)
            out("\(name) unbound and deleted.")
        case "update":
            guard !builtIn else { throw ISCSIError(.invalid, "Can not update default or iser iface.") }
            guard var record = store.readIface(name) else { throw ISCSIError(.database, "Could not read iface \(name).") }
            let (key, value) = try nameValue(line)
            guard key != "iface.iscsi_ifacename", record.set(key, value) else {
                throw ISCSIError(.invalid, "Cannot modify \(key). Invalid param name.")
            }
            try store.writeIface(record, name: name)
            out("\(name) updated.")
        case "apply":
            guard let record = store.readIface(name) else { throw ISCSIError(.database, "Could not read iface \(name) (6).") }
            // Only offload transports take network settings from an iface.
            guard record["iface.transport_name"] ?? "tcp" != "tcp" else {
                err("iscsiadm: Nothing to configure.")
                out("\(name) applied.")
                return 0
            }
            throw ISCSIError(.operationNotSupported, "Could not apply net configuration: operation not supported")
        default:
            guard let record = store.readIface(name) else {
                throw ISCSIError(.database, "Could not read iface \(name). Failed to open \(store.paths.ifaceRecord(name)): No such file or directory")
            }
            out(record.showText(showPasswords: line.showPasswords), terminator: "")
        }
        return 0
    }

    private func out(_ text: String, terminator: String) {
        if terminator.isEmpty, text.hasSuffix("\n") { out(String(text.dropLast())) } else { out(text) }
    }
}
