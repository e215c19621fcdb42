/// What `tgtadm --op show --mode system` reports: tgt 1.0.85's system_show (usr/target.c)
/// followed by its iscsi driver's isns_show, filled with what this daemon has.
public struct SystemSnapshot: Equatable, Sendable {
    public struct Driver: Equatable, Sendable {
        public var name: String
        public var state: String
        public init(name: String, state: String) {
            self.name = name
            self.state = state
        }
    }

    public struct BackingStore: Equatable, Sendable {
        public var name: String
        /// The --bsoflags it takes ("sync:direct"), printed as "(bsoflags ...)"; nil for none.
        public var openFlags: String?
        public init(name: String, openFlags: String? = nil) {
            self.name = name
            self.openFlags = openFlags
        }
    }

    /// tgt's iSNS settings (usr/iscsi/isns.c); tgt prints them even with iSNS off.
    public struct ISNS: Equatable, Sendable {
        public var enabled = false
        public var serverIP = ""
        public var serverPort = 3205
        public var accessControl = false
        public init() {}
    }

    public var state = "ready"
    public var debug = false
    public var drivers: [Driver] = []
    public var backingStores: [BackingStore] = []
    public var deviceTypes: [String] = []
    /// Accounts bound without --tid: they guard discovery sessions.
    public var discoveryIncomingUsers: [String] = []
    public var discoveryOutgoingUser: String?
    public var iSNS = ISNS()

    public init() {}
}

/// The values `tgtadm --op show --mode target --tid N` prints, in tgt's order (tgt's
/// show_nop_info, then show_iscsi_param over its session_keys). Only the keys an engine
/// negotiates or uses are printed: tgt's iSER keys (RDMAExtensions, TargetRecvDataSegmentLength,
/// InitiatorRecvDataSegmentLength, MaxOutstandingUnexpectedPDUs) are left out when nil.
public struct TargetParameterList: Equatable, Sendable {
    /// Seconds between pings of an idle connection; 0: none.
    public var nopInterval = 0
    /// Pings that may go unanswered before the connection is dropped; 0 with no pings.
    public var nopCount = 0
    public var maxRecvDataSegmentLength = 8192
    /// tgt prints "CRC32C" when the target offers CRC32C (with or without None), else "None".
    public var headerDigest = "None"
    public var dataDigest = "None"
    public var initialR2T = true
    public var maxOutstandingR2T = 1
    public var immediateData = true
    public var firstBurstLength = 65536
    public var maxBurstLength = 262_144
    public var dataPDUInOrder = true
    public var dataSequenceInOrder = true
    public var errorRecoveryLevel = 0
    /// The RFC 3720 markers: "No" to IFMarker/OFMarker and Reject to the intervals, as tgt.
    public var ifMarker = false
    public var ofMarker = false
    public var defaultTime2Wait = 2
    public var defaultTime2Retain = 20
    public var ofMarkInt = "Reject"
    public var ifMarkInt = "Reject"
    public var maxConnections = 1
    public var rdmaExtensions: Bool?
    public var targetRecvDataSegmentLength: Int?
    public var initiatorRecvDataSegmentLength: Int?
    public var maxOutstandingUnexpectedPDUs: Int?
    /// The largest data segment sent before the initiator declares its MaxRecvDataSegmentLength.
    public var maxXmitDataSegmentLength = 8192
    /// Commands a session may have queued (the CmdSN window).
    public var maxQueueCmd = 128

    public init() {}

    public var pairs: [(key: String, value: String)] {
        func yes(_ flag: Bool) -> String { flag ? "Yes" : "No" }
        var pairs: [(key: String, value: String)] = [
            ("nop_interval", "\(nopInterval)"), ("nop_count", "\(nopCount)"),
            ("MaxRecvDataSegmentLength", "\(maxRecvDataSegmentLength)"), ("HeaderDigest", headerDigest),
            ("DataDigest", dataDigest), ("InitialR2T", yes(initialR2T)), ("MaxOutstandingR2T", "\(maxOutstandingR2T)"),
            ("ImmediateData", yes(immediateData)), ("FirstBurstLength", "\(firstBurstLength)"),
            ("MaxBurstLength", "\(maxBurstLength)"), ("DataPDUInOrder", yes(dataPDUInOrder)),
            ("DataSequenceInOrder", yes(dataSequenceInOrder)), ("ErrorRecoveryLevel", "\(errorRecoveryLevel)"),
            ("IFMarker", yes(ifMarker)), ("OFMarker", yes(ofMarker)), ("DefaultTime2Wait", "\(defaultTime2Wait)"),
            ("DefaultTime2Retain", "\(defaultTime2Retain)"), ("OFMarkInt", ofMarkInt), ("IFMarkInt", ifMarkInt),
            ("MaxConnections", "\(maxConnections)"),
        ]
        if let rdmaExtensions { pairs.append(("RDMAExtensions", yes(rdmaExtensions))) }
        if let targetRecvDataSegmentLength { pairs.append(("TargetRecvDataSegmentLength", "\(targetRecvDataSegmentLength)")) }
        if let initiatorRecvDataSegmentLength {
            pairs.append(("InitiatorRecvDataSegmentLength", "\(initiatorRecvDataSegmentLength)"))
        }
        if let maxOutstandingUnexpectedPDUs {
            pairs.append(("MaxOutstandingUnexpectedPDUs", "\(maxOutstandingUnexpectedPDUs)"))
        }
        pairs.append(("MaxXmitDataSegmentLength", "\(maxXmitDataSegmentLength)"))
        pairs.append(("MaxQueueCmd", "\(maxQueueCmd)"))
        return pairs
    }
}

extension AdminTextFormatter {
    /// `--op show --mode system`, in tgt's layout. tgt's discovery-account block has its quirks,
    /// kept: the heading is indented like the entries and followed by an empty line. tgt prints
    /// the block only while an incoming account is bound (an outgoing one alone is not shown);
    /// here a bound outgoing account is shown as well.
    public static func system(_ system: SystemSnapshot) -> String {
        var text = "System:\n    State: \(system.state)\n    debug: \(system.debug ? "on" : "off")\n"
        text += "LLDs:\n" + system.drivers.map { "    \($0.name): \($0.state)\n" }.joined()
        text += "Backing stores:\n"
        for store in system.backingStores {
            text += "    \(store.name)" + (store.openFlags.map { " (bsoflags \($0))" } ?? "") + "\n"
        }
        text += "Device types:\n" + system.deviceTypes.map { "    \($0)\n" }.joined()
        if !system.discoveryIncomingUsers.isEmpty || system.discoveryOutgoingUser != nil {
            text += "    Account information:\n\n"
            text += system.discoveryIncomingUsers.map { "    \($0)\n" }.joined()
            if let user = system.discoveryOutgoingUser { text += "    \(user) (outgoing)\n" }
        }
        let isns = system.iSNS
        text += "iSNS:\n    iSNS=\(isns.enabled ? "On" : "Off")\n    iSNSServerIP=\(isns.serverIP)\n"
        text += "    iSNSServerPort=\(isns.serverPort)\n    iSNSAccessControl=\(isns.accessControl ? "On" : "Off")\n"
        return text
    }

    /// `--op show --mode target --tid N`.
    public static func targetParameters(_ list: TargetParameterList) -> String {
        parameters(list.pairs)
    }
}
