import NIOCore
import SCSIProtocol

/// PERSISTENT RESERVE IN and OUT (SPC-4 6.16, 6.17). Conflicts with reservations held by
/// others were settled at admission; the state lives in `LogicalUnit.persistent`.
enum PersistentReserveCommands {
    enum InAction: UInt8 {
        case readKeys = 0, readReservation = 1, reportCapabilities = 2, readFullStatus = 3
    }

    /// The basic PERSISTENT RESERVE OUT parameter list (SPC-4 6.17.3).
    static let basicParameterListLength = 24

    // MARK: PERSISTENT RESERVE IN

    static func reserveIn(_ context: CommandContext) -> CommandOutcome {
        guard let action = InAction(rawValue: UInt8(context.cdb.serviceAction)) else {
            return .invalidField(cdbByte: 1, bit: 4)
        }
        let allocationLength = Int(context.cdb.uint16(at: 7))
        let data: [UInt8] = context.device.lock.withLock {
            let state = context.unit.persistent
            switch action {
            case .readKeys: return readKeys(state)
            case .readReservation: return readReservation(state)
            case .reportCapabilities:
                return reportCapabilities(
                    persistenceSupported: context.unit.sharedReservations != nil, active: state.persistThroughPowerLoss)
            case .readFullStatus: return readFullStatus(state)
            }
        }
        return .dataIn(data, allocationLength: allocationLength)
    }

    /// PRGENERATION, ADDITIONAL LENGTH, then each registered key (SPC-4 6.16.2).
    static func readKeys(_ state: PersistentReservationState) -> [UInt8] {
        var data = [UInt8].bigEndian(UInt64(state.generation), count: 4)
        data += .bigEndian(UInt64(8 * state.registrations.count), count: 4)
        for registration in state.registrations {
            data += .bigEndian(registration.key, count: 8)
        }
        return data
    }

    /// PRGENERATION, ADDITIONAL LENGTH (0 or 16), then the reservation (SPC-4 6.16.3).
    static func readReservation(_ state: PersistentReservationState) -> [UInt8] {
        var data = [UInt8].bigEndian(UInt64(state.generation), count: 4)
        guard let reservation = state.reservation else { return data + [0, 0, 0, 0] }
        data += .bigEndian(16, count: 4)
        data += .bigEndian(state.reservationKey, count: 8)
        data += [0, 0, 0, 0, 0, reservation.type.rawValue, 0, 0]  // obsolete, reserved, SCOPE/TYPE, obsolete
        return data
    }

    /// REPORT CAPABILITIES (SPC-4 6.16.4): CRH (RESERVE/RELEASE follow SPC-4 5.13.3), ATP_C
    /// (ALL_TG_PT registers through every target port), no SPEC_I_PT; ALLOW COMMANDS 011b;
    /// every reservation type. PTPL_C only where the state is shared through the store, which
    /// keeps it across gateway restarts; PTPL_A is then the last APTPL received.
    static func reportCapabilities(persistenceSupported: Bool, active: Bool) -> [UInt8] {
        [
            0, 8,
            0x10 | 0x04 | (persistenceSupported ? 0x01 : 0),  // CRH, ATP_C, PTPL_C
            0x80 | 0x30 | (persistenceSupported && active ? 0x01 : 0),  // TMV, ALLOW COMMANDS 011b, PTPL_A
            PersistentReservationType.capabilityMask.0, PersistentReservationType.capabilityMask.1,
            0, 0,
        ]
    }

    /// READ FULL STATUS (SPC-4 6.16.5): one descriptor per registration, with the initiator
    /// port's iSCSI TransportID and the target port it was made through (none with ALL_TG_PT).
    static func readFullStatus(_ state: PersistentReservationState) -> [UInt8] {
        var descriptors: [UInt8] = []
        for registration in state.registrations {
            let holder = state.isHolder(registration.nexus)
            let transportID = iSCSITransportID(registration.nexus.initiatorPort)
            descriptors += .bigEndian(registration.key, count: 8)
            descriptors += [0, 0, 0, 0]
            descriptors += [(registration.allTargetPorts ? 0x02 : 0) | (holder ? 0x01 : 0)]
            descriptors += [holder ? state.reservation?.type.rawValue ?? 0 : 0]
            descriptors += [0, 0, 0, 0]
            descriptors += .bigEndian(UInt64(registration.allTargetPorts ? 0 : registration.nexus.targetPort), count: 2)
            descriptors += .bigEndian(UInt64(transportID.count), count: 4)
            descriptors += transportID
        }
        return .bigEndian(UInt64(state.generation), count: 4) + .bigEndian(UInt64(descriptors.count), count: 4)
            + descriptors
    }

    /// An iSCSI TransportID in the initiator port format (SPC-4 7.6.4.6): "name,i,0xISID",
    /// NUL terminated, padded to a multiple of four bytes (at least 20).
    static func iSCSITransportID(_ port: String) -> [UInt8] {
        var name = Array(port.utf8) + [0]
        while name.count % 4 != 0 || name.count < 20 { name.append(0) }
        return [0x45, 0] + .bigEndian(UInt64(name.count), count: 2) + name
    }

    /// The initiator port an iSCSI TransportID names; nil unless it is the initiator port
    /// format with an ISID.
    static func initiatorPort(fromTransportID bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.count >= 4, bytes[bytes.startIndex] == 0x45 else { return nil }
        let start = bytes.startIndex
        let length = Int(bytes[start + 2]) << 8 | Int(bytes[start + 3])
        guard bytes.count >= 4 + length else { return nil }
        let name = Array(bytes[(start + 4)..<(start + 4 + length)].prefix { $0 != 0 })
        let separator = Array(",i,0x".utf8)
        guard name.count > separator.count,
            let at = (0...(name.count - separator.count)).last(where: {
                Array(name[$0..<$0 + separator.count]) == separator
            }),
            at > 0
        else { return nil }
        // The ISID in hexadecimal: 12 digits as RFC 7143 writes it.
        let isid = String(decoding: name[(at + separator.count)...], as: UTF8.self).lowercased()
        guard (1...12).contains(isid.count), isid.allSatisfy(\.isHexDigit) else { return nil }
        return String(decoding: name[..<at], as: UTF8.self) + ",i,0x" + isid
    }

    // MARK: PERSISTENT RESERVE OUT

    static func reserveOut(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        guard let action = PersistentReserveOutAction(rawValue: UInt8(cdb.serviceAction)) else {
            return .invalidField(cdbByte: 1, bit: 4)
        }
        let listLength = Int(cdb.uint32(at: 5))
        let request: PersistentReserveOutRequest
        switch parse(action, cdb: cdb, listLength: listLength, dataOut: context.request.dataOut) {
        case .success(let parsed): request = parsed
        case .failure(let error): return error.outcome
        }
        if let shared = context.unit.sharedReservations {
            return .pending(shared.reserveOut(request, from: context.nexus.itNexusName, on: context.eventLoop))
        }
        let result: PersistentReserveOutResult = context.device.lock.withLock {
            let unit = context.unit
            let result = unit.persistent.apply(request, from: context.nexus.itNexusName)
            for (registration, code) in result.attentions { unit.postAttention(code, to: registration) }
            return result
        }
        switch result.status {
        case .good: return .good
        case .reservationConflict: return .done(SCSICommandResult(status: .reservationConflict))
        case .check(let code): return .check(.illegalRequest, code)
        }
    }

    enum ParseError: Error {
        case lengthError, invalidField(parameterByte: UInt16?), invalidCDBField(byte: UInt16)

        var outcome: CommandOutcome {
            switch self {
            case .lengthError: return .parameterListLengthError
            case .invalidField(let byte):
                return .check(
                    .illegalRequest, .invalidFieldInParameterList,
                    field: byte.map { .init(inCDB: false, byte: $0) })
            case .invalidCDBField(let byte): return .invalidField(cdbByte: byte)
            }
        }
    }

    static func parse(
        _ action: PersistentReserveOutAction, cdb: CDB, listLength: Int, dataOut: ByteBuffer?
    ) -> Result<PersistentReserveOutRequest, ParseError> {
        var request = PersistentReserveOutRequest(action: action)
        request.scope = cdb[2] >> 4
        request.typeCode = cdb[2] & 0x0F
        // Without SPEC_I_PT support every service action but REGISTER AND MOVE takes exactly
        // the basic 24-byte list.
        if action == .registerAndMove {
            guard listLength >= basicParameterListLength else { return .failure(.lengthError) }
        } else if listLength != basicParameterListLength {
            return .failure(.lengthError)
        }
        guard let dataOut, dataOut.readableBytes >= listLength,
            let list = dataOut.getBytes(at: dataOut.readerIndex, length: listLength)
        else { return .failure(.lengthError) }
        func key(at offset: Int) -> UInt64 { list[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        request.reservationKey = key(at: 0)
        request.serviceActionKey = key(at: 8)
        if action == .registerAndMove {
            request.activatePersistThroughPowerLoss = list[17] & 0x01 != 0
            request.unregisterAfterMove = list[17] & 0x02 != 0
            let idLength = Int(list[20]) << 24 | Int(list[21]) << 16 | Int(list[22]) << 8 | Int(list[23])
            guard listLength >= basicParameterListLength + idLength else { return .failure(.lengthError) }
            guard let port = initiatorPort(fromTransportID: list[24..<(24 + idLength)]) else {
                return .failure(.invalidField(parameterByte: 24))
            }
            request.moveTo = port
            // RELATIVE TARGET PORT IDENTIFIER of the I_T nexus to move to.
            request.moveToTargetPort = UInt16(list[18]) << 8 | UInt16(list[19])
            return .success(request)
        }
        let flags = list[20]
        // SPEC_I_PT is not supported (SIP_C 0).
        if flags & 0x08 != 0 { return .failure(.invalidField(parameterByte: 20)) }
        request.allTargetPorts = flags & 0x04 != 0
        request.activatePersistThroughPowerLoss = flags & 0x01 != 0
        // ALL_TG_PT is only valid when registering.
        if request.allTargetPorts && action != .register && action != .registerAndIgnoreExistingKey {
            return .failure(.invalidField(parameterByte: 20))
        }
        return .success(request)
    }
}
