import NIOCore

/// Reject (RFC 7143 §11.17). The data segment is the rejected PDU's BHS.
public struct Reject: Hashable, Sendable {
    public struct Reason: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let dataDigestError = Reason(rawValue: 0x02)
        public static let snackReject = Reason(rawValue: 0x03)
        public static let protocolError = Reason(rawValue: 0x04)
        public static let commandNotSupported = Reason(rawValue: 0x05)
        public static let immediateCommandRejected = Reason(rawValue: 0x06)
        public static let taskInProgress = Reason(rawValue: 0x07)
        public static let invalidDataAck = Reason(rawValue: 0x08)
        public static let invalidPDUField = Reason(rawValue: 0x09)
        public static let longOperationReject = Reason(rawValue: 0x0a)
        public static let negotiationReset = Reason(rawValue: 0x0b)
        public static let waitingForLogout = Reason(rawValue: 0x0c)
    }

    public var reason: Reason
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    /// DataSN or R2TSN for a rejected SNACK, else 0.
    public var dataSN: UInt32
    /// The complete header of the rejected PDU (48 bytes).
    public var dataSegment: ByteBuffer

    public init(
        reason: Reason, statSN: UInt32 = 0, expCmdSN: UInt32 = 0, maxCmdSN: UInt32 = 0, dataSN: UInt32 = 0,
        dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.reason = reason
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.dataSN = dataSN
        self.dataSegment = dataSegment
    }
}

extension Reject: PDUCodable {
    static var opcode: ISCSIOpcode { .reject }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            reason: Reason(rawValue: bhs.uint8(2)), statSN: bhs.uint32(24), expCmdSN: bhs.uint32(28),
            maxCmdSN: bhs.uint32(32), dataSN: bhs.uint32(36), dataSegment: frame.dataSegment)
    }

    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit, at: 1, in: &buffer)
        w.set(reason.rawValue, at: 2, in: &buffer)
        w.set(ISCSITag.reserved, at: BHS.initiatorTaskTag, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
        w.set(dataSN, at: 36, in: &buffer)
    }
}
