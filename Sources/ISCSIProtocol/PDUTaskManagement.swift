import NIOCore

/// Task Management Function Request (RFC 7143 §11.5).
public struct TaskManagementRequest: Hashable, Sendable {
    /// The function code (byte 1, low 7 bits). Unknown codes decode as-is so the
    /// target can answer "function not supported".
    public struct Function: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let abortTask = Function(rawValue: 1)
        public static let abortTaskSet = Function(rawValue: 2)
        public static let clearACA = Function(rawValue: 3)
        public static let clearTaskSet = Function(rawValue: 4)
        public static let logicalUnitReset = Function(rawValue: 5)
        public static let targetWarmReset = Function(rawValue: 6)
        public static let targetColdReset = Function(rawValue: 7)
        public static let taskReassign = Function(rawValue: 8)
    }

    public var immediate: Bool
    public var function: Function
    public var lun: UInt64
    public var initiatorTaskTag: UInt32
    /// ITT of the task to abort or reassign; `ISCSITag.reserved` otherwise.
    public var referencedTaskTag: UInt32
    public var cmdSN: UInt32
    public var expStatSN: UInt32
    public var refCmdSN: UInt32
    public var expDataSN: UInt32

    public init(
        immediate: Bool = true, function: Function, lun: UInt64 = 0, initiatorTaskTag: UInt32 = 0,
        referencedTaskTag: UInt32 = ISCSITag.reserved, cmdSN: UInt32 = 0, expStatSN: UInt32 = 0,
        refCmdSN: UInt32 = 0, expDataSN: UInt32 = 0
    ) {
        self.immediate = immediate
        self.function = function
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.referencedTaskTag = referencedTaskTag
        self.cmdSN = cmdSN
        self.expStatSN = expStatSN
        self.refCmdSN = refCmdSN
        self.expDataSN = expDataSN
    }
}

extension TaskManagementRequest: PDUCodable {
    static var opcode: ISCSIOpcode { .taskManagementRequest }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            immediate: bhs.isImmediate, function: Function(rawValue: bhs.uint8(1) & 0x7f), lun: bhs.lun,
            initiatorTaskTag: bhs.initiatorTaskTag, referencedTaskTag: bhs.uint32(20), cmdSN: bhs.uint32(24),
            expStatSN: bhs.uint32(28), refCmdSN: bhs.uint32(32), expDataSN: bhs.uint32(36))
    }

    var isImmediateForEncoding: Bool { immediate }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit | (function.rawValue & 0x7f), at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(referencedTaskTag, at: 20, in: &buffer)
        w.set(cmdSN, at: 24, in: &buffer)
        w.set(expStatSN, at: 28, in: &buffer)
        w.set(refCmdSN, at: 32, in: &buffer)
        w.set(expDataSN, at: 36, in: &buffer)
    }
}

/// Task Management Function Response (RFC 7143 §11.6).
public struct TaskManagementResponse: Hashable, Sendable {
    public struct Response: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let functionComplete = Response(rawValue: 0)
        public static let taskDoesNotExist = Response(rawValue: 1)
        public static let lunDoesNotExist = Response(rawValue: 2)
        public static let taskStillAllegiant = Response(rawValue: 3)
        public static let taskAllegianceReassignmentNotSupported = Response(rawValue: 4)
        public static let functionNotSupported = Response(rawValue: 5)
        public static let functionAuthorizationFailed = Response(rawValue: 6)
        public static let functionRejected = Response(rawValue: 255)
    }

    public var response: Response
    public var initiatorTaskTag: UInt32
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32

    public init(
        response: Response = .functionComplete, initiatorTaskTag: UInt32 = 0, statSN: UInt32 = 0,
        expCmdSN: UInt32 = 0, maxCmdSN: UInt32 = 0
    ) {
        self.response = response
        self.initiatorTaskTag = initiatorTaskTag
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
    }
}

extension TaskManagementResponse: PDUCodable {
    static var opcode: ISCSIOpcode { .taskManagementResponse }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            response: Response(rawValue: bhs.uint8(2)), initiatorTaskTag: bhs.initiatorTaskTag,
            statSN: bhs.uint32(24), expCmdSN: bhs.uint32(28), maxCmdSN: bhs.uint32(32))
    }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit, at: 1, in: &buffer)
        w.set(response.rawValue, at: 2, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
    }
}
