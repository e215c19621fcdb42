import SCSIProtocol

/// PERSISTENT RESERVE OUT reservation types (SPC-4 6.16.3.4).
enum PersistentReservationType: UInt8, Sendable {
    case writeExclusive = 0x1
    case exclusiveAccess = 0x3
    case writeExclusiveRegistrantsOnly = 0x5
    case exclusiveAccessRegistrantsOnly = 0x6
    case writeExclusiveAllRegistrants = 0x7
    case exclusiveAccessAllRegistrants = 0x8

    /// Every registered I_T nexus is a reservation holder (SPC-4 5.13.10).
    var isAllRegistrants: Bool { self == .writeExclusiveAllRegistrants || self == .exclusiveAccessAllRegistrants }
    var isRegistrantsOnly: Bool { self == .writeExclusiveRegistrantsOnly || self == .exclusiveAccessRegistrantsOnly }
    /// Registered I_T nexuses get the holder's access (registrants only and all registrants).
    var admitsRegistrants: Bool { isAllRegistrants || isRegistrantsOnly }
    /// Reads stay open to everyone.
    var isWriteExclusive: Bool {
        self == .writeExclusive || self == .writeExclusiveRegistrantsOnly || self == .writeExclusiveAllRegistrants
    }

    /// PERSISTENT RESERVATION TYPE MASK of REPORT CAPABILITIES: every type is supported.
    static let capabilityMask: (UInt8, UInt8) = (0x80 | 0x40 | 0x20 | 0x08 | 0x02, 0x01)
}

/// An I_T nexus as persistent reservations name it (SPC-4 5.13): the initiator port
/// ("iqn…,i,0x<ISID>") and the relative ID of the target port. One initiator logged in through
/// two target portal groups is two I_T nexuses; the iSCSI session carrying one may come and go.
struct ITNexusName: Hashable, Sendable {
    var initiatorPort: String
    var targetPort: UInt16
}

extension SCSINexus {
    var itNexusName: ITNexusName { ITNexusName(initiatorPort: initiatorPortName, targetPort: targetPort.relativeID) }
}

/// One registration: the I_T nexus it was made through and, with ALL_TG_PT, every other I_T
/// nexus of that initiator port through any target port (SPC-4 5.13.7). It is one entry
/// either way, as READ FULL STATUS reports it (RELATIVE TARGET PORT IDENTIFIER then unused).
struct PersistentRegistration: Sendable, Equatable {
    var nexus: ITNexusName
    var key: UInt64
    var allTargetPorts: Bool

    func covers(_ other: ITNexusName) -> Bool {
        other.initiatorPort == nexus.initiatorPort && (allTargetPorts || other.targetPort == nexus.targetPort)
    }
}

/// The persistent reservation held on a logical unit.
struct PersistentReservation: Sendable, Equatable {
    var type: PersistentReservationType
    /// The holder's registration (its `nexus`) for the single-holder types; nil for all
    /// registrants types.
    var holder: ITNexusName?
}

/// Registrations and the reservation of one logical unit (SPC-4 5.13), guarded by the device
/// lock. Survives I_T nexus loss and resets. Persisted across restarts only on units whose
/// store shares it between gateways (`SharedReservations`, PTPL_C 1); elsewhere PTPL_C is 0.
struct PersistentReservationState: Sendable, Equatable {
    /// PRGENERATION: bumped by every REGISTER, REGISTER AND IGNORE EXISTING KEY, CLEAR, PREEMPT,
    /// PREEMPT AND ABORT and REGISTER AND MOVE that succeeds (not by RESERVE or RELEASE).
    var generation: UInt32 = 0
    /// In registration order; at most one covers any I_T nexus.
    var registrations: [PersistentRegistration] = []
    var reservation: PersistentReservation?
    /// The APTPL bit of the last REGISTER, REGISTER AND IGNORE EXISTING KEY or REGISTER AND
    /// MOVE that succeeded (PTPL_A), on units that support it.
    var persistThroughPowerLoss = false

    /// The registration covering `nexus`.
    func registration(of nexus: ITNexusName) -> PersistentRegistration? {
        registrations.first { $0.covers(nexus) }
    }

    func isRegistered(_ nexus: ITNexusName) -> Bool {
        registrations.contains { $0.covers(nexus) }
    }

    /// True when `nexus` holds the reservation: through the holder's registration, or as any
    /// registrant of an all registrants reservation.
    func isHolder(_ nexus: ITNexusName) -> Bool {
        guard let reservation else { return false }
        if reservation.type.isAllRegistrants { return isRegistered(nexus) }
        return reservation.holder != nil && registration(of: nexus)?.nexus == reservation.holder
    }

    /// The RESERVATION KEY READ RESERVATION reports: the holder's key, 0 for all registrants.
    var reservationKey: UInt64 {
        guard let reservation, !reservation.type.isAllRegistrants, let holder = reservation.holder else { return 0 }
        return registrations.first { $0.nexus == holder }?.key ?? 0
    }

    mutating func bumpGeneration() { generation &+= 1 }

    /// Removes the registration covering `nexus`; a reservation it held alone goes with it
    /// (SPC-4 5.13.11.2.2). Returns the type of a reservation so released, for the caller's
    /// unit attentions.
    @discardableResult
    mutating func unregister(_ nexus: ITNexusName) -> PersistentReservationType? {
        guard let index = registrations.firstIndex(where: { $0.covers(nexus) }) else { return nil }
        let removed = registrations.remove(at: index)
        guard let reservation else { return nil }
        if reservation.type.isAllRegistrants {
            // The reservation lasts while any registrant remains.
            if registrations.isEmpty {
                self.reservation = nil
                return reservation.type
            }
            return nil
        }
        if reservation.holder == removed.nexus {
            self.reservation = nil
            return reservation.type
        }
        return nil
    }
}

/// How a command fares in the presence of a persistent reservation it does not hold, after
/// SPC-4 table 66 and SBC-3 table 14.
enum PersistentReservationAccess {
    /// Allowed from every I_T nexus.
    case allowed
    /// Allowed from registered I_T nexuses, and from all under a write exclusive reservation
    /// (MODE SENSE, REPORT SUPPORTED OPERATION CODES and the like).
    case allowedRegisteredOrWriteExclusive
    /// Reads the medium: allowed under write exclusive types, for registrants under registrants
    /// only and all registrants types, else conflict.
    case read
    /// Changes the medium or the unit's state: only for registrants of registrants only and all
    /// registrants types.
    case write
    /// PERSISTENT RESERVE OUT checks registration itself.
    case reservationManagement

    static func of(_ cdb: CDB) -> PersistentReservationAccess {
        switch cdb.opcode {
        case SCSIOpcode.inquiry, SCSIOpcode.reportLUNs, SCSIOpcode.requestSense, SCSIOpcode.testUnitReady,
            SCSIOpcode.persistentReserveIn, SCSIOpcode.readCapacity10:
            return .allowed
        case SCSIOpcode.persistentReserveOut:
            return .reservationManagement
        case SCSIOpcode.modeSense6, SCSIOpcode.modeSense10, SCSIOpcode.maintenanceIn:
            return .allowedRegisteredOrWriteExclusive
        case SCSIOpcode.serviceActionIn16:
            return cdb.serviceAction == SCSIServiceAction.readCapacity16 ? .allowed : .read
        case SCSIOpcode.read6, SCSIOpcode.read10, SCSIOpcode.read12, SCSIOpcode.read16, SCSIOpcode.verify10,
            SCSIOpcode.verify12, SCSIOpcode.verify16, SCSIOpcode.preFetch10, SCSIOpcode.preFetch16:
            return .read
        case SCSIOpcode.preventAllowMediumRemoval:
            // PREVENT 00b (allow removal) is harmless.
            return cdb[4] & 0x03 == 0 ? .allowed : .write
        case SCSIOpcode.startStopUnit:
            // START 1 with POWER CONDITION 0 (and no eject) is allowed.
            return cdb[4] & 0xF3 == 0x01 ? .allowed : .write
        default:
            // Writes, WRITE SAME, UNMAP, COMPARE AND WRITE, SYNCHRONIZE CACHE, MODE SELECT,
            // RESERVE/RELEASE(6/10) and anything unlisted conflict.
            return .write
        }
    }

    /// True when a command of this class through `nexus` conflicts with `reservation`.
    func conflicts(_ state: PersistentReservationState, nexus: ITNexusName) -> Bool {
        guard let reservation = state.reservation else { return false }
        if state.isHolder(nexus) { return false }
        let registered = state.isRegistered(nexus)
        switch self {
        case .allowed, .reservationManagement:
            return false
        case .allowedRegisteredOrWriteExclusive:
            return !(registered || reservation.type.isWriteExclusive)
        case .read:
            if reservation.type.isWriteExclusive { return false }
            return !(registered && reservation.type.admitsRegistrants)
        case .write:
            return !(registered && reservation.type.admitsRegistrants)
        }
    }
}
