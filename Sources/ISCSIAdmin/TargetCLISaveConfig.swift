#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A JSON scalar of LIO's attribute and parameter maps (numbers, strings, booleans).
public enum LIOScalar: Codable, Equatable, Sendable {
    case int(Int)
    case string(String)
    case bool(Bool)

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode(Double.self) {
            self = .string(String(value))
        } else {
            self = .string("")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .int(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        }
    }

    /// 0/1, "0"/"1", false/true.
    public var flag: Bool? {
        switch self {
        case .int(let value): return value != 0
        case .bool(let value): return value
        case .string(let value): return value == "1" ? true : value == "0" ? false : nil
        }
    }
}

/// LIO's /etc/target/saveconfig.json (rtslib's dump); unknown keys are ignored on reading.
public struct LIOSaveConfig: Codable, Equatable, Sendable {
    public struct StorageObject: Codable, Equatable, Sendable {
        public var name: String
        public var plugin: String
        public var dev: String?
        public var size: UInt64?
        public var write_back: Bool?
        public var readonly: Bool?
        public var wwn: String?
        public var aio: Bool?
        public var nullio: Bool?
        public var attributes: [String: LIOScalar]?

        public init(name: String, plugin: String) {
            self.name = name
            self.plugin = plugin
        }
    }

    public struct LUN: Codable, Equatable, Sendable {
        public var index: UInt64
        public var storage_object: String
        public var alias: String?
        public var alua_tg_pt_gp_name: String?
    }

    public struct MappedLUN: Codable, Equatable, Sendable {
        public var index: UInt64
        public var tpg_lun: UInt64
        public var write_protect: Bool?
        public var alias: String?
    }

    public struct NodeACL: Codable, Equatable, Sendable {
        public var node_wwn: String
        public var chap_userid: String?
        public var chap_password: String?
        public var chap_mutual_userid: String?
        public var chap_mutual_password: String?
        public var mapped_luns: [MappedLUN]?
        public var attributes: [String: LIOScalar]?
    }

    public struct Portal: Codable, Equatable, Sendable {
        public var ip_address: String
        public var port: Int
        public var iser: Bool?
        public var offload: Bool?
    }

    public struct TPG: Codable, Equatable, Sendable {
        public var tag: Int?
        public var enable: Bool?
        public var attributes: [String: LIOScalar]?
        public var parameters: [String: LIOScalar]?
        public var luns: [LUN]?
        public var node_acls: [NodeACL]?
        public var portals: [Portal]?
        public var chap_userid: String?
        public var chap_password: String?
        public var chap_mutual_userid: String?
        public var chap_mutual_password: String?
    }

    public struct Target: Codable, Equatable, Sendable {
        public var wwn: String
        public var fabric: String
        public var tpgs: [TPG]?
    }

    public var fabric_modules: [[String: LIOScalar]]?
    public var storage_objects: [StorageObject]?
    public var targets: [Target]?

    public init() {}

    public init(jsonText: String) throws {
        self = try JSONDecoder().decode(LIOSaveConfig.self, from: Data(jsonText.utf8))
    }

    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// The daemon configuration in LIO's form.
    public init(_ configuration: DaemonConfiguration) {
        fabric_modules = []
        storage_objects = configuration.storageObjects.compactMap { object in
            guard let group = TargetCLITree.group(of: object) else { return nil }
            var entry = StorageObject(name: object.name, plugin: group)
            switch object.kind {
            case .ramdisk:
                entry.size = object.size
            case .block:
                entry.dev = object.path
                entry.readonly = object.readOnly
                entry.write_back = object.writeCache ?? false
            default:
                entry.dev = object.path
                entry.size = object.size
                entry.write_back = object.writeCache ?? true
                entry.aio = false
            }
            entry.wwn = object.serial
            return entry
        }
        let portals = configuration.portals.map { portal in
            Portal(ip_address: portal.host.contains(":") ? "[\(portal.host)]" : portal.host, port: portal.port, iser: false, offload: false)
        }
        targets = configuration.targets.map { target in
            let luns = target.luns.filter { $0.lun != 0 }.sorted { $0.lun < $1.lun }
            let objectPath: (LUNConfiguration) -> String = { lun in
                let group = configuration.storageObject(named: lun.storageObject).flatMap(TargetCLITree.group(of:)) ?? "fileio"
                return "/backstores/\(group)/\(lun.storageObject)"
            }
            var tpg = TPG(
                tag: 1, enable: true,
                attributes: [
                    "authentication": .int(TargetCLITree.authenticationOn(target) ? 1 : 0),
                    "generate_node_acls": .int(target.generateNodeACLs ? 1 : 0),
                    "demo_mode_write_protect": .int(0),
                ],
                parameters: ["MaxConnections": .string("1"), "ErrorRecoveryLevel": .string("0")],
                luns: luns.map {
                    LUN(index: $0.lun, storage_object: objectPath($0), alias: nil, alua_tg_pt_gp_name: "default_tg_pt_gp")
                },
                node_acls: target.nodeACLs.map { acl in
                    NodeACL(
                        node_wwn: acl.initiatorName, chap_userid: acl.auth.userID, chap_password: acl.auth.password,
                        chap_mutual_userid: acl.auth.mutualUserID, chap_mutual_password: acl.auth.mutualPassword,
                        mapped_luns: luns.map { MappedLUN(index: $0.lun, tpg_lun: $0.lun, write_protect: false, alias: nil) },
                        attributes: nil)
                },
                portals: portals)
            let tpgAuth = configuration.tpgCredentials(of: target)
            tpg.chap_userid = tpgAuth.userID
            tpg.chap_password = tpgAuth.password
            tpg.chap_mutual_userid = tpgAuth.mutualUserID
            tpg.chap_mutual_password = tpgAuth.mutualPassword
            return Target(wwn: target.name, fabric: "iscsi", tpgs: [tpg])
        }
    }

    /// One step of a restore: a request, and for target creation the WWN whose tid the answer
    /// gives (later steps of that target carry `tidOf`).
    public struct RestoreStep: Equatable, Sendable {
        public var request: AdminRequest
        /// The target WWN whose tid must be filled into `request.tid` before sending.
        public var tidOf: String?
        /// A portal step: failure is a warning, not an error.
        public var optional = false
    }

    /// The requests that build this configuration in the daemon, and warnings about what is
    /// skipped (other fabrics, pscsi/user backstores, extra TPGs).
    public func restoreSteps(existingPortals: [PortalConfiguration]) -> (steps: [RestoreStep], warnings: [String]) {
        var steps: [RestoreStep] = []
        var warnings: [String] = []
        var known: [String: StorageObjectConfiguration.Kind] = [:]
        for object in storage_objects ?? [] {
            let kind: StorageObjectConfiguration.Kind
            switch object.plugin {
            case "fileio": kind = .fileio
            case "block": kind = .block
            case "ramdisk", "rd_mcp": kind = .ramdisk
            default:
                warnings.append("Skipping storage object \(object.name): plugin \(object.plugin) is not supported")
                continue
            }
            known["/backstores/\(object.plugin)/\(object.name)"] = kind
            var config = StorageObjectConfiguration(name: object.name, kind: kind, path: object.dev, size: object.size)
            config.readOnly = object.readonly ?? false
            steps.append(RestoreStep(request: config.creationRequest))
        }
        var portalsSeen = Set(existingPortals)
        for target in targets ?? [] {
            guard target.fabric == "iscsi" else {
                warnings.append("Skipping target \(target.wwn): fabric \(target.fabric) is not supported")
                continue
            }
            let tpgs = target.tpgs ?? []
            if tpgs.count > 1 { warnings.append("Target \(target.wwn): only its first TPG is restored") }
            steps.append(
                RestoreStep(request: AdminRequest(mode: .target, op: .new, targetName: target.wwn, allocateTID: true)))
            guard let tpg = tpgs.first else { continue }
            func step(_ request: AdminRequest) { steps.append(RestoreStep(request: request, tidOf: target.wwn)) }
            // LIO numbers LUNs from 0; here LUN 0 is the controller, so such a TPG moves up by one.
            let luns = tpg.luns ?? []
            let shift: UInt64 = luns.contains { $0.index == 0 } ? 1 : 0
            for lun in luns.sorted(by: { $0.index < $1.index }) {
                guard known[lun.storage_object] != nil else {
                    warnings.append("Skipping LUN \(lun.index) of \(target.wwn): no storage object \(lun.storage_object)")
                    continue
                }
                let (number, overflow) = lun.index.addingReportingOverflow(shift)
                guard !overflow else {
                    warnings.append("Skipping LUN \(lun.index) of \(target.wwn): no LUN number is left above it")
                    continue
                }
                let name = String(lun.storage_object.split(separator: "/").last ?? "")
                step(AdminRequest(mode: .logicalUnit, op: .new, lun: number, storageObject: name))
            }
            for acl in tpg.node_acls ?? [] {
                step(
                    AdminRequest(
                        mode: .nodeACL, op: .new, initiatorName: acl.node_wwn, user: acl.chap_userid,
                        password: acl.chap_password, mutualUser: acl.chap_mutual_userid,
                        mutualPassword: acl.chap_mutual_password))
            }
            for key in ["authentication", "generate_node_acls"] {
                if let flag = tpg.attributes?[key]?.flag {
                    step(AdminRequest(mode: .tpg, op: .update, name: key, value: flag ? "1" : "0"))
                }
            }
            if tpg.chap_userid != nil || tpg.chap_password != nil || tpg.chap_mutual_userid != nil
                || tpg.chap_mutual_password != nil
            {
                step(
                    AdminRequest(
                        mode: .tpg, op: .update, user: tpg.chap_userid, password: tpg.chap_password,
                        mutualUser: tpg.chap_mutual_userid, mutualPassword: tpg.chap_mutual_password))
            }
            for portal in tpg.portals ?? [] {
                var host = portal.ip_address
                if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                let config = PortalConfiguration(host: host, port: portal.port)
                if portalsSeen.insert(config).inserted {
                    let spelled = host.contains(":") ? "[\(host)]" : host
                    steps.append(
                        RestoreStep(
                            request: AdminRequest(mode: .portal, op: .new, params: "portal=\(spelled):\(portal.port)"),
                            tidOf: nil, optional: true))
                }
            }
        }
        return (steps, warnings)
    }
}
