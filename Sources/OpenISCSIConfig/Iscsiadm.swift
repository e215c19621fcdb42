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

    /// open-iscsi's usage text (`--help`), in its order (two lines end in a space, as there).
    public static let usage = """
        iscsiadm -m discoverydb [-hV] [-d debug_level] [-P printlevel] [-t type -p ip:port -I ifaceN ... [-Dl]] | [[-p ip:port -t type] [-o operation] [-n name] [-v value] [-lD]]\u{20}
        iscsiadm -m discovery [-hV] [-d debug_level] [-P printlevel] [-t type -p ip:port -I ifaceN ... [-l]] | [[-p ip:port] [-l | -D]] [-W]
        iscsiadm -m node [-hV] [-d debug_level] [-P printlevel] [-L all,manual,automatic,onboot] [-W] [-U all,manual,automatic,onboot] [-S] [[-T targetname -p ip:port -I ifaceN] [-l | -u | -R | -s]] [[-o operation ] [-n name] [-v value]]
        iscsiadm -m session [-hV] [-d debug_level] [-P printlevel] [-r sessionid | sysfsdir [-R | -u | -s] [-o operation] [-n name] [-v value]]
        iscsiadm -m iface [-hV] [-d debug_level] [-P printlevel] [-I ifacename | -H hostno|MAC] [[-o operation ] [-n name] [-v value]] [-C ping [-a ip] [-b packetsize] [-c count] [-i interval]]
        iscsiadm -m fw [-d debug_level] [-l] [-W] [[-n name] [-v value]]
        iscsiadm -m multipath [-d debug_level]
        iscsiadm -m host [-P printlevel] [-H hostno|MAC] [[-C chap [-x chap_tbl_idx]] | [-C flashnode [-A portal_type] [-x flashnode_idx]] | [-C stats]] [[-o operation] [-n name] [-v value]]\u{20}
        iscsiadm -k priority
        """

    /// `-d N`: lines for levels up to N go to stderr.
    private var debugLevel = 0

    private func debug(_ level: Int, _ text: @autoclosure () -> String) {
        if debugLevel >= level { err("iscsiadm: \(text())") }
    }

    /// How iscsiadm waits between attempts (tests replace it).
    public var pause: (Double) -> Void = { seconds in
        if seconds > 0 { usleep(UInt32(seconds * 1_000_000)) }
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
        debugLevel = line.debug.map(AdminCommandLine.atoi) ?? 0
        debug(8, "command line: \(arguments.joined(separator: " "))")
        debug(4, "configuration root \(store.paths.root)")
        if line.version {
            out(ProductVersion.line("iscsiadm", reproducing: ProductVersion.openISCSI))
            return 0
        }
        if line.help {
            out(Self.usage)
            return 0
        }
        if let mode = line.mode, AdminCommandLine.allowedOptions[mode] == nil {
            // open-iscsi prints the number its str_to_mode gives an unknown mode.
            return fail(ISCSIError(.invalid, "mode -1 is not yet supported"))
        }
        if let problem = line.optionNotAllowed() { return fail(problem) }
        for op in line.ops where !["new", "delete", "update", "show", "nonpersistent", "apply", "applyall"].contains(op) {
            return fail(ISCSIError(.invalid, "can not recognize operation: '\(op)'"))
        }
        if let priority = line.killIscsid { return killIscsid(priority) }
        do {
            switch line.mode {
            case "discovery", "discoverydb": return try discovery(line)
            case "node": return try node(line)
            case "session": return try session(line)
            case "iface": return try iface(line)
            case "host": return try host(line)
            case "multipath": return try multipath()
            // Boot firmware (iBFT) targets: a software initiator in userspace has no firmware
            // table to read, which open-iscsi reports just like a machine without iBFT.
            case "fw": throw ISCSIError(.noObjectsFound, "Could not get list of targets from firmware. (err 21)")
            default:
                err("Try `iscsiadm --help' for more information.")
                return ISCSIErrorCode.invalid.rawValue
            }
        } catch let error as ISCSIError {
            return fail(error)
        } catch {
            return fail(ISCSIError(.generic, "\(error)"))
        }
    }

    /// `-k 0`: iscsid stops as on SIGTERM (detaching its block devices, removing its socket, lock and pid
    /// files); iscsiadm waits up to 10 s for its socket to be gone (the process ends right after).
    private func killIscsid(_ priority: Int) -> Int32 {
        guard priority == 0 else {
            return fail(ISCSIError(.invalid, "Invalid iscsid priority \(priority). Priority must be 0."))
        }
        do {
            _ = try exchange(.shutdown)
        } catch let error as ISCSIError where error.code != .iscsidCommunication {
            if error.code == .iscsidNotConnected { err("iscsiadm: \(error.message)") }
            err("iscsiadm: initiator reported error (\(error.code.rawValue) - \(error.code.text))")
            err("iscsiadm: Could not stop iscsid. Trying sending iscsid SIGTERM or SIGKILL signals manually")
            return error.code.rawValue
        } catch {
            // The answer may be lost when iscsid goes at once; whether it went is checked below.
        }
        for _ in 0..<100 {
            do {
                _ = try send(.ping)
            } catch let error as ISCSIError where error.code == .iscsidNotConnected {
                debug(1, "iscsid has stopped")
                return 0
            } catch {}
            pause(0.1)
        }
        return fail(ISCSIError(.internal, "iscsid did not stop within 10 s"))
    }

    private func parsePortal(_ text: String?) throws -> Portal? {
        guard let text else { return nil }
        return Portal(argument: text) ?? Self.lenientPortal(text)
    }

    /// open-iscsi's str_to_ipport, which checks nothing: a port or tpgt that is not a number
    /// counts as 0 (so `-p 127.0.0.1:abc` finds no records rather than being refused).
    static func lenientPortal(_ text: String) -> Portal? {
        func number(_ text: Substring) -> Int { Int(RecordValues.strtoulText(String(text), bits: 32, signed: true)) ?? 0 }
        let bracketed = !text.contains(".") && text.hasPrefix("[")
        var ip = Substring(text)  // the address, cut where C writes its NULs
        var rest = Substring(text)  // where the port and tpgt are looked for
        var portAllowed = true
        if !text.contains(".") {
            if bracketed {
                guard let close = text.firstIndex(of: "]") else { return nil }
                ip = text[text.index(after: text.startIndex)..<close]
                rest = text[text.index(after: close)...]
            } else if let colon = text.firstIndex(of: ":") {
                portAllowed = !text[text.index(after: colon)...].contains(":")  // else IPv6
            } else {
                portAllowed = false
            }
        }
        var port = Portal.defaultPort
        var portGiven = false
        if portAllowed, let colon = rest.firstIndex(of: ":") {
            if !bracketed, let cut = ip.firstIndex(of: ":") { ip = ip[..<cut] }
            rest = rest[rest.index(after: colon)...]
            port = number(rest)
            portGiven = true
        }
        var tpgt = -1
        if let comma = rest.firstIndex(of: ",") {
            tpgt = number(rest[rest.index(after: comma)...])
            if !portGiven && !bracketed, let cut = ip.firstIndex(of: ",") { ip = ip[..<cut] }
        }
        return ip.isEmpty ? nil : Portal(address: String(ip), port: port, tpgt: tpgt)
    }

    /// Sets `name` to `value` in `record` as open-iscsi does (see `RecordValues`); nil when it was
    /// set (printing open-iscsi's warnings), else the lines open-iscsi prints for the refusal.
    private func assign(_ record: inout Record, _ name: String, _ value: String) -> [String]? {
        guard record.isKnown(name) else { return ["Cannot modify \(name). Invalid param name."] }
        if RecordValues.lookupKeys.contains(name) {
            return ["Cannot modify \(name). It is used to look up the record and cannot be changed."]
        }
        switch RecordValues.take(name, value) {
        case .unknownFormat(let text):
            return [text]
        case .stored(let stored, let warnings):
            for warning in warnings { err("iscsiadm: \(warning)") }
            record.set(name, stored)
            return nil
        }
    }

    // MARK: discovery

    /// The ifaces named with -I (`default` when none), each checked to exist.
    private func chosenIfaces(_ line: AdminCommandLine) throws -> [String] {
        let names = line.ifaces.isEmpty ? ["default"] : line.ifaces
        for name in names where store.readIface(name) == nil {
            throw ISCSIError(.noObjectsFound, "Could not read iface info for \(name). Make sure an iface config with the file name and iface.iscsi_ifacename \(name) is in \(store.paths.ifacesDirectory).")
        }
        return names
    }

    /// `-m discovery` and `-m discoverydb`, following iscsiadm.c's exec_disc_op and exec_disc2_op.
    private func discovery(_ line: AdminCommandLine) throws -> Int32 {
        let portal = try parsePortal(line.portal)
        let db = line.mode == "discoverydb"
        // str_to_type: an unknown -t counts as none.
        let type = line.discoveryType.flatMap { ["sendtargets": "st", "st": "st", "isns": "isns", "fw": "fw", "slp": "slp"][$0] }
        if type == "st" || type == "isns" { _ = try chosenIfaces(line) }
        if type == "slp" { throw ISCSIError(.invalid, "SLP discovery is not fully implemented yet.") }
        if type == "isns" || type == "fw" {
            // No iSNS client yet; firmware (iBFT) tables do not exist for a userspace initiator.
            if type == "fw" { throw ISCSIError(.noObjectsFound, "Could not get list of targets from firmware. (err 21)") }
            throw ISCSIError(.operationNotSupported, "isns discovery is not supported")
        }
        let op = line.ops.first
        guard type == "st" else {
            // No (known) type.
            guard let portal else {
                guard op == nil || op == "show" else {
                    throw ISCSIError(.invalid, db ? "Invalid operation. Operation not supported." : "Invalid operation.")
                }
                return try printAllDiscovery(level: line.printLevel ?? -1)
            }
            if db {
                throw ISCSIError(.invalid, op != nil ? "Invalid command. Possibly missing discovery --type."
                    : "Invalid command. Portal not needed or Possibly missing discovery --type.")
            }
            guard let record = store.readSendTargets(portal) else {
                throw ISCSIError(.invalid, "Discovery record [\(portal.commaForm)] not found!")
            }
            if line.discover || line.login { return try sendTargets(portal, record: record, line) }
            switch op {
            case nil, "show":
                out(record.showText(showPasswords: line.showPasswords), terminator: "")
            case "delete":
                deleteDiscovery(portal)
            case "new", "update":
                throw ISCSIError(.invalid, "Operations new and update for discovery mode is not supported. Use discoverydb mode.")
            default:
                throw ISCSIError(.invalid, "Invalid operation.")
            }
            return 0
        }
        guard let portal else { throw ISCSIError(.invalid, "Please specify portal as <ipaddr>[:<ipport>]") }
        // discovery mode always discovers, and as open-iscsi (measured) from iscsid.conf's settings,
        // written over the stored record; discoverydb discovers with -D from the stored record.
        if !db { return try sendTargets(portal, record: nil, line) }
        if op == "new" && !line.discover {
            try store.writeSendTargets(store.newSendTargetsRecord(portal), portal: portal)
            out("New discovery record for [\(portal.commaForm)] added.")
            return 0
        }
        let existing = store.readSendTargets(portal)
        if line.discover { return try sendTargets(portal, record: existing, line) }
        guard var record = existing else { throw ISCSIError(.database, "Discovery record [\(portal.commaForm)] not found.") }
        switch op {
        case nil, "show":
            out(record.showText(showPasswords: line.showPasswords), terminator: "")
        case "delete":
            deleteDiscovery(portal)
        case "update":
            guard let name = line.names.first, let value = line.values.first else {
                throw ISCSIError(.invalid, "Update requires name and value.")
            }
            if let failure = assign(&record, name, value) { throw ISCSIError(.invalid, failure.joined(separator: "\niscsiadm: ")) }
            try store.writeSendTargets(record, portal: portal)
        default:
            throw ISCSIError(.invalid, "Operation is not supported.")
        }
        return 0
    }

    private func deleteDiscovery(_ portal: Portal) {
        for node in store.nodesDiscovered(by: portal) { try? store.deleteNode(node) }
        try? store.deleteSendTargets(portal)
    }

    /// `-m discovery` without a portal: `IP:PORT via sendtargets` lines, or with -P 1 and up the
    /// tree of every kind of discovery (idbm_print_all_discovery). Exit 21 when there is nothing.
    private func printAllDiscovery(level: Int) throws -> Int32 {
        let portals = store.sendTargetsPortals()
        if level < 1 {
            guard !portals.isEmpty else { return ISCSIErrorCode.noObjectsFound.rawValue }
            for portal in portals { out("\(portal.address):\(portal.port) via sendtargets") }
            return 0
        }
        let (text, found) = Self.discoveryTree(portals: portals, nodes: store.nodes())
        out(text, terminator: "")
        return found ? 0 : ISCSIErrorCode.noObjectsFound.rawValue
    }

    /// open-iscsi's `-m discovery -P 1`: SENDTARGETS (each discovery address and the nodes found
    /// through it), iSNS, STATIC and FIRMWARE, "No targets found." under an empty heading.
    public static func discoveryTree(portals: [Portal], nodes: [NodeEntry]) -> (text: String, found: Bool) {
        func type(_ entry: NodeEntry) -> String { entry.record["node.discovery_type"] ?? "static" }
        var text = "SENDTARGETS:\n"
        if portals.isEmpty { text += "No targets found.\n" }
        for portal in portals {
            text += "DiscoveryAddress: \(portal.commaForm)\n"
            text += nodeTree(nodes.filter {
                type($0) == "send_targets" && $0.record["node.discovery_address"] == portal.address
                    && $0.record["node.discovery_port"] == String(portal.port)
            })
        }
        var found = !portals.isEmpty
        for (title, kind) in [("iSNS", "isns"), ("STATIC", "static"), ("FIRMWARE", "fw")] {
            let chosen = nodes.filter { type($0) == kind }
            text += "\(title):\n" + (chosen.isEmpty ? "No targets found.\n" : nodeTree(chosen))
            found = found || !chosen.isEmpty
        }
        return (text, found)
    }

    /// Longest wait between SendTargets attempts summed over all retries: open-iscsi's back-off
    /// (1 s after each of the first 9 failures, 2 s after the next 10, then 5 s) is followed up to
    /// `discovery.sendtargets.reopen_max`, but never past 25 retries (59 s of waiting).
    public static let maximumDiscoveryReopens = 25

    /// The pause before attempt `failures + 1` (iscsi_create_session's login_delay).
    public static func discoveryDelay(afterFailures failures: Int) -> Int {
        switch failures {
        case ..<1: return 0
        case ..<10: return 1
        case ..<20: return 2
        case ..<26: return 5
        case ..<34: return 15
        default: return 60
        }
    }

    private func sendTargets(_ portal: Portal, record existing: Record?, _ line: AdminCommandLine) throws -> Int32 {
        let ifaces = try chosenIfaces(line)
        let persistent = !line.ops.contains("nonpersistent")
        let record = existing ?? store.newSendTargetsRecord(portal)
        if persistent && existing == nil { try store.writeSendTargets(record, portal: portal) }
        let configured = Int(RecordValues.strtoulText(record["discovery.sendtargets.reopen_max"] ?? "5", bits: 32, signed: true)) ?? 5
        let reopenMax = min(max(configured, 0), Self.maximumDiscoveryReopens)
        var found: [NodeEntry] = []
        for iface in ifaces {
            var failures = 0
            var answer: ControlResponse?
            while answer == nil {
                do {
                    debug(4, "sendtargets discovery of \(portal.commaForm) through iface \(iface), attempt \(failures + 1)")
                    answer = try exchange(.discover(portal: portal, record: record))
                } catch let error as ISCSIError where error.code == .transportTimeout {
                    // No Login Response in time: open-iscsi gives up at once (measured: exit 19
                    // with these lines, after its own 30 s; ours waits login_timeout).
                    let seconds = Int(RecordValues.strtoulText(record["discovery.sendtargets.timeo.login_timeout"] ?? "15", bits: 32, signed: true)) ?? 15
                    err("iscsiadm: Login response timeout. Waited \(seconds) seconds and did not get response PDU.")
                    err("iscsiadm: discovery login to \(portal.address) failed, giving up 2")
                    err("iscsiadm: Could not perform SendTargets discovery: \(ISCSIErrorCode.fatalLogin.text)")
                    return ISCSIErrorCode.fatalLogin.rawValue
                } catch let error as ISCSIError where error.code == .transport || LoginRetry.isUnreadablePDU(error) {
                    // A connection that failed, broke or brought something that is no PDU during
                    // the login is tried again (reopen_max), as open-iscsi does; then its "PDU
                    // timed out". The lines are open-iscsi's (measured).
                    if error.message.hasPrefix("Login I/O error") {
                        err("iscsiadm: Connection to Discovery Address \(portal.address) failed")
                        err("iscsiadm: \(error.message)")
                        err("iscsiadm: retrying discovery login to \(portal.address)")
                    } else if error.code == .login {
                        err("iscsiadm: \(error.message)")
                        err("iscsiadm: Login I/O error, failed to receive a PDU")
                        err("iscsiadm: retrying discovery login to \(portal.address)")
                    } else {
                        err("iscsiadm: \(error.message)")
                    }
                    failures += 1
                    if failures > reopenMax {
                        err("iscsiadm: connection login retries (reopen_max) \(reopenMax) exceeded")
                        err("iscsiadm: Could not perform SendTargets discovery: \(ISCSIErrorCode.pduTimeout.text)")
                        return ISCSIErrorCode.pduTimeout.rawValue
                    }
                    pause(Double(Self.discoveryDelay(afterFailures: failures)))
                } catch let error as ISCSIError where error.code != .iscsidNotConnected && error.code != .iscsidCommunication {
                    // open-iscsi: the cause, then the summary with iscsi_err_to_str's text; the
                    // code is the exit status.
                    err("iscsiadm: \(error.message)")
                    err("iscsiadm: Could not perform SendTargets discovery: \(error.code.text)")
                    return error.code.rawValue
                }
            }
            guard case .targets(let targets) = answer else {
                throw ISCSIError(.iscsidCommunication, "unexpected answer from iscsid")
            }
            found += try recordTargets(targets, from: portal, iface: iface, persistent: persistent, ops: line.ops)
            for target in targets { out("\(target.portal.hostPort),\(target.portal.tpgt) \(target.name)") }
        }
        if line.login { return loginNodes(found) }
        return 0
    }

    /// Writes (new/update) or removes (delete) the node records of one discovery through `iface`,
    /// with open-iscsi's `send_targets/IP,PORT/IQN,IP,PORT,TPGT,IFACE` links to them.
    private func recordTargets(
        _ targets: [DiscoveredTarget], from portal: Portal, iface: String, persistent: Bool, ops given: [String]
    ) throws -> [NodeEntry] {
        guard persistent else {
            return targets.map {
                NodeEntry(target: $0.name, portal: $0.portal, iface: iface,
                          record: store.newNodeRecord(target: $0.name, portal: $0.portal, iface: iface))
            }
        }
        let ops = given.isEmpty ? ["new", "update", "delete"] : given
        var found: [NodeEntry] = []
        let before = store.nodesDiscovered(by: portal).filter { $0.iface == iface }
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
            try store.linkDiscovered(entry, by: portal)
            found.append(entry)
        }
        if ops.contains("delete") {
            for stale in before where !targets.contains(where: { $0.name == stale.target && $0.portal == stale.portal }) {
                try store.deleteNode(stale)
            }
        }
        return found
    }

    // MARK: node

    private func node(_ line: AdminCommandLine) throws -> Int32 {
        let portal = try parsePortal(line.portal)
        if let which = line.loginAll { return try loginAll(which) }
        if let which = line.logoutAll { return try logoutAll(which) }
        if line.ifaces.count > 1 {
            err("iscsiadm: NODE mode only accepts one interface. Using the first one (\(line.ifaces[0])).")
        }
        let matches = store.nodes(target: line.target, portal: portal, iface: line.iface)
        if line.ops.first == "new" {
            if let iface = line.iface, store.readIface(iface) == nil {
                throw ISCSIError(.noMemory, "Could not read iface info for \(iface).")
            }
            let iface = line.iface ?? "default"
            var added: [(target: String, portal: Portal)] = []
            if let target = line.target, let portal {
                added = [(target, portal)]
            } else if line.target == nil && portal == nil && line.iface != nil {
                // open-iscsi's README: `-m node -o new -I iface4` binds every node to iface4 too.
                for entry in store.nodes() where !added.contains(where: { $0.target == entry.target && $0.portal == entry.portal }) {
                    added.append((entry.target, entry.portal))
                }
                guard !added.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
            } else {
                // Deliberately refused: open-iscsi rewrites every record with defaults here
                // (without -T) or prints "Error while adding record" and exits 0 (without -p).
                throw ISCSIError(.invalid, "--targetname and --portal are required for new")
            }
            for (target, portal) in added {
                let entry = NodeEntry(target: target, portal: portal, iface: iface,
                                      record: store.newNodeRecord(target: target, portal: portal, iface: iface))
                try store.writeNode(entry)
                out("New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=\(iface)] \(portal.commaForm),\(portal.tpgt) \(target)] added")
            }
            return 0
        }
        if (line.login || line.logout) && !line.ops.isEmpty {
            throw ISCSIError(.invalid, "Invalid parameters. Login/logout and op passed in")
        }
        if line.login && line.logout {
            throw ISCSIError(.invalid, "Invalid parameters. Both login and logout passed in")
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
            let level = line.printLevel ?? -1
            guard [-1, 0, 1].contains(level) else { throw ISCSIError(.invalid, "Invalid info level \(level). Try 0 or 1.") }
            guard !matches.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
            if level == 1 {
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
            // open-iscsi checks the names before looking for records (verify_node_params).
            guard let name = line.names.first, let value = line.values.first else {
                throw ISCSIError(.invalid, "update requires name and value")
            }
            if name.hasPrefix("iface."), name != "iface.transport_name" {
                throw ISCSIError(.invalid, "Cannot modify \(name). Use iface mode to update this value.")
            }
            guard !matches.isEmpty else { throw ISCSIError(.noObjectsFound, "No records found") }
            for var entry in matches {
                if let failure = assign(&entry.record, name, value) {
                    for text in failure { err("iscsiadm: \(text)") }
                    if failure.first?.hasPrefix("unknown value format") == true { err("iscsiadm: Unknown parameter \(name).") }
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

    /// open-iscsi's node tree (idbm_print_node_tree): a Target line when the target changes, a
    /// Portal line when the portal does, then the record's iface.
    public static func nodeTree(_ entries: [NodeEntry], prefix: String = "", ifaces: Bool = true) -> String {
        var text = ""
        var last: NodeEntry?
        for entry in entries {
            if last?.target != entry.target {
                text += "\(prefix)Target: \(entry.target)\n"
                last = nil
            }
            if last == nil || last?.portal.address != entry.portal.address || last?.portal.port != entry.portal.port {
                text += "\(prefix)\tPortal: \(treePortal(entry.portal))\n"
            }
            if ifaces { text += "\t\tIface Name: \(entry.iface)\n" }
            last = entry
        }
        return text
    }

    /// `IP:PORT,TPGT`, the address bracketed unless it has a dot (as open-iscsi decides).
    static func treePortal(_ portal: Portal) -> String {
        let address = portal.address.contains(".") ? portal.address : "[\(portal.address)]"
        return "\(address):\(portal.port),\(portal.tpgt)"
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
                    let wanted = max(1, Int(node.record["node.session.nr_sessions"] ?? "1") ?? 1)
                    let present = (try? liveSessions())?.filter {
                        $0.target == node.target && $0.portal.address == node.portal.address && $0.portal.port == node.portal.port
                            && $0.iface == node.iface
                    }.count ?? wanted
                    err("iscsiadm: \(node.iface): \(wanted) session\(wanted == 1 ? "" : "s") requested, but \(present) already present.")
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
        debug(4, "request to iscsid: \(String(describing: request).prefix(200))")
        let response: ControlResponse
        do {
            response = try send(request)
        } catch {
            debug(4, "iscsid: \(error)")
            throw error
        }
        if case .failure(let error) = response {
            debug(4, "iscsid answered: error \(error.code.rawValue): \(error.message)")
            throw error
        }
        debug(7, "iscsid answered: \(String(describing: response).prefix(400))")
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
        if line.logout {
            guard !sessions.isEmpty else { throw ISCSIError(.noObjectsFound, "No matching sessions found") }
            return logout(sessions)
        }
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

    // MARK: multipath mode

    /// `-m multipath`: iscsid's block devices as multipath-tools' `multipath -ll` lists its maps
    /// (one per LU, every session to it a path). Nothing when there are none, as multipath.
    private func multipath() throws -> Int32 {
        let reply: ControlResponse
        do {
            reply = try exchange(.multipath)
        } catch let error as ISCSIError where error.code == .iscsidNotConnected {
            return 0
        }
        if case .text(let text) = reply { out(text, terminator: "") }
        return 0
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
        // str_to_submode: an unknown -C counts as none (hosts are listed).
        if let submode = line.submode, ["chap", "flashnode", "stats"].contains(submode) {
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
        if line.ifaces.count > 1 {
            err("iscsiadm: iface mode only accepts one interface. Using the first one \(line.ifaces[0]).")
        }
        if line.submode == "ping" { return try ping(line) }
        let level = line.printLevel ?? -1
        if line.ops.isEmpty || line.ops.first == "show" {
            guard [-1, 0, 1].contains(level) else { throw ISCSIError(.invalid, "Invalid info level \(level). Try 0 - 1.") }
            if level == 1 {
                // print_iface_tree: each iface and the node records bound to it.
                let nodes = store.nodes()
                for name in line.iface.map({ [$0] }) ?? store.ifaceNames() {
                    out("Iface: \(name)")
                    out(Self.nodeTree(nodes.filter { $0.iface == name }, prefix: "\t", ifaces: false), terminator: "")
                }
                return 0
            }
        }
        guard let name = line.iface else {
            if line.ops.first == "apply" { throw ISCSIError(.invalid, "Apply requires iface.") }
            if line.ops.first == "new" { throw ISCSIError(.invalid, "Could not add interface. No interface passed in.") }
            if line.ops.first == "delete" { throw ISCSIError(.invalid, "Could not delete interface. No interface passed in.") }
            if line.ops.first == "update" { throw ISCSIError(.invalid, "Update requires name, value, and iface.") }
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
            // open-iscsi applies the (here no) settings first, which prints this line too.
            out("\(name) updated.")
            out("New interface \(name) added")
        case "delete":
            guard store.readIface(name) != nil else {
                err("iscsiadm: Could not read iface info for \(name).")
                throw ISCSIError(.invalid, "Could not delete iface \(name): invalid parameter")
            }
            guard !builtIn else {
                err("iscsiadm: iface \(name) is a special interface and cannot be deleted.")
                throw ISCSIError(.invalid, "Could not delete iface \(name): invalid parameter")
            }
            // As open-iscsi does, the node records bound to it go first.
            for node in store.nodes() where node.iface == name { try store.deleteNode(node) }
            try store.deleteIface(name)
            out("\(name) unbound and deleted.")
        case "update":
            guard let key = line.names.first, let value = line.values.first else {
                throw ISCSIError(.invalid, "Update requires name, value, and iface.")
            }
            guard var record = store.readIface(name) else { throw ISCSIError(.invalid, "Could not read iface info for \(name).") }
            guard !builtIn else { throw ISCSIError(.invalid, "Can not update default or iser iface.") }
            if key == "iface.iscsi_ifacename" {
                err("iscsiadm: Can not update iface.iscsi_ifacename. Delete it, and then create a new one.")
                throw ISCSIError(.invalid, "Could not update iface \(name): invalid parameter")
            }
            if let failure = assign(&record, key, value) {
                for text in failure { err("iscsiadm: \(text)") }
                throw ISCSIError(.invalid, "Could not update iface \(name): invalid parameter")
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
                // libopeniscsiusr's own line, as open-iscsi prints it.
                err("iSCSI ERROR: Failed to open \(store.paths.ifaceRecord(name)) using read mode: 2 No such file or directory # idbm.c:_idbm_recs_read():834")
                return ISCSIErrorCode.database.rawValue
            }
            out(record.showText(showPasswords: line.showPasswords), terminator: "")
        }
        return 0
    }

    /// `-m iface -C ping`: open-iscsi's checks of -I, -a, -b, -c and -i, then (an offload
    /// host's ICMP ping being out of reach of a software initiator) a TCP connection to the
    /// address's iSCSI port 3260 as each ping: "Ping N completed" or "Ping N failed: ...".
    private func ping(_ line: AdminCommandLine) throws -> Int32 {
        guard let name = line.iface else { throw ISCSIError(.invalid, "Ping requires iface.") }
        guard let address = line.pingAddress else { throw ISCSIError(.invalid, "Ping requires destination ipaddress.") }
        guard line.packetSize > 0 else { throw ISCSIError(.invalid, "Invalid packet size: \(line.packetSize).") }
        guard line.pingCount > 0 else { throw ISCSIError(.invalid, "Invalid number of packets to transmit: \(line.pingCount).") }
        guard line.pingInterval >= 0 else { throw ISCSIError(.invalid, "Invalid timing interval: \(line.pingInterval).") }
        guard store.readIface(name) != nil else { throw ISCSIError(.database, "Could not read iface \(name) (6).") }
        let target = line.pingAddress.flatMap { Portal(argument: $0) } ?? Portal(address: address)
        var status: Int32 = 0
        for attempt in 1...line.pingCount {
            if attempt > 1 { pause(Double(line.pingInterval)) }
            if let failure = TCPProbe.connect(host: target.address, port: target.port, timeoutSeconds: 5) {
                debug(1, "ping \(target.hostPort): \(failure)")
                out("Ping \(attempt) failed: \(ISCSIErrorCode.transport.text)")
                status = ISCSIErrorCode.transport.rawValue
            } else {
                out("Ping \(attempt) completed")
            }
        }
        return status
    }

    private func out(_ text: String, terminator: String) {
        if terminator.isEmpty, text.hasSuffix("\n") { out(String(text.dropLast())) } else { out(text) }
    }
}
