import NIOCore

/// Ready To Transfer (RFC 7143 §11.8).
public struct R2T: Hashable, Sendable {
    public var lun: UInt64
    public var initiatorTaskTag: UInt32
    public var targetTransferTag: UInt32
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    public var r2tSN: UInt32
    public var bufferOffset: UInt32
    public var desiredDataTransferLength: UInt32

    public init(
        lun: UInt64 = 0, initiatorTaskTag: UInt32 = 0, targetTransferTag: UInt32 = 0, statSN: UInt32 = 0,
        expCmdSN: UInt32 = 0, maxCmdSN: UInt32 = 0, r2tSN: UInt32 = 0, bufferOffset: UInt32 = 0,
        desiredDataTransferLength: UInt32 = 0
    ) {
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.r2tSN = r2tSN
        self.bufferOffset = bufferOffset
        self.desiredDataTransferLength = desiredDataTransferLength
    }
}

extension R2T: PDUCodable {
    static var opcode: ISCSIOpcode { .r2t }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            lun: bhs.lun, initiatorTaskTag: bhs.initiatorTaskTag, targetTransferTag: bhs.uint32(20),
            statSN: bhs.uint32(24), expCmdSN: bhs.uint32(28), maxCmdSN: bhs.uint32(32), r2tSN: bhs.uint32(36),
            bufferOffset: bhs.uint32(40), desiredDataTransferLength: bhs.uint32(44))
    }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit, at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(targetTransferTag, at: 20, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
        w.set(r2tSN, at: 36, in: &buffer)
        w.set(bufferOffset, at: 40, in: &buffer)
        w.set(desiredDataTransferLength, at: 44, in: &buffer)
    }
}
