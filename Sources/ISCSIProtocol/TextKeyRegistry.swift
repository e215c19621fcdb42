/// Every key RFC 7143 defines, with its semantics. Keys not listed here,
/// including private `X-` and public `X#` extensions we do not implement, are
/// answered with NotUnderstood.
public enum TextKeyRegistry {
    public typealias Definition = TextKeyDefinition

    /// Limits of the numerical operational keys.
    public static let lengthRange = 512...16_777_215
    public static let time2Range = 0...3600

    public static let definitions: [TextKeyDefinition] = securityKeys + declarativeKeys + operationalKeys + obsoleteKeys

    private static let byName: [String: TextKeyDefinition] = Dictionary(
        uniqueKeysWithValues: definitions.map { ($0.name, $0) }
    )

    static func clamp(_ value: Int, _ range: ClosedRange<Int>) -> Int {
        min(max(value, range.lowerBound), range.upperBound)
    }

    public static func definition(for key: String) -> TextKeyDefinition? {
        byName[key]
    }

    /// `X-vendor...` private keys and `X#...` IANA-registered public extension keys.
    public static func isExtensionKey(_ key: String) -> Bool {
        key.hasPrefix("X-") || key.hasPrefix("X#")
    }

    // MARK: Section 12: security negotiation

    private static let securityKeys: [Definition] = [
        Definition(
            name: "AuthMethod", negotiation: .list, format: .tokens(["KRB5", "SRP", "CHAP", "None"]),
            use: .initializeOnly, scope: .connection, senders: .both, stage: .security, defaultValue: "None"
        ),
    ] + ["CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R"].map(authenticationKey)
        + ["SRP_U", "SRP_GROUP", "SRP_A", "SRP_B", "SRP_M", "SRP_HM", "SRP_s", "TargetAuth"].map(authenticationKey)
        + ["KRB_AP_REQ", "KRB_AP_REP"].map(authenticationKey)

    private static func authenticationKey(_ name: String) -> Definition {
        Definition(
            name: name, negotiation: .authentication, format: .text,
            use: .initializeOnly, scope: .connection, senders: .both, stage: .security
        )
    }

    // MARK: Section 13: declarations

    private static let declarativeKeys: [Definition] = [
        Definition(
            name: "SendTargets", negotiation: .declarative, format: .text,
            use: .fullFeatureOnly, scope: .session, senders: .initiator, stage: .any
        ),
        // IO when the initiator sends it; the target sends it in SendTargets answers.
        Definition(
            name: "TargetName", negotiation: .declarative, format: .text,
            use: .initializeOnly, scope: .session, senders: .both, stage: .any
        ),
        Definition(
            name: "InitiatorName", negotiation: .declarative, format: .text,
            use: .initializeOnly, scope: .session, senders: .initiator, stage: .any
        ),
        Definition(
            name: "TargetAlias", negotiation: .declarative, format: .text,
            use: .all, scope: .session, senders: .target, stage: .any
        ),
        Definition(
            name: "InitiatorAlias", negotiation: .declarative, format: .text,
            use: .all, scope: .session, senders: .initiator, stage: .any
        ),
        Definition(
            name: "TargetAddress", negotiation: .declarative, format: .text,
            use: .all, scope: .session, senders: .target, stage: .any
        ),
        Definition(
            name: "TargetPortalGroupTag", negotiation: .declarative, format: .number(0...65535),
            use: .initializeOnly, scope: .session, senders: .target, stage: .any
        ),
        Definition(
            name: "SessionType", negotiation: .declarative, format: .tokens(["Discovery", "Normal"]),
            use: .leadingOnly, scope: .session, senders: .initiator, stage: .any, defaultValue: "Normal"
        ),
        // Declared separately in each direction; says what the sender can receive.
        Definition(
            name: "MaxRecvDataSegmentLength", negotiation: .declarative, format: .number(lengthRange),
            use: .all, scope: .connection, senders: .both, stage: .operational, defaultValue: "8192"
        ),
    ]

    // MARK: Section 13: negotiated operational keys

    private static let operationalKeys: [Definition] = [
        Definition(
            name: "HeaderDigest", negotiation: .list, format: .tokens(["CRC32C", "None"]),
            use: .initializeOnly, scope: .connection, senders: .both, stage: .operational, defaultValue: "None"
        ),
        Definition(
            name: "DataDigest", negotiation: .list, format: .tokens(["CRC32C", "None"]),
            use: .initializeOnly, scope: .connection, senders: .both, stage: .operational, defaultValue: "None"
        ),
        sessionKey("MaxConnections", .minimum, .number(1...65535), default: "1", irrelevantInDiscovery: true),
        sessionKey("InitialR2T", .or, .boolean, default: "Yes", irrelevantInDiscovery: true),
        sessionKey("ImmediateData", .and, .boolean, default: "Yes", irrelevantInDiscovery: true),
        sessionKey("MaxBurstLength", .minimum, .number(lengthRange), default: "262144", irrelevantInDiscovery: true),
        // Also irrelevant when InitialR2T=Yes and ImmediateData=No; answering it anyway is harmless.
        sessionKey("FirstBurstLength", .minimum, .number(lengthRange), default: "65536", irrelevantInDiscovery: true),
        sessionKey("DefaultTime2Wait", .maximum, .number(time2Range), default: "2"),
        sessionKey("DefaultTime2Retain", .minimum, .number(time2Range), default: "20"),
        sessionKey("MaxOutstandingR2T", .minimum, .number(1...65535), default: "1", irrelevantInDiscovery: true),
        sessionKey("DataPDUInOrder", .or, .boolean, default: "Yes", irrelevantInDiscovery: true),
        sessionKey("DataSequenceInOrder", .or, .boolean, default: "Yes", irrelevantInDiscovery: true),
        sessionKey("ErrorRecoveryLevel", .minimum, .number(0...2), default: "0"),
        sessionKey(
            "TaskReporting", .list, .tokens(["RFC3720", "ResponseFence", "FastAbort"]),
            default: "RFC3720", irrelevantInDiscovery: true
        ),
        // Defined by RFC 7144: level 1 is RFC 7143, level 2 adds the RFC 7144 features.
        sessionKey("iSCSIProtocolLevel", .minimum, .number(0...31), default: "1"),
    ]

    private static func sessionKey(
        _ name: String, _ negotiation: Definition.Negotiation, _ format: Definition.ValueFormat,
        default value: String, irrelevantInDiscovery: Bool = false
    ) -> Definition {
        Definition(
            name: name, negotiation: negotiation, format: format, use: .leadingOnly, scope: .session,
            senders: .both, stage: .operational, defaultValue: value, irrelevantInDiscovery: irrelevantInDiscovery
        )
    }

    // MARK: Marker keys of RFC 3720, obsoleted by RFC 7143

    private static let obsoleteKeys: [Definition] = [
        obsoleteKey("OFMarker", .and, .boolean),
        obsoleteKey("IFMarker", .and, .boolean),
        obsoleteKey("OFMarkInt", .minimum, .number(1...65535)),
        obsoleteKey("IFMarkInt", .minimum, .number(1...65535)),
    ]

    private static func obsoleteKey(
        _ name: String, _ negotiation: Definition.Negotiation, _ format: Definition.ValueFormat
    ) -> Definition {
        Definition(
            name: name, negotiation: negotiation, format: format, use: .initializeOnly, scope: .connection,
            senders: .both, stage: .operational, isObsolete: true
        )
    }
}
