/// Builders for the vital product data pages a block target reports (SPC-4 7.8, SBC-3 6.5).
/// Each returns the whole page including its 4-byte header; `peripheral` is byte 0
/// (qualifier and device type).
public enum VPDPage {
    public static let supportedPages: UInt8 = 0x00
    public static let unitSerialNumber: UInt8 = 0x80
    public static let deviceIdentification: UInt8 = 0x83
    public static let blockLimits: UInt8 = 0xB0
    public static let blockDeviceCharacteristics: UInt8 = 0xB1
    public static let logicalBlockProvisioning: UInt8 = 0xB2

    static func page(_ peripheral: UInt8, _ code: UInt8, _ body: [UInt8]) -> [UInt8] {
        [peripheral, code, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    public static func supportedPagesPage(peripheral: UInt8, pages: [UInt8]) -> [UInt8] {
        page(peripheral, supportedPages, pages)
    }

    /// The serial number right-aligned in a space-filled field of `fieldLength` bytes
    /// (tgt uses 36); longer serials keep their last `fieldLength` characters.
    public static func unitSerialNumberPage(peripheral: UInt8, serial: String, fieldLength: Int = 36) -> [UInt8] {
        let text = Array(serial.utf8.suffix(fieldLength))
        return page(peripheral, unitSerialNumber, [UInt8](repeating: 0x20, count: fieldLength - text.count) + text)
    }

    public static func deviceIdentificationPage(peripheral: UInt8, designators: [Designator]) -> [UInt8] {
        page(peripheral, deviceIdentification, designators.flatMap(\.bytes))
    }

    /// BLOCK LIMITS (SBC-3 6.5.3); lengths are in logical blocks, 0 meaning "not reported".
    public struct BlockLimits: Sendable {
        public var writeSameNonZero = false
        public var maximumCompareAndWriteLength: UInt8 = 0
        public var optimalTransferLengthGranularity: UInt16 = 0
        public var maximumTransferLength: UInt32 = 0
        public var optimalTransferLength: UInt32 = 0
        public var maximumPrefetchLength: UInt32 = 0
        public var maximumUnmapLBACount: UInt32 = 0
        public var maximumUnmapBlockDescriptorCount: UInt32 = 0
        public var optimalUnmapGranularity: UInt32 = 0
        public var unmapGranularityAlignment: UInt32? = nil
        public var maximumWriteSameLength: UInt64 = 0
        public init() {}
    }

    public static func blockLimitsPage(peripheral: UInt8, limits: BlockLimits) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: 0x3C)
        body[0] = limits.writeSameNonZero ? 0x01 : 0
        body[1] = limits.maximumCompareAndWriteLength
        put(&body, 2, UInt64(limits.optimalTransferLengthGranularity), bytes: 2)
        put(&body, 4, UInt64(limits.maximumTransferLength), bytes: 4)
        put(&body, 8, UInt64(limits.optimalTransferLength), bytes: 4)
        put(&body, 12, UInt64(limits.maximumPrefetchLength), bytes: 4)
        put(&body, 16, UInt64(limits.maximumUnmapLBACount), bytes: 4)
        put(&body, 20, UInt64(limits.maximumUnmapBlockDescriptorCount), bytes: 4)
        put(&body, 24, UInt64(limits.optimalUnmapGranularity), bytes: 4)
        if let alignment = limits.unmapGranularityAlignment {
            put(&body, 28, UInt64(alignment) | 0x8000_0000, bytes: 4)  // UGAVALID
        }
        put(&body, 32, limits.maximumWriteSameLength, bytes: 8)
        return page(peripheral, blockLimits, body)
    }

    /// BLOCK DEVICE CHARACTERISTICS (SBC-3 6.5.2); tgt reports a 0x40-byte page.
    public static func blockDeviceCharacteristicsPage(peripheral: UInt8, rotationRate: UInt16 = 0) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: 0x40)
        put(&body, 0, UInt64(rotationRate), bytes: 2)
        return page(peripheral, blockDeviceCharacteristics, body)
    }

    /// LOGICAL BLOCK PROVISIONING (SBC-3 6.5.4) for a fully provisioned unit.
    public static func logicalBlockProvisioningPage(peripheral: UInt8) -> [UInt8] {
        page(peripheral, logicalBlockProvisioning, [0, 0, 0, 0])
    }

    /// What a thin provisioned unit supports (SBC-3 6.5.4).
    public struct ThinProvisioning: Sendable, Equatable {
        /// LBPU: UNMAP.
        public var unmap = true
        /// LBPWS: WRITE SAME(16) with UNMAP.
        public var writeSame16 = true
        /// LBPWS10: WRITE SAME(10) with UNMAP.
        public var writeSame10 = true
        /// LBPRZ: unmapped blocks read as zeros.
        public var readsZeros = true
        /// ANC_SUP: anchored blocks.
        public var anchor = false
        public init() {}
    }

    /// LOGICAL BLOCK PROVISIONING for a thin provisioned unit: PROVISIONING TYPE 010b.
    public static func logicalBlockProvisioningPage(peripheral: UInt8, thin: ThinProvisioning) -> [UInt8] {
        var flags: UInt8 = 0
        if thin.unmap { flags |= 0x80 }
        if thin.writeSame16 { flags |= 0x40 }
        if thin.writeSame10 { flags |= 0x20 }
        if thin.readsZeros { flags |= 0x04 }
        if thin.anchor { flags |= 0x02 }
        return page(peripheral, logicalBlockProvisioning, [0, flags, 0x02, 0])
    }

    static func put(_ body: inout [UInt8], _ offset: Int, _ value: UInt64, bytes: Int) {
        for i in 0..<bytes {
            body[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * (bytes - 1 - i)))
        }
    }
}

/// One designation descriptor of the DEVICE IDENTIFICATION page (SPC-4 7.8.6.1).
public struct Designator: Sendable, Equatable {
    public enum CodeSet: UInt8, Sendable { case binary = 1, ascii = 2, utf8 = 3 }
    public enum Association: UInt8, Sendable { case logicalUnit = 0, targetPort = 1, targetDevice = 2 }
    public enum DesignatorType: UInt8, Sendable {
        case vendorSpecific = 0, t10VendorID = 1, eui64 = 2, naa = 3, relativeTargetPort = 4
        case targetPortGroup = 5, logicalUnitGroup = 6, md5 = 7, scsiName = 8
    }

    public var codeSet: CodeSet
    public var association: Association
    public var type: DesignatorType
    public var value: [UInt8]
    /// PROTOCOL IDENTIFIER with PIV set (SPC-4 7.8.6.1), for target port designators; nil
    /// leaves both zero, as for logical unit designators.
    public var protocolIdentifier: UInt8?

    public init(
        codeSet: CodeSet, association: Association = .logicalUnit, type: DesignatorType, value: [UInt8],
        protocolIdentifier: UInt8? = nil
    ) {
        self.codeSet = codeSet
        self.association = association
        self.type = type
        self.value = value
        self.protocolIdentifier = protocolIdentifier
    }

    public var bytes: [UInt8] {
        let protocolNibble = (protocolIdentifier ?? 0) << 4
        let piv: UInt8 = protocolIdentifier == nil ? 0 : 0x80
        return [protocolNibble | codeSet.rawValue, piv | association.rawValue << 4 | type.rawValue, 0, UInt8(value.count)]
            + value
    }
}

/// PROTOCOL IDENTIFIER values (SPC-4 7.6.1).
public enum ProtocolIdentifier {
    public static let iSCSI: UInt8 = 0x5
}

extension Designator {
    /// RELATIVE TARGET PORT (type 4) of an iSCSI target port (SPC-4 7.8.6.5).
    public static func relativeTargetPort(_ id: UInt16) -> Designator {
        Designator(
            codeSet: .binary, association: .targetPort, type: .relativeTargetPort, value: [0, 0, UInt8(id >> 8), UInt8(id & 0xFF)],
            protocolIdentifier: ProtocolIdentifier.iSCSI)
    }

    /// TARGET PORT GROUP (type 5) the iSCSI target port belongs to (SPC-4 7.8.6.6).
    public static func targetPortGroup(_ id: UInt16) -> Designator {
        Designator(
            codeSet: .binary, association: .targetPort, type: .targetPortGroup, value: [0, 0, UInt8(id >> 8), UInt8(id & 0xFF)],
            protocolIdentifier: ProtocolIdentifier.iSCSI)
    }

    /// SCSI NAME STRING (type 8) of an iSCSI target port, "iqn...,t,0x0001" (SPC-4 7.8.6.11):
    /// UTF-8, NUL terminated and padded to a multiple of four bytes, at most 256. Nil for an
    /// empty name.
    public static func scsiNameString(ofTargetPort name: String) -> Designator? {
        var value = Array(name.utf8.prefix(255))
        guard !value.isEmpty else { return nil }
        value.append(0)
        while value.count % 4 != 0 { value.append(0) }
        return Designator(
            codeSet: .utf8, association: .targetPort, type: .scsiName, value: value, protocolIdentifier: ProtocolIdentifier.iSCSI)
    }
}
