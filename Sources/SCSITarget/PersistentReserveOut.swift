import SCSIProtocol

/// PERSISTENT RESERVE OUT service actions (SPC-4 6.17.2).
enum PersistentReserveOutAction: UInt8, Sendable {
    case register = 0
    case reserve = 1
    case release = 2
    case clear = 3
    case preempt = 4
    case preemptAndAbort = 5
    case registerAndIgnoreExistingKey = 6
    case registerAndMove = 7
}

/// One PERSISTENT RESERVE OUT command, CDB and parameter list decoded.
struct PersistentReserveOutRequest: Sendable, Equatable {
    var action: PersistentReserveOutAction
    /// SCOPE (must be LU_SCOPE, 0, where it matters) and TYPE from CDB byte 2.
    var scope: UInt8 = 0
    var typeCode: UInt8 = 0
    var reservationKey: UInt64 = 0
    var serviceActionKey: UInt64 = 0
    var allTargetPorts = false
    var activatePersistThroughPowerLoss = false
    /// REGISTER AND MOVE: the I_T nexus to move to, and whether to drop our registration.
    var moveTo: String? = nil
    var unregisterAfterMove = false
}

/// What a PERSISTENT RESERVE OUT ends with, and the unit attentions it raises.
struct PersistentReserveOutResult: Equatable {
    enum Status: Equatable {
        case good
        case reservationConflict
        case check(AdditionalSenseCode)
    }
    var status: Status
    /// Unit attentions for the I_T nexuses of these initiator ports.
    var attentions: [(port: String, code: AdditionalSenseCode)] = []

    static let good = Self(status: .good)
    static let conflict = Self(status: .reservationConflict)
    static let invalidFieldInCDB = Self(status: .check(.invalidFieldInCDB))
    static let invalidFieldInParameterList = Self(status: .check(.invalidFieldInParameterList))

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.status == rhs.status && lhs.attentions.map(\.port) == rhs.attentions.map(\.port)
            && lhs.attentions.map(\.code) == rhs.attentions.map(\.code)
    }
}

extension PersistentReservationState {
    /// Applies one PERSISTENT RESERVE OUT from initiator port `port` (SPC-4 5.13.7 to 5.13.11).
    mutating func apply(_ request: PersistentReserveOutRequest, from port: String) -> PersistentReserveOutResult {
        // Persist through power loss is not supported (PTPL_C 0).
        if request.activatePersistThroughPowerLoss,
            [.register, .registerAndIgnoreExistingKey, .registerAndMove].contains(request.action)
        {
            return .invalidFieldInParameterList
        }
        switch request.action {
        case .register, .registerAndIgnoreExistingKey:
            return register(request, from: port)
        case .reserve:
            return reserve(request, from: port)
        case .release:
            return release(request, from: port)
        case .clear:
            return clear(request, from: port)
        case .preempt, .preemptAndAbort:
            return preempt(request, from: port)
        case .registerAndMove:
            return registerAndMove(request, from: port)
        }
    }

    /// The caller's registration if it exists and RESERVATION KEY matches it.
    private func authenticated(_ request: PersistentReserveOutRequest, _ port: String) -> PersistentRegistration? {
        guard let registration = registration(of: port), registration.key == request.reservationKey else { return nil }
        return registration
    }

    private func others(than port: String) -> [String] {
        registrations.map(\.port).filter { $0 != port }
    }

    private mutating func register(_ request: PersistentReserveOutRequest, from port: String)
        -> PersistentReserveOutResult
    {
        let ignoreKey = request.action == .registerAndIgnoreExistingKey
        guard let index = registrations.firstIndex(where: { $0.port == port }) else {
            // Not registered: RESERVATION KEY must be zero for REGISTER.
            if !ignoreKey && request.reservationKey != 0 { return .conflict }
            guard request.serviceActionKey != 0 else { return .good }
            registrations.append(
                PersistentRegistration(port: port, key: request.serviceActionKey, allTargetPorts: request.allTargetPorts))
            bumpGeneration()
            return .good
        }
        if !ignoreKey && registrations[index].key != request.reservationKey { return .conflict }
        guard request.serviceActionKey != 0 else {
            // Unregistering; a registrants only reservation it held is released for everyone
            // else (SPC-4 5.13.11.2.2).
            let released = unregister(port)
            bumpGeneration()
            var result = PersistentReserveOutResult.good
            if let released, released.isRegistrantsOnly {
                result.attentions = registrations.map { ($0.port, .reservationsReleased) }
            }
            return result
        }
        registrations[index].key = request.serviceActionKey
        bumpGeneration()
        return .good
    }

    private mutating func reserve(_ request: PersistentReserveOutRequest, from port: String)
        -> PersistentReserveOutResult
    {
        guard authenticated(request, port) != nil else { return .conflict }
        guard request.scope == 0, let type = PersistentReservationType(rawValue: request.typeCode) else {
            return .invalidFieldInCDB
        }
        if let reservation {
            // The holder may repeat its reservation; any other request conflicts.
            return isHolder(port) && reservation.type == type ? .good : .conflict
        }
        reservation = PersistentReservation(type: type, holder: type.isAllRegistrants ? nil : port)
        return .good
    }

    private mutating func release(_ request: PersistentReserveOutRequest, from port: String)
        -> PersistentReserveOutResult
    {
        guard authenticated(request, port) != nil else { return .conflict }
        guard let reservation, isHolder(port) else { return .good }
        guard request.scope == 0, request.typeCode == reservation.type.rawValue else {
            return PersistentReserveOutResult(status: .check(.invalidReleaseOfPersistentReservation))
        }
        self.reservation = nil
        var result = PersistentReserveOutResult.good
        if reservation.type.admitsRegistrants {
            result.attentions = others(than: port).map { ($0, .reservationsReleased) }
        }
        return result
    }

    private mutating func clear(_ request: PersistentReserveOutRequest, from port: String)
        -> PersistentReserveOutResult
    {
        guard authenticated(request, port) != nil else { return .conflict }
        let preempted = others(than: port)
        registrations.removeAll()
        reservation = nil
        bumpGeneration()
        return PersistentReserveOutResult(status: .good, attentions: preempted.map { ($0, .reservationsPreempted) })
    }

    /// PREEMPT and PREEMPT AND ABORT (SPC-4 5.13.11.4). Aborting the preempted nexuses' tasks is
    /// the transport's business; here both behave alike.
    private mutating func preempt(_ request: PersistentReserveOutRequest, from port: String)
        -> PersistentReserveOutResult
    {
        guard authenticated(request, port) != nil else { return .conflict }
        let key = request.serviceActionKey
        var result = PersistentReserveOutResult.good

        // Removes the registrations holding `key` (except the caller's); false if none did.
        func removeRegistrations(withKey key: UInt64) -> Bool {
            let victims = registrations.filter { $0.key == key && $0.port != port }.map(\.port)
            registrations.removeAll { $0.key == key && $0.port != port }
            result.attentions += victims.map { ($0, .registrationsPreempted) }
            return !victims.isEmpty || registrations.contains { $0.key == key }
        }

        guard let reservation else {
            // No reservation: only registrations go.
            guard key != 0 else { return .invalidFieldInParameterList }
            guard removeRegistrations(withKey: key) else { return .conflict }
            bumpGeneration()
            return result
        }
        guard request.scope == 0, let type = PersistentReservationType(rawValue: request.typeCode) else {
            return .invalidFieldInCDB
        }
        if reservation.type.isAllRegistrants {
            if key == 0 {
                // Everyone else loses their registration; the caller takes a new reservation.
                let victims = others(than: port)
                registrations.removeAll { $0.port != port }
                result.attentions = victims.map { ($0, .registrationsPreempted) }
                self.reservation = PersistentReservation(type: type, holder: type.isAllRegistrants ? nil : port)
            } else {
                guard removeRegistrations(withKey: key) else { return .conflict }
            }
            bumpGeneration()
            return result
        }
        guard key != 0 else { return .invalidFieldInParameterList }
        guard let holder = reservation.holder, let holderKey = registration(of: holder)?.key, holderKey == key else {
            // Not the holder's key: remove those registrations, the reservation stays.
            guard removeRegistrations(withKey: key) else { return .conflict }
            bumpGeneration()
            return result
        }
        _ = removeRegistrations(withKey: key)
        self.reservation = PersistentReservation(type: type, holder: type.isAllRegistrants ? nil : port)
        if type != reservation.type {
            // Registrants left in place learn that the old reservation is gone.
            let preempted = Set(result.attentions.map(\.port))
            result.attentions += others(than: port).filter { !preempted.contains($0) }.map { ($0, .reservationsReleased) }
        }
        bumpGeneration()
        return result
    }

    /// REGISTER AND MOVE (SPC-4 5.13.8): the holder hands its reservation to another I_T nexus,
    /// registering it with SERVICE ACTION RESERVATION KEY.
    private mutating func registerAndMove(_ request: PersistentReserveOutRequest, from port: String)
        -> PersistentReserveOutResult
    {
        guard let caller = registration(of: port) else { return .conflict }
        guard caller.key == request.reservationKey else { return .conflict }
        guard let reservation, !reservation.type.isAllRegistrants, reservation.holder == port else { return .conflict }
        guard request.scope == 0, request.serviceActionKey != 0, let destination = request.moveTo, destination != port
        else { return .invalidFieldInParameterList }
        if let index = registrations.firstIndex(where: { $0.port == destination }) {
            registrations[index].key = request.serviceActionKey
        } else {
            registrations.append(
                PersistentRegistration(port: destination, key: request.serviceActionKey, allTargetPorts: false))
        }
        self.reservation = PersistentReservation(type: reservation.type, holder: destination)
        if request.unregisterAfterMove {
            registrations.removeAll { $0.port == port }
        }
        bumpGeneration()
        return .good
    }
}
