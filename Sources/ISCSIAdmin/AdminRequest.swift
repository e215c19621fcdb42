/// What a `tgtadm` request acts on (tgt's `--mode`).
public enum AdminMode: String, Codable, Sendable, CaseIterable {
    case system, target, logicalUnit = "logicalunit", portal, lld, session, connection, account
    /// LIO's objects: named storage objects, node ACLs with their own CHAP, TPG attributes and
    /// auth, and the whole configuration. targetcli sends all of them; tgtadm spells node ACLs
    /// and TPG attributes (`--mode nodeacl`, `--mode tpg`, ours: tgt has neither) so that
    /// tgt-admin can rebuild what targetcli made.
    case storageObject = "storageobject", nodeACL = "nodeacl", tpg, configuration

    /// Parses tgtadm's spellings, including the short aliases ("tgt", "lu", "sys", ...).
    public init?(tgtadmName name: String) {
        switch name {
        case "system", "sys": self = .system
        case "target", "tgt": self = .target
        case "logicalunit", "lu": self = .logicalUnit
        case "portal", "pt": self = .portal
        case "session", "sess": self = .session
        case "connection", "conn": self = .connection
        case "account": self = .account
        case "lld": self = .lld
        case "nodeacl": self = .nodeACL
        case "tpg": self = .tpg
        default: return nil
        }
    }
}

/// The action of a `tgtadm` request (tgt's `--op`).
public enum AdminOperation: String, Codable, Sendable, CaseIterable {
    case new, delete, show, bind, unbind, update, stat, start, stop

    /// tgt's numeric code, which tgtadm prints in one of its messages.
    var tgtCode: Int {
        Self.allCases.firstIndex(of: self)!
    }
}

/// One control-plane request, carrying tgtadm's arguments as given.
///
/// Absent arguments are nil. Values the daemon interprets (block size, parameters, flags) stay the
/// strings the user typed, as tgtadm forwards them to tgtd, so the daemon produces tgt's answers.
public struct AdminRequest: Codable, Sendable, Equatable {
    /// Low-level driver (`--lld`); nil means tgt's first driver, "iscsi".
    public var lld: String?
    public var mode: AdminMode
    public var op: AdminOperation
    /// Target id (`--tid`); nil when absent. For account bind/unbind a nil tid means the global
    /// (discovery) account, tgt's GLOBAL_TID.
    public var tid: Int32?
    public var lun: UInt64?
    public var sid: UInt64?
    public var cid: UInt32?
    public var targetName: String?
    public var backingStore: String?
    public var bsType: String?
    /// `--bsopts`, backing-store specific options.
    public var bsOpts: String?
    /// `--bsoflags`: "sync", "direct" or "sync:direct".
    public var bsOFlags: String?
    /// `--blocksize`, unvalidated.
    public var blockSize: String?
    /// `--device-type` as typed ("disk", "cd", "tape", ...).
    public var deviceType: String?
    /// `--params`: comma-separated key=value pairs (logical unit update, portal new/delete).
    public var params: String?
    public var initiatorAddress: String?
    public var initiatorName: String?
    public var user: String?
    public var password: String?
    public var outgoing: Bool
    public var force: Bool
    /// `--name` / `--value` of an update.
    public var name: String?
    public var value: String?
    /// A named storage object (LIO's backstore): created with mode storageobject, mapped as a
    /// LUN with mode logicalunit (then `lun` may be nil: the daemon picks the lowest free one).
    public var storageObject: String?
    /// Storage object size in bytes (fileio to create, ramdisk).
    public var size: UInt64?
    /// Mutual CHAP of a node ACL or TPG (user/password are the initiator's credentials). For
    /// nodeacl/tpg updates, a nil credential field is left unchanged and "" clears it.
    public var mutualUser: String?
    public var mutualPassword: String?
    /// target new: choose the tid (LIO has none); the answer's output is the tid.
    public var allocateTID: Bool?

    public init(
        lld: String? = nil, mode: AdminMode, op: AdminOperation, tid: Int32? = nil, lun: UInt64? = nil,
        sid: UInt64? = nil, cid: UInt32? = nil, targetName: String? = nil, backingStore: String? = nil,
        bsType: String? = nil, bsOpts: String? = nil, bsOFlags: String? = nil, blockSize: String? = nil,
        deviceType: String? = nil, params: String? = nil, initiatorAddress: String? = nil,
        initiatorName: String? = nil, user: String? = nil, password: String? = nil, outgoing: Bool = false,
        force: Bool = false, name: String? = nil, value: String? = nil, storageObject: String? = nil,
        size: UInt64? = nil, mutualUser: String? = nil, mutualPassword: String? = nil, allocateTID: Bool? = nil
    ) {
        self.storageObject = storageObject
        self.size = size
        self.mutualUser = mutualUser
        self.mutualPassword = mutualPassword
        self.allocateTID = allocateTID
        self.lld = lld
        self.mode = mode
        self.op = op
        self.tid = tid
        self.lun = lun
        self.sid = sid
        self.cid = cid
        self.targetName = targetName
        self.backingStore = backingStore
        self.bsType = bsType
        self.bsOpts = bsOpts
        self.bsOFlags = bsOFlags
        self.blockSize = blockSize
        self.deviceType = deviceType
        self.params = params
        self.initiatorAddress = initiatorAddress
        self.initiatorName = initiatorName
        self.user = user
        self.password = password
        self.outgoing = outgoing
        self.force = force
        self.name = name
        self.value = value
    }
}

/// The daemon's answer. tgtadm prints `output` verbatim on stdout, then `message` (if any) on
/// stderr as "tgtadm: <message>", and exits with `exitCode`.
public struct AdminResponse: Codable, Sendable, Equatable {
    public var exitCode: Int32
    public var message: String?
    public var output: String

    public init(exitCode: Int32 = 0, message: String? = nil, output: String = "") {
        self.exitCode = exitCode
        self.message = message
        self.output = output
    }

    public static func success(_ output: String = "") -> AdminResponse {
        AdminResponse(output: output)
    }

    public static func failure(_ error: TgtadmError) -> AdminResponse {
        AdminResponse(exitCode: TgtadmError.exitCode, message: error.message)
    }

    /// The answer to a peer that is not allowed to administer the daemon.
    public static let permissionDenied = AdminResponse(exitCode: 1 /* EPERM */, message: "permission denied")
}
