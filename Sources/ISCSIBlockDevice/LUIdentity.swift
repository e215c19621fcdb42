import NIOCore

/// The name a logical unit goes by on every path to it, from the DEVICE IDENTIFICATION VPD page
/// (0x83): LUs with the same identity are one LU reached through several paths.
///
/// Chosen as Linux does (the kernel's scsi_vpd_lun_id, udev's scsi_id): among the designators
/// whose association is the logical unit, NAA IEEE registered extended, then NAA registered, then
/// other NAA (locally assigned last), then EUI-64 (longest first), then SCSI name string, then T10
/// vendor ID; a longer designator of the same kind wins. Target-port designators (relative target
/// port, target port group) describe the path, not the LU, and are read separately.
public struct LUIdentity: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable {
        /// Values are udev's scsi_id prefixes (the designator type), as multipath's WWIDs start.
        case t10VendorID = 1, eui64 = 2, naa = 3, scsiName = 8
    }

    public var kind: Kind
    /// Binary designators in lower-case hex; text ones as the target sent them (trailing
    /// spaces and NULs dropped).
    public var value: String

    public init(kind: Kind, value: String) {
        self.kind = kind
        self.value = value
    }

    /// multipath's WWID: scsi_id's `-u` form, the type digit then the value ("36001405...").
    public var wwid: String { "\(kind.rawValue)" + value.map { $0 == " " ? "_" : $0 }.reduce(into: "") { $0.append($1) } }

    /// The /dev/disk/by-id name udev gives the disk: `wwn-0x<hex>` for NAA and EUI-64,
    /// `scsi-<wwid>` otherwise.
    public var byIDName: String {
        switch kind {
        case .naa, .eui64: return "wwn-0x" + value
        case .t10VendorID, .scsiName:
            return "scsi-" + String(wwid.map { $0.isLetter || $0.isNumber || "-_.:".contains($0) ? $0 : "_" })
        }
    }

    public var description: String { wwid }

    /// The best identity in a DEVICE IDENTIFICATION page, nil when it names the LU no way we use.
    public static func choose(page data: ByteBuffer) -> LUIdentity? {
        var best: (priority: Int, length: Int, identity: LUIdentity)?
        for designator in Designation.parse(page: data) where designator.association == 0 {
            guard let (priority, identity) = rank(designator) else { continue }
            let length = designator.value.count
            if let current = best, (current.priority, current.length) >= (priority, length) { continue }
            best = (priority, length, identity)
        }
        return best?.identity
    }

    /// Higher is better; nil for designators that identify nothing stable.
    private static func rank(_ d: Designation) -> (Int, LUIdentity)? {
        switch d.type {
        case 3:  // NAA: the high nibble of the first byte is the NAA type.
            guard let first = d.value.first else { return nil }
            let priority: Int
            switch first >> 4 {
            case 6: priority = 90  // IEEE registered extended
            case 5: priority = 80  // IEEE registered
            case 2: priority = 70  // IEEE extended
            case 3: priority = 60  // locally assigned
            default: return nil
            }
            return (priority, LUIdentity(kind: .naa, value: hex(d.value)))
        case 2:
            guard [8, 12, 16].contains(d.value.count) else { return nil }
            return (50, LUIdentity(kind: .eui64, value: hex(d.value)))
        case 8:
            guard d.codeSet == 3, let text = trimmedText(d.value) else { return nil }
            return (40, LUIdentity(kind: .scsiName, value: text))
        case 1:
            guard d.codeSet == 2, let text = trimmedText(d.value) else { return nil }
            return (30, LUIdentity(kind: .t10VendorID, value: text))
        default:
            return nil
        }
    }

    private static func trimmedText(_ bytes: [UInt8]) -> String? {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0 || bytes[end - 1] == 0x20 { end -= 1 }
        guard end > 0 else { return nil }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// One designation descriptor of VPD page 0x83 (SPC-4 7.8.6.1), as read from a target.
struct Designation: Equatable {
    var codeSet: UInt8
    /// 0 logical unit, 1 target port, 2 target device.
    var association: UInt8
    var type: UInt8
    var value: [UInt8]

    /// The descriptors of a page (header included); a truncated last one is dropped.
    static func parse(page data: ByteBuffer) -> [Designation] {
        let base = data.readerIndex
        guard let pageLength = data.getInteger(at: base + 2, as: UInt16.self) else { return [] }
        let end = min(data.readableBytes, 4 + Int(pageLength))
        var result: [Designation] = []
        var at = 4
        while at + 4 <= end, let header = data.getBytes(at: base + at, length: 4) {
            let length = Int(header[3])
            guard at + 4 + length <= end, let value = data.getBytes(at: base + at + 4, length: length) else { break }
            result.append(Designation(codeSet: header[0] & 0x0F, association: (header[1] >> 4) & 0x3, type: header[1] & 0x0F, value: value))
            at += 4 + length
        }
        return result
    }

    /// The path's own numbers: RELATIVE TARGET PORT IDENTIFIER and TARGET PORT GROUP (both with
    /// target-port association), for matching a path to its REPORT TARGET PORT GROUPS entry.
    static func portNumbers(page data: ByteBuffer) -> (relativePort: UInt16?, group: UInt16?) {
        var relativePort: UInt16?
        var group: UInt16?
        for d in parse(page: data) where d.association == 1 && d.value.count >= 4 {
            let number = UInt16(d.value[2]) << 8 | UInt16(d.value[3])
            if d.type == 4 { relativePort = number }
            if d.type == 5 { group = number }
        }
        return (relativePort, group)
    }
}

/// What the standard INQUIRY data says that multipath needs.
public struct StandardInquiry: Sendable, Equatable {
    public var peripheralDeviceType: UInt8
    /// TPGS (byte 5 bits 5-4): 0 no ALUA, 1 implicit, 2 explicit, 3 both.
    public var tpgs: UInt8
    public var vendor: String
    public var product: String
    public var revision: String

    public init?(_ data: ByteBuffer) {
        let base = data.readerIndex
        guard let bytes = data.getBytes(at: base, length: min(36, data.readableBytes)), bytes.count >= 6 else { return nil }
        peripheralDeviceType = bytes[0] & 0x1F
        tpgs = (bytes[5] >> 4) & 0x3
        func text(_ range: Range<Int>) -> String {
            guard bytes.count >= range.upperBound else { return "" }
            return String(decoding: bytes[range], as: UTF8.self).trimmingSpaces
        }
        vendor = text(8..<16)
        product = text(16..<32)
        revision = text(32..<36)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.last == " " || s.last == "\0" { s = s.dropLast() }
        while s.first == " " { s = s.dropFirst() }
        return String(s)
    }
}
