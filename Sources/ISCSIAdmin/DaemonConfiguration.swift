/// The daemon's whole configuration: what tgtadm, tgt-admin and targetcli change, what `--op show`
/// and `targetcli ls` print, and what survives a restart. One model for every front end: tgt's
/// view (targets with LUNs on backing paths, accounts, address ACLs) and LIO's (named storage
/// objects, node ACLs with their own CHAP, TPG attributes) are two ways of editing it.
public struct DaemonConfiguration: Codable, Equatable, Sendable {
    /// Bumped when the saved form changes incompatibly.
    public static let currentVersion = 1

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
}

public struct PortalConfiguration: Codable, Equatable, Hashable, Sendable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
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

    public init(
        name: String, kind: Kind, path: String? = nil, size: UInt64? = nil, readOnly: Bool = false,
        writeCache: Bool? = nil, serial: String? = nil, bsType: String? = nil, openFlags: String? = nil
    ) {
        self.bsType = bsType
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

    public init(lun: UInt64, storageObject: String, blockSize: Int = 512, parameters: [String] = []) {
        self.lun = lun
        self.storageObject = storageObject
        self.blockSize = blockSize
        self.parameters = parameters
    }
}

/// An initiator allowed by name (tgt's --initiator-name, LIO's node ACL).
public struct NodeACLConfiguration: Codable, Equatable, Sendable {
    public var initiatorName: String
    public var auth = CHAPCredentials()

    public init(initiatorName: String, auth: CHAPCredentials = CHAPCredentials()) {
        self.initiatorName = initiatorName
        self.auth = auth
    }
}

public struct TargetConfiguration: Codable, Equatable, Sendable {
    public var tid: Int
    public var name: String
    public var luns: [LUNConfiguration] = []
    /// tgt's -I rules: "ALL", an address, or a CIDR network.
    public var addressRules: [String] = []
    public var nodeACLs: [NodeACLConfiguration] = []
    /// tgt's bound accounts.
    public var incomingUsers: [String] = []
    public var outgoingUser: String?
    /// LIO's TPG attribute `authentication`: nil follows tgt's rule (CHAP when accounts are bound).
    public var authentication: Bool?
    /// LIO's `generate_node_acls`: any initiator may log in, as with tgt's `-I ALL`.
    public var generateNodeACLs = false
    /// LIO's TPG-wide CHAP credentials, used with generate_node_acls.
    public var tpgAuth = CHAPCredentials()
    /// tgt's target state: "ready" or "offline".
    public var state = "ready"

    public init(tid: Int, name: String) {
        self.tid = tid
        self.name = name
    }
}
