/// PERIPHERAL DEVICE TYPE values used here (SPC-4 6.4.2).
public enum PeripheralDeviceType: UInt8, Sendable {
    case directAccess = 0x00
    case storageArrayController = 0x0C
    case unknown = 0x1F
}

/// PERIPHERAL QUALIFIER values (SPC-4 6.4.2).
public enum PeripheralQualifier: UInt8, Sendable {
    case connected = 0
    case notConnected = 1
    /// The device server cannot support a peripheral device on this logical unit.
    case notSupported = 3
}

/// Standard INQUIRY data (SPC-4 6.4.2) laid out as tgt does: 66 bytes, SPC-3 version,
/// HiSup, response format 2, CmdQue, up to four version descriptors.
public struct StandardInquiryData: Sendable {
    public var qualifier: PeripheralQualifier = .connected
    public var deviceType: PeripheralDeviceType
    public var removable = false
    /// TPGS (byte 5 bits 5-4): 01b implicit, 10b explicit asymmetric access; 0 without ALUA,
    /// as tgt reports.
    public var targetPortGroupSupport: UInt8 = 0
    public var vendor: String
    public var product: String
    public var revision: String
    public var versionDescriptors: [UInt16]

    public static let length = 66

    public init(deviceType: PeripheralDeviceType, vendor: String, product: String, revision: String, versionDescriptors: [UInt16]) {
        self.deviceType = deviceType
        self.vendor = vendor
        self.product = product
        self.revision = revision
        self.versionDescriptors = versionDescriptors
    }

    public var bytes: [UInt8] {
        var data = [UInt8](repeating: 0, count: Self.length)
        data[0] = qualifier.rawValue << 5 | deviceType.rawValue
        data[1] = removable ? 0x80 : 0
        data[2] = 0x05  // SPC-3
        data[3] = 0x12  // HiSup, RESPONSE DATA FORMAT 2
        data[4] = UInt8(Self.length - 5)
        data[5] = (targetPortGroupSupport & 0x03) << 4
        data[7] = 0x02  // CmdQue
        data.replaceSubrange(8..<16, with: Self.padded(vendor, to: 8))
        data.replaceSubrange(16..<32, with: Self.padded(product, to: 16))
        data.replaceSubrange(32..<36, with: Self.padded(revision, to: 4))
        for (i, descriptor) in versionDescriptors.prefix(4).enumerated() {
            data[58 + 2 * i] = UInt8(descriptor >> 8)
            data[59 + 2 * i] = UInt8(descriptor & 0xFF)
        }
        return data
    }

    /// ASCII left-aligned and space-padded (SPC-4 4.4.1); other characters become spaces.
    public static func padded(_ text: String, to width: Int) -> [UInt8] {
        var field = text.utf8.prefix(width).map { (0x20...0x7E).contains($0) ? $0 : 0x20 }
        field += [UInt8](repeating: 0x20, count: width - field.count)
        return field
    }
}

/// Version descriptor codes (SPC-4 Table 143).
public enum VersionDescriptor {
    public static let sbc3: UInt16 = 0x04C0
    public static let iSCSI: UInt16 = 0x0960
    public static let spc3: UInt16 = 0x0300
    public static let scc2: UInt16 = 0x01FB
}
