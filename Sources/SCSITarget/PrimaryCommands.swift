import NIOCore
import SCSIProtocol

/// SPC-4 commands every unit type answers, plus the medium-handling ones of SBC-3.
enum PrimaryCommands {
    /// The medium check happened at admission.
    static func testUnitReady(_ context: CommandContext) -> CommandOutcome { .good }

    /// Returns (and clears) the oldest pending unit attention, else NO SENSE; always in fixed
    /// format, which SPC-4 allows when descriptor format is not supported.
    static func requestSense(_ context: CommandContext) -> CommandOutcome {
        let code = context.device.lock.withLock {
            context.unit.takeAttention(at: context.unit.nexusIndex(context.nexus))
        }
        let sense =
            code.map { FixedFormatSense(key: .unitAttention, code: $0) }
            ?? FixedFormatSense(key: .noSense, code: .noAdditionalSense)
        return .dataIn(sense.bytes, allocationLength: Int(context.cdb[4]))
    }

    static func inquiry(_ context: CommandContext) -> CommandOutcome {
        inquiry(context, peripheralOverride: nil)
    }

    /// Standard data or a VPD page. For a LUN that does not exist tgtd answers with LUN 0's
    /// data under peripheral qualifier 3 / type 0x1F, and so do we.
    private static func inquiry(_ context: CommandContext, peripheralOverride: UInt8?) -> CommandOutcome {
        let cdb = context.cdb
        let identity = context.profile.identity
        let allocationLength = Int(cdb.uint16(at: 3))
        var data: ByteBuffer
        if cdb[1] & 0x01 != 0 {
            // With ALUA, 0x83 also names the target port the command came through.
            let page =
                cdb[2] == VPDPage.deviceIdentification
                ? context.profile.deviceIdentificationPage(for: context.nexus.targetPort) : identity.vpdPage(cdb[2])
            guard let page else { return .invalidField(cdbByte: 2) }
            data = page
        } else {
            guard cdb[2] == 0 else { return .invalidField(cdbByte: 2) }
            data = identity.standardInquiry
        }
        if let peripheralOverride {
            data.setInteger(peripheralOverride, at: data.readerIndex)
        }
        return .dataIn(data, allocationLength: allocationLength)
    }

    /// A command addressed to a LUN that does not exist (SPC-4 5.8 and 6.27).
    static func withoutUnit(_ context: CommandContext) -> CommandOutcome {
        switch context.cdb.opcode {
        case SCSIOpcode.inquiry:
            let notSupported = PeripheralQualifier.notSupported.rawValue << 5 | PeripheralDeviceType.unknown.rawValue
            return inquiry(context, peripheralOverride: notSupported)
        case SCSIOpcode.reportLUNs:
            return reportLUNs(context)
        case SCSIOpcode.requestSense:
            let sense = FixedFormatSense(key: .illegalRequest, code: .logicalUnitNotSupported)
            return .dataIn(sense.bytes, allocationLength: Int(context.cdb[4]))
        default:
            return .check(.illegalRequest, .logicalUnitNotSupported)
        }
    }

    /// SELECT REPORT 0 and 2 list every unit, 1 (well-known units only) none. Also clears
    /// REPORTED LUNS DATA HAS CHANGED for the nexus, as SPC-4 6.33 asks.
    static func reportLUNs(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        let allocationLength = cdb.uint32(at: 6)
        guard allocationLength >= 16 else { return .invalidField(cdbByte: 6) }
        let select = cdb[2]
        guard select <= 2 else { return .invalidField(cdbByte: 2) }
        let luns: [UInt64] = context.device.lock.withLock {
            context.device.forEachUnitLocked { $0.clearAttention(.reportedLUNsDataHasChanged, for: context.nexusID) }
            return select == 1 ? [] : context.device.lunsLocked
        }
        var data = ByteBuffer()
        data.reserveCapacity(8 + 8 * luns.count)
        data.writeInteger(UInt32(8 * luns.count))
        data.writeInteger(UInt32(0))
        for lun in luns {
            data.writeInteger(SAMLUN.encode(lun) ?? 0)
        }
        return .dataIn(data, allocationLength: Int(min(allocationLength, UInt32(Int32.max))))
    }

    /// REPORT SUPPORTED OPERATION CODES (SPC-4 6.35) with reporting options 0 to 3 and RCTD.
    /// An unsupported command is answered with SUPPORT 001b rather than an error.
    static func reportSupportedOperationCodes(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        let timeouts = cdb[2] & 0x80 != 0
        let options = cdb[2] & 0x07
        let opcode = cdb[3]
        let serviceAction = cdb.uint16(at: 4)
        let allocationLength = Int(min(cdb.uint32(at: 6), UInt32(Int32.max)))
        let commands = context.profile.commands
        let hasServiceActions = commands.hasServiceActions(opcode)
        // The field pointer names REPORTING OPTIONS; libiscsi would read a pointer-less error
        // as "command not implemented".
        let badOptions = CommandOutcome.invalidField(cdbByte: 2, bit: 2)

        var data: [UInt8]
        switch options {
        case 0:
            var list: [UInt8] = []
            for descriptor in commands.descriptors {
                // CTDP 0x02, SERVACTV 0x01
                let flags: UInt8 = (timeouts ? 0x02 : 0) | (descriptor.serviceAction != nil ? 0x01 : 0)
                list += [descriptor.opcode, 0] + .bigEndian(UInt64(descriptor.serviceAction ?? 0), count: 2)
                list += [0, flags] + .bigEndian(UInt64(descriptor.usage.count), count: 2)
                if timeouts { list += timeoutsDescriptor }
            }
            data = .bigEndian(UInt64(list.count), count: 4) + list
        case 1, 2, 3:
            if options == 1 && hasServiceActions { return badOptions }
            if options == 2 && !hasServiceActions { return badOptions }
            let wanted = hasServiceActions ? serviceAction : nil
            guard let descriptor = commands.descriptor(opcode: opcode, serviceAction: wanted) else {
                return .dataIn([0, 0x01, 0, 0], allocationLength: allocationLength)  // SUPPORT 001b
            }
            // CTDP 0x80, SUPPORT 011b (supported as the standard says)
            data = [0, (timeouts ? 0x80 : 0) | 0x03] + .bigEndian(UInt64(descriptor.usage.count), count: 2) + descriptor.usage
            if timeouts { data += timeoutsDescriptor }
        default:
            return badOptions
        }
        return .dataIn(data, allocationLength: allocationLength)
    }

    /// Command timeouts descriptor (SPC-4 6.35.4): length 0x0A, no timeouts reported.
    private static let timeoutsDescriptor: [UInt8] = [0, 0x0A] + [UInt8](repeating: 0, count: 10)

    /// START STOP UNIT (SBC-3 5.25): power conditions are accepted and ignored; with LOEJ a
    /// removable unit ejects (START 0) or loads (START 1) its medium unless a nexus prevents it.
    static func startStopUnit(_ context: CommandContext) -> CommandOutcome {
        let control = context.cdb[4]
        let powerCondition = control >> 4
        let loadEject = control & 0x02 != 0
        let start = control & 0x01 != 0
        guard powerCondition == 0, loadEject, context.profile.options.removable else { return .good }
        let prevented: Bool = context.device.lock.withLock {
            if context.unit.removalPrevented { return true }
            context.unit.mediumPresent = start
            return false
        }
        return prevented ? .check(.illegalRequest, .mediumRemovalPrevented) : .good
    }

    /// PREVENT ALLOW MEDIUM REMOVAL: PREVENT 00b allows, 01b prevents, for this nexus.
    static func preventAllowMediumRemoval(_ context: CommandContext) -> CommandOutcome {
        let prevent = context.cdb[4] & 0x03
        guard prevent <= 1 else { return .invalidField(cdbByte: 4) }
        context.device.lock.withLock {
            context.unit.setPreventsRemoval(prevent == 1, for: context.nexus)
        }
        return .good
    }
}
