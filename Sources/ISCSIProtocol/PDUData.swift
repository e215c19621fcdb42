import NIOCore

/// SCSI Data-Out (RFC 7143 §11.7.1).
public struct DataOut: Hashable, Sendable {
    public var final: Bool
    public var lun: UInt64
    public var initiatorTaskTag: UInt32
    /// The R2T's TTT, or `ISCSITag.reserved` for unsolicited data.
    public var targetTransferTag: UInt32
    public var expStatSN: UInt32
    public var dataSN: UInt32
    public var bufferOffset: UInt32
    public var dataSegment: ByteBuffer

    public init(
        final: Bool = true, lun: UInt64 = 0, initiatorTaskTag: UInt32 = 0,
        targetTransferTag: UInt32 = ISCSITag.reserved, expStatSN: UInt32 = 0, dataSN: UInt32 = 0,
        bufferOffset: UInt32 = 0, dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.final = final
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.expStatSN = expStatSN
        self.dataSN = dataSN
        self.bufferOffset = bufferOffset
        self.dataSegment = dataSegment
    }
}

extension DataOut: PDUCodable {
    static var opcode: ISCSIOpcode { .dataOut }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            final: bhs.isFinal, lun: bhs.lun, initiatorTaskTag: bhs.initiatorTaskTag,
            targetTransferTag: bhs.uint32(20), expStatSN: bhs.uint32(28), dataSN: bhs.uint32(36),
            bufferOffset: bhs.uint32(40), dataSegment: frame.dataSegment)
    }

    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(final ? BHS.finalBit : 0, at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(targetTransferTag, at: 20, in: &buffer)
        w.set(expStatSN, at: 28, in: &buffer)
        w.set(dataSN, at: 36, in: &buffer)
        w.set(bufferOffset, at: 40, in: &buffer)
    }
}

/// SCSI Data-In (RFC 7143 §11.7.2). With `statusPresent` the final Data-In
/// also completes the command, replacing the SCSI Response.
public struct DataIn: Hashable, Sendable {
    public var final: Bool
    /// A: the target asks for a DataACK SNACK (ErrorRecoveryLevel > 0).
    public var acknowledge: Bool
    public var residualOverflow: Bool
    public var residualUnderflow: Bool
    /// S: `status`, StatSN and the residual fields are valid.
    public var statusPresent: Bool
    public var status: UInt8
    public var lun: UInt64
    public var initiatorTaskTag: UInt32
    /// Set with `acknowledge`, else `ISCSITag.reserved`.
    public var targetTransferTag: UInt32
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    public var dataSN: UInt32
    public var bufferOffset: UInt32
    public var residualCount: UInt32
    public var dataSegment: ByteBuffer

    public init(
        final: Bool = false, acknowledge: Bool = false, residualOverflow: Bool = false,
        residualUnderflow: Bool = false, statusPresent: Bool = false, status: UInt8 = 0, lun: UInt64 = 0,
        initiatorTaskTag: UInt32 = 0, targetTransferTag: UInt32 = ISCSITag.reserved, statSN: UInt32 = 0,
        expCmdSN: UInt32 = 0, maxCmdSN: UInt32 = 0, dataSN: UInt32 = 0, bufferOffset: UInt32 = 0,
        residualCount: UInt32 = 0, dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.final = final
        self.acknowledge = acknowledge
        self.residualOverflow = residualOverflow
        self.residualUnderflow = residualUnderflow
        self.statusPresent = statusPresent
        self.status = status
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.dataSN = dataSN
        self.bufferOffset = bufferOffset
        self.residualCount = residualCount
        self.dataSegment = dataSegment
    }
}

extension DataIn: PDUCodable {
    static var opcode: ISCSIOpcode { .dataIn }

    private enum Bits {
        static let acknowledge: UInt8 = 0x40
        static let overflow: UInt8 = 0x04
        static let underflow: UInt8 = 0x02
        static let status: UInt8 = 0x01
    }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            final: bhs.isFinal, acknowledge: bhs.flag(Bits.acknowledge), residualOverflow: bhs.flag(Bits.overflow),
            residualUnderflow: bhs.flag(Bits.underflow), statusPresent: bhs.flag(Bits.status),
            status: bhs.uint8(3), lun: bhs.lun, initiatorTaskTag: bhs.initiatorTaskTag,
            targetTransferTag: bhs.uint32(20), statSN: bhs.uint32(24), expCmdSN: bhs.uint32(28),
            maxCmdSN: bhs.uint32(32), dataSN: bhs.uint32(36), bufferOffset: bhs.uint32(40),
            residualCount: bhs.uint32(44), dataSegment: frame.dataSegment)
    }

    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        var flags: UInt8 = final ? BHS.finalBit : 0
        if acknowledge { flags |= Bits.acknowledge }
        if residualOverflow { flags |= Bits.overflow }
        if residualUnderflow { flags |= Bits.underflow }
        if statusPresent { flags |= Bits.status }
        w.set(flags, at: 1, in: &buffer)
        w.set(status, at: 3, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(targetTransferTag, at: 20, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
        w.set(dataSN, at: 36, in: &buffer)
        w.set(bufferOffset, at: 40, in: &buffer)
        w.set(residualCount, at: 44, in: &buffer)
    }
}
