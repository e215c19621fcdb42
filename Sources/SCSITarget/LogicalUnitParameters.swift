import SCSIProtocol

/// tgt's logical-unit parameters: the comma-separated `key=value` list of
/// `tgtadm --op update --mode logicalunit --params ...`, read as tgtd's lu_config (usr/spc.c)
/// reads it, onto `LogicalUnitOptions`.
///
/// Like tgtd, every parameter is applied in order and the answer is whatever the last parameter
/// that sets one said: an unknown key makes the request invalid, yet the keys around it still
/// take effect, and a later `online=` that succeeds clears the error. Numbers are read as C's
/// atoi reads them and cut to the width tgt stores them in (so `readonly=256` is 0, `readonly=abc`
/// is 0); strings are cut to the INQUIRY field sizes.
public struct LogicalUnitParameters: Sendable, Equatable {
    /// What one parameter asks beyond new options, in order.
    public enum Step: Sendable, Equatable {
        /// `online=`: load or remove the medium; its success or failure is the answer so far.
        case online(Bool)
        /// A key tgt does not know, a value missing, or a key tgt matches but refuses here
        /// (bsopts, bsoflags): the answer so far is "invalid request".
        case invalid(String)
        /// A key tgt knows that this target cannot apply (mode_page, path, descriptor sense):
        /// the answer so far is "this operation isn't supported".
        case unsupported(String)
    }

    /// The unit's options with every parameter applied.
    public var options: LogicalUnitOptions
    public var steps: [Step]

    public init(options: LogicalUnitOptions, steps: [Step]) {
        self.options = options
        self.steps = steps
    }

    /// Reads `text` (a leading "targetOps " as tgtadm sends it is skipped) over `options`, for a
    /// unit of `blockSize`-byte blocks (lbppbe is an exponent over it).
    public init(parsing text: String, over options: LogicalUnitOptions, blockSize: Int) {
        self.options = options
        steps = []
        var text = Substring(text)
        if text.hasPrefix("targetOps") { text = text.dropFirst(10) }
        for token in text.split(separator: ",", omittingEmptySubsequences: true) {
            apply(String(token), blockSize: blockSize)
        }
    }

    private static let keys: Set<String> = [
        "scsi_id", "scsi_sn", "vendor_id", "product_id", "product_rev", "sense_format", "lbppbe", "la_lba",
        "optimal_xfer_gran", "optimal_xfer_len", "removable", "readonly", "online", "mode_page", "path", "bsopts",
        "bsoflags", "thin_provisioning", "rotation_rate",
    ]

    private mutating func apply(_ token: String, blockSize: Int) {
        // tgt's match_token: "key=%s" with a non-empty value, keys compared exactly.
        guard let equals = token.firstIndex(of: "="), Self.keys.contains(String(token[..<equals])) else {
            steps.append(.invalid(token))
            return
        }
        let key = String(token[..<equals])
        let value = String(token[token.index(after: equals)...])
        guard !value.isEmpty else {
            steps.append(.invalid(token))
            return
        }
        let number = Self.atoi(value)
        let flag = Int8(truncatingIfNeeded: number) != 0  // tgt keeps these in a char
        switch key {
        case "scsi_id": options.scsiID = Self.prefix(value, bytes: 36)
        case "scsi_sn": options.serialNumber = Self.prefix(value, bytes: 36)
        case "vendor_id": options.vendor = Self.prefix(value, bytes: 8)
        case "product_id": options.product = Self.prefix(value, bytes: 16)
        case "product_rev": options.revision = Self.prefix(value, bytes: 4)
        case "sense_format":
            // Only fixed-format sense is implemented.
            if flag { steps.append(.unsupported(token)) }
        case "lbppbe":
            let exponent = Int(UInt8(truncatingIfNeeded: number) & 0x0F)
            options.physicalBlockSize = blockSize << exponent
        case "la_lba": options.lowestAlignedLBA = UInt16(truncatingIfNeeded: number)
        case "optimal_xfer_gran": options.optimalTransferLengthGranularity = UInt16(truncatingIfNeeded: number)
        case "optimal_xfer_len": options.optimalTransferLength = UInt32(truncatingIfNeeded: number)
        case "removable": options.removable = flag
        case "readonly": options.readOnly = flag
        case "thin_provisioning": options.thinProvisioning = flag
        case "rotation_rate": options.rotationRate = UInt16(truncatingIfNeeded: number)
        case "online": steps.append(.online(number != 0))
        case "mode_page":
            // The caching page's WCE bit is applied (tgt-admin's write-cache off); other pages are not.
            if let enabled = ModePageParameter.writeCacheEnabled(value) {
                options.writeCache = enabled
            } else {
                steps.append(.unsupported(token))
            }
        case "path": steps.append(.unsupported(token))
        default: steps.append(.invalid(token))  // bsopts, bsoflags: matched, then refused
        }
    }

    /// C's atoi as glibc has it: blanks, a sign, digits up to the first other character;
    /// strtol's saturation, then the cut to int.
    static func atoi(_ text: String) -> Int32 {
        var bytes = Substring(text).utf8.drop { $0 == 0x20 || (0x09...0x0D).contains($0) }
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        let limit = UInt64(Int64.max) + 1
        var magnitude: UInt64 = 0
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { break }
            let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            magnitude = overflow || carry ? limit : min(sum, limit)
        }
        let value: Int64 =
            negative ? (magnitude > UInt64(Int64.max) ? Int64.min : -Int64(magnitude)) : Int64(min(magnitude, UInt64(Int64.max)))
        return Int32(truncatingIfNeeded: value)
    }

    /// At most `bytes` UTF-8 bytes, as snprintf into tgt's fixed buffers cuts them.
    private static func prefix(_ text: String, bytes: Int) -> String {
        String(decoding: text.utf8.prefix(bytes), as: UTF8.self)
    }
}
