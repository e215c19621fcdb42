import NIOCore

/// Logout Request (RFC 7143 §11.14).
public struct LogoutRequest: Hashable, Sendable {
    public struct ReasonCode: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let closeSession = ReasonCode(rawValue: 0)
        public static let closeConnection = ReasonCode(rawValue: 1)
        public static let removeConnectionForRecovery = ReasonCode(rawValue: 2)
    }

    public var immediate: Bool
    public var reasonCode: ReasonCode
    public var initiatorTaskTag: UInt32
    /// The connection to close; reserved (0) when closing the session.
    public var cid: UInt16
    public var cmdSN: UInt32
    public var expStatSN: UInt32

    public init(
        immediate: Bool = false, reasonCode: ReasonCode = .closeSession, initiatorTaskTag: UInt32 = 0,
        cid: UInt16 = 0, cmdSN: UInt32 = 0, expStatSN: UInt32 = 0
    ) {
        self.immediate = immediate
        self.reasonCode = reasonCode
        self.initiatorTaskTag = initiatorTaskTag
        self.cid = cid
        self.cmdSN = cmdSN
        self.expStatSN = expStatSN
    }
}

extension LogoutRequest: PDUCodable {
    static var opcode: ISCSIOpcode { .logoutRequest }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            immediate: bhs.isImmediate, reasonCode: ReasonCode(rawValue: bhs.uint8(1) & 0x7f),
            initiatorTaskTag: bhs.initiatorTaskTag, cid: bhs.uint16(20), cmdSN: bhs.uint32(24),
            expStatSN: bhs.uint32(28))
    }

    var isImmediateForEncoding: Bool { immediate }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit | (reasonCode.rawValue & 0x7f), at: 1, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(cid, at: 20, in: &buffer)
        w.set(cmdSN, at: 24, in: &buffer)
        w.set(expStatSN, at: 28, in: &buffer)
    }
}

/// Logout Response (RFC 7143 §11.15).
public struct LogoutResponse: Hashable, Sendable {
    public struct Response: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let closedSuccessfully = Response(rawValue: 0)
        public static let cidNotFound = Response(rawValue: 1)
        public static let connectionRecoveryNotSupported = Response(rawValue: 2)
        public static let cleanupFailed = Response(rawValue: 3)
    }

    public var response: Response
    public var initiatorTaskTag: UInt32
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    public var time2Wait: UInt16
    public var time2Retain: UInt16

    public init(
        response: Response = .closedSuccessfully, initiatorTaskTag: UInt32 = 0, statSN: UInt32 = 0,
        expCmdSN: UInt32 = 0, maxCmdSN: UInt32 = 0, time2Wait: UInt16 = 0, time2Retain: UInt16 = 0
    ) {
        self.response = response
        self.initiatorTaskTag = initiatorTaskTag
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.time2Wait = time2Wait
        self.time2Retain = time2Retain
    }
}

extension LogoutResponse: PDUCodable {
    static var opcode: ISCSIOpcode { .logoutResponse }

    init(bhs: BHSReader, frame: PDUFrame) {
        self.init(
            response: Response(rawValue: bhs.uint8(2)), initiatorTaskTag: bhs.initiatorTaskTag,
            statSN: bhs.uint32(24), expCmdSN: bhs.uint32(28), maxCmdSN: bhs.uint32(32),
            time2Wait: bhs.uint16(40), time2Retain: bhs.uint16(42))
    }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(BHS.finalBit, at: 1, in: &buffer)
        w.set(response.rawValue, at: 2, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
        w.set(time2Wait, at: 40, in: &buffer)
        w.set(time2Retain, at: 42, in: &buffer)
    }
}
