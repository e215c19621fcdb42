/// The values in force after negotiation, seen from either side. Every field
/// starts at its RFC 7143 default and changes only when a key settles.
public struct NegotiatedParameters: Hashable, Sendable {
    public var headerDigest = false
    public var dataDigest = false
    /// What the initiator declared it can receive: the most the target may put
    /// in one data segment.
    public var initiatorMaxRecvDataSegmentLength = 8192
    /// What the target declared it can receive: the most the initiator may put
    /// in one data segment.
    public var targetMaxRecvDataSegmentLength = 8192
    public var maxBurstLength = 262_144 {
        didSet { firstBurstLength = min(firstBurstLength, maxBurstLength) }
    }
    /// Never above `maxBurstLength`: the RFC forbids it, so it is clamped, even
    /// when a peer settles FirstBurstLength before a smaller MaxBurstLength.
    public var firstBurstLength = 65_536 {
        didSet { if firstBurstLength > maxBurstLength { firstBurstLength = maxBurstLength } }
    }
    public var initialR2T = true
    public var immediateData = true
    public var maxOutstandingR2T = 1
    public var dataPDUInOrder = true
    public var dataSequenceInOrder = true
    public var defaultTime2Wait = 2
    public var defaultTime2Retain = 20
    public var errorRecoveryLevel = 0
    public var maxConnections = 1
    public var taskReporting = "RFC3720"
    public var protocolLevel = 1
    public var authMethod = AuthMethod.none
    public var sessionType = SessionType.normal
    public var initiatorName: String?
    public var initiatorAlias: String?
    public var targetName: String?
    public var targetAlias: String?
    public var targetAddress: String?
    public var targetPortalGroupTag: Int?

    public init() {}

    /// Applies a settled value. The value was validated against the key's
    /// definition, so parse failures cannot happen and are ignored.
    mutating func record(key: String, value: String) {
        let number = TextValue.number(value).flatMap { Int(exactly: $0) }
        let flag = TextValue.boolean(value)
        switch key {
        case "HeaderDigest": headerDigest = value == DigestAlgorithm.crc32c.rawValue
        case "DataDigest": dataDigest = value == DigestAlgorithm.crc32c.rawValue
        case "MaxBurstLength": maxBurstLength = number ?? maxBurstLength
        case "FirstBurstLength": firstBurstLength = number ?? firstBurstLength
        case "InitialR2T": initialR2T = flag ?? initialR2T
        case "ImmediateData": immediateData = flag ?? immediateData
        case "MaxOutstandingR2T": maxOutstandingR2T = number ?? maxOutstandingR2T
        case "DataPDUInOrder": dataPDUInOrder = flag ?? dataPDUInOrder
        case "DataSequenceInOrder": dataSequenceInOrder = flag ?? dataSequenceInOrder
        case "DefaultTime2Wait": defaultTime2Wait = number ?? defaultTime2Wait
        case "DefaultTime2Retain": defaultTime2Retain = number ?? defaultTime2Retain
        case "ErrorRecoveryLevel": errorRecoveryLevel = number ?? errorRecoveryLevel
        case "MaxConnections": maxConnections = number ?? maxConnections
        case "TaskReporting": taskReporting = value
        case "iSCSIProtocolLevel": protocolLevel = number ?? protocolLevel
        case "AuthMethod": authMethod = AuthMethod(rawValue: value) ?? authMethod
        case "SessionType": sessionType = SessionType(rawValue: value) ?? sessionType
        case "InitiatorName": initiatorName = value
        case "InitiatorAlias": initiatorAlias = value
        case "TargetName": targetName = value
        case "TargetAlias": targetAlias = value
        case "TargetAddress": targetAddress = value
        case "TargetPortalGroupTag": targetPortalGroupTag = number
        default: break
        }
    }
}
