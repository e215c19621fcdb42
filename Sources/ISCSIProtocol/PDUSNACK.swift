import NIOCore

/// SNACK Request (RFC 7143 §11.16).
public struct SNACKRequest: Hashable, Sendable {
    /// The 4-bit Type field; only the low four bits of a raw value are kept.
    public struct SNACKType: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0f }

        /// Data/R2T SNACK: resend Data-In or R2T PDUs.
        public static let dataR2T = SNACKType(rawValue: 0)
        public static let status = SNACKType(rawValue: 1)
        public static let dataACK = SNACKType(rawValue: 2)
        /// R-Data SNACK: resend data with a new segmentation.
        public static let rData = SNACKType(rawValue: 3)
    }

    public var type: SNACKType
    public var lun: UInt64
    /// The task's ITT, or `ISCSITag.reserved` for a status SNACK.
    public var initiatorTaskTag: UInt32
    /// The Data-In's TTT (DataACK) or the SNACK Tag (R-Data).
    public var targetTransferTag: UInt32
    public var expStatSN: UInt32
    public var begRun: UInt32
    public var runLength: UInt32

    public init(
        type: SNACKType = .dataR2T, lun: UInt64 = 0, initiatorTaskTag: UInt32 = ISCSITag.reserved,
        targetTransferTag: UInt32 = ISCSITag.reserved, expStatSN: UInt32 = 0, begRun: UInt32 = 0,
        runLength: UInt32 = 0
    ) {
        self.type = type
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.expStatSN = expStatSN
        self.begRun = begRun
        self.runLength = runLength
    }
}

extension SNACKRequest: PDUCodable {
    static var opcode: ISCSIOpcode { .snackRequest }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            type: SNACKType(rawValue: bhs.uint8(1)), lun: bhs.lun, initiatorTaskTag: bhs.initiatorTaskTag,
            targetTransferTag: bhs.uint32(20), expStatSN: bhs.uint32(28), begRun: bhs.uint32(40),
            runLength: bhs.uint32(44))
    }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit | type.rawValue, at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(targetTransferTag, at: 20, in: &buffer)
        w.set(expStatSN, at: 28, in: &buffer)
        w.set(begRun, at: 40, in: &buffer)
        w.set(runLength, at: 44, in: &buffer)
    }
}
