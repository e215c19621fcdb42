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
        /// A user-backed (TCMU) object's handler config, "rbd/pool/image;..."
        public var config: String?
        public var attributes: [String: LIOScalar]?
        public var alua_tpgs: [ALUATPG]?

        public init(name: String, plugin: String) {
            self.name = name
            self.plugin = plugin
        }
    }

    /// One ALUA group of a storage object (rtslib's dump of `alua/NAME`).
    public struct ALUATPG: Codable, Equatable, Sendable {
        public var name: String
        public var tg_pt_gp_id: Int
        public var alua_access_state: Int?
        public var alua_access_type: Int?
        public var preferred: Int?
        public var alua_access_status: Int?
        public var nonop_delay_msecs: Int?
        public var trans_delay_msecs: Int?
        public var implicit_trans_secs: Int?
        public var alua_support_active_optimized: Int?
        public var alua_support_active_nonoptimized: Int?
        public var alua_support_standby: Int?
        public var alua_support_unavailable: Int?
        public var alua_support_offline: Int?
        public var alua_support_transitioning: Int?
        public var alua_write_metadata: Int?
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
    /// Our whole configuration model (see `init(_:)`).
    public var swift_iscsi: DaemonConfiguration?

    public init() {}

    public init(jsonText: String) throws {
        self = try JSONDecoder().decode(LIOSaveConfig.self, from: Data(jsonText.utf8))
    }

    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// The daemon configuration in LIO's form. What LIO can say is said its way (tgt's `-I ALL`
    /// as generate_node_acls, bound accounts as the TPG's credentials, read-only, write-back,
    /// thin provisioning as emulate_tpu, the unit serial as wwn); the whole model rides along
    /// under `swift_iscsi` (rtslib ignores keys it does not know) for what LIO cannot say: address
    /// ACLs, more than one account, tgt's other LU parameters, tids, discovery CHAP.
    public init(_ configuration: DaemonConfiguration) {
        fabric_modules = []
        let discovery = configuration.tpgCredentials(tid: 0)
        if let user = discovery.userID, let password = discovery.password {
            var module: [String: LIOScalar] = [
                "name": .string("iscsi"), "discovery_enable_auth": .bool(true), "discovery_userid": .string(user),
                "discovery_password": .string(password),
            ]
            if let user = discovery.mutualUserID, let password = discovery.mutualPassword {
                module["discovery_mutual_userid"] = .string(user)
                module["discovery_mutual_password"] = .string(password)
            }
            fabric_modules = [module]
        }
        storage_objects = configuration.storageObjects.compactMap { object in
            guard let group = TargetCLITree.group(of: object) else { return nil }
            let mapping = configuration.mappings(of: object.name).first
            let params = mapping?.lun.parameterValues ?? [:]
            // rtslib writes TCMU objects as plugin "user" (their group is "user:HANDLER").
            var entry = StorageObject(name: object.name, plugin: object.kind == .rbd ? "user" : group)
            switch object.kind {
            case .ramdisk:
                entry.size = object.size
            case .rbd:
                entry.size = object.size
                entry.config = object.tcmuConfig
            case .block:
                entry.dev = object.path
                entry.readonly = object.readOnly || params["readonly"] == "1"
                entry.write_back = configuration.writeBack(of: object)
            default:
                entry.dev = object.path
                entry.size = object.size
                entry.write_back = configuration.writeBack(of: object)
                entry.aio = false
            }
            // An empty list (not LIO's way: every LIO object has a group) keeps a tgt unit without ALUA.
            entry.alua_tpgs = (object.aluaGroups ?? []).map { group in
                    ALUATPG(
                        name: group.name, tg_pt_gp_id: Int(group.id), alua_access_state: Int(group.state.rawValue),
                        alua_access_type: group.accessType.rawValue, preferred: group.preferred ? 1 : 0, alua_access_status: 0,
                        nonop_delay_msecs: 100, trans_delay_msecs: 0, implicit_trans_secs: 0,
                        alua_support_active_optimized: 1, alua_support_active_nonoptimized: 1, alua_support_standby: 1,
                        alua_support_unavailable: 1, alua_support_offline: 1, alua_support_transitioning: 1,
                        alua_write_metadata: 0)
            }
            // An RBD unit's serial is its image id, which only the daemon knows.
            entry.wwn = params["scsi_sn"] ?? object.serial
                ?? (object.kind == .rbd ? nil : mapping.map { TgtAdminDump.defaultSCSISN(tid: $0.tid, lun: $0.lun.lun) })
            var attributes: [String: LIOScalar] = [:]
            if let mapping { attributes["block_size"] = .int(mapping.lun.blockSize) }
            let thin = object.thinProvisioning == true || params["thin_provisioning"] == "1" ? 1 : 0
            attributes["emulate_tpu"] = .int(thin)
            attributes["emulate_tpws"] = .int(thin)
            if object.kind != .ramdisk { attributes["emulate_write_cache"] = .int(configuration.writeBack(of: object) ? 1 : 0) }
            entry.attributes = attributes
            return entry
        }
        targets = configuration.targets.map { target in
            let luns = target.luns.filter { $0.lun != 0 }.sorted { $0.lun < $1.lun }
            let objectPath: (LUNConfiguration) -> String = { lun in
                let group = configuration.storageObject(named: lun.storageObject).flatMap(TargetCLITree.group(of:)) ?? "fileio"
                return "/backstores/\(group)/\(lun.storageObject)"
            }
            let tpgAuth = configuration.tpgCredentials(of: target)
            // Every TPG of a target carries the target's one ACL, LUN set and CHAP here; only the
            // portals and each LUN's ALUA group differ between them.
            let tpgs = configuration.portalGroups(of: target).map { tag in
                var tpg = TPG(
                    tag: Int(tag), enable: true,
                    attributes: [
                        "authentication": .int(TargetCLITree.authenticationOn(target) ? 1 : 0),
                        "generate_node_acls": .int(target.generateNodeACLs ? 1 : 0),
                        "demo_mode_write_protect": .int(0),
                        "cache_dynamic_acls": .int(1),
                    ],
                    parameters: ["MaxConnections": .string("1"), "ErrorRecoveryLevel": .string("0")],
                    luns: luns.map { lun in
                        let object = configuration.storageObject(named: lun.storageObject)
                        let group = lun.aluaGroup(inPortalGroup: tag) ?? object?.aluaGroups?.first?.name
                        return LUN(
                            index: lun.lun, storage_object: objectPath(lun), alias: nil,
                            alua_tg_pt_gp_name: group ?? ALUAGroupConfiguration.defaultName)
                    },
                    node_acls: target.nodeACLs.map { acl in
                        NodeACL(
                            node_wwn: acl.initiatorName, chap_userid: acl.auth.userID, chap_password: acl.auth.password,
                            chap_mutual_userid: acl.auth.mutualUserID, chap_mutual_password: acl.auth.mutualPassword,
                            mapped_luns: luns.map { MappedLUN(index: $0.lun, tpg_lun: $0.lun, write_protect: false, alias: nil) },
                            attributes: nil)
                    },
                    portals: configuration.portals.filter { $0.tag == tag }.map { portal in
                        Portal(
                            ip_address: portal.host.contains(":") ? "[\(portal.host)]" : portal.host, port: portal.port,
                            iser: false, offload: false)
                    })
                tpg.chap_userid = tpgAuth.userID
                tpg.chap_password = tpgAuth.password
                tpg.chap_mutual_userid = tpgAuth.mutualUserID
                tpg.chap_mutual_password = tpgAuth.mutualPassword
                return tpg
            }
            return Target(wwn: target.name, fabric: "iscsi", tpgs: tpgs)
        }
        swift_iscsi = configuration
    }

    /// The model saved beside LIO's fields, when it still says what they say: a file edited by
    /// hand (or written by LIO) is restored from LIO's fields alone.
    public var embeddedConfiguration: DaemonConfiguration? {
        guard let embedded = swift_iscsi else { return nil }
        func withoutPortals(_ config: LIOSaveConfig) -> LIOSaveConfig {
            var copy = config
            copy.swift_iscsi = nil
            copy.targets = copy.targets?.map { target in
                var target = target
                target.tpgs = target.tpgs?.map { tpg in
                    var tpg = tpg
                    tpg.portals = nil
                    return tpg
                }
                return target
            }
            return copy
        }
        return withoutPortals(LIOSaveConfig(embedded)) == withoutPortals(self) ? embedded : nil
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
    /// With `exact`, a file whose embedded model still agrees with its LIO fields is rebuilt from
    /// that model, tids included (the daemon must hold no targets or storage objects then).
    public func restoreSteps(existingPortals: [PortalConfiguration], exact: Bool = false)
        -> (steps: [RestoreStep], warnings: [String])
    {
        if exact, let embedded = embeddedConfiguration {
            let steps = embedded.replayRequests().compactMap { request -> RestoreStep? in
                guard request.mode == .portal else { return RestoreStep(request: request) }
                let text = String((request.params ?? "").dropFirst("portal=".count))
                let address = text.split(separator: ",").first.map(String.init) ?? text
                if existingPortals.contains(where: { $0.address == address }) { return nil }
                return RestoreStep(request: request, tidOf: nil, optional: true)
            }
            return (steps, [])
        }
        var steps: [RestoreStep] = []
        var warnings: [String] = []
        for module in fabric_modules ?? [] where module["name"] == .string("iscsi") && module["discovery_enable_auth"]?.flag == true {
            func text(_ key: String) -> String? {
                if case .string(let value)? = module[key], !value.isEmpty { return value }
                return nil
            }
            steps.append(
                RestoreStep(
                    request: AdminRequest(
                        mode: .tpg, op: .update, tid: 0, user: text("discovery_userid"), password: text("discovery_password"),
                        mutualUser: text("discovery_mutual_userid"), mutualPassword: text("discovery_mutual_password"))))
        }
        var known: [String: StorageObjectConfiguration.Kind] = [:]
        var aluaGroupNames: [String: [String]] = [:]
        var blockSizes: [String: Int] = [:]
        for object in storage_objects ?? [] {
            let kind: StorageObjectConfiguration.Kind
            switch object.plugin {
            case "fileio": kind = .fileio
            case "block": kind = .block
            case "ramdisk", "rd_mcp": kind = .ramdisk
            case "user" where object.config.flatMap(StorageObjectConfiguration.rbdConfigString(tcmuConfig:)) != nil:
                kind = .rbd
            default:
                warnings.append("Skipping storage object \(object.name): plugin \(object.plugin) is not supported")
                continue
            }
            let objectPath = "/backstores/\(kind == .rbd ? "user:rbd" : object.plugin)/\(object.name)"
            known[objectPath] = kind
            var config = StorageObjectConfiguration(name: object.name, kind: kind, path: object.dev, size: object.size)
            if kind == .rbd, let configString = object.config.flatMap(StorageObjectConfiguration.rbdConfigString(tcmuConfig:)) {
                (config.path, config.bsOptions) = StorageObjectConfiguration.rbdLocation(configString: configString)
            }
            config.readOnly = object.readonly ?? false
            if kind != .ramdisk { config.writeCache = object.write_back }
            if let wwn = object.wwn, !wwn.isEmpty {
                if wwn.utf8.count <= 36 {
                    config.serial = wwn
                } else {
                    warnings.append("Storage object \(object.name): wwn \(wwn) is longer than a unit serial (36 bytes); a new one is derived")
                }
            }
            let blockSize = object.attributes?["block_size"].flatMap { scalar -> Int? in
                if case .int(let value) = scalar { return value }
                if case .string(let text) = scalar { return Int(text) }
                return nil
            }
            blockSizes[objectPath] = blockSize
            if object.attributes?["emulate_tpu"]?.flag == true || object.attributes?["emulate_tpws"]?.flag == true {
                config.thinProvisioning = true
            }
            steps.append(RestoreStep(request: config.creationRequest))
            // An object LIO wrote without its groups had the default one, as every LIO object.
            let groups = object.alua_tpgs ?? [LIOSaveConfig.ALUATPG(name: ALUAGroupConfiguration.defaultName, tg_pt_gp_id: 0)]
            for group in groups {
                func update(_ name: String, _ value: String) {
                    steps.append(
                        RestoreStep(request: AdminRequest(mode: .storageObject, op: .update, name: name, value: value, storageObject: object.name)))
                }
                update("alua_create", "\(group.name):\(group.tg_pt_gp_id)")
                if let state = group.alua_access_state { update("alua:\(group.name):alua_access_state", String(state)) }
                if let type = group.alua_access_type { update("alua:\(group.name):alua_access_type", String(type)) }
                if let preferred = group.preferred { update("alua:\(group.name):preferred", String(preferred)) }
            }
            aluaGroupNames["/backstores/\(object.plugin)/\(object.name)"] = groups.map(\.name)
        }
        var portalsSeen = existingPortals
        for target in targets ?? [] {
            guard target.fabric == "iscsi" else {
                warnings.append("Skipping target \(target.wwn): fabric \(target.fabric) is not supported")
                continue
            }
            let tpgs = target.tpgs ?? []
            if tpgs.count > 1 {
                warnings.append("Target \(target.wwn): LUNs, ACLs and CHAP come from its first TPG; here every TPG shares them")
            }
            steps.append(
                RestoreStep(request: AdminRequest(mode: .target, op: .new, targetName: target.wwn, allocateTID: true)))
            func step(_ request: AdminRequest) { steps.append(RestoreStep(request: request, tidOf: target.wwn)) }
            let tags = tpgs.enumerated().map { UInt16(clamping: $1.tag ?? $0 + 1) }
            step(
                AdminRequest(
                    mode: .target, op: .update, name: "portal_groups",
                    value: tags.isEmpty ? "none" : tags.map(String.init).joined(separator: ",")))
            for (tpg, tag) in zip(tpgs, tags) {
                for portal in tpg.portals ?? [] {
                    var host = portal.ip_address
                    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                    let config = PortalConfiguration(host: host, port: portal.port, tag: tag)
                    guard !portalsSeen.contains(where: { $0.hasAddress(of: config) }) else { continue }
                    portalsSeen.append(config)
                    let spelled = host.contains(":") ? "[\(host)]" : host
                    let suffix = tag == 1 ? "" : ",\(tag)"
                    steps.append(
                        RestoreStep(
                            request: AdminRequest(mode: .portal, op: .new, params: "portal=\(spelled):\(portal.port)\(suffix)"),
                            tidOf: nil, optional: true))
                }
            }
            guard let tpg = tpgs.first else { continue }
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
                let blockSize = blockSizes[lun.storage_object].flatMap { $0 == 512 ? nil : String($0) }
                step(AdminRequest(mode: .logicalUnit, op: .new, lun: number, blockSize: blockSize, storageObject: name))
                // The group this LUN uses through each TPG (LIO keeps one per TPG's LUN).
                for (other, tag) in zip(tpgs, tags) {
                    guard let mapped = (other.luns ?? []).first(where: { $0.index == lun.index && $0.storage_object == lun.storage_object }),
                        let group = mapped.alua_tg_pt_gp_name, let names = aluaGroupNames[lun.storage_object],
                        names.contains(group), group != names.first
                    else { continue }
                    step(AdminRequest(mode: .logicalUnit, op: .update, lun: number, params: "alua_tg_pt_gp=\(tag):\(group)"))
                }
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
        }
        return (steps, warnings)
    }
}
