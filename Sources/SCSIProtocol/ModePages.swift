/// One mode page (SPC-4 7.5.7): page_0 format when `subpageCode` is 0, sub_page format otherwise.
public struct ModePage: Sendable, Equatable {
    public var pageCode: UInt8
    public var subpageCode: UInt8
    /// The bytes after the page header (the PAGE LENGTH bytes).
    public var parameters: [UInt8]

    public init(pageCode: UInt8, subpageCode: UInt8 = 0, parameters: [UInt8]) {
        self.pageCode = pageCode
        self.subpageCode = subpageCode
        self.parameters = parameters
    }

    public var isSubpageFormat: Bool { subpageCode != 0 }
    public var headerLength: Int { isSubpageFormat ? 4 : 2 }

    public var bytes: [UInt8] {
        let header: [UInt8] =
            isSubpageFormat
            ? [pageCode | 0x40, subpageCode, UInt8(parameters.count >> 8), UInt8(parameters.count & 0xFF)]
            : [pageCode, UInt8(parameters.count)]
        return header + parameters
    }

    public static let caching: UInt8 = 0x08
    public static let control: UInt8 = 0x0A
    public static let allPages: UInt8 = 0x3F
    public static let allSubpages: UInt8 = 0xFF
}

/// The block descriptor of mode parameter data (SBC-3 6.4.2).
public enum ModeBlockDescriptor: Sendable, Equatable {
    /// 8 bytes; block counts above 0xFFFFFFFF are reported as 0xFFFFFFFF.
    case short(blocks: UInt64, blockLength: UInt32)
    /// 16 bytes (LONGLBA).
    case long(blocks: UInt64, blockLength: UInt32)

    public var blockLength: UInt32 {
        switch self {
        case .short(_, let length), .long(_, let length): return length
        }
    }

    public var bytes: [UInt8] {
        switch self {
        case .short(let blocks, let length):
            let count = UInt32(min(blocks, 0xFFFF_FFFF))
            return bigEndian(UInt64(count), 4) + [0] + bigEndian(UInt64(length), 3)
        case .long(let blocks, let length):
            return bigEndian(blocks, 8) + [0, 0, 0, 0] + bigEndian(UInt64(length), 4)
        }
    }
}

func bigEndian(_ value: UInt64, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * (count - 1 - $0))) }
}

/// Mode parameter lists for MODE SENSE and MODE SELECT (SPC-4 7.5).
public enum ModeParameterList {
    /// MODE SENSE data: header, optional block descriptor, then the pages.
    public static func senseData(
        tenByte: Bool, mediumType: UInt8 = 0, deviceSpecific: UInt8, blockDescriptor: ModeBlockDescriptor?,
        pages: [ModePage]
    ) -> [UInt8] {
        let descriptor = blockDescriptor?.bytes ?? []
        let body = descriptor + pages.flatMap(\.bytes)
        if tenByte {
            let longLBA: UInt8 = if case .long = blockDescriptor { 1 } else { 0 }
            let dataLength = 6 + body.count  // MODE DATA LENGTH excludes itself
            return bigEndian(UInt64(dataLength), 2) + [mediumType, deviceSpecific, longLBA, 0]
                + bigEndian(UInt64(descriptor.count), 2) + body
        }
        return [UInt8(truncatingIfNeeded: 3 + body.count), mediumType, deviceSpecific, UInt8(descriptor.count)] + body
    }

    /// What a MODE SELECT parameter list carries.
    public struct SelectParameters: Sendable, Equatable {
        public var mediumType: UInt8
        public var deviceSpecific: UInt8
        public var blockDescriptor: ModeBlockDescriptor?
        public var pages: [ModePage]
    }

    public enum SelectError: Error, Equatable {
        /// The list ends inside a header, descriptor or page (PARAMETER LIST LENGTH ERROR).
        case truncated
        /// A malformed field at this byte offset (INVALID FIELD IN PARAMETER LIST).
        case invalidField(byte: Int)
    }

    /// Splits a MODE SELECT(6) or (10) parameter list; one block descriptor at most, and the
    /// reserved PS bit must be clear in every page.
    public static func parseSelect(_ data: [UInt8], tenByte: Bool) throws(SelectError) -> SelectParameters {
        let headerLength = tenByte ? 8 : 4
        guard data.count >= headerLength else { throw .truncated }
        let descriptorLength = tenByte ? Int(data[6]) << 8 | Int(data[7]) : Int(data[3])
        let longLBA = tenByte && data[4] & 0x01 != 0
        var offset = headerLength
        var descriptor: ModeBlockDescriptor?
        if descriptorLength != 0 {
            guard descriptorLength == (longLBA ? 16 : 8) else { throw .invalidField(byte: tenByte ? 7 : 3) }
            guard data.count >= offset + descriptorLength else { throw .truncated }
            let d = Array(data[offset..<offset + descriptorLength])
            if longLBA {
                descriptor = .long(blocks: value(d, 0, 8), blockLength: UInt32(value(d, 12, 4)))
            } else {
                descriptor = .short(blocks: value(d, 0, 4), blockLength: UInt32(value(d, 5, 3)))
            }
            offset += descriptorLength
        }
        var pages: [ModePage] = []
        while offset < data.count {
            let subpageFormat = data[offset] & 0x40 != 0
            let pageHeader = subpageFormat ? 4 : 2
            guard data.count >= offset + pageHeader else { throw .truncated }
            guard data[offset] & 0x80 == 0 else { throw .invalidField(byte: offset) }
            let length = subpageFormat ? Int(data[offset + 2]) << 8 | Int(data[offset + 3]) : Int(data[offset + 1])
            guard data.count >= offset + pageHeader + length else { throw .truncated }
            pages.append(
                ModePage(
                    pageCode: data[offset] & 0x3F, subpageCode: subpageFormat ? data[offset + 1] : 0,
                    parameters: Array(data[offset + pageHeader..<offset + pageHeader + length])))
            offset += pageHeader + length
        }
        return SelectParameters(
            mediumType: data[1 + (tenByte ? 1 : 0)], deviceSpecific: data[2 + (tenByte ? 1 : 0)],
            blockDescriptor: descriptor, pages: pages)
    }

    static func value(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> UInt64 {
        bytes[offset..<offset + count].reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// tgt's `mode_page=PAGE:SUBPAGE:LENGTH:BYTE...` logical-unit parameter, as far as this target
/// applies it: the caching page's WCE bit (tgt-admin's `write-cache off` writes that page).
public enum ModePageParameter {
    /// The WCE bit a `mode_page` value sets, or nil when it is not a well-formed caching page.
    public static func writeCacheEnabled(_ value: String) -> Bool? {
        let fields = value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 4, let page = number(fields[0]), let subpage = number(fields[1]),
            let length = number(fields[2]), page == 0x08, subpage == 0, length == fields.count - 3,
            let byte2 = number(fields[3]), byte2 <= 0xFF
        else { return nil }
        return byte2 & 0x04 != 0
    }

    /// tgt reads the numbers with strtol base 0: decimal, 0x hex or 0 octal.
    private static func number(_ text: String) -> Int? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return Int(text.dropFirst(2), radix: 16) }
        if text.count > 1, text.hasPrefix("0") { return Int(text.dropFirst(), radix: 8) }
        return Int(text)
    }
}
