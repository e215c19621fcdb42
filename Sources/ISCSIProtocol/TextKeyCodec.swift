import NIOCore

/// Encodes and decodes the NUL-separated `key=value` text carried in login and
/// text PDU data segments (RFC 7143 section 6.1).
public enum TextKeyCodec {
    /// Decodes one complete logical text segment (the data of a PDU sequence
    /// ending with C=0). The buffer's reader index is not moved.
    ///
    /// Every pair must end with NUL; trailing NUL padding is tolerated. Nothing
    /// is trusted: key length and charset, value length, UTF-8, repeated keys
    /// and the pair count are all checked, and the error names the key.
    public static func decode(_ data: ByteBuffer, limits: TextKeyLimits = .standard) throws -> [TextKeyValue] {
        let bytes = Array(data.readableBytesView)
        var pairs: [TextKeyValue] = []
        var seen = Set<String>()
        var start = bytes.startIndex

        while start < bytes.endIndex {
            guard let end = bytes[start...].firstIndex(of: 0) else {
                let text = bytes[start...]
                throw TextKeyError(keyBytes: text.prefix { $0 != UInt8(ascii: "=") }, reason: .unterminatedPair)
            }
            if end == start {
                // An empty pair is only acceptable as padding at the very end.
                if bytes[start...].allSatisfy({ $0 == 0 }) { break }
                throw TextKeyError(key: nil, reason: .emptyKey)
            }
            guard pairs.count < limits.maxPairs else {
                throw TextKeyError(key: nil, reason: .tooManyPairs(limit: limits.maxPairs))
            }
            let pair = try decodePair(bytes[start..<end], limits: limits)
            if !seen.insert(pair.key).inserted, !limits.repeatableKeys.contains(pair.key) {
                throw TextKeyError(key: pair.key, reason: .duplicateKey)
            }
            pairs.append(pair)
            start = end + 1
        }
        return pairs
    }

    /// Appends each pair as `key=value` followed by NUL. Pairs are written as
    /// given: callers produce them from validated keys and values.
    public static func encode(_ pairs: [TextKeyValue], into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: encodedLength(of: pairs))
        for pair in pairs {
            buffer.writeString(pair.key)
            buffer.writeInteger(UInt8(ascii: "="))
            buffer.writeString(pair.value)
            buffer.writeInteger(UInt8(0))
        }
    }

    /// Total bytes `encode` writes for these pairs.
    public static func encodedLength(of pairs: [TextKeyValue]) -> Int {
        pairs.reduce(0) { $0 + $1.encodedLength }
    }

    /// Cuts encoded text into data segments of at most `maxSegmentLength` bytes,
    /// for sending with the Continue bit set on all but the last. A pair may be
    /// split between segments; the receiver reassembles with `TextAccumulator`.
    /// Always returns at least one (possibly empty) segment.
    public static func split(_ text: ByteBuffer, maxSegmentLength: Int) -> [ByteBuffer] {
        precondition(maxSegmentLength > 0, "segment length must be positive")
        var remaining = text
        var segments: [ByteBuffer] = []
        while remaining.readableBytes > maxSegmentLength {
            segments.append(remaining.readSlice(length: maxSegmentLength)!)
        }
        segments.append(remaining)
        return segments
    }

    private static func decodePair(_ bytes: ArraySlice<UInt8>, limits: TextKeyLimits) throws -> TextKeyValue {
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else {
            throw TextKeyError(keyBytes: bytes, reason: .missingEquals)
        }
        let keyBytes = bytes[..<equals]
        let valueBytes = bytes[(equals + 1)...]
        guard !keyBytes.isEmpty else {
            throw TextKeyError(key: nil, reason: .emptyKey)
        }
        guard keyBytes.count <= limits.maxKeyLength else {
            throw TextKeyError(keyBytes: keyBytes, reason: .keyTooLong(length: keyBytes.count))
        }
        // `X#` opens the IANA-registered public extension keys; '#' is legal only there.
        let isPublicExtension = keyBytes.starts(with: [UInt8(ascii: "X"), UInt8(ascii: "#")])
        let checked = isPublicExtension ? keyBytes.dropFirst(2) : keyBytes[...]
        if let bad = checked.first(where: { !isKeyNameByte($0) }) {
            throw TextKeyError(keyBytes: keyBytes, reason: .illegalKeyCharacter(bad))
        }
        // Only ASCII remains, so this decoding is exact.
        let key = String(decoding: keyBytes, as: UTF8.self)
        let limit = limits.valueLimit(for: key)
        guard valueBytes.count <= limit else {
            throw TextKeyError(key: key, reason: .valueTooLong(length: valueBytes.count, limit: limit))
        }
        guard let value = String(validating: valueBytes, as: UTF8.self) else {
            throw TextKeyError(key: key, reason: .invalidUTF8)
        }
        return TextKeyValue(key: key, value: value)
    }

    /// Key names use letters, digits, and `. - + @ _` (RFC 7143 section 6.1).
    static func isKeyNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "+"),
             UInt8(ascii: "@"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}
