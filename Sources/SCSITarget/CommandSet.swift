import SCSIProtocol

/// Handlers are static functions, stateless, so tables of them are safe to share.
typealias CommandHandler = (CommandContext) -> CommandOutcome

/// How the admission checks treat an operation code.
struct CommandTraits: OptionSet, Sendable {
    let rawValue: UInt8
    /// Runs despite a pending unit attention (SPC-4 5.14: INQUIRY, REPORT LUNS, REQUEST SENSE).
    static let ignoresUnitAttention = CommandTraits(rawValue: 1 << 0)
    /// Runs while another nexus holds an SPC-2 reservation (SPC-2 5.5.1).
    static let allowedWhenReserved = CommandTraits(rawValue: 1 << 1)
    /// Needs the medium: NOT READY / MEDIUM NOT PRESENT while a removable unit is ejected.
    static let needsMedium = CommandTraits(rawValue: 1 << 2)
    /// Writes the medium: waits while a COMPARE AND WRITE holds the unit's exclusive gate.
    static let writesMedium = CommandTraits(rawValue: 1 << 3)
}

/// One supported command as REPORT SUPPORTED OPERATION CODES describes it.
struct CommandDescriptor: @unchecked Sendable {
    let opcode: UInt8
    let serviceAction: UInt16?
    /// CDB USAGE DATA (SPC-4 6.35.3): byte 0 is the opcode, the service action field holds
    /// the service action, every other bit set is one the device server looks at.
    let usage: [UInt8]
    let traits: CommandTraits
    /// The Data-Out the CDB asks for (the same for every service action of an opcode).
    let dataOut: DataOutRule
    let handler: CommandHandler
}

/// An opcode-indexed dispatch table for one device type.
final class CommandSet: @unchecked Sendable {
    /// Sorted by opcode, then service action.
    let descriptors: [CommandDescriptor]
    let handlers: [CommandHandler?]
    let traits: [CommandTraits]
    let dataOutRules: [DataOutRule]

    init(_ descriptors: [CommandDescriptor]) {
        self.descriptors = descriptors.sorted { ($0.opcode, $0.serviceAction ?? 0) < ($1.opcode, $1.serviceAction ?? 0) }
        var handlers = [CommandHandler?](repeating: nil, count: 256)
        var traits = [CommandTraits](repeating: [], count: 256)
        var dataOutRules = [DataOutRule](repeating: .none, count: 256)
        for descriptor in descriptors {
            let opcode = Int(descriptor.opcode)
            traits[opcode].formUnion(descriptor.traits)
            dataOutRules[opcode] = descriptor.dataOut
            guard descriptor.serviceAction != nil else {
                handlers[opcode] = descriptor.handler
                continue
            }
            let variants = descriptors.filter { $0.opcode == descriptor.opcode }
            let dispatch: CommandHandler = { context in
                guard let match = variants.first(where: { $0.serviceAction == context.cdb.serviceAction }) else {
                    return .invalidField()
                }
                return match.handler(context)
            }
            handlers[opcode] = dispatch
        }
        self.handlers = handlers
        self.traits = traits
        self.dataOutRules = dataOutRules
    }

    func hasServiceActions(_ opcode: UInt8) -> Bool {
        descriptors.contains { $0.opcode == opcode && $0.serviceAction != nil }
    }

    func descriptor(opcode: UInt8, serviceAction: UInt16?) -> CommandDescriptor? {
        descriptors.first { $0.opcode == opcode && $0.serviceAction == serviceAction }
    }
}

extension CommandSet {
    /// NACA and LINK are checked (and refused) in every CONTROL byte.
    static let controlUsage: UInt8 = 0x05

    /// `usage` is the CDB usage data between the opcode and the CONTROL byte.
    private static func command(
        _ opcode: UInt8, _ usage: [UInt8], _ traits: CommandTraits, _ handler: @escaping CommandHandler,
        serviceAction: UInt16? = nil, dataOut: DataOutRule = .none
    ) -> CommandDescriptor {
        CommandDescriptor(
            opcode: opcode, serviceAction: serviceAction, usage: [opcode] + usage + [controlUsage], traits: traits,
            dataOut: dataOut, handler: handler)
    }

    private static let reporting: CommandTraits = [.ignoresUnitAttention, .allowedWhenReserved]

    /// Commands every logical unit type answers (SPC-4).
    private static let primary: [CommandDescriptor] = [
        command(SCSIOpcode.testUnitReady, [0, 0, 0, 0], .needsMedium, PrimaryCommands.testUnitReady),
        command(SCSIOpcode.requestSense, [0x01, 0, 0, 0xFF], reporting, PrimaryCommands.requestSense),
        command(SCSIOpcode.inquiry, [0x01, 0xFF, 0xFF, 0xFF], reporting, PrimaryCommands.inquiry),
        command(SCSIOpcode.reportLUNs, [0, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0], reporting, PrimaryCommands.reportLUNs),
        command(
            SCSIOpcode.maintenanceIn, [0x0C, 0x87, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0], .allowedWhenReserved,
            PrimaryCommands.reportSupportedOperationCodes, serviceAction: SCSIServiceAction.reportSupportedOperationCodes),
    ]

    /// What a unit with target port groups adds (SPC-4 6.37, 6.47): REPORT TARGET PORT GROUPS
    /// always, SET TARGET PORT GROUPS when some group allows explicit transitions. Without
    /// groups neither exists, as with tgt.
    enum ALUACommands: Int, CaseIterable {
        case none, report, reportAndSet

        fileprivate var descriptors: [CommandDescriptor] {
            let report = CommandSet.command(
                SCSIOpcode.maintenanceIn, [0xEA, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0], .allowedWhenReserved,
                TargetPortGroupCommands.report, serviceAction: SCSIServiceAction.reportTargetPortGroups)
            let set = CommandSet.command(
                SCSIOpcode.maintenanceOut, [0x0A, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0], [],
                TargetPortGroupCommands.set, serviceAction: SCSIServiceAction.setTargetPortGroups,
                dataOut: .parameterList(offset: 6, width: 4))
            switch self {
            case .none: return []
            case .report: return [report]
            case .reportAndSet: return [report, set]
            }
        }
    }

    private static let controllers = ALUACommands.allCases.map { CommandSet(primary + $0.descriptors) }
    /// A fully provisioned disk (tgtd's command set plus persistent reservations, COMPARE AND
    /// WRITE and GET LBA STATUS); a thin provisioned one also answers UNMAP.
    private static let disks = ALUACommands.allCases.map { CommandSet(diskCommands(thin: false) + $0.descriptors) }
    private static let thinDisks = ALUACommands.allCases.map { CommandSet(diskCommands(thin: true) + $0.descriptors) }

    static func controller(alua: ALUACommands = .none) -> CommandSet { controllers[alua.rawValue] }

    static func disk(thin: Bool, alua: ALUACommands = .none) -> CommandSet {
        (thin ? thinDisks : disks)[alua.rawValue]
    }

    private static func diskCommands(thin: Bool) -> [CommandDescriptor] {
        let lba4: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF]
        let lba8 = lba4 + lba4
        // Byte 1 of the block commands: DPO 0x10, FUA 0x08, BYTCHK 0x02/0x06, IMMED 0x02,
        // NDOB 0x01; protection fields are refused and so not marked.
        func cdb10(_ flags: UInt8) -> [UInt8] { [flags] + lba4 + [0, 0xFF, 0xFF] }
        func cdb12(_ flags: UInt8) -> [UInt8] { [flags] + lba4 + lba4 + [0] }
        func cdb16(_ flags: UInt8) -> [UInt8] { [flags] + lba8 + lba4 + [0] }
        let medium = CommandTraits.needsMedium
        let writing: CommandTraits = [.needsMedium, .writesMedium]
        // PERSISTENT RESERVE IN neither reports nor clears a unit attention, like INQUIRY: an
        // initiator (libiscsi's test suite, cluster managers) reads keys first thing after a
        // reset, and the attention stays for its next command. It also reads through another
        // nexus's RESERVE(6), as with tgtd.
        let reservationsIn: [CommandDescriptor] = (0...3).map { action in
            command(
                SCSIOpcode.persistentReserveIn, [UInt8(action), 0, 0, 0, 0, 0, 0xFF, 0xFF],
                [.ignoresUnitAttention, .allowedWhenReserved],
                PersistentReserveCommands.reserveIn, serviceAction: UInt16(action))
        }
        let reservationsOut: [CommandDescriptor] = (0...7).map { action in
            command(
                SCSIOpcode.persistentReserveOut, [UInt8(action), 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF], [],
                PersistentReserveCommands.reserveOut, serviceAction: UInt16(action),
                dataOut: .parameterList(offset: 5, width: 4))
        }
        // WRITE SAME's UNMAP bit.
        let unmapBit: UInt8 = thin ? 0x08 : 0
        let thinOnly: [CommandDescriptor] =
            thin
            ? [
                command(
                    SCSIOpcode.unmap, [0, 0, 0, 0, 0, 0, 0xFF, 0xFF], writing, ProvisioningCommands.unmap,
                    dataOut: .parameterList(offset: 7, width: 2))
            ] : []
        return primary + reservationsIn + reservationsOut + thinOnly + [
            command(SCSIOpcode.read6, [0x1F, 0xFF, 0xFF, 0xFF], medium, BlockCommands.read),
            command(SCSIOpcode.write6, [0x1F, 0xFF, 0xFF, 0xFF], writing, BlockCommands.write, dataOut: .transferLength),
            command(
                SCSIOpcode.modeSelect6, [0x11, 0, 0, 0xFF], [], ModeCommands.modeSelect,
                dataOut: .parameterList(offset: 4, width: 1)),
            command(SCSIOpcode.reserve6, [0, 0, 0, 0], [], ReservationCommands.reserve),
            command(SCSIOpcode.release6, [0, 0, 0, 0], .allowedWhenReserved, ReservationCommands.release),
            command(SCSIOpcode.modeSense6, [0x08, 0xFF, 0xFF, 0xFF], [], ModeCommands.modeSense),
            command(SCSIOpcode.startStopUnit, [0x01, 0, 0x0F, 0xF7], [], PrimaryCommands.startStopUnit),
            command(SCSIOpcode.preventAllowMediumRemoval, [0, 0, 0, 0x03], [], PrimaryCommands.preventAllowMediumRemoval),
            command(SCSIOpcode.readCapacity10, [0] + lba4 + [0, 0, 0x01], medium, CapacityCommands.readCapacity10),
            command(SCSIOpcode.read10, cdb10(0x18), medium, BlockCommands.read),
            command(SCSIOpcode.write10, cdb10(0x18), writing, BlockCommands.write, dataOut: .transferLength),
            command(
                SCSIOpcode.writeAndVerify10, cdb10(0x12), writing, BlockCommands.writeAndVerify, dataOut: .transferLength),
            command(SCSIOpcode.verify10, cdb10(0x16), medium, VerifyCommands.verify, dataOut: .verify),
            command(SCSIOpcode.preFetch10, cdb10(0x02), medium, VerifyCommands.preFetch),
            command(SCSIOpcode.synchronizeCache10, cdb10(0x02), medium, VerifyCommands.synchronizeCache),
            command(SCSIOpcode.writeSame10, cdb10(unmapBit), writing, WriteSameCommand.writeSame, dataOut: .writeSame),
            command(
                SCSIOpcode.modeSelect10, [0x11, 0, 0, 0, 0, 0, 0xFF, 0xFF], [], ModeCommands.modeSelect,
                dataOut: .parameterList(offset: 7, width: 2)),
            command(SCSIOpcode.reserve10, [0, 0, 0, 0, 0, 0, 0, 0], [], ReservationCommands.reserve),
            command(SCSIOpcode.release10, [0, 0, 0, 0, 0, 0, 0, 0], .allowedWhenReserved, ReservationCommands.release),
            command(SCSIOpcode.modeSense10, [0x18, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF], [], ModeCommands.modeSense),
            command(SCSIOpcode.read16, cdb16(0x18), medium, BlockCommands.read),
            command(SCSIOpcode.write16, cdb16(0x18), writing, BlockCommands.write, dataOut: .transferLength),
            command(
                SCSIOpcode.writeAndVerify16, cdb16(0x12), writing, BlockCommands.writeAndVerify, dataOut: .transferLength),
            command(SCSIOpcode.verify16, cdb16(0x16), medium, VerifyCommands.verify, dataOut: .verify),
            command(SCSIOpcode.preFetch16, cdb16(0x02), medium, VerifyCommands.preFetch),
            command(SCSIOpcode.synchronizeCache16, cdb16(0x02), medium, VerifyCommands.synchronizeCache),
            command(
                SCSIOpcode.writeSame16, cdb16(unmapBit | 0x01), writing, WriteSameCommand.writeSame, dataOut: .writeSame),
            command(
                SCSIOpcode.serviceActionIn16, [0x10] + lba8 + lba4 + [0x01], medium, CapacityCommands.readCapacity16,
                serviceAction: SCSIServiceAction.readCapacity16),
            command(SCSIOpcode.read12, cdb12(0x18), medium, BlockCommands.read),
            command(SCSIOpcode.write12, cdb12(0x18), writing, BlockCommands.write, dataOut: .transferLength),
            command(
                SCSIOpcode.writeAndVerify12, cdb12(0x12), writing, BlockCommands.writeAndVerify, dataOut: .transferLength),
            command(SCSIOpcode.verify12, cdb12(0x16), medium, VerifyCommands.verify, dataOut: .verify),
            command(
                SCSIOpcode.compareAndWrite, [0x18] + lba8 + [0, 0, 0, 0xFF, 0], medium,
                CompareAndWriteCommand.compareAndWrite, dataOut: .compareAndWrite),
            command(
                SCSIOpcode.serviceActionIn16, [0x12] + lba8 + lba4 + [0], medium, ProvisioningCommands.getLBAStatus,
                serviceAction: SCSIServiceAction.getLBAStatus),
        ]
    }
}
