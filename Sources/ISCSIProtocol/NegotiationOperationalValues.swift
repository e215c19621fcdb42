/// The operational keys both sides configure the same way (RFC 7143 section 13). The initiator's
/// and the target's configurations share their text values and their clamping through this.
protocol OperationalValues {
    var maxRecvDataSegmentLength: Int { get set }
    var maxBurstLength: Int { get set }
    var firstBurstLength: Int { get set }
    var initialR2T: Bool { get }
    var immediateData: Bool { get }
    var maxOutstandingR2T: Int { get set }
    var maxConnections: Int { get set }
    var errorRecoveryLevel: Int { get set }
    var dataPDUInOrder: Bool { get }
    var dataSequenceInOrder: Bool { get }
    var defaultTime2Wait: Int { get set }
    var defaultTime2Retain: Int { get set }
}

extension OperationalValues {
    /// Our value for one of the shared keys, as text; nil for any other key.
    func operationalValue(for key: String) -> String? {
        switch key {
        case "MaxConnections": return TextValue.encode(maxConnections)
        case "InitialR2T": return TextValue.encode(initialR2T)
        case "ImmediateData": return TextValue.encode(immediateData)
        case "MaxBurstLength": return TextValue.encode(maxBurstLength)
        case "FirstBurstLength": return TextValue.encode(firstBurstLength)
        case "DefaultTime2Wait": return TextValue.encode(defaultTime2Wait)
        case "DefaultTime2Retain": return TextValue.encode(defaultTime2Retain)
        case "MaxOutstandingR2T": return TextValue.encode(maxOutstandingR2T)
        case "DataPDUInOrder": return TextValue.encode(dataPDUInOrder)
        case "DataSequenceInOrder": return TextValue.encode(dataSequenceInOrder)
        case "ErrorRecoveryLevel": return TextValue.encode(errorRecoveryLevel)
        default: return nil
        }
    }

    /// Every shared number inside its legal range, FirstBurstLength not above MaxBurstLength.
    mutating func clampOperationalValues() {
        let clamp = TextKeyRegistry.clamp
        let lengths = TextKeyRegistry.lengthRange
        maxRecvDataSegmentLength = clamp(maxRecvDataSegmentLength, lengths)
        maxBurstLength = clamp(maxBurstLength, lengths)
        firstBurstLength = min(clamp(firstBurstLength, lengths), maxBurstLength)
        maxOutstandingR2T = clamp(maxOutstandingR2T, 1...65535)
        maxConnections = clamp(maxConnections, 1...65535)
        errorRecoveryLevel = clamp(errorRecoveryLevel, 0...2)
        defaultTime2Wait = clamp(defaultTime2Wait, TextKeyRegistry.time2Range)
        defaultTime2Retain = clamp(defaultTime2Retain, TextKeyRegistry.time2Range)
    }
}
