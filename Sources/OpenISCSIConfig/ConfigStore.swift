import Foundation

/// A node record together with where it lives.
public struct NodeEntry: Sendable, Equatable, Codable {
    public var target: String
    public var portal: Portal
    public var iface: String
    public var record: Record

    public init(target: String, portal: Portal, iface: String, record: Record) {
        self.target = target
        self.portal = portal
        self.iface = iface
        self.record = record
    }
}

/// open-iscsi's record database under a configuration root.
public struct ConfigStore: Sendable {
    public var paths: ConfigPaths

    public init(paths: ConfigPaths) { self.paths = paths }

    public var iscsidConf: IscsidConf { IscsidConf.load(paths) }

    // MARK: node records

    /// A new node record with open-iscsi's defaults, iscsid.conf's settings and the identity.
    public func newNodeRecord(target: String, portal: Portal, iface: String = "default") -> Record {
        var record = Record(kind: .node)
        iscsidConf.apply(to: &record)
        record.set("node.name", target)
        record.set("node.tpgt", String(portal.tpgt))
        record.set("node.conn[0].address", portal.address)
        record.set("node.conn[0].port", String(portal.port))
        record.set("iface.iscsi_ifacename", iface)
        if let ifaceRecord = readIface(iface) {
            for key in RecordSchema.iface.map(\.key) where key != "iface.iscsi_ifacename" {
                if let value = ifaceRecord[key] { record.set(key, value) }
            }
        }
        return record
    }

    public func writeNode(_ entry: NodeEntry) throws {
        let path = paths.nodeRecord(target: entry.target, portal: entry.portal, iface: entry.iface)
        try AtomicFile.write(entry.record.fileText(), to: path)
    }

    /// Every node record, sorted by target, then portal.
    public func nodes() -> [NodeEntry] {
        let fm = FileManager.default
        var result: [NodeEntry] = []
        guard let targets = try? fm.contentsOfDirectory(atPath: paths.nodesDirectory) else { return [] }
        for target in targets.sorted() where !target.hasPrefix(".") {
            let targetDir = "\(paths.nodesDirectory)/\(target)"
            guard let portals = try? fm.contentsOfDirectory(atPath: targetDir) else { continue }
            for name in portals.sorted() where !name.hasPrefix(".") {
                let path = "\(targetDir)/\(name)"
                var isDirectory: ObjCBool = false
                guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
                if isDirectory.boolValue {
                    let ifaces = (try? fm.contentsOfDirectory(atPath: path)) ?? []
                    for iface in ifaces.sorted() where !iface.hasPrefix(".") {
                        if let entry = readNode(path: "\(path)/\(iface)", target: target, iface: iface) {
                            result.append(entry)
                        }
                    }
                } else if let entry = readNode(path: path, target: target, iface: nil) {
                    result.append(entry)
                }
            }
        }
        return result
    }

    private func readNode(path: String, target: String, iface: String?) -> NodeEntry? {
        guard let text = AtomicFile.read(path) else { return nil }
        let record = Record.parse(text, kind: .node)
        let address = record["node.conn[0].address"] ?? ""
        let port = Int(record["node.conn[0].port"] ?? "") ?? Portal.defaultPort
        let tpgt = Int(record["node.tpgt"] ?? "") ?? -1
        let ifaceName = iface ?? record["iface.iscsi_ifacename"] ?? "default"
        return NodeEntry(
            target: record["node.name"] ?? target, portal: Portal(address: address, port: port, tpgt: tpgt),
            iface: ifaceName, record: record)
    }

    /// Node records matching the optional target name, portal (address and port; tpgt too when
    /// given) and iface.
    public func nodes(target: String?, portal: Portal?, iface: String? = nil) -> [NodeEntry] {
        nodes().filter { entry in
            if let target, entry.target != target { return false }
            if let portal {
                if entry.portal.address != portal.address || entry.portal.port != portal.port { return false }
                if portal.tpgt >= 0 && entry.portal.tpgt != portal.tpgt { return false }
            }
            if let iface, entry.iface != iface { return false }
            return true
        }
    }

    /// open-iscsi's link from a discovery record to a node it found:
    /// `send_targets/<ip>,<port>/<iqn>,<ip>,<port>,<tpgt>,<iface>` -> the node's portal directory.
    public func linkDiscovered(_ entry: NodeEntry, by discovery: Portal) throws {
        guard entry.portal.tpgt >= 0 else { return }
        let directory = "\(paths.sendTargetsDirectory)/\(discovery.commaForm)"
        let link = "\(directory)/\(Self.discoveryLinkName(entry))"
        let destination = "\(paths.nodesDirectory)/\(entry.target)/\(entry.portal.commaForm),\(entry.portal.tpgt)"
        try AtomicFile.makeDirectories(directory, mode: 0o700)
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == destination { return }
        unlink(link)
        guard symlink(destination, link) == 0 else {
            throw ISCSIError(.database, "Could not make link \(link): \(String(cString: strerror(errno)))")
        }
    }

    static func discoveryLinkName(_ entry: NodeEntry) -> String {
        "\(entry.target),\(entry.portal.address),\(entry.portal.port),\(entry.portal.tpgt),\(entry.iface)"
    }

    public func deleteNode(_ entry: NodeEntry) throws {
        let fm = FileManager.default
        let path = paths.nodeRecord(target: entry.target, portal: entry.portal, iface: entry.iface)
        try? fm.removeItem(atPath: path)
        // Its discovery links.
        let name = Self.discoveryLinkName(entry)
        for portal in (try? fm.contentsOfDirectory(atPath: paths.sendTargetsDirectory)) ?? [] {
            unlink("\(paths.sendTargetsDirectory)/\(portal)/\(name)")
        }
        // Drop directories left empty (portal dir, then target dir).
        var directory = (path as NSString).deletingLastPathComponent
        while directory.hasPrefix(paths.nodesDirectory + "/") {
            guard let items = try? fm.contentsOfDirectory(atPath: directory), items.isEmpty else { break }
            try? fm.removeItem(atPath: directory)
            directory = (directory as NSString).deletingLastPathComponent
        }
    }

    // MARK: discovery records

    public func newSendTargetsRecord(_ portal: Portal) -> Record {
        var record = Record(kind: .sendTargets)
        iscsidConf.apply(to: &record)
        record.set("discovery.sendtargets.address", portal.address)
        record.set("discovery.sendtargets.port", String(portal.port))
        return record
    }

    public func readSendTargets(_ portal: Portal) -> Record? {
        AtomicFile.read(paths.sendTargetsRecord(portal)).map { Record.parse($0, kind: .sendTargets) }
    }

    public func writeSendTargets(_ record: Record, portal: Portal) throws {
        try AtomicFile.write(record.fileText(), to: paths.sendTargetsRecord(portal))
    }

    /// Every discovery portal with a record.
    public func sendTargetsPortals() -> [Portal] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.sendTargetsDirectory)) ?? []
        return names.sorted().compactMap { name in
            guard let comma = name.lastIndex(of: ","), let port = Int(name[name.index(after: comma)...]) else {
                return nil
            }
            let portal = Portal(address: String(name[..<comma]), port: port)
            return readSendTargets(portal) == nil ? nil : portal
        }
    }

    public func deleteSendTargets(_ portal: Portal) throws {
        try? FileManager.default.removeItem(atPath: "\(paths.sendTargetsDirectory)/\(portal.commaForm)")
    }

    /// Node records found through the discovery portal.
    public func nodesDiscovered(by portal: Portal) -> [NodeEntry] {
        nodes().filter {
            $0.record["node.discovery_address"] == portal.address
                && $0.record["node.discovery_port"] == String(portal.port)
                && $0.record["node.discovery_type"] == "send_targets"
        }
    }

    // MARK: ifaces

    public static let builtInIfaces = ["default": "tcp", "iser": "iser"]

    public func newIfaceRecord(_ name: String) -> Record {
        var record = Record(kind: .iface)
        record.set("iface.iscsi_ifacename", name)
        return record
    }

    public func readIface(_ name: String) -> Record? {
        if let text = AtomicFile.read(paths.ifaceRecord(name)) { return Record.parse(text, kind: .iface) }
        if let transport = Self.builtInIfaces[name] {
            var record = newIfaceRecord(name)
            record.set("iface.transport_name", transport)
            return record
        }
        return nil
    }

    public func writeIface(_ record: Record, name: String) throws {
        try AtomicFile.write(record.fileText(), to: paths.ifaceRecord(name))
    }

    public func deleteIface(_ name: String) throws {
        try FileManager.default.removeItem(atPath: paths.ifaceRecord(name))
    }

    /// Iface names: the files under `ifaces/`, then the built-in `default` and `iser`.
    public func ifaceNames() -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: paths.ifacesDirectory)) ?? [])
            .filter { !$0.hasPrefix(".") && Self.builtInIfaces[$0] == nil }.sorted()
        return names + ["default", "iser"]
    }
}
