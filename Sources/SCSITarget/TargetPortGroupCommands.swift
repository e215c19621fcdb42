import NIOCore
import SCSIProtocol

/// REPORT TARGET PORT GROUPS and SET TARGET PORT GROUPS (SPC-4 6.37, 6.47), present in the
/// command table only when the unit has target port groups.
enum TargetPortGroupCommands {
    static func report(_ context: CommandContext) -> CommandOutcome {
        let format = context.cdb[1] >> 5
        // PARAMETER DATA FORMAT 000b (length only) or 001b (extended header). No field pointer:
        // libiscsi reads one at byte 1 of MAINTENANCE IN as "not implemented".
        guard format <= 1 else { return .invalidField() }
        let allocationLength = Int(min(context.cdb.uint32(at: 6), UInt32(Int32.max)))
        let data = context.device.lock.withLock {
            let profile = context.unit.profile
            let extraPorts = context.unit.knownTargetPorts.union([context.nexus.targetPort.relativeID])
            return TargetPortGroupsData.report(
                descriptors(profile, portsSeen: extraPorts), extendedHeader: format == 1)
        }
        return .dataIn(data, allocationLength: allocationLength)
    }

    /// One descriptor per group, each port in the first group that lists it; ports seen on
    /// this unit's nexuses that no group lists are the first group's (they answer by its state).
    static func descriptors(_ profile: LogicalUnitProfile, portsSeen: Set<UInt16>) -> [TargetPortGroupsData.Descriptor] {
        let alua = profile.alua
        var listed = Set<UInt16>()
        var result: [TargetPortGroupsData.Descriptor] = []
        for (index, group) in alua.groups.enumerated() {
            var ports: [UInt16] = []
            for port in group.ports where listed.insert(port).inserted { ports.append(port) }
            result.append(
                .init(
                    preferred: group.preferred, state: group.state.rawValue,
                    supportedStates: TargetPortGroupsData.supportedStates, groupID: group.id,
                    statusCode: profile.aluaStatus[index], ports: ports))
        }
        if !result.isEmpty {
            result[0].ports += portsSeen.subtracting(listed).sorted()
        }
        return result
    }

    static func set(_ context: CommandContext) -> CommandOutcome {
        let listLength = Int(context.cdb.uint32(at: 6))
        let received = context.request.dataOut
        let bytes = received.flatMap { $0.getBytes(at: $0.readerIndex, length: min(listLength, $0.readableBytes)) } ?? []
        let requests: [TargetPortGroupsData.Request]
        do {
            requests = try TargetPortGroupsData.parseSet(bytes, listLength: listLength)
        } catch {
            return .parameterListLengthError
        }
        let device = context.device
        let outcome: Result<[(UInt16, ALUAState)], SetRefusal> = device.lock.withLock {
            let result = apply(requests, to: context.unit.profile, through: context.nexus.targetPort.relativeID)
            if case .success(let (configuration, status, changes)) = result, !changes.isEmpty {
                context.unit.replaceTargetPortGroups(configuration, status: status)
                // Every other I_T nexus learns of it (SPC-4 5.15.2.2); the one that asked knows.
                context.unit.postAttention(.asymmetricAccessStateChanged, except: context.nexusID)
            }
            return result.map(\.changes)
        }
        switch outcome {
        case .failure(let refusal):
            return refusal.outcome
        case .success(let changes):
            if let onChange = device.onALUAChange {
                for (group, state) in changes { onChange(context.unit.lun, group, state) }
            }
            return .good
        }
    }

    enum SetRefusal: Error {
        /// The port's own group does not allow explicit transitions: as if the command did not
        /// exist, as LIO answers.
        case notExplicit
        /// INVALID FIELD IN PARAMETER LIST at this byte of the list.
        case invalidField(Int)

        var outcome: CommandOutcome {
            switch self {
            case .notExplicit: return .check(.illegalRequest, .invalidCommandOperationCode)
            case .invalidField(let byte):
                return .check(.illegalRequest, .invalidFieldInParameterList, field: .init(inCDB: false, byte: UInt16(byte)))
            }
        }
    }

    /// The groups after `requests`, every descriptor checked before any applies. Only primary
    /// states may be asked for: offline is a port's secondary state, which the configuration
    /// does not model, and transitioning is the device server's own (SPC-4 6.47).
    static func apply(_ requests: [TargetPortGroupsData.Request], to profile: LogicalUnitProfile, through port: UInt16)
        -> Result<(configuration: ALUAConfiguration, status: [UInt8], changes: [(UInt16, ALUAState)]), SetRefusal>
    {
        guard let local = profile.group(of: port), local.explicit else { return .failure(.notExplicit) }
        var configuration = profile.alua
        var status = profile.aluaStatus
        var changes: [(UInt16, ALUAState)] = []
        for request in requests {
            guard let state = ALUAState(rawValue: request.state),
                [.activeOptimized, .activeNonOptimized, .standby, .unavailable].contains(state)
            else { return .failure(.invalidField(request.offset)) }
            guard let index = configuration.groups.firstIndex(where: { $0.id == request.groupOrPort }),
                configuration.groups[index].explicit
            else { return .failure(.invalidField(request.offset + 2)) }
            guard configuration.groups[index].state != state else { continue }
            configuration.groups[index].state = state
            status[index] = TargetPortGroupsData.StatusCode.changedExplicitly
            changes.removeAll { $0.0 == request.groupOrPort }
            changes.append((request.groupOrPort, state))
        }
        return .success((configuration, status, changes))
    }
}
