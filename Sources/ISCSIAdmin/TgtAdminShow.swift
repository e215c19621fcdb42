#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One target as tgt-admin reads it from `tgtadm --op show --mode target`.
public struct TgtAdminShownTarget: Equatable, Sendable {
    public struct LogicalUnit: Equatable, Sendable {
        public var lun: UInt64
        public var type = "disk"
        public var scsiID = ""
        public var scsiSN = ""
        public var blockSize = "512"
        public var online = true
        public var removable = false
        public var readonly = false
        public var thinProvisioning = false
        public var bsType = "rdwr"
        /// nil for "None".
        public var bsPath: String?
        public var bsFlags = ""
    }

    public struct Session: Equatable, Sendable {
        public var sid: String
        public var cids: [String]
    }

    /// As printed (tgt-admin keeps it as text).
    public var tid: String
    public var name: String
    /// The target's lines, "Target N: NAME" included.
    public var text: String
    public var driver: String?
    public var state: String?
    public var sessions: [Session] = []
    public var logicalUnits: [LogicalUnit] = []
    /// The lines under "Account information:", unindented ("alice", "bob (outgoing)").
    public var accounts: [String] = []
    /// The lines under "ACL information:", unindented.
    public var acl: [String] = []

    public var tidNumber: Int { Int(tid) ?? 0 }

    /// Backing-store paths other than "None", in LUN order.
    public var backingStores: [String] { logicalUnits.compactMap(\.bsPath) }

    /// Whether an initiator is connected (tgt-admin's "in use").
    public var hasConnection: Bool {
        text.split(separator: "\n").contains { line in
            line.first?.isConfBlank == true && line.confTrimmed().hasPrefix("Connection:")
        }
    }

    /// Parses the whole `--op show --mode target` text, keeping the daemon's order.
    public static func parse(_ text: String) -> [TgtAdminShownTarget] {
        var targets: [TgtAdminShownTarget] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let header = targetHeader(line) {
                targets.append(TgtAdminShownTarget(tid: header.tid, name: header.name, text: ""))
            }
            guard !targets.isEmpty else { continue }
            targets[targets.count - 1].text += line + "\n"
        }
        return targets.map { target in
            var target = target
            if target.text.hasSuffix("\n\n") { target.text.removeLast() }
            target.parseDetails()
            return target
        }
    }

    /// `Target N: NAME` (tgt-admin's /^Target (\d*): (.+)/).
    static func targetHeader(_ line: Substring) -> (tid: String, name: String)? {
        guard line.hasPrefix("Target ") else { return nil }
        let rest = line.dropFirst(7)
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        let after = rest[digits.endIndex...]
        guard after.hasPrefix(": "), after.count > 2 else { return nil }
        return (String(digits), String(after.dropFirst(2)))
    }

    private enum Section { case none, system, nexus, luns, accounts, acl }

    private mutating func parseDetails() {
        var section = Section.none
        for rawLine in text.split(separator: "\n").dropFirst() {
            let line = rawLine.confTrimmed()
            let indented = rawLine.first?.isConfBlank == true
            switch line {
            case "System information:": section = .system; continue
            case "I_T nexus information:": section = .nexus; continue
            case "LUN information:": section = .luns; continue
            case "Account information:" where section != .acl: section = .accounts; continue
            case "ACL information:" where section != .acl: section = .acl; continue
            default: break
            }
            switch section {
            case .none: break
            case .system:
                if let value = line.value(after: "Driver: ") { driver = value }
                if let value = line.value(after: "State: ") { state = value }
            case .nexus:
                if let value = line.value(after: "I_T nexus: ") {
                    sessions.append(Session(sid: value, cids: []))
                } else if let value = line.value(after: "Connection: "), !sessions.isEmpty {
                    sessions[sessions.count - 1].cids.append(value)
                }
            case .luns:
                parseUnitLine(line)
            case .accounts:
                if indented && !line.isEmpty { accounts.append(line) }
            case .acl:
                if indented && !line.isEmpty { acl.append(line) }
            }
        }
    }

    private mutating func parseUnitLine(_ line: String) {
        if let value = line.value(after: "LUN: ") {
            logicalUnits.append(LogicalUnit(lun: UInt64(value) ?? 0))
            return
        }
        guard !logicalUnits.isEmpty else { return }
        let index = logicalUnits.count - 1
        func yes(_ value: String) -> Bool { value == "Yes" }
        if let value = line.value(after: "Type: ") {
            logicalUnits[index].type = value
        } else if let value = line.value(after: "SCSI ID: ") {
            logicalUnits[index].scsiID = value
        } else if let value = line.value(after: "SCSI SN: ") {
            logicalUnits[index].scsiSN = value
        } else if line.hasPrefix("Size: "), let value = line.value(after: "Block size: ") {
            logicalUnits[index].blockSize = value
        } else if let value = line.value(after: "Online: ") {
            logicalUnits[index].online = yes(value)
        } else if let value = line.value(after: "Removable media: ") {
            logicalUnits[index].removable = yes(value)
        } else if let value = line.value(after: "Readonly: ") {
            logicalUnits[index].readonly = yes(value)
        } else if let value = line.value(after: "Thin-provisioning: ") {
            logicalUnits[index].thinProvisioning = yes(value)
        } else if let value = line.value(after: "Backing store type: ") {
            logicalUnits[index].bsType = value
        } else if let value = line.value(after: "Backing store path: ") {
            logicalUnits[index].bsPath = value == "None" ? nil : value
        } else if line.hasPrefix("Backing store flags:") {
            logicalUnits[index].bsFlags = line.dropFirst("Backing store flags:".count).confTrimmed()
        }
    }
}

extension String {
    /// The rest of the line after `prefix` (which may also occur after other text, as in
    /// "Size: 1 MB, Block size: 512"), nil if absent.
    fileprivate func value(after prefix: String) -> String? {
        if hasPrefix(prefix) { return String(dropFirst(prefix.count)) }
        if prefix == "Block size: ", let range = firstRange(of: ", Block size: ") {
            return String(self[range.upperBound...])
        }
        return nil
    }
}

/// Recognising tgt's address rules among the ACL lines.
enum TgtAdminAddress {
    /// Whether an ACL line is an `-I` (address) rule: "ALL", an IPv4 or IPv6 address, either with
    /// an optional "/prefix". Everything else was bound with `-Q` (an initiator name).
    static func isAddressRule(_ rule: String) -> Bool {
        if rule == "ALL" { return true }
        var address = Substring(rule)
        if let slash = address.firstIndex(of: "/") {
            let prefix = address[address.index(after: slash)...]
            guard !prefix.isEmpty, prefix.count <= 3, prefix.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            address = address[..<slash]
        }
        if address.hasPrefix("[") && address.hasSuffix("]") { address = address.dropFirst().dropLast() }
        var buffer = in6_addr()
        if inet_pton(AF_INET, String(address), &buffer) == 1 { return true }
        return inet_pton(AF_INET6, String(address), &buffer) == 1
    }
}
