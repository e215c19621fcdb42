import NIOCore
import SCSIProtocol

/// What INQUIRY reports for one logical unit, built once as tgtd builds it (usr/spc.c) so that
/// iscsi-inq and iscsi-ls print the same. Buffers are sliced per command, never copied.
struct LogicalUnitIdentity: Sendable {
    let scsiID: String
    let serial: String
    let standardInquiry: ByteBuffer
    private let vpdPages: [(code: UInt8, page: ByteBuffer)]
    private let peripheral: UInt8
    /// The logical unit's designators of VPD 0x83, to which a target port's are added.
    private let unitDesignators: [Designator]

    /// Reported as OPTIMAL TRANSFER LENGTH unless `optimal_xfer_len` sets one: large enough
    /// that longer transfers gain nothing, small enough to keep a command's buffers modest.
    static let defaultOptimalTransferBytes = 1 << 20

    /// `unmapGranularity`: the OPTIMAL UNMAP GRANULARITY of a thin provisioned unit, in logical
    /// blocks (a physical block, or the store's discard granularity if larger); `unmapReadsZeros` its LBPRZ. `blockSize` is 0 for a unit that
    /// moves no data (the controller).
    init(
        targetID: Int, lun: UInt64, deviceType: PeripheralDeviceType, options: LogicalUnitOptions,
        maximumWriteSame: UInt32, unmapGranularity: UInt32 = 1, unmapReadsZeros: Bool = true,
        blockSize: Int = 0, targetPortGroupSupport: UInt8 = 0
    ) {
        let scsiID = options.scsiID ?? "IET     " + Self.hex(UInt64(targetID), width: 4) + Self.hex(lun, width: 4)
        let serial = options.serialNumber ?? "beaf\(targetID)\(lun)"
        self.scsiID = scsiID
        self.serial = serial

        let isController = deviceType == .storageArrayController
        var standard = StandardInquiryData(
            deviceType: deviceType, vendor: options.vendor, product: isController ? "Controller" : options.product,
            revision: options.revision,
            versionDescriptors: [
                VersionDescriptor.sbc3, VersionDescriptor.iSCSI, isController ? VersionDescriptor.scc2 : VersionDescriptor.spc3,
            ])
        standard.removable = options.removable && !isController
        standard.targetPortGroupSupport = targetPortGroupSupport
        standardInquiry = ByteBuffer(bytes: standard.bytes)

        let peripheral = deviceType.rawValue
        self.peripheral = peripheral
        let unitDesignators = Self.designators(
            scsiID: scsiID, administratorSet: options.scsiID != nil, targetID: targetID, lun: lun)
        self.unitDesignators = unitDesignators
        let thin = options.thinProvisioning && !isController
        var limits = VPDPage.BlockLimits()
        limits.maximumCompareAndWriteLength = UInt8(CompareAndWriteCommand.maximumBlocks)  // what tgtd reports
        limits.maximumWriteSameLength = UInt64(maximumWriteSame)
        limits.optimalTransferLengthGranularity = options.optimalTransferLengthGranularity
        if blockSize > 0 {
            // Every command is held to the maximum (SCSITargetDevice), and the kernel sizes its
            // requests by these two (max_hw_sectors_kb, optimal_io_size).
            let maximum = UInt32(SCSITargetDevice.maximumTransferBytes / blockSize)
            let optimal = options.optimalTransferLength != 0
                ? options.optimalTransferLength : UInt32(Self.defaultOptimalTransferBytes / blockSize)
            limits.maximumTransferLength = maximum
            limits.optimalTransferLength = min(optimal, maximum)
        } else {
            limits.optimalTransferLength = options.optimalTransferLength
        }
        if thin {
            limits.maximumUnmapLBACount = ProvisioningCommands.maximumUnmapBlocks
            limits.maximumUnmapBlockDescriptorCount = ProvisioningCommands.maximumUnmapDescriptors
            limits.optimalUnmapGranularity = unmapGranularity
            limits.unmapGranularityAlignment = 0
        }
        var provisioning = VPDPage.ThinProvisioning()
        provisioning.readsZeros = unmapReadsZeros
        let pages: [(UInt8, [UInt8])] = [
            (VPDPage.unitSerialNumber, VPDPage.unitSerialNumberPage(peripheral: peripheral, serial: serial)),
            (
                VPDPage.deviceIdentification,
                VPDPage.deviceIdentificationPage(peripheral: peripheral, designators: unitDesignators)
            ),
            (VPDPage.blockLimits, VPDPage.blockLimitsPage(peripheral: peripheral, limits: limits)),
            (VPDPage.blockDeviceCharacteristics, VPDPage.blockDeviceCharacteristicsPage(peripheral: peripheral, rotationRate: options.rotationRate)),
            (
                VPDPage.logicalBlockProvisioning,
                thin
                    ? VPDPage.logicalBlockProvisioningPage(peripheral: peripheral, thin: provisioning)
                    : VPDPage.logicalBlockProvisioningPage(peripheral: peripheral)
            ),
        ]
        let supported = VPDPage.supportedPagesPage(peripheral: peripheral, pages: [VPDPage.supportedPages] + pages.map(\.0))
        vpdPages = ([(VPDPage.supportedPages, supported)] + pages).map { ($0.0, ByteBuffer(bytes: $0.1)) }
    }

    func vpdPage(_ code: UInt8) -> ByteBuffer? {
        vpdPages.first { $0.code == code }?.page
    }

    /// DEVICE IDENTIFICATION with the designators of the target port the command came through
    /// after the unit's (with ALUA; without, the page is `vpdPage(0x83)`, tgt's).
    func deviceIdentificationPage(adding portDesignators: [Designator]) -> ByteBuffer {
        ByteBuffer(bytes: VPDPage.deviceIdentificationPage(peripheral: peripheral, designators: unitDesignators + portDesignators))
    }

    /// Same standard INQUIRY data and same VPD pages, byte for byte.
    func presentsSameData(as other: LogicalUnitIdentity) -> Bool {
        standardInquiry == other.standardInquiry && vpdPages.count == other.vpdPages.count
            && zip(vpdPages, other.vpdPages).allSatisfy { $0.code == $1.code && $0.page == $1.page }
    }

    /// tgt's three designators: the SCSI ID as a T10 vendor ID (36 bytes, zero padded), a
    /// locally assigned NAA from target and LUN numbers, and an IEEE registered extended NAA
    /// whose value is the SCSI ID read as hexadecimal digits (other characters count as 0).
    ///
    /// When the administrator set the SCSI ID (`administratorSet`), the locally assigned NAA
    /// comes from it alone, so that gateways exporting one store under different target IDs
    /// (or LUNs) present one identity and multipath joins their paths.
    static func designators(scsiID: String, administratorSet: Bool = false, targetID: Int, lun: UInt64) -> [Designator] {
        var t10 = Array(scsiID.utf8.prefix(36))
        t10 += [UInt8](repeating: 0, count: 36 - t10.count)

        let local = administratorSet ? fnv1a(scsiID.utf8) : UInt64(truncatingIfNeeded: targetID) << 32 | lun
        let numeric = local & 0x0FFF_FFFF_FFFF_FFFF | 0x3000_0000_0000_0000

        var high: UInt64 = 0
        var low: UInt64 = 0
        for character in scsiID.utf8 {
            high = high << 4 | low >> 60
            low = low << 4 | UInt64(hexValue(character))
        }
        high = high & 0x0FFF_FFFF_FFFF_FFFF | 0x6000_0000_0000_0000

        return [
            Designator(codeSet: .ascii, type: .t10VendorID, value: t10),
            Designator(codeSet: .binary, type: .naa, value: bigEndianBytes(numeric)),
            Designator(codeSet: .binary, type: .naa, value: bigEndianBytes(high) + bigEndianBytes(low)),
        ]
    }

    /// 64-bit FNV-1a: stable across processes and builds, unlike Swift's seeded `Hasher`.
    static func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
        bytes.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
    }

    private static func hexValue(_ character: UInt8) -> UInt8 {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return character - UInt8(ascii: "A") + 10
        default: return 0
        }
    }

    private static func bigEndianBytes(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64(56 - 8 * $0)) }
    }

    /// Lower-case hexadecimal, zero padded to at least `width` digits (printf "%0*x").
    static func hex(_ value: UInt64, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
