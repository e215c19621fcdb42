import NIOCore

/// A login stage, as carried in CSG and NSG (RFC 7143 §11.12.3). The value 2
/// is reserved; it decodes as-is so the target can fail the login properly.
/// Only the low two bits of a raw value are kept (the field is 2 bits wide).
public struct LoginStage: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x03 }

    public static let securityNegotiation = LoginStage(rawValue: 0)
    public static let loginOperationalNegotiation = LoginStage(rawValue: 1)
    public static let fullFeaturePhase = LoginStage(rawValue: 3)
}

/// Bits of byte 1 shared by Login Request and Response: T, C, CSG, NSG.
private enum LoginFlags {
    static let transit: UInt8 = 0x80
    static let `continue`: UInt8 = 0x40

    static func encode(transit: Bool, continue: Bool, csg: LoginStage, nsg: LoginStage) -> UInt8 {
        var flags = csg.rawValue << 2 | nsg.rawValue
        if transit { flags |= Self.transit }
        if `continue` { flags |= Self.continue }
        return flags
    }

    static func csg(_ byte: UInt8) -> LoginStage { LoginStage(rawValue: byte >> 2) }
    static func nsg(_ byte: UInt8) -> LoginStage { LoginStage(rawValue: byte) }
}

/// ISID is a 6-byte field; it travels as the top of an 8-byte word with TSIH.
private enum SessionIdentifier {
    static func isid(_ bhs: BHSReader) -> UInt64 { bhs.uint64(8) >> 16 }
    static func write(isid: UInt64, tsih: UInt16, _ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(isid << 16 | UInt64(tsih), at: 8, in: &buffer)
    }
}

/// Login Request (RFC 7143 §11.12). The I bit is always set on the wire.
public struct LoginRequest: Hashable, Sendable {
    public var transit: Bool
    public var `continue`: Bool
    public var csg: LoginStage
    public var nsg: LoginStage
    public var versionMax: UInt8
    public var versionMin: UInt8
    /// Initiator Session ID, 48 bits (the top 16 bits of the value are ignored).
    public var isid: UInt64
    public var tsih: UInt16
    public var initiatorTaskTag: UInt32
    public var cid: UInt16
    public var cmdSN: UInt32
    public var expStatSN: UInt32
    /// Text key=value pairs, each NUL-terminated.
    public var dataSegment: ByteBuffer

    public init(
        transit: Bool = false, continue: Bool = false, csg: LoginStage = .securityNegotiation,
        nsg: LoginStage = .securityNegotiation, versionMax: UInt8 = 0, versionMin: UInt8 = 0,
        isid: UInt64 = 0, tsih: UInt16 = 0, initiatorTaskTag: UInt32 = 0, cid: UInt16 = 0,
        cmdSN: UInt32 = 0, expStatSN: UInt32 = 0, dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.transit = transit
        self.continue = `continue`
        self.csg = csg
        self.nsg = nsg
        self.versionMax = versionMax
        self.versionMin = versionMin
        self.isid = isid
        self.tsih = tsih
        self.initiatorTaskTag = initiatorTaskTag
        self.cid = cid
        self.cmdSN = cmdSN
        self.expStatSN = expStatSN
        self.dataSegment = dataSegment
    }
}

extension LoginRequest: PDUCodable {
    static var opcode: ISCSIOpcode { .loginRequest }

    init(bhs: BHSReader, frame: PDUFrame) {
        let flags = bhs.uint8(1)
        self.init(
            transit: flags & LoginFlags.transit != 0, continue: flags & LoginFlags.continue != 0,
            csg: LoginFlags.csg(flags), nsg: LoginFlags.nsg(flags), versionMax: bhs.uint8(2),
            versionMin: bhs.uint8(3), isid: SessionIdentifier.isid(bhs), tsih: bhs.uint16(14),
            initiatorTaskTag: bhs.initiatorTaskTag, cid: bhs.uint16(20), cmdSN: bhs.uint32(24),
            expStatSN: bhs.uint32(28), dataSegment: frame.dataSegment)
    }

    var isImmediateForEncoding: Bool { true }
    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(LoginFlags.encode(transit: transit, continue: `continue`, csg: csg, nsg: nsg), at: 1, in: &buffer)
        w.set(versionMax, at: 2, in: &buffer)
        w.set(versionMin, at: 3, in: &buffer)
        SessionIdentifier.write(isid: isid, tsih: tsih, w, into: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(cid, at: 20, in: &buffer)
        w.set(cmdSN, at: 24, in: &buffer)
        w.set(expStatSN, at: 28, in: &buffer)
    }
}

/// Login Response (RFC 7143 §11.13).
public struct LoginResponse: Hashable, Sendable {
    /// Status-Class (byte 36); Status-Detail refines it.
    public struct StatusClass: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let success = StatusClass(rawValue: 0)
        public static let redirection = StatusClass(rawValue: 1)
        public static let initiatorError = StatusClass(rawValue: 2)
        public static let targetError = StatusClass(rawValue: 3)
    }

    public var transit: Bool
    public var `continue`: Bool
    public var csg: LoginStage
    public var nsg: LoginStage
    public var versionMax: UInt8
    public var versionActive: UInt8
    public var isid: UInt64
    public var tsih: UInt16
    public var initiatorTaskTag: UInt32
    public var statSN: UInt32
    public var expCmdSN: UInt32
    public var maxCmdSN: UInt32
    public var statusClass: StatusClass
    public var statusDetail: UInt8
    public var dataSegment: ByteBuffer

    public init(
        transit: Bool = false, continue: Bool = false, csg: LoginStage = .securityNegotiation,
        nsg: LoginStage = .securityNegotiation, versionMax: UInt8 = 0, versionActive: UInt8 = 0,
        isid: UInt64 = 0, tsih: UInt16 = 0, initiatorTaskTag: UInt32 = 0, statSN: UInt32 = 0,
        expCmdSN: UInt32 = 0, maxCmdSN: UInt32 = 0, statusClass: StatusClass = .success,
        statusDetail: UInt8 = 0, dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.transit = transit
        self.continue = `continue`
        self.csg = csg
        self.nsg = nsg
        self.versionMax = versionMax
        self.versionActive = versionActive
        self.isid = isid
        self.tsih = tsih
        self.initiatorTaskTag = initiatorTaskTag
        self.statSN = statSN
        self.expCmdSN = expCmdSN
        self.maxCmdSN = maxCmdSN
        self.statusClass = statusClass
        self.statusDetail = statusDetail
        self.dataSegment = dataSegment
    }
}

extension LoginResponse: PDUCodable {
    static var opcode: ISCSIOpcode { .loginResponse }

    init(bhs: BHSReader, frame: PDUFrame) {
        let flags = bhs.uint8(1)
        self.init(
            transit: flags & LoginFlags.transit != 0, continue: flags & LoginFlags.continue != 0,
            csg: LoginFlags.csg(flags), nsg: LoginFlags.nsg(flags), versionMax: bhs.uint8(2),
            versionActive: bhs.uint8(3), isid: SessionIdentifier.isid(bhs), tsih: bhs.uint16(14),
            initiatorTaskTag: bhs.initiatorTaskTag, statSN: bhs.uint32(24), expCmdSN: bhs.uint32(28),
            maxCmdSN: bhs.uint32(32), statusClass: StatusClass(rawValue: bhs.uint8(36)),
            statusDetail: bhs.uint8(37), dataSegment: frame.dataSegment)
    }

    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        w.set(LoginFlags.encode(transit: transit, continue: `continue`, csg: csg, nsg: nsg), at: 1, in: &buffer)
        w.set(versionMax, at: 2, in: &buffer)
        w.set(versionActive, at: 3, in: &buffer)
        SessionIdentifier.write(isid: isid, tsih: tsih, w, into: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.writeStatusSequence(statSN: statSN, expCmdSN: expCmdSN, maxCmdSN: maxCmdSN, into: &buffer)
        w.set(statusClass.rawValue, at: 36, in: &buffer)
        w.set(statusDetail, at: 37, in: &buffer)
    }
}
