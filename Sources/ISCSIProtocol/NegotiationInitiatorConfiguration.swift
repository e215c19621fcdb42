/// What the initiator offers. Lists are in our order of preference; numbers
/// outside their key's legal range are clamped into it.
public struct InitiatorNegotiationConfiguration: Hashable, Sendable, OperationalValues {
    public var initiatorName: String
    public var initiatorAlias: String?
    /// Required for normal sessions, absent for discovery.
    public var targetName: String?
    public var sessionType: SessionType
    /// Offered in this order; include `.none` to allow a login without authentication.
    public var authMethods: [AuthMethod] = [.none]
    /// Offered in this order; leave out `.none` to insist on a digest.
    public var headerDigests: [DigestAlgorithm] = [.none]
    public var dataDigests: [DigestAlgorithm] = [.none]
    /// Declared to the target: the largest data segment we accept.
    public var maxRecvDataSegmentLength = 262_144
    public var maxBurstLength = 262_144
    public var firstBurstLength = 65_536
    public var initialR2T = true
    public var immediateData = true
    public var maxOutstandingR2T = 1
    public var maxConnections = 1
    public var errorRecoveryLevel = 0
    public var dataPDUInOrder = true
    public var dataSequenceInOrder = true
    public var defaultTime2Wait = 2
    public var defaultTime2Retain = 20
    public var limits = NegotiationLimits()

    public init(initiatorName: String, targetName: String? = nil, sessionType: SessionType = .normal) {
        self.initiatorName = initiatorName
        self.targetName = targetName
        self.sessionType = sessionType
    }

    /// Our value for a negotiated key, as text: offers are built from it, and
    /// it answers keys the target offers on its own.
    func localValue(for key: String) -> String? {
        switch key {
        case "AuthMethod": return TextValue.encodeList(authMethods.map(\.rawValue))
        case "HeaderDigest": return TextValue.encodeList(headerDigests.map(\.rawValue))
        case "DataDigest": return TextValue.encodeList(dataDigests.map(\.rawValue))
        case "TaskReporting": return "RFC3720"
        case "iSCSIProtocolLevel": return "1"
        default: return operationalValue(for: key)
        }
    }

    func clamped() -> Self {
        var copy = self
        copy.clampOperationalValues()
        return copy
    }
}
