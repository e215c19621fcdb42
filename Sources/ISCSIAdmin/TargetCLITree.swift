/// One target portal group of one target: LIO's `/iscsi/WWN/tpgN`.
public struct TPGPath: Hashable, Sendable {
    public var wwn: String
    public var tag: UInt16

    public init(_ wwn: String, _ tag: UInt16 = 1) {
        self.wwn = wwn
        self.tag = tag
    }
}

/// LIO's targetcli object tree, drawn from the daemon's configuration.
public enum TargetCLINode: Hashable, Sendable {
    case root
    case backstores
    /// "block", "fileio", "pscsi", "ramdisk" or "user:rbd".
    case backstoreGroup(String)
    case storageObject(group: String, name: String)
    /// A storage object's `alua` directory and one ALUA group in it.
    case aluaGroups(group: String, name: String)
    case aluaGroup(group: String, name: String, alua: String)
    case iscsi
    case target(String)
    case tpg(TPGPath)
    case luns(TPGPath)
    case lun(TPGPath, UInt64)
    case acls(TPGPath)
    case acl(TPGPath, String)
    case mappedLUN(TPGPath, String, UInt64)
    case portals(TPGPath)
    case portal(TPGPath, String)

    public static let backstoreGroups = ["block", "fileio", "pscsi", "ramdisk", "user:rbd"]

    public var name: String {
        switch self {
        case .root: return "/"
        case .backstores: return "backstores"
        case .backstoreGroup(let group): return group
        case .storageObject(_, let name): return name
        case .aluaGroups: return "alua"
        case .aluaGroup(_, _, let alua): return alua
        case .iscsi: return "iscsi"
        case .target(let wwn): return wwn
        case .tpg(let tpg): return "tpg\(tpg.tag)"
        case .luns: return "luns"
        case .lun(_, let lun): return "lun\(lun)"
        case .acls: return "acls"
        case .acl(_, let name): return name
        case .mappedLUN(_, _, let lun): return "mapped_lun\(lun)"
        case .portals: return "portals"
        case .portal(_, let name): return name
        }
    }

    public var parent: TargetCLINode? {
        switch self {
        case .root: return nil
        case .backstores, .iscsi: return .root
        case .backstoreGroup: return .backstores
        case .storageObject(let group, _): return .backstoreGroup(group)
        case .aluaGroups(let group, let name): return .storageObject(group: group, name: name)
        case .aluaGroup(let group, let name, _): return .aluaGroups(group: group, name: name)
        case .target: return .iscsi
        case .tpg(let tpg): return .target(tpg.wwn)
        case .luns(let tpg), .acls(let tpg), .portals(let tpg): return .tpg(tpg)
        case .lun(let tpg, _): return .luns(tpg)
        case .acl(let tpg, _): return .acls(tpg)
        case .mappedLUN(let tpg, let acl, _): return .acl(tpg, acl)
        case .portal(let tpg, _): return .portals(tpg)
        }
    }

    public var path: String {
        guard let parent else { return "/" }
        let base = parent.path
        return (base == "/" ? "" : base) + "/" + name
    }

    /// The target WWN this node belongs to, if any.
    public var targetWWN: String? {
        if case .target(let wwn) = self { return wwn }
        return portalGroup?.wwn
    }

    /// The TPG this node belongs to, if any.
    public var portalGroup: TPGPath? {
        switch self {
        case .tpg(let t), .luns(let t), .lun(let t, _), .acls(let t), .acl(let t, _), .mappedLUN(let t, _, _),
            .portals(let t), .portal(let t, _):
            return t
        default: return nil
        }
    }
}

/// The daemon configuration seen as LIO's tree.
public struct TargetCLITree: Sendable {
    public var configuration: DaemonConfiguration

    public init(configuration: DaemonConfiguration) { self.configuration = configuration }

    /// The LIO backstore group a storage object appears in; nil for tgt's null stores.
    public static func group(of object: StorageObjectConfiguration) -> String? {
        switch object.kind {
        case .fileio: return "fileio"
        case .block: return "block"
        case .ramdisk: return "ramdisk"
        case .rbd: return "user:rbd"
        case .null: return nil
        }
    }

    public func target(_ wwn: String) -> TargetConfiguration? {
        configuration.targets.first { $0.name.lowercased() == wwn.lowercased() }
    }

    public static func portalName(_ portal: PortalConfiguration) -> String { portal.address }

    /// The TPG tags of a target as LIO lists its `tpgN` nodes.
    public func portalGroups(_ wwn: String) -> [UInt16] {
        guard let target = target(wwn) else { return [] }
        return configuration.portalGroups(of: target)
    }

    public func children(of node: TargetCLINode) -> [TargetCLINode] {
        switch node {
        case .root: return [.backstores, .iscsi]
        case .backstores: return TargetCLINode.backstoreGroups.map { .backstoreGroup($0) }
        case .backstoreGroup(let group):
            return configuration.storageObjects.filter { Self.group(of: $0) == group }
                .sorted { $0.name < $1.name }.map { .storageObject(group: group, name: $0.name) }
        case .storageObject(let group, let name):
            return configuration.storageObject(named: name)?.aluaGroups?.isEmpty == false ? [.aluaGroups(group: group, name: name)] : []
        case .aluaGroups(let group, let name):
            return (configuration.storageObject(named: name)?.aluaGroups ?? []).map { .aluaGroup(group: group, name: name, alua: $0.name) }
        case .iscsi: return configuration.targets.sorted { $0.name < $1.name }.map { .target($0.name) }
        case .target(let wwn): return portalGroups(wwn).map { .tpg(TPGPath(wwn, $0)) }
        case .tpg(let tpg): return [.acls(tpg), .luns(tpg), .portals(tpg)]
        case .luns(let tpg): return luns(tpg.wwn).map { .lun(tpg, $0.lun) }
        case .acls(let tpg):
            return (target(tpg.wwn)?.nodeACLs ?? []).sorted { $0.initiatorName < $1.initiatorName }
                .map { .acl(tpg, $0.initiatorName) }
        case .acl(let tpg, let name): return luns(tpg.wwn).map { .mappedLUN(tpg, name, $0.lun) }
        case .portals(let tpg):
            return configuration.portals.filter { $0.tag == tpg.tag }.map { .portal(tpg, Self.portalName($0)) }
        default: return []
        }
    }

    /// A target's LUNs as LIO shows them (tgt's LUN 0 controller is not one).
    public func luns(_ wwn: String) -> [LUNConfiguration] {
        (target(wwn)?.luns ?? []).filter { $0.lun != 0 }.sorted { $0.lun < $1.lun }
    }

    /// Resolves an absolute or relative path ("..", "." and trailing "/" allowed).
    public func resolve(_ path: String, from current: TargetCLINode) throws -> TargetCLINode {
        var node = path.hasPrefix("/") ? TargetCLINode.root : current
        for component in path.split(separator: "/", omittingEmptySubsequences: true).map(String.init) {
            switch component {
            case ".": continue
            case "..": node = node.parent ?? .root
            default:
                let children = children(of: node)
                if let exact = children.first(where: { $0.name == component }) {
                    node = exact
                } else if let loose = children.first(where: { $0.name.lowercased() == component.lowercased() }) {
                    node = loose
                } else {
                    throw TargetCLIError("No such path \(Self.join(node.path, component))")
                }
            }
        }
        return node
    }

    static func join(_ base: String, _ name: String) -> String { base == "/" ? "/" + name : base + "/" + name }

    public func storageObject(_ node: TargetCLINode) -> StorageObjectConfiguration? {
        guard case .storageObject(_, let name) = node else { return nil }
        return configuration.storageObject(named: name)
    }

    private func isMapped(_ name: String) -> Bool {
        configuration.targets.contains { $0.luns.contains { $0.storageObject == name } }
    }

    /// The bracketed summary of a node in `ls`.
    public func summary(_ node: TargetCLINode) -> String {
        switch node {
        case .root, .backstores: return "..."
        case .backstoreGroup: return "Storage Objects: \(children(of: node).count)"
        case .storageObject:
            guard let object = storageObject(node) else { return "" }
            let status = isMapped(object.name) ? "activated" : "deactivated"
            let size = TargetCLISize.human(object.size ?? 0)
            let cache = configuration.writeBack(of: object) ? "write-back" : "write-thru"
            switch object.kind {
            case .ramdisk: return "(\(size)) \(status)"
            case .block: return "\(object.path ?? "") (\(size)) \(object.readOnly ? "ro " : "")\(cache) \(status)"
            case .rbd: return "\(object.tcmuConfig) (\(size)) \(status)"
            default: return "\(object.path ?? "") (\(size)) \(cache) \(status)"
            }
        case .aluaGroups: return "ALUA Groups: \(children(of: node).count)"
        case .aluaGroup(_, let name, let alua):
            let state = aluaGroup(object: name, alua)?.state.lioName ?? ""
            return "ALUA state: \(state)"
        case .iscsi: return "Targets: \(children(of: node).count)"
        case .target: return "TPGs: \(children(of: node).count)"
        case .tpg(let tpg):
            guard let target = target(tpg.wwn) else { return "" }
            var parts = [target.generateNodeACLs ? "gen-acls" : "no-gen-acls"]
            // The TPG's credentials (tgt's bound accounts) apply to every initiator without its own.
            if !Self.authenticationOn(target) {
                parts.append("no-auth")
            } else if target.incomingUsers.isEmpty {
                parts.append("auth per-acl")
            } else {
                parts.append("tpg-auth")
                parts.append(target.outgoingUser != nil ? "mutual auth" : "1-way auth")
            }
            return parts.joined(separator: ", ")
        case .luns: return "LUNs: \(children(of: node).count)"
        case .lun(let tpg, let number):
            guard let lun = luns(tpg.wwn).first(where: { $0.lun == number }) else { return "" }
            guard let object = configuration.storageObject(named: lun.storageObject), let group = Self.group(of: object)
            else { return "\(lun.storageObject)" }
            let path = object.path.map { " (\($0))" } ?? ""
            return "\(group)/\(object.name)\(path) (\(aluaGroupName(of: lun, in: tpg.tag, object: object)))"
        case .acls: return "ACLs: \(children(of: node).count)"
        case .acl(let tpg, let name):
            var parts: [String] = []
            if let target = target(tpg.wwn), Self.authenticationOn(target) {
                if let acl = target.nodeACLs.first(where: { $0.initiatorName == name }), acl.auth.userID != nil {
                    parts.append(acl.auth.mutualUserID != nil ? "mutual auth" : "1-way auth")
                } else if !target.incomingUsers.isEmpty {
                    parts.append("auth via tpg")
                }
            }
            parts.append("Mapped LUNs: \(children(of: node).count)")
            return parts.joined(separator: ", ")
        case .mappedLUN(let tpg, _, let number):
            let lun = luns(tpg.wwn).first { $0.lun == number }
            let object = lun.flatMap { configuration.storageObject(named: $0.storageObject) }
            let group = object.flatMap(Self.group(of:)) ?? "null"
            return "lun\(number) \(group)/\(lun?.storageObject ?? "") (rw)"
        case .portals: return "Portals: \(children(of: node).count)"
        case .portal: return "OK"
        }
    }

    public func aluaGroup(object: String, _ name: String) -> ALUAGroupConfiguration? {
        configuration.storageObject(named: object)?.aluaGroups?.first { $0.name == name }
    }

    /// The ALUA group a LUN uses in a TPG, as LIO's `ls` shows it.
    func aluaGroupName(of lun: LUNConfiguration, in tag: UInt16, object: StorageObjectConfiguration) -> String {
        lun.aluaGroup(inPortalGroup: tag) ?? object.aluaGroups?.first?.name ?? ALUAGroupConfiguration.defaultName
    }

    /// Whether logins to the target use CHAP as LIO's `authentication` attribute says; unset
    /// follows tgt's rule (on when credentials exist).
    public static func authenticationOn(_ target: TargetConfiguration) -> Bool {
        if let explicit = target.authentication { return explicit }
        return !target.incomingUsers.isEmpty || target.nodeACLs.contains { $0.auth.userID != nil }
    }

    /// LIO's `ls`: `o- name ..... [summary]` lines, children indented under `|` rails.
    public func render(_ node: TargetCLINode, depth: Int? = nil, width: Int = 80) -> String {
        var lines: [String] = []
        func walk(_ node: TargetCLINode, prefix: String, level: Int, last: Bool) {
            let head = prefix + "o- " + (level == 0 ? (node == .root ? "/" : node.name) : node.name)
            let tail = "[\(summary(node))]"
            let dots = max(3, width - head.count - tail.count - 2)
            lines.append(head + " " + String(repeating: ".", count: dots) + " " + tail)
            if let depth, level >= depth { return }
            let kids = children(of: node)
            let childPrefix = prefix + (last ? "  " : "| ")
            for (index, child) in kids.enumerated() {
                walk(child, prefix: childPrefix, level: level + 1, last: index == kids.count - 1)
            }
        }
        walk(node, prefix: "", level: 0, last: true)
        return lines.joined(separator: "\n") + "\n"
    }
}

public struct TargetCLIError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// LIO's size spellings.
public enum TargetCLISize {
    /// "1G", "512M", "4k", "1GB", "1GiB", "1048576" (bytes).
    public static func parse(_ text: String) -> UInt64? {
        var digits = text.lowercased()
        var multiplier: UInt64 = 1
        for suffix in ["ib", "b"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
            digits.removeLast(suffix.count)
            break
        }
        let units: [Character: UInt64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
        if let last = digits.last, let unit = units[last] {
            multiplier = unit
            digits.removeLast()
        }
        guard let value = UInt64(digits), value > 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// LIO's bytes_to_human: "512 bytes", "1.0GiB".
    public static func human(_ size: UInt64) -> String {
        if size < 1024 { return "\(size) bytes" }
        var value = Double(size) / 1024
        for unit in ["KiB", "MiB", "GiB", "TiB", "PiB"] {
            if value < 1024 {
                let tenths = Int((value * 10).rounded())
                return "\(tenths / 10).\(tenths % 10)\(unit)"
            }
            value /= 1024
        }
        return "\(size) bytes"
    }
}
