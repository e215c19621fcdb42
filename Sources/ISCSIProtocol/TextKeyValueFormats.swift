/// Parsers and encoders for the value grammars of RFC 7143 section 6.1.
/// Parsers return nil for anything outside the grammar; callers decide whether
/// that means "Reject" or a failed login.
public enum TextValue {
    // MARK: Numerical values

    /// A numerical value: a decimal constant (no leading zeros, as the grammar
    /// requires) or a hex constant `0x`/`0X`; it must fit in 64 bits.
    public static func number(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), bytes[1] | 0x20 == UInt8(ascii: "x") {
            return hexNumber(bytes[2...])
        }
        return decimalNumber(bytes[...])
    }

    /// Decimal text for a number, the encoding the RFC asks senders to prefer.
    public static func encode(_ number: Int) -> String { String(number) }

    private static func decimalNumber(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard let first = digits.first, digits.count <= 20 else { return nil }
        if first == UInt8(ascii: "0") { return digits.count == 1 ? 0 : nil }
        var result: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow1) = result.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            result = sum
        }
        return result
    }

    private static func hexNumber(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var result: UInt64 = 0
        for byte in digits {
            guard let nibble = hexNibble(byte), result >> 60 == 0 else { return nil }
            result = result << 4 | UInt64(nibble)
        }
        return result
    }

    static func hexNibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    // MARK: Booleans

    /// `Yes` or `No`, case-sensitive as the RFC requires.
    public static func boolean(_ text: String) -> Bool? {
        switch text {
        case "Yes": return true
        case "No": return false
        default: return nil
        }
    }

    public static func encode(_ flag: Bool) -> String { flag ? "Yes" : "No" }

    // MARK: Lists

    /// The items of a list-of-values in the sender's order of preference.
    /// Empty items carry no meaning and are dropped.
    public static func list(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
    }

    public static func encodeList(_ items: [String]) -> String {
        items.joined(separator: ",")
    }

    // MARK: Binary values (CHAP, SRP, Kerberos)

    /// A binary value: `0x`/`0X` hex (an odd digit count implies a leading zero)
    /// or `0b`/`0B` base64. Returns nil for empty or malformed encodings.
    public static func binary(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count > 2, bytes[0] == UInt8(ascii: "0") else { return nil }
        switch bytes[1] | 0x20 {
        case UInt8(ascii: "x"): return hexBytes(bytes[2...])
        case UInt8(ascii: "b"): return TextKeyBase64.decode(bytes[2...])
        default: return nil
        }
    }

    /// `0x` followed by two lowercase hex digits per byte.
    public static func encodeHex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = Array("0x".utf8)
        out.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `0b` followed by padded base64.
    public static func encodeBase64(_ bytes: [UInt8]) -> String {
        "0b" + TextKeyBase64.encode(bytes)
    }

    private static func hexBytes(_ digits: ArraySlice<UInt8>) -> [UInt8]? {
        var nibbles: [UInt8] = []
        nibbles.reserveCapacity(digits.count + 1)
        if digits.count % 2 == 1 { nibbles.append(0) }
        for byte in digits {
            guard let nibble = hexNibble(byte) else { return nil }
            nibbles.append(nibble)
        }
        return stride(from: 0, to: nibbles.count, by: 2).map { nibbles[$0] << 4 | nibbles[$0 + 1] }
    }
}
