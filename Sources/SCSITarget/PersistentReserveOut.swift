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
    /// REGISTER AND MOVE: the I_T nexus to move to (initiator port and relative target port,
    /// 0 meaning the one the command came through), and whether to drop our registration.
    var moveTo: String? = nil
    var moveToTargetPort: UInt16 = 0
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
    /// Unit attentions for the I_T nexuses these registrations cover.
    var attentions: [(to: PersistentRegistration, code: AdditionalSenseCode)] = []

    static let good = Self(status: .good)
    static let conflict = Self(status: .reservationConflict)
    static let invalidFieldInCDB = Self(status: .check(.invalidFieldInCDB))
    static let invalidFieldInParameterList = Self(status: .check(.invalidFieldInParameterList))

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.status == rhs.status && lhs.attentions.map(\.to) == rhs.attentions.map(\.to)
            && lhs.attentions.map(\.code) == rhs.attentions.map(\.code)
    }
}

extension PersistentReservationState {
    /// Applies one PERSISTENT RESERVE OUT received through I_T nexus `port` (SPC-4 5.13.7 to
    /// 5.13.11). Without `persistenceSupported` (PTPL_C 0) APTPL set is refused; with it, the
    /// registering service actions record it.
    mutating func apply(
        _ request: PersistentReserveOutRequest, from port: ITNexusName, persistenceSupported: Bool = false
    ) -> PersistentReserveOutResult {
        let registering = [.register, .registerAndIgnoreExistingKey, .registerAndMove].contains(request.action)
        if request.activatePersistThroughPowerLoss && registering && !persistenceSupported {
            return .invalidFieldInParameterList
        }
        let before = generation
        let result = applyAction(request, from: port)
        // Every successful registering action bumps PRGENERATION, except REGISTER of key 0 by
        // a nexus that was not registered, which changes nothing and so records nothing.
        if persistenceSupported && registering && result.status == .good && generation != before {
            persistThroughPowerLoss = request.activatePersistThroughPowerLoss
        }
        return result
    }

    private mutating func applyAction(_ request: PersistentReserveOutRequest, from port: ITNexusName)
        -> PersistentReserveOutResult
    {
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
    private func authenticated(_ request: PersistentReserveOutRequest, _ port: ITNexusName) -> PersistentRegistration? {
        guard let registration = registration(of: port), registration.key == request.reservationKey else { return nil }
        return registration
    }

    /// The registrations other than the one covering `port`.
    private func others(than port: ITNexusName) -> [PersistentRegistration] {
        registrations.filter { !$0.covers(port) }
    }

    private mutating func register(_ request: PersistentReserveOutRequest, from port: ITNexusName)
        -> PersistentReserveOutResult
    {
        let ignoreKey = request.action == .registerAndIgnoreExistingKey
        guard let index = registrations.firstIndex(where: { $0.covers(port) }) else {
            // Not registered: RESERVATION KEY must be zero for REGISTER.
            if !ignoreKey && request.reservationKey != 0 { return .conflict }
            guard request.serviceActionKey != 0 else { return .good }
            // ALL_TG_PT would register I_T nexuses of this initiator port that already are,
            // through other target ports: refused rather than silently re-keying them.
            if request.allTargetPorts && registrations.contains(where: { $0.nexus.initiatorPort == port.initiatorPort }) {
                return .conflict
            }
            registrations.append(
                PersistentRegistration(nexus: port, key: request.serviceActionKey, allTargetPorts: request.allTargetPorts))
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
                result.attentions = registrations.map { ($0, .reservationsReleased) }
            }
            return result
        }
        registrations[index].key = request.serviceActionKey
        bumpGeneration()
        return .good
    }

    private mutating func reserve(_ request: PersistentReserveOutRequest, from port: ITNexusName)
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
        reservation = PersistentReservation(type: type, holder: type.isAllRegistrants ? nil : registration(of: port)?.nexus)
        return .good
    }

    private mutating func release(_ request: PersistentReserveOutRequest, from port: ITNexusName)
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

    private mutating func clear(_ request: PersistentReserveOutRequest, from port: ITNexusName)
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
    private mutating func preempt(_ request: PersistentReserveOutRequest, from port: ITNexusName)
        -> PersistentReserveOutResult
    {
        guard let caller = authenticated(request, port) else { return .conflict }
        let key = request.serviceActionKey
        var result = PersistentReserveOutResult.good

        // Removes the registrations holding `key` (except the caller's); false if none did.
        func removeRegistrations(withKey key: UInt64) -> Bool {
            let victims = registrations.filter { $0.key == key && !$0.covers(port) }
            registrations.removeAll { $0.key == key && !$0.covers(port) }
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
                registrations.removeAll { !$0.covers(port) }
                result.attentions = victims.map { ($0, .registrationsPreempted) }
                self.reservation = PersistentReservation(type: type, holder: type.isAllRegistrants ? nil : caller.nexus)
            } else {
                guard removeRegistrations(withKey: key) else { return .conflict }
            }
            bumpGeneration()
            return result
        }
        guard key != 0 else { return .invalidFieldInParameterList }
        guard let holder = reservation.holder, let holderKey = registrations.first(where: { $0.nexus == holder })?.key,
            holderKey == key
        else {
            // Not the holder's key: remove those registrations, the reservation stays.
            guard removeRegistrations(withKey: key) else { return .conflict }
            bumpGeneration()
            return result
        }
        _ = removeRegistrations(withKey: key)
        self.reservation = PersistentReservation(type: type, holder: type.isAllRegistrants ? nil : caller.nexus)
        if type != reservation.type {
            // Registrants left in place learn that the old reservation is gone.
            let preempted = Set(result.attentions.map(\.to.nexus))
            result.attentions += others(than: port).filter { !preempted.contains($0.nexus) }.map { ($0, .reservationsReleased) }
        }
        bumpGeneration()
        return result
    }

    /// REGISTER AND MOVE (SPC-4 5.13.8): the holder hands its reservation to another I_T nexus,
    /// registering it with SERVICE ACTION RESERVATION KEY.
    /// A RELATIVE TARGET PORT IDENTIFIER of 0 (reserved) names the caller's target port, as the
    /// field was ignored before target ports were told apart.
    private mutating func registerAndMove(_ request: PersistentReserveOutRequest, from port: ITNexusName)
        -> PersistentReserveOutResult
    {
        guard let caller = registration(of: port) else { return .conflict }
        guard caller.key == request.reservationKey else { return .conflict }
        guard let reservation, !reservation.type.isAllRegistrants, reservation.holder == caller.nexus else { return .conflict }
        guard request.scope == 0, request.serviceActionKey != 0, let initiator = request.moveTo else {
            return .invalidFieldInParameterList
        }
        let destination = ITNexusName(
            initiatorPort: initiator, targetPort: request.moveToTargetPort == 0 ? port.targetPort : request.moveToTargetPort)
        guard !caller.covers(destination) else { return .invalidFieldInParameterList }
        let moved: ITNexusName
        if let index = registrations.firstIndex(where: { $0.covers(destination) }) {
            registrations[index].key = request.serviceActionKey
            moved = registrations[index].nexus
        } else {
            registrations.append(
                PersistentRegistration(nexus: destination, key: request.serviceActionKey, allTargetPorts: false))
            moved = destination
        }
        self.reservation = PersistentReservation(type: reservation.type, holder: moved)
        if request.unregisterAfterMove {
            registrations.removeAll { $0.nexus == caller.nexus }
        }
        bumpGeneration()
        return .good
    }
}
