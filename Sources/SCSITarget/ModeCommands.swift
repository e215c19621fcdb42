import NIOCore
import SCSIProtocol

/// MODE SENSE and MODE SELECT (6 and 10) over tgtd's page set: disconnect-reconnect, caching
/// (WCE changeable), control (SWP changeable), control extension, informational exceptions.
enum ModeCommands {
    enum PageControl: UInt8 {
        case current = 0, changeable = 1, defaults = 2, saved = 3
    }

    /// DPOFUA: DPO and FUA are honoured on reads and writes.
    static let dpoFUA: UInt8 = 0x10
    static let writeProtect: UInt8 = 0x80

    /// The unit's pages for one page control value; caller holds the lock.
    static func pages(_ unit: LogicalUnit, _ control: PageControl) -> [ModePage] {
        let changeable = control == .changeable
        let defaults = control == .defaults
        let wce = defaults ? (unit.options.writeCache ?? unit.backstore?.hasVolatileWriteCache ?? false) : unit.writeCacheEnabled
        let swp = defaults ? false : unit.softwareWriteProtect
        func page(_ code: UInt8, subpage: UInt8 = 0, _ values: [UInt8], mask: [UInt8]? = nil) -> ModePage {
            let parameters = changeable ? (mask ?? [UInt8](repeating: 0, count: values.count)) : values
            return ModePage(pageCode: code, subpageCode: subpage, parameters: parameters)
        }
        let zeros = { (count: Int) in [UInt8](repeating: 0, count: count) }
        return [
            page(0x02, [0x80, 0x80, 0, 0x0A] + zeros(10)),
            page(
                ModePage.caching, [0x10 | (wce ? 0x04 : 0), 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x14] + zeros(6),
                mask: [0x04] + zeros(17)),
            page(ModePage.control, [0x02, 0x10, swp ? 0x08 : 0, 0, 0, 0, 0, 0, 0x02, 0], mask: [0, 0, 0x08] + zeros(7)),
            page(ModePage.control, subpage: 0x01, zeros(0x1C)),
            page(0x1C, [0x08] + zeros(9)),
        ]
    }

    static func modeSense(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        let tenByte = cdb.opcode == SCSIOpcode.modeSense10
        let disableBlockDescriptors = cdb[1] & 0x08 != 0
        let longLBA = tenByte && cdb[1] & 0x10 != 0
        let pageCode = cdb[2] & 0x3F
        let subpageCode = cdb[3]
        let allocationLength = tenByte ? Int(cdb.uint16(at: 7)) : Int(cdb[4])
        guard let control = PageControl(rawValue: cdb[2] >> 6), control != .saved else {
            return .check(.illegalRequest, .savingParametersNotSupported)
        }
        let unit = context.unit
        let all = context.device.lock.withLock { pages(unit, control) }
        let selected: [ModePage]
        switch (pageCode, subpageCode) {
        case (ModePage.allPages, 0): selected = all.filter { !$0.isSubpageFormat }
        case (ModePage.allPages, ModePage.allSubpages): selected = all
        case (_, ModePage.allSubpages): selected = all.filter { $0.pageCode == pageCode }
        default: selected = all.filter { $0.pageCode == pageCode && $0.subpageCode == subpageCode }
        }
        guard !selected.isEmpty else { return .invalidField(cdbByte: 2) }

        let blocks = context.state.blockCount
        let blockLength = UInt32(unit.blockSize)
        let descriptor: ModeBlockDescriptor? =
            disableBlockDescriptors ? nil
            : longLBA ? .long(blocks: blocks, blockLength: blockLength) : .short(blocks: blocks, blockLength: blockLength)
        let data = ModeParameterList.senseData(
            tenByte: tenByte, deviceSpecific: dpoFUA | (context.state.writeProtected ? writeProtect : 0),
            blockDescriptor: descriptor, pages: selected)
        return .dataIn(data, allocationLength: allocationLength)
    }

    /// Accepts only changes to changeable bits (WCE, SWP), page by page as MODE SENSE shows
    /// them; anything else is INVALID FIELD IN PARAMETER LIST and changes nothing. Other
    /// nexuses get MODE PARAMETERS CHANGED.
    static func modeSelect(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        let tenByte = cdb.opcode == SCSIOpcode.modeSelect10
        // PF must be set (SPC-4 pages follow), SP clear (nothing can be saved).
        guard cdb[1] & 0x10 != 0, cdb[1] & 0x01 == 0 else { return .invalidField(cdbByte: 1) }
        let listLength = tenByte ? Int(cdb.uint16(at: 7)) : Int(cdb[4])
        guard listLength > 0 else { return .good }
        guard let dataOut = context.request.dataOut, dataOut.readableBytes >= listLength,
            let list = dataOut.getBytes(at: dataOut.readerIndex, length: listLength)
        else { return .parameterListLengthError }

        let parameters: ModeParameterList.SelectParameters
        do {
            parameters = try ModeParameterList.parseSelect(list, tenByte: tenByte)
        } catch .truncated {
            return .parameterListLengthError
        } catch {
            return .invalidFieldInParameterList
        }
        let unit = context.unit
        guard parameters.mediumType == 0 else { return .invalidFieldInParameterList }
        if let descriptor = parameters.blockDescriptor, descriptor.blockLength != UInt32(unit.blockSize) {
            return .invalidFieldInParameterList
        }

        return context.device.lock.withLock {
            let current = pages(unit, .current)
            let changeable = pages(unit, .changeable)
            for page in parameters.pages {
                guard
                    let index = current.firstIndex(where: {
                        $0.pageCode == page.pageCode && $0.subpageCode == page.subpageCode
                    }), current[index].parameters.count == page.parameters.count
                else { return .invalidFieldInParameterList }
                for (offset, byte) in page.parameters.enumerated()
                where (byte ^ current[index].parameters[offset]) & ~changeable[index].parameters[offset] != 0 {
                    return .invalidFieldInParameterList
                }
            }
            let before = (unit.writeCacheEnabled, unit.softwareWriteProtect)
            for page in parameters.pages where page.subpageCode == 0 {
                if page.pageCode == ModePage.caching { unit.writeCacheEnabled = page.parameters[0] & 0x04 != 0 }
                if page.pageCode == ModePage.control { unit.softwareWriteProtect = page.parameters[2] & 0x08 != 0 }
            }
            if before != (unit.writeCacheEnabled, unit.softwareWriteProtect) {
                unit.postAttention(.modeParametersChanged, except: context.nexusID)
            }
            return .good
        }
    }
}
