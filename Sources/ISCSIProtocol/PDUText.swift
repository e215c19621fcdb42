import NIOCore

private enum TextFlags {
    static let `continue`: UInt8 = 0x40

    static func encode(final: Bool, continue: Bool) -> UInt8 {
        (final ? BHS.finalBit : 0) | (`continue` ? Self.continue : 0)
    }
}

/// Text Request (RFC 7143 §11.10).
public struct TextRequest: Hashable, Sendable {
    public var immediate: Bool
    public var final: Bool
    /// C: the text continues in the next PDU.
    public var `continue`: Bool
    public var lun: UInt64
    public var initiatorTaskTag: UInt32
    /// `ISCSITag.reserved` to start, else the TTT of the Text Response being continued.
    public var targetTransferTag: UInt32
    public var cmdSN: UInt32
    public var expStatSN: UInt32
    public var dataSegment: ByteBuffer

    public init(
        immediate: Bool = false, final: Bool = true, continue: Bool = false, lun: UInt64 = 0,
        initiatorTaskTag: UInt32 = 0, targetTransferTag: UInt32 = ISCSITag.reserved, cmdSN: UInt32 = 0,
        expStatSN: UInt32 = 0, dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.immediate = immediate
        self.final = final
        self.continue = `continue`
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.cmdSN = cmdSN
        self.expStatSN = expStatSN
        self.dataSegment = dataSegment
    }
}

extension TextRequest: PDUCodable {
    static var opcode: ISCSIOpcode { .textRequest }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            immediate: bhs.isImmediate, final: bhs.isFinal, continue: bhs.flag(TextFlags.continue),
            lun: bhs.lun, initiatorTaskTag: bhs.initiatorTaskTag, targetTransferTag: bhs.uint32(20),
            cmdSN: bhs.uint32(24), expStatSN: bhs.uint32(28), dataSegment: frame.dataSegment)
    }

    var isImmediateForEncoding: Bool { immediate }
    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(TextFlags.encode(final: final, continue: `continue`), at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(targetTransferTag, at: 20, in: &buffer)
        w.set(cmdSN, at: 24, in: &buffer)
        w.set(expStatSN, at: 28, in: &buffer)
    }
}

/// Text Response (RFC 7143 §11.11).
public struct TextResponse: Hashable, Sendable {
    public var final: Bool
    public var `continue`: Bool
    public var lun: UInt64
    public var initiatorTaskTag: UInt32
    /// A tag when more text follows, `ISCSITag.reserved` on the final response.
    public var targetTransferTag: UInt32
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    public var dataSegment: ByteBuffer

    public init(
        final: Bool = true, continue: Bool = false, lun: UInt64 = 0, initiatorTaskTag: UInt32 = 0,
        targetTransferTag: UInt32 = ISCSITag.reserved, statSN: UInt32 = 0, expCmdSN: UInt32 = 0,
        maxCmdSN: UInt32 = 0, dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.final = final
        self.continue = `continue`
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.dataSegment = dataSegment
    }
}

extension TextResponse: PDUCodable {
    static var opcode: ISCSIOpcode { .textResponse }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            final: bhs.isFinal, continue: bhs.flag(TextFlags.continue), lun: bhs.lun,
            initiatorTaskTag: bhs.initiatorTaskTag, targetTransferTag: bhs.uint32(20), statSN: bhs.uint32(24),
            expCmdSN: bhs.uint32(28), maxCmdSN: bhs.uint32(32), dataSegment: frame.dataSegment)
    }

    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(TextFlags.encode(final: final, continue: `continue`), at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(targetTransferTag, at: 20, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
    }
}
