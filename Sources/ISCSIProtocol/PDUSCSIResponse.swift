import NIOCore

/// SCSI Response (RFC 7143 §11.4).
public struct SCSIResponse: Hashable, Sendable {
    /// iSCSI service response (byte 2).
    public struct Response: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let commandCompleted = Response(rawValue: 0x00)
        public static let targetFailure = Response(rawValue: 0x01)
    }

    /// o: the bidirectional read residual overflowed.
    public var bidirectionalReadResidualOverflow: Bool
    /// u: the bidirectional read residual underflowed.
    public var bidirectionalReadResidualUnderflow: Bool
    /// O: residual overflow (the initiator's buffer was too small).
    public var residualOverflow: Bool
    /// U: residual underflow (less data than expected).
    public var residualUnderflow: Bool
    public var response: Response
    /// SCSI status (e.g. 0x00 GOOD, 0x02 CHECK CONDITION); valid when `response` is completed.
    public var status: UInt8
    public var initiatorTaskTag: UInt32
    public var snackTag: UInt32
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    public var expDataSN: UInt32
    public var bidirectionalReadResidualCount: UInt32
    public var residualCount: UInt32
    /// SenseLength (2 bytes, big-endian) followed by sense data, or empty.
    public var dataSegment: ByteBuffer

    public init(
        bidirectionalReadResidualOverflow: Bool = false, bidirectionalReadResidualUnderflow: Bool = false,
        residualOverflow: Bool = false, residualUnderflow: Bool = false,
        response: Response = .commandCompleted, status: UInt8 = 0, initiatorTaskTag: UInt32 = 0,
        snackTag: UInt32 = 0, statSN: UInt32 = 0, expCmdSN: UInt32 = 0, maxCmdSN: UInt32 = 0,
        expDataSN: UInt32 = 0, bidirectionalReadResidualCount: UInt32 = 0, residualCount: UInt32 = 0,
        dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.bidirectionalReadResidualOverflow = bidirectionalReadResidualOverflow
        self.bidirectionalReadResidualUnderflow = bidirectionalReadResidualUnderflow
        self.residualOverflow = residualOverflow
        self.residualUnderflow = residualUnderflow
        self.response = response
        self.status = status
        self.initiatorTaskTag = initiatorTaskTag
        self.snackTag = snackTag
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.expDataSN = expDataSN
        self.bidirectionalReadResidualCount = bidirectionalReadResidualCount
        self.residualCount = residualCount
        self.dataSegment = dataSegment
    }

    /// The sense bytes inside `dataSegment` (a slice), or nil when the segment is
    /// empty or its SenseLength overruns it.
    public var senseData: ByteBuffer? {
        var segment = dataSegment
        guard let length = segment.readInteger(as: UInt16.self) else { return nil }
        return segment.readSlice(length: Int(length))
    }
}

extension SCSIResponse: PDUCodable {
    static var opcode: ISCSIOpcode { .scsiResponse }

    private enum Bits {
        static let bidiOverflow: UInt8 = 0x10
        static let bidiUnderflow: UInt8 = 0x08
        static let overflow: UInt8 = 0x04
        static let underflow: UInt8 = 0x02
    }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            bidirectionalReadResidualOverflow: bhs.flag(Bits.bidiOverflow),
            bidirectionalReadResidualUnderflow: bhs.flag(Bits.bidiUnderflow),
            residualOverflow: bhs.flag(Bits.overflow), residualUnderflow: bhs.flag(Bits.underflow),
            response: Response(rawValue: bhs.uint8(2)), status: bhs.uint8(3),
            initiatorTaskTag: bhs.initiatorTaskTag, snackTag: bhs.uint32(20), statSN: bhs.uint32(24),
            expCmdSN: bhs.uint32(28), maxCmdSN: bhs.uint32(32), expDataSN: bhs.uint32(36),
            bidirectionalReadResidualCount: bhs.uint32(40), residualCount: bhs.uint32(44),
            dataSegment: frame.dataSegment)
    }

    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        var flags = BHS.finalBit
        if bidirectionalReadResidualOverflow { flags |= Bits.bidiOverflow }
        if bidirectionalReadResidualUnderflow { flags |= Bits.bidiUnderflow }
        if residualOverflow { flags |= Bits.overflow }
        if residualUnderflow { flags |= Bits.underflow }
        w.set(flags, at: 1, in: &buffer)
        w.set(response.rawValue, at: 2, in: &buffer)
        w.set(status, at: 3, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(snackTag, at: 20, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
        w.set(expDataSN, at: 36, in: &buffer)
        w.set(bidirectionalReadResidualCount, at: 40, in: &buffer)
        w.set(residualCount, at: 44, in: &buffer)
    }
}
