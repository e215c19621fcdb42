/// iSCSI name validation (RFC 7143 §4.2.7, RFC 3720 §3.2.6, RFC 3721).
///
/// Choices, strict on purpose:
/// - Names must already be in stringprep normal form and ASCII: only a-z, 0-9,
///   '-', '.' and ':'. Uppercase is rejected (stringprep would have lowercased
///   it) except for the hex digits of eui. and naa. names, which RFC 3720's
///   examples write in uppercase. Non-ASCII names, legal after stringprep, are
///   rejected: no peer in practice uses them and we do not implement stringprep.
/// - iqn.: "iqn." yyyy "-" mm "." naming-authority [":" anything], where yyyy-mm
///   is a real month and the naming authority is a reversed domain name of
///   non-empty labels of [a-z0-9-].
/// - eui.: exactly 16 hex digits; naa.: exactly 16 or 32 hex digits.
/// - At most 223 bytes.
public enum ISCSIName {
    public static let maxLength = 223

    public static func validate(_ name: String) throws {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { throw ISCSINameError.empty }
        guard bytes.count <= maxLength else { throw ISCSINameError.tooLong(bytes.count) }
        if let index = bytes.firstIndex(where: { !isUnreservedLowercase($0) && !isUppercaseHex($0) }) {
            throw ISCSINameError.invalidCharacter(Character(Unicode.Scalar(bytes[index])), offset: index)
        }
        if bytes.starts(with: Array("iqn.".utf8)) {
            try validateIQN(bytes[4...])
        } else if bytes.starts(with: Array("eui.".utf8)) {
            try validateHex(bytes[4...], allowedLengths: [16])
        } else if bytes.starts(with: Array("naa.".utf8)) {
            try validateHex(bytes[4...], allowedLengths: [16, 32])
        } else {
            throw ISCSINameError.unknownType
        }
    }

    private static func validateIQN(_ rest: ArraySlice<UInt8>) throws {
        if let index = rest.firstIndex(where: isUppercase) {
            throw ISCSINameError.invalidCharacter(Character(Unicode.Scalar(rest[index])), offset: index)
        }
        // yyyy-mm.
        let date = rest.prefix(8)
        guard date.count == 8, date.last == UInt8(ascii: "."),
            date.dropLast().enumerated().allSatisfy({ $0.offset == 4 ? $0.element == UInt8(ascii: "-") : isDigit($0.element) }),
            let month = Int(String(decoding: date.dropFirst(5).prefix(2), as: UTF8.self)), (1...12).contains(month)
        else { throw ISCSINameError.invalidDate }

        let authority = rest.dropFirst(8).prefix { $0 != UInt8(ascii: ":") }
        let labels = authority.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard !authority.isEmpty,
            labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy { isLowercaseLetter($0) || isDigit($0) || $0 == UInt8(ascii: "-") } })
        else { throw ISCSINameError.invalidNamingAuthority }
    }

    private static func validateHex(_ digits: ArraySlice<UInt8>, allowedLengths: [Int]) throws {
        guard allowedLengths.contains(digits.count) else { throw ISCSINameError.invalidHexLength(digits.count) }
        guard digits.allSatisfy(isHexDigit) else { throw ISCSINameError.invalidHexDigit }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
    private static func isLowercaseLetter(_ byte: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) }
    private static func isUppercase(_ byte: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) }
    private static func isUppercaseHex(_ byte: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) }
    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) || isUppercaseHex(byte)
    }
    private static func isUnreservedLowercase(_ byte: UInt8) -> Bool {
        isLowercaseLetter(byte) || isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: ":")
    }
}

/// Why `ISCSIName.validate` refused a name.
public enum ISCSINameError: Error, Hashable, CustomStringConvertible {
    case empty
    /// Length in bytes, above 223.
    case tooLong(Int)
    /// Not one of "iqn.", "eui.", "naa.".
    case unknownType
    /// A character outside a-z 0-9 '-' '.' ':' (A-F allowed only as eui./naa. hex digits).
    case invalidCharacter(Character, offset: Int)
    /// The iqn. date is not yyyy-mm followed by '.'.
    case invalidDate
    /// The iqn. naming authority is empty or not a domain name.
    case invalidNamingAuthority
    /// Wrong number of hex digits after eui. or naa.
    case invalidHexLength(Int)
    case invalidHexDigit

    public var description: String {
        switch self {
        case .empty: return "invalid iSCSI name: empty"
        case .tooLong(let length): return "invalid iSCSI name: \(length) bytes, at most 223 allowed"
        case .unknownType: return "invalid iSCSI name: must start with iqn., eui. or naa."
        case .invalidCharacter(let character, let offset):
            return "invalid iSCSI name: character '\(character)' at offset \(offset) (allowed: a-z 0-9 - . :)"
        case .invalidDate: return "invalid iSCSI name: iqn. must be followed by a date yyyy-mm and '.'"
        case .invalidNamingAuthority: return "invalid iSCSI name: iqn. naming authority is not a reversed domain name"
        case .invalidHexLength(let count): return "invalid iSCSI name: \(count) hex digits (eui. needs 16, naa. 16 or 32)"
        case .invalidHexDigit: return "invalid iSCSI name: eui./naa. identifier must be hexadecimal"
        }
    }
}
