/// The target's own values and limits for negotiation. Numbers outside their
/// key's legal range are clamped into it when the negotiator is created.
public struct TargetNegotiationConfiguration: Hashable, Sendable, OperationalValues {
    /// Declared to the initiator: the largest data segment we accept.
    public var maxRecvDataSegmentLength = 262_144
    public var maxBurstLength = 262_144
    public var firstBurstLength = 65_536
    public var immediateData = true
    /// Yes means we want every write to wait for an R2T.
    public var initialR2T = true
    public var maxOutstandingR2T = 1
    public var maxConnections = 1
    /// Highest error recovery level we implement.
    public var errorRecoveryLevel = 0
    /// Digests we accept. Leaving out `.none` makes a digest mandatory.
    public var headerDigests: Set<DigestAlgorithm> = [.crc32c, .none]
    public var dataDigests: Set<DigestAlgorithm> = [.crc32c, .none]
    /// Yes means we need Data-Out PDUs / sequences in order.
    public var dataPDUInOrder = true
    public var dataSequenceInOrder = true
    public var defaultTime2Wait = 2
    public var defaultTime2Retain = 20
    /// Authentication methods we accept. `[.chap]` makes CHAP mandatory.
    public var authMethods: Set<AuthMethod> = [.none]
    /// TaskReporting values we support.
    public var taskReporting: Set<String> = ["RFC3720"]
    public var protocolLevel = 1
    public var limits = NegotiationLimits()

    public init() {}

    public var requiresAuthentication: Bool { !authMethods.contains(.none) }

    /// Our value for a negotiated key, as text for `NegotiationRules`.
    func localValue(for key: String) -> String? {
        switch key {
        case "HeaderDigest": return TextValue.encodeList(headerDigests.map(\.rawValue))
        case "DataDigest": return TextValue.encodeList(dataDigests.map(\.rawValue))
        case "AuthMethod": return TextValue.encodeList(authMethods.map(\.rawValue))
        case "TaskReporting": return TextValue.encodeList(Array(taskReporting))
        case "iSCSIProtocolLevel": return TextValue.encode(protocolLevel)
        default: return operationalValue(for: key)
        }
    }

    /// A copy with every number inside its legal range and FirstBurstLength
    /// not above MaxBurstLength.
    func clamped() -> Self {
        let clamp = TextKeyRegistry.clamp
        var copy = self
        copy.clampOperationalValues()
        copy.protocolLevel = clamp(protocolLevel, 0...31)
        return copy
    }
}
