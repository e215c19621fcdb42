import NIOCore

/// NOP-Out (RFC 7143 §11.18): initiator ping, or the answer to a NOP-In.
public struct NOPOut: Hashable, Sendable {
    public var immediate: Bool
    public var lun: UInt64
    /// `ISCSITag.reserved` when no NOP-In answer is wanted.
    public var initiatorTaskTag: UInt32
    /// The NOP-In's TTT when answering one, else `ISCSITag.reserved`.
    public var targetTransferTag: UInt32
    public var cmdSN: UInt32
    public var expStatSN: UInt32
    /// Ping data, echoed back by the target.
    public var dataSegment: ByteBuffer

    public init(
        immediate: Bool = true, lun: UInt64 = 0, initiatorTaskTag: UInt32 = ISCSITag.reserved,
        targetTransferTag: UInt32 = ISCSITag.reserved, cmdSN: UInt32 = 0, expStatSN: UInt32 = 0,
        dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.immediate = immediate
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.cmdSN = cmdSN
        self.expStatSN = expStatSN
        self.dataSegment = dataSegment
    }
}

extension NOPOut: PDUCodable {
    static var opcode: ISCSIOpcode { .nopOut }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            immediate: bhs.isImmediate, lun: bhs.lun, initiatorTaskTag: bhs.initiatorTaskTag,
            targetTransferTag: bhs.uint32(20), cmdSN: bhs.uint32(24), expStatSN: bhs.uint32(28),
            dataSegment: frame.dataSegment)
    }

    var isImmediateForEncoding: Bool { immediate }
    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit, at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(targetTransferTag, at: 20, in: &buffer)
        w.set(cmdSN, at: 24, in: &buffer)
        w.set(expStatSN, at: 28, in: &buffer)
    }
}

/// NOP-In (RFC 7143 §11.19): the answer to a NOP-Out, or a target ping.
public struct NOPIn: Hashable, Sendable {
    public var lun: UInt64
    /// The NOP-Out's ITT when answering, else `ISCSITag.reserved`.
    public var initiatorTaskTag: UInt32
    /// A tag when the target wants an answer, else `ISCSITag.reserved`.
    public var targetTransferTag: UInt32
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    public var dataSegment: ByteBuffer

    public init(
        lun: UInt64 = 0, initiatorTaskTag: UInt32 = ISCSITag.reserved,
        targetTransferTag: UInt32 = ISCSITag.reserved, statSN: UInt32 = 0, expCmdSN: UInt32 = 0,
        maxCmdSN: UInt32 = 0, dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.dataSegment = dataSegment
    }
}

extension NOPIn: PDUCodable {
    static var opcode: ISCSIOpcode { .nopIn }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            lun: bhs.lun, initiatorTaskTag: bhs.initiatorTaskTag, targetTransferTag: bhs.uint32(20),
            statSN: bhs.uint32(24), expCmdSN: bhs.uint32(28), maxCmdSN: bhs.uint32(32),
            dataSegment: frame.dataSegment)
    }

    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit, at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(targetTransferTag, at: 20, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
    }
}
