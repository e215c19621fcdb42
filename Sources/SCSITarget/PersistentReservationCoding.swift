import SCSIProtocol

/// The bytes persistent reservations are shared as between gateways: the state (the shared
/// blob's contents) and the notify a gateway sends after changing it. Big-endian, compact, with
/// a format byte so that a gateway refuses a format it does not know instead of misreading it.
/// Decoding trusts no count or length it reads: each is bounded and checked against what is
/// left, and anything wrong is a `PersistentReservationCodingError`, never a trap.
enum PersistentReservationCoding {
    static let stateMagic: [UInt8] = [0x50, 0x52]  // "PR"
    static let notifyMagic: [UInt8] = [0x50, 0x4E]  // "PN"
    static let format: UInt8 = 1
    /// More registrations than any initiator population needs; what REGISTER refuses beyond.
    static let maximumRegistrations = 2048
    /// Unit attentions one change can raise: one per registration it touches.
    static let maximumAttentions = maximumRegistrations
    /// An initiator port name is an iSCSI name (at most 223 bytes) plus ",i,0x" and the ISID.
    static let maximumPortNameLength = 255
    /// The most a state can take: header plus registrations of the longest names.
    static let maximumStateSize = 14 + maximumRegistrations * (12 + maximumPortNameLength)

    // MARK: State

    /// magic "PR", format, flags (bit 0 APTPL), PRGENERATION (4), registration count (2),
    /// reservation type (0 none), holder's registration index (2, 0xFFFF none), then per
    /// registration: key (8), relative target port (2), flags (bit 0 ALL_TG_PT), name length
    /// (1), name (UTF-8).
    static func encode(_ state: PersistentReservationState) throws -> [UInt8] {
        guard state.registrations.count <= maximumRegistrations else {
            throw PersistentReservationCodingError.tooManyRegistrations(state.registrations.count)
        }
        var bytes = stateMagic + [format, state.persistThroughPowerLoss ? 1 : 0]
        bytes += .bigEndian(UInt64(state.generation), count: 4)
        bytes += .bigEndian(UInt64(state.registrations.count), count: 2)
        var holderIndex = 0xFFFF
        if let reservation = state.reservation, let holder = reservation.holder {
            guard let index = state.registrations.firstIndex(where: { $0.nexus == holder }) else {
                throw PersistentReservationCodingError.holderNotRegistered
            }
            holderIndex = index
        }
        bytes += [state.reservation?.type.rawValue ?? 0]
        bytes += .bigEndian(UInt64(holderIndex), count: 2)
        for registration in state.registrations {
            bytes += .bigEndian(registration.key, count: 8)
            try appendNexus(registration.nexus, allTargetPorts: registration.allTargetPorts, to: &bytes)
        }
        return bytes
    }

    /// The state in `bytes`; empty bytes are the state nobody stored yet.
    static func decodeState(_ bytes: [UInt8]) throws -> PersistentReservationState {
        if bytes.isEmpty { return PersistentReservationState() }
        guard bytes.count <= maximumStateSize else { throw PersistentReservationCodingError.tooLarge(bytes.count) }
        var reader = ByteReader(bytes)
        try checkHeader(&reader, magic: stateMagic)
        var state = PersistentReservationState()
        let flags = try reader.byte()
        guard flags & ~0x01 == 0 else { throw PersistentReservationCodingError.malformed("unknown flags \(flags)") }
        state.persistThroughPowerLoss = flags & 0x01 != 0
        state.generation = UInt32(try reader.integer(4))
        let count = Int(try reader.integer(2))
        guard count <= maximumRegistrations else { throw PersistentReservationCodingError.tooManyRegistrations(count) }
        let typeCode = try reader.byte()
        let holderIndex = Int(try reader.integer(2))
        for _ in 0..<count {
            let key = try reader.integer(8)
            let (nexus, allTargetPorts) = try readNexus(&reader)
            let clash = state.registrations.contains {
                $0.covers(nexus) || (allTargetPorts && $0.nexus.initiatorPort == nexus.initiatorPort)
            }
            guard !clash else {
                throw PersistentReservationCodingError.malformed("two registrations for \(nexus.initiatorPort)")
            }
            state.registrations.append(PersistentRegistration(nexus: nexus, key: key, allTargetPorts: allTargetPorts))
        }
        guard reader.isAtEnd else { throw PersistentReservationCodingError.malformed("\(reader.remaining) bytes left over") }
        if typeCode != 0 {
            guard let type = PersistentReservationType(rawValue: typeCode) else {
                throw PersistentReservationCodingError.malformed("reservation type \(typeCode)")
            }
            if type.isAllRegistrants {
                guard holderIndex == 0xFFFF else { throw PersistentReservationCodingError.malformed("all registrants holder") }
                state.reservation = PersistentReservation(type: type, holder: nil)
            } else {
                guard holderIndex < count else {
                    throw PersistentReservationCodingError.malformed("holder \(holderIndex) of \(count) registrations")
                }
                state.reservation = PersistentReservation(type: type, holder: state.registrations[holderIndex].nexus)
            }
        } else if holderIndex != 0xFFFF {
            throw PersistentReservationCodingError.malformed("holder without a reservation")
        }
        return state
    }

    // MARK: Notify

    /// What one gateway tells the others after storing version `version`: who sent it (to
    /// skip one's own), the unit attentions the change raised (each gateway posts those of its
    /// own I_T nexuses), then the state itself, so that peers install it without reading.
    struct Notice: Equatable {
        var sender: UInt64
        var version: UInt64
        var attentions: [Attention]
        var state: [UInt8]

        struct Attention: Equatable {
            var code: AdditionalSenseCode
            var registration: PersistentRegistration
        }
    }

    /// magic "PN", format, sender (8), version (8), attention count (2), per attention ASC,
    /// ASCQ, target port (2), flags, name length, name; then the state's bytes.
    static func encode(_ notice: Notice) throws -> [UInt8] {
        guard notice.attentions.count <= maximumAttentions else {
            throw PersistentReservationCodingError.malformed("\(notice.attentions.count) unit attentions")
        }
        var bytes = notifyMagic + [format]
        bytes += .bigEndian(notice.sender, count: 8)
        bytes += .bigEndian(notice.version, count: 8)
        bytes += .bigEndian(UInt64(notice.attentions.count), count: 2)
        for attention in notice.attentions {
            bytes += [attention.code.asc, attention.code.ascq]
            try appendNexus(attention.registration.nexus, allTargetPorts: attention.registration.allTargetPorts, to: &bytes)
        }
        return bytes + notice.state
    }

    static func decodeNotice(_ bytes: [UInt8]) throws -> Notice {
        guard bytes.count <= 32 + maximumAttentions * (8 + maximumPortNameLength) + maximumStateSize else {
            throw PersistentReservationCodingError.tooLarge(bytes.count)
        }
        var reader = ByteReader(bytes)
        try checkHeader(&reader, magic: notifyMagic)
        let sender = try reader.integer(8)
        let version = try reader.integer(8)
        let count = Int(try reader.integer(2))
        guard count <= maximumAttentions else { throw PersistentReservationCodingError.malformed("\(count) unit attentions") }
        var attentions: [Notice.Attention] = []
        for _ in 0..<count {
            let code = AdditionalSenseCode(try reader.byte(), try reader.byte())
            let (nexus, allTargetPorts) = try readNexus(&reader)
            attentions.append(.init(code: code, registration: .init(nexus: nexus, key: 0, allTargetPorts: allTargetPorts)))
        }
        return Notice(sender: sender, version: version, attentions: attentions, state: reader.rest())
    }

    // MARK: Pieces

    private static func checkHeader(_ reader: inout ByteReader, magic: [UInt8]) throws {
        guard try reader.bytes(magic.count) == magic else { throw PersistentReservationCodingError.malformed("bad magic") }
        let found = try reader.byte()
        guard found == format else { throw PersistentReservationCodingError.unsupportedFormat(found) }
    }

    private static func appendNexus(_ nexus: ITNexusName, allTargetPorts: Bool, to bytes: inout [UInt8]) throws {
        let name = Array(nexus.initiatorPort.utf8)
        guard name.count <= maximumPortNameLength else { throw PersistentReservationCodingError.nameTooLong(name.count) }
        bytes += .bigEndian(UInt64(nexus.targetPort), count: 2)
        bytes += [allTargetPorts ? 1 : 0, UInt8(name.count)]
        bytes += name
    }

    private static func readNexus(_ reader: inout ByteReader) throws -> (ITNexusName, Bool) {
        let port = UInt16(try reader.integer(2))
        let flags = try reader.byte()
        guard flags & ~0x01 == 0 else { throw PersistentReservationCodingError.malformed("registration flags \(flags)") }
        let length = Int(try reader.byte())
        let raw = try reader.bytes(length)
        let name = String(decoding: raw, as: UTF8.self)
        guard Array(name.utf8) == raw else { throw PersistentReservationCodingError.malformed("initiator port name is not UTF-8") }
        return (ITNexusName(initiatorPort: name, targetPort: port), flags & 0x01 != 0)
    }
}

enum PersistentReservationCodingError: Error, Equatable, CustomStringConvertible {
    case truncated
    case tooLarge(Int)
    case unsupportedFormat(UInt8)
    case tooManyRegistrations(Int)
    case nameTooLong(Int)
    case holderNotRegistered
    case malformed(String)

    var description: String {
        switch self {
        case .truncated: return "shared persistent reservation state is truncated"
        case .tooLarge(let size): return "shared persistent reservation state of \(size) bytes is too large"
        case .unsupportedFormat(let format):
            return "shared persistent reservation state has format \(format); this gateway knows format \(PersistentReservationCoding.format)"
        case .tooManyRegistrations(let count): return "\(count) registrations are more than \(PersistentReservationCoding.maximumRegistrations)"
        case .nameTooLong(let length): return "initiator port name of \(length) bytes"
        case .holderNotRegistered: return "reservation holder has no registration"
        case .malformed(let what): return "shared persistent reservation state is corrupt: \(what)"
        }
    }
}

/// Reads big-endian fields off a byte array, failing (never trapping) past its end.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    mutating func byte() throws -> UInt8 {
        guard remaining >= 1 else { throw PersistentReservationCodingError.truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, remaining >= count else { throw PersistentReservationCodingError.truncated }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A big-endian unsigned integer of `count` (at most 8) bytes.
    mutating func integer(_ count: Int) throws -> UInt64 {
        try bytes(count).reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}
