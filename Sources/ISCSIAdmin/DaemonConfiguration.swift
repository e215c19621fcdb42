/// The daemon's whole configuration: what tgtadm, tgt-admin and targetcli change, what `--op show`
/// and `targetcli ls` print, and what survives a restart. One model for every front end: tgt's
/// view (targets with LUNs on backing paths, accounts, address ACLs) and LIO's (named storage
/// objects, node ACLs with their own CHAP, TPG attributes) are two ways of editing it.
public struct DaemonConfiguration: Codable, Equatable, Sendable {
    /// Bumped when the saved form changes incompatibly.
    /// Version 3 added target portal groups and ALUA; older daemons refuse it rather than drop them.
    public static let currentVersion = 3

    public var version = DaemonConfiguration.currentVersion
    public var portals: [PortalConfiguration] = []
    /// Accounts bound to discovery sessions (tgtadm account bind without --tid).
    public var discoveryIncomingUsers: [String] = []
    public var discoveryOutgoingUser: String?
    public var storageObjects: [StorageObjectConfiguration] = []
    /// CHAP accounts (tgtadm --mode account); targets refer to them by user name.
    public var accounts: [AccountConfiguration] = []
    public var targets: [TargetConfiguration] = []

    public init() {}

    public func target(tid: Int) -> TargetConfiguration? { targets.first { $0.tid == tid } }
    public func storageObject(named name: String) -> StorageObjectConfiguration? {
        storageObjects.first { $0.name == name }
    }
    public func account(user: String) -> AccountConfiguration? { accounts.first { $0.user == user } }
    public func targetIndex(tid: Int) -> Int? { targets.firstIndex { $0.tid == tid } }

    /// LIO's TPG-wide CHAP of a target: its first incoming account and its outgoing one.
    public func tpgCredentials(of target: TargetConfiguration) -> CHAPCredentials { tpgCredentials(tid: target.tid) }
}

extension DaemonConfiguration {
    private enum CodingKeys: String, CodingKey {
        case version, portals, discoveryIncomingUsers, discoveryOutgoingUser, storageObjects, accounts, targets
    }

    /// Version 1 kept LIO's TPG credentials beside tgt's accounts; they become accounts here.
    private struct LegacyTarget: Decodable {
        var tpgAuth: CHAPCredentials?
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decodeIfPresent(Int.self, forKey: .version) ?? 1
        portals = try container.decodeIfPresent([PortalConfiguration].self, forKey: .portals) ?? []
        discoveryIncomingUsers = try container.decodeIfPresent([String].self, forKey: .discoveryIncomingUsers) ?? []
        discoveryOutgoingUser = try container.decodeIfPresent(String.self, forKey: .discoveryOutgoingUser)
        storageObjects = try container.decodeIfPresent([StorageObjectConfiguration].self, forKey: .storageObjects) ?? []
        accounts = try container.decodeIfPresent([AccountConfiguration].self, forKey: .accounts) ?? []
        targets = try container.decodeIfPresent([TargetConfiguration].self, forKey: .targets) ?? []
        // A newer file keeps its number, so that loading it is refused (`loadProblem`); an older
        // one is read as this version once migrated (version 3 only added fields).
        guard version <= Self.currentVersion else { return }
        defer { version = Self.currentVersion }
        guard version < 2 else { return }
        let legacy = try container.decodeIfPresent([LegacyTarget].self, forKey: .targets) ?? []
        for (index, old) in legacy.enumerated() where index < targets.count {
            guard let auth = old.tpgAuth else { continue }
            if let user = auth.userID, let password = auth.password {
                if migrateAccount(user: user, password: password), !targets[index].incomingUsers.contains(user) {
                    targets[index].incomingUsers.insert(user, at: 0)
                }
            }
            if targets[index].outgoingUser == nil, let user = auth.mutualUserID, let password = auth.mutualPassword {
                if migrateAccount(user: user, password: password) { targets[index].outgoingUser = user }
            }
        }
    }

    /// Adds the account unless one of that name exists; false when that one has another password.
    private mutating func migrateAccount(user: String, password: String) -> Bool {
        if let existing = account(user: user) { return existing.password == password }
        accounts.append(AccountConfiguration(user: user, password: password))
        return true
    }
}

/// A listening portal and the target portal group it belongs to (tgt has only group 1).
public struct PortalConfiguration: Codable, Equatable, Hashable, Sendable {
    public var host: String
    public var port: Int
    public var tag: UInt16 = 1

    public init(host: String, port: Int, tag: UInt16 = 1) {
        self.host = host
        self.port = port
        self.tag = tag
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decode(String.self, forKey: .host)
        port = try container.decode(Int.self, forKey: .port)
        tag = try container.decodeIfPresent(UInt16.self, forKey: .tag) ?? 1
    }

    /// Same address and port, whatever the group.
    public func hasAddress(of other: PortalConfiguration) -> Bool { host == other.host && port == other.port }

    /// `HOST:PORT` with an IPv6 address in brackets (LIO's portal node name).
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A backing store with a name (LIO's storage object; tgt's LUNs get generated names).
public struct StorageObjectConfiguration: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// A regular file (tgt's bstype rdwr on a file; LIO's fileio).
        case fileio
        /// A block device (tgt's rdwr on a device; LIO's block).
        case block
        /// Memory (LIO's ramdisk; tgt has none).
        case ramdisk
        /// Discards writes, reads zeros (tgt's bstype null).
        case null
        /// A Ceph RBD image, path "pool[/namespace]/image" (tgt-rbd's bstype rbd; LIO's user:rbd
        /// through TCMU, as ceph-iscsi makes them).
        case rbd
    }

    public var name: String
    public var kind: Kind
    public var path: String?
    /// Bytes; required for ramdisk, for null, and for a fileio object whose file is to be created.
    public var size: UInt64?
    public var readOnly = false
    /// nil: the store's own behaviour (files have a volatile cache).
    public var writeCache: Bool?
    /// LIO's wwn / unit serial; nil lets the daemon derive one.
    public var serial: String?
    /// tgt's --bstype for this store ("rdwr", "null", ...), when it came from tgtadm.
    public var bsType: String?
    /// tgt's --bsoflags ("sync", "direct", "sync:direct").
    public var openFlags: String?
    /// tgt's --bsopts: for rbd, how to reach the cluster ("conf=...;id=..."), only what differs
    /// from the defaults.
    public var bsOptions: String?
    /// LIO's emulate_tpu/emulate_tpws: every LUN mapping it is thin provisioned (tgt's
    /// thin_provisioning=1). nil is off.
    public var thinProvisioning: Bool?
    /// LIO's ALUA target port groups of this object (`/backstores/T/N/alua/`); nil or empty: the
    /// object reports no ALUA (TPGS 0, as tgt). LIO-made objects start with `default_tg_pt_gp`.
    public var aluaGroups: [ALUAGroupConfiguration]?

    public init(
        name: String, kind: Kind, path: String? = nil, size: UInt64? = nil, readOnly: Bool = false,
        writeCache: Bool? = nil, serial: String? = nil, bsType: String? = nil, openFlags: String? = nil,
        bsOptions: String? = nil
    ) {
        self.bsType = bsType
        self.bsOptions = bsOptions
        self.openFlags = openFlags
        self.name = name
        self.kind = kind
        self.path = path
        self.size = size
        self.readOnly = readOnly
        self.writeCache = writeCache
        self.serial = serial
    }
}

public struct AccountConfiguration: Codable, Equatable, Sendable {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
}

/// CHAP credentials of one direction pair, as LIO keeps them per node ACL or per TPG.
public struct CHAPCredentials: Codable, Equatable, Sendable {
    public var userID: String?
    public var password: String?
    public var mutualUserID: String?
    public var mutualPassword: String?

    public init(userID: String? = nil, password: String? = nil, mutualUserID: String? = nil, mutualPassword: String? = nil) {
        self.userID = userID
        self.password = password
        self.mutualUserID = mutualUserID
        self.mutualPassword = mutualPassword
    }

    public var isEmpty: Bool { userID == nil && password == nil && mutualUserID == nil && mutualPassword == nil }
}

public struct LUNConfiguration: Codable, Equatable, Sendable {
    public var lun: UInt64
    public var storageObject: String
    public var blockSize = 512
    /// tgt's `--params` strings (thin_provisioning=1,readonly=1,...), in the order they were
    /// applied: tgt applies keys in order, so replaying them reproduces the unit.
    public var parameters: [String] = []
    /// The ALUA group (of the storage object) this LUN belongs to in each target portal group
    /// (LIO's `alua_tg_pt_gp` of a TPG's LUN); a group not listed uses the object's first group.
    public var aluaMembership: [ALUAMembership]?

    public init(lun: UInt64, storageObject: String, blockSize: Int = 512, parameters: [String] = []) {
        self.lun = lun
        self.storageObject = storageObject
        self.blockSize = blockSize
        self.parameters = parameters
    }
}

/// An initiator allowed by name (tgt's --initiator-name, LIO's node ACL), with its own CHAP.
public struct NodeACLConfiguration: Codable, Equatable, Sendable {
    public var initiatorName: String
    public var auth = CHAPCredentials()

    public init(initiatorName: String, auth: CHAPCredentials = CHAPCredentials()) {
        self.initiatorName = initiatorName
        self.auth = auth
    }
}

/// One rule of a target's ACL, in the order it was added (tgt shows them in that order).
public struct AccessEntry: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// tgt's `-I`: "ALL" (LIO's generate_node_acls), an address or a CIDR network.
        case address
        /// tgt's `--initiator-name`, LIO's node ACL.
        case initiatorName
    }

    public var kind: Kind
    public var value: String
    /// A node ACL's own CHAP (LIO); always empty for address rules.
    public var auth = CHAPCredentials()

    public init(kind: Kind, value: String, auth: CHAPCredentials = CHAPCredentials()) {
        self.kind = kind
        self.value = value
        self.auth = auth
    }

    public static func address(_ rule: String) -> AccessEntry { AccessEntry(kind: .address, value: rule) }
    public static func initiatorName(_ name: String, auth: CHAPCredentials = CHAPCredentials()) -> AccessEntry {
        AccessEntry(kind: .initiatorName, value: name, auth: auth)
    }

    public var isAll: Bool { kind == .address && value.uppercased() == "ALL" }
}

/// A target: tgt's target with its tid, LIO's target with its one TPG (tag 1). Every front end
/// edits the same fields:
/// - the ACL: tgt's `-I ALL` is LIO's `generate_node_acls=1`; tgt's `--initiator-name` rules are
///   LIO's node ACLs (which may carry their own CHAP); address rules exist only in tgt;
/// - CHAP: tgt's bound accounts are LIO's TPG-wide credentials (the first incoming account is
///   the TPG's userid/password, the outgoing one its mutual_userid/mutual_password);
/// - LIO's `authentication` attribute: nil follows tgt's rule (CHAP when accounts are bound).
public struct TargetConfiguration: Codable, Equatable, Sendable {
    public var tid: Int
    public var name: String
    public var luns: [LUNConfiguration] = []
    public var access: [AccessEntry] = []
    /// Bound accounts, by user name.
    public var incomingUsers: [String] = []
    public var outgoingUser: String?
    public var authentication: Bool?
    /// tgt's target state: "ready" or "offline".
    public var state = "ready"
    /// The target portal groups (tags) the target is served through; nil: every group that has a
    /// portal (tgt's way). Targets made with targetcli list theirs, as LIO's `tpgN` nodes.
    public var portalGroups: [UInt16]?

    public init(tid: Int, name: String) {
        self.tid = tid
        self.name = name
    }

    /// LIO's node ACLs: the initiator-name rules.
    public var nodeACLs: [NodeACLConfiguration] {
        access.filter { $0.kind == .initiatorName }.map { NodeACLConfiguration(initiatorName: $0.value, auth: $0.auth) }
    }

    /// tgt's address rules, "ALL" included.
    public var addressRules: [String] { access.filter { $0.kind == .address }.map(\.value) }

    /// LIO's generate_node_acls: the same thing as tgt's `-I ALL`.
    public var generateNodeACLs: Bool {
        get { access.contains { $0.isAll } }
        set {
            if newValue {
                if !generateNodeACLs { access.append(.address("ALL")) }
            } else {
                access.removeAll { $0.isAll }
            }
        }
    }

    /// The index of the node ACL of `name` (names compare case-insensitively).
    public func nodeACLIndex(_ name: String) -> Int? {
        access.firstIndex { $0.kind == .initiatorName && $0.value.lowercased() == name.lowercased() }
    }
}

extension TargetConfiguration {
    private enum CodingKeys: String, CodingKey {
        case tid, name, luns, access, incomingUsers, outgoingUser, authentication, state, portalGroups
        // Version 1 kept the ACL in two lists and LIO's settings apart.
        case addressRules, nodeACLs, generateNodeACLs
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tid = try container.decode(Int.self, forKey: .tid)
        name = try container.decode(String.self, forKey: .name)
        luns = try container.decodeIfPresent([LUNConfiguration].self, forKey: .luns) ?? []
        incomingUsers = try container.decodeIfPresent([String].self, forKey: .incomingUsers) ?? []
        outgoingUser = try container.decodeIfPresent(String.self, forKey: .outgoingUser)
        authentication = try container.decodeIfPresent(Bool.self, forKey: .authentication)
        state = try container.decodeIfPresent(String.self, forKey: .state) ?? "ready"
        portalGroups = try container.decodeIfPresent([UInt16].self, forKey: .portalGroups)
        if let access = try container.decodeIfPresent([AccessEntry].self, forKey: .access) {
            self.access = access
        } else {
            let addresses = try container.decodeIfPresent([String].self, forKey: .addressRules) ?? []
            let names = try container.decodeIfPresent([NodeACLConfiguration].self, forKey: .nodeACLs) ?? []
            access = addresses.map(AccessEntry.address) + names.map { .initiatorName($0.initiatorName, auth: $0.auth) }
            if try container.decodeIfPresent(Bool.self, forKey: .generateNodeACLs) == true { generateNodeACLs = true }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tid, forKey: .tid)
        try container.encode(name, forKey: .name)
        try container.encode(luns, forKey: .luns)
        try container.encode(access, forKey: .access)
        try container.encode(incomingUsers, forKey: .incomingUsers)
        try container.encodeIfPresent(outgoingUser, forKey: .outgoingUser)
        try container.encodeIfPresent(authentication, forKey: .authentication)
        try container.encode(state, forKey: .state)
        try container.encodeIfPresent(portalGroups, forKey: .portalGroups)
    }
}
