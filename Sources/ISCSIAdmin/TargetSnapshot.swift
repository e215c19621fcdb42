/// Everything `tgtadm --op show --mode target` prints about one target, gathered by the daemon.
public struct TargetSnapshot: Codable, Sendable, Equatable {
    public var tid: Int32
    public var name: String
    /// tgt's driver name, "iscsi".
    public var driver: String
    /// "ready" or "offline".
    public var state: String
    /// NOP-In interval in seconds; printed (with `nopCount`) only when non-zero, as tgt does.
    public var nopInterval: Int
    public var nopCount: Int
    /// I_T nexuses (sessions) in the order to print.
    public var nexuses: [Nexus]
    /// Logical units in LUN order, including tgt's LUN 0 controller.
    public var luns: [LogicalUnit]
    public var accounts: Accounts
    public var acl: AccessList

    public init(
        tid: Int32, name: String, driver: String = "iscsi", state: String = "ready", nopInterval: Int = 0,
        nopCount: Int = 0, nexuses: [Nexus] = [], luns: [LogicalUnit] = [], accounts: Accounts = Accounts(),
        acl: AccessList = AccessList()
    ) {
        self.tid = tid
        self.name = name
        self.driver = driver
        self.state = state
        self.nopInterval = nopInterval
        self.nopCount = nopCount
        self.nexuses = nexuses
        self.luns = luns
        self.accounts = accounts
        self.acl = acl
    }

    public struct Nexus: Codable, Sendable, Equatable {
        /// tgt prints the session's TSIH here.
        public var id: UInt64
        public var initiatorName: String
        /// InitiatorAlias, or nil ("none").
        public var alias: String?
        public var connections: [Connection]

        public init(id: UInt64, initiatorName: String, alias: String? = nil, connections: [Connection]) {
            self.id = id
            self.initiatorName = initiatorName
            self.alias = alias
            self.connections = connections
        }
    }

    public struct Connection: Codable, Sendable, Equatable {
        public var cid: UInt32
        /// The initiator's numeric address, without port or brackets ("127.0.0.1", "::1").
        public var address: String

        public init(cid: UInt32, address: String) {
            self.cid = cid
            self.address = address
        }
    }

    public struct LogicalUnit: Codable, Sendable, Equatable {
        public var lun: UInt64
        /// tgt's type name: "disk", "controller", "cd/dvd", "tape", "changer", "osd", "passthrough".
        public var type: String
        public var scsiID: String
        public var scsiSN: String
        public var sizeBytes: UInt64
        public var blockSize: UInt32
        public var online: Bool
        public var removable: Bool
        public var preventRemoval: Bool
        public var readonly: Bool
        public var swp: Bool
        public var thinProvisioning: Bool
        /// Backing store type ("rdwr", "null", ...), nil printed as "None".
        public var bsType: String?
        /// Backing store path, nil printed as "None".
        public var bsPath: String?
        /// "", "sync", "direct" or "sync:direct".
        public var bsFlags: String

        public init(
            lun: UInt64, type: String = "disk", scsiID: String, scsiSN: String, sizeBytes: UInt64,
            blockSize: UInt32 = 512, online: Bool = true, removable: Bool = false, preventRemoval: Bool = false,
            readonly: Bool = false, swp: Bool = false, thinProvisioning: Bool = false, bsType: String?,
            bsPath: String?, bsFlags: String = ""
        ) {
            self.lun = lun
            self.type = type
            self.scsiID = scsiID
            self.scsiSN = scsiSN
            self.sizeBytes = sizeBytes
            self.blockSize = blockSize
            self.online = online
            self.removable = removable
            self.preventRemoval = preventRemoval
            self.readonly = readonly
            self.swp = swp
            self.thinProvisioning = thinProvisioning
            self.bsType = bsType
            self.bsPath = bsPath
            self.bsFlags = bsFlags
        }
    }

    public struct Accounts: Codable, Sendable, Equatable {
        public var incomingUsers: [String]
        public var outgoingUser: String?

        public init(incomingUsers: [String] = [], outgoingUser: String? = nil) {
            self.incomingUsers = incomingUsers
            self.outgoingUser = outgoingUser
        }
    }

    /// tgt prints address rules first, then initiator-name rules, each in the order bound.
    public struct AccessList: Codable, Sendable, Equatable {
        public var addresses: [String]
        public var initiatorNames: [String]

        public init(addresses: [String] = [], initiatorNames: [String] = []) {
            self.addresses = addresses
            self.initiatorNames = initiatorNames
        }
    }
}
