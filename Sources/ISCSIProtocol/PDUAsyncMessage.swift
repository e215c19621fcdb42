import NIOCore

/// Asynchronous Message (RFC 7143 §11.9). Its ITT is always `ISCSITag.reserved`.
public struct AsyncMessage: Hashable, Sendable {
    public struct Event: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// SCSI asynchronous event; sense data is in the data segment.
        public static let scsiAsyncEvent = Event(rawValue: 0)
        public static let logoutRequest = Event(rawValue: 1)
        public static let connectionDrop = Event(rawValue: 2)
        public static let sessionDrop = Event(rawValue: 3)
        public static let negotiationRequest = Event(rawValue: 4)
        public static let taskTerminationRequest = Event(rawValue: 5)
        public static let vendorSpecific = Event(rawValue: 255)
    }

    public var lun: UInt64
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    public var asyncEvent: Event
    public var asyncVCode: UInt8
    public var parameter1: UInt16
    public var parameter2: UInt16
    public var parameter3: UInt16
    /// SenseLength + sense data + iSCSI event data.
    public var dataSegment: ByteBuffer

    public init(
        lun: UInt64 = 0, statSN: UInt32 = 0, expCmdSN: UInt32 = 0, maxCmdSN: UInt32 = 0,
        asyncEvent: Event, asyncVCode: UInt8 = 0, parameter1: UInt16 = 0, parameter2: UInt16 = 0,
        parameter3: UInt16 = 0, dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.lun = lun
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.asyncEvent = asyncEvent
        self.asyncVCode = asyncVCode
        self.parameter1 = parameter1
        self.parameter2 = parameter2
        self.parameter3 = parameter3
        self.dataSegment = dataSegment
    }
}

extension AsyncMessage: PDUCodable {
    static var opcode: ISCSIOpcode { .asyncMessage }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            lun: bhs.lun, statSN: bhs.uint32(24), expCmdSN: bhs.uint32(28), maxCmdSN: bhs.uint32(32),
            asyncEvent: Event(rawValue: bhs.uint8(36)), asyncVCode: bhs.uint8(37), parameter1: bhs.uint16(38),
            parameter2: bhs.uint16(40), parameter3: bhs.uint16(42), dataSegment: frame.dataSegment)
    }

    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit, at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(ISCSITag.reserved, at: BHS.initiatorTaskTag, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
        w.set(asyncEvent.rawValue, at: 36, in: &buffer)
        w.set(asyncVCode, at: 37, in: &buffer)
        w.set(parameter1, at: 38, in: &buffer)
        w.set(parameter2, at: 40, in: &buffer)
        w.set(parameter3, at: 42, in: &buffer)
    }
}
