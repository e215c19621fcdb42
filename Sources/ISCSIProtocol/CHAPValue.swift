/// Binary values of the CHAP keys (CHAP_C, CHAP_R): `0x` hex or `0b` base64
/// (RFC 7143 section 6.1), parsed strictly.
public enum CHAPValue {
    /// RFC 7143 section 12.1.3: the binary length of C and R "MUST NOT exceed
    /// 1024 bytes".
    public static let maxBinaryLength = 1024
    /// CHAP_C and CHAP_R are long values: at most 8192 bytes of text
    /// (`TextKeyLimits.maxLongValueLength`).
    public static let maxTextLength = 8192

    public enum DecodingError: Error, Hashable, Sendable, CustomStringConvertible {
        /// Neither `0x`/`0X` nor `0b`/`0B` opens the value.
        case missingPrefix
        /// Nothing follows the prefix.
        case empty
        /// A character that is not a hex digit.
        case invalidHex
        /// Not canonical base64 (bad character, padding or length).
        case invalidBase64
        /// The text or the decoded value is longer than allowed.
        case tooLong(limit: Int)

        public var description: String {
            switch self {
            case .missingPrefix: return "binary value must start with 0x or 0b"
            case .empty: return "binary value is empty"
            case .invalidHex: return "binary value has a character that is not a hex digit"
            case .invalidBase64: return "binary value is not valid base64"
            case .tooLong(let limit): return "binary value is longer than \(limit) bytes"
            }
        }
    }

    /// Decodes `0x...` (hex digits in either case; an odd count implies a
    /// leading zero) or `0b...` (padded or unpadded base64). Fails on an empty
    /// value, any stray character (whitespace included), text longer than
    /// `maxTextLength`, and a decoded value longer than `maxLength` bytes.
    public static func decode(_ text: String, maxLength: Int = maxBinaryLength) throws(DecodingError) -> [UInt8] {
        let bytes = Array(text.utf8)
        guard bytes.count <= maxTextLength else { throw .tooLong(limit: maxLength) }
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "0") else { throw .missingPrefix }
        let payload = bytes[2...]
        switch bytes[1] | 0x20 {
        case UInt8(ascii: "x"):
            guard !payload.isEmpty else { throw .empty }
            guard (payload.count + 1) / 2 <= maxLength else { throw .tooLong(limit: maxLength) }
            return try decodeHex(payload)
        case UInt8(ascii: "b"):
            guard !payload.isEmpty else { throw .empty }
            // Every 4 symbols give at most 3 bytes; refuse before decoding.
            guard (payload.count / 4) * 3 <= maxLength + 3 else { throw .tooLong(limit: maxLength) }
            guard let decoded = TextKeyBase64.decode(payload) else { throw .invalidBase64 }
            guard !decoded.isEmpty else { throw .empty }
            guard decoded.count <= maxLength else { throw .tooLong(limit: maxLength) }
            return decoded
        default:
            throw .missingPrefix
        }
    }

    /// `0x` and two lowercase hex digits per byte: the form every peer
    /// accepts (libiscsi reads only hex challenges).
    public static func encodeHex(_ bytes: [UInt8]) -> String {
        TextValue.encodeHex(bytes)
    }

    /// `0b` and padded base64.
    public static func encodeBase64(_ bytes: [UInt8]) -> String {
        TextValue.encodeBase64(bytes)
    }

    private static func decodeHex(_ digits: ArraySlice<UInt8>) throws(DecodingError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((digits.count + 1) / 2)
        var index = digits.startIndex
        var high: UInt8 = 0
        var haveHigh = digits.count % 2 == 1  // odd count: an implied leading 0
        while index < digits.endIndex {
            guard let nibble = TextValue.hexNibble(digits[index]) else { throw .invalidHex }
            if haveHigh {
                out.append(high << 4 | nibble)
                haveHigh = false
            } else {
                high = nibble
                haveHigh = true
            }
            index += 1
        }
        return out
    }
}
