import SCSIProtocol

enum CapacityCommands {
    /// READ CAPACITY(10): the last LBA, or 0xFFFFFFFF when it does not fit (SBC-3 5.15).
    static func readCapacity10(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        // Without PMI the LOGICAL BLOCK ADDRESS field must be zero.
        if cdb[8] & 0x01 == 0 && cdb.uint32(at: 2) != 0 { return .invalidField(cdbByte: 2) }
        let lastLBA = min(context.state.blockCount - 1, 0xFFFF_FFFF)
        let data = [UInt8].bigEndian(lastLBA, count: 4) + .bigEndian(UInt64(context.unit.blockSize), count: 4)
        return .dataIn(data, allocationLength: data.count)
    }

    /// READ CAPACITY(16) (SBC-3 5.16): no protection, tgt's physical block exponent; LBPME and
    /// LBPRZ when thin provisioned on a store whose unmapped blocks read as zeros.
    static func readCapacity16(_ context: CommandContext) -> CommandOutcome {
        var data = [UInt8].bigEndian(context.state.blockCount - 1, count: 8)
        data += .bigEndian(UInt64(context.unit.blockSize), count: 4)
        let profile = context.profile
        let lbprz: UInt8 = profile.unmapReadsZeros ? 0x40 : 0
        let provisioning: UInt8 = profile.isThinProvisioned ? 0x80 | lbprz : 0  // LBPME, LBPRZ
        let lowestAligned = profile.options.lowestAlignedLBA & 0x3FFF
        data += [0, profile.physicalBlockExponent, provisioning | UInt8(lowestAligned >> 8), UInt8(lowestAligned & 0xFF)]
        data += [UInt8](repeating: 0, count: 16)
        return .dataIn(data, allocationLength: Int(min(context.cdb.uint32(at: 10), 32)))
    }
}
