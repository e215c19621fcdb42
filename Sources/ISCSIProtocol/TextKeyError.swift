/// Why a text segment could not be decoded, and for which key.
public struct TextKeyError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// A pair has no `=` separator.
        case missingEquals
        /// A pair starts with `=`, or an empty pair appears before the end.
        case emptyKey
        /// The key name is longer than `TextKeyLimits.maxKeyLength` bytes.
        case keyTooLong(length: Int)
        /// The key name has a byte outside `a-z A-Z 0-9 . - + @ _`.
        case illegalKeyCharacter(UInt8)
        /// The value is longer than the limit that applies to its key.
        case valueTooLong(length: Int, limit: Int)
        /// The value is not valid UTF-8.
        case invalidUTF8
        /// The key appears twice in one logical text segment.
        case duplicateKey
        /// The last pair is not followed by a NUL delimiter.
        case unterminatedPair
        /// More pairs than `TextKeyLimits.maxPairs`.
        case tooManyPairs(limit: Int)
        /// A continued text segment grew past the accumulator's bound.
        case textTooLong(limit: Int)
    }

    /// The key concerned, when known. Rendered leniently (invalid UTF-8 is
    /// replaced) and cut to 64 characters so it is always safe to log.
    public let key: String?
    public let reason: Reason

    public init(key: String?, reason: Reason) {
        self.key = key
        self.reason = reason
    }

    init(keyBytes: some Collection<UInt8>, reason: Reason) {
        self.init(key: String(decoding: keyBytes.prefix(64), as: UTF8.self), reason: reason)
    }

    public var description: String {
        let subject = key.map { "key \"\($0)\"" } ?? "text"
        switch reason {
        case .missingEquals: return "\(subject): missing '='"
        case .emptyKey: return "\(subject): empty key name"
        case .keyTooLong(let length): return "\(subject): key name is \(length) bytes, limit 63"
        case .illegalKeyCharacter(let byte): return "\(subject): illegal key character 0x\(String(byte, radix: 16))"
        case .valueTooLong(let length, let limit): return "\(subject): value is \(length) bytes, limit \(limit)"
        case .invalidUTF8: return "\(subject): value is not UTF-8"
        case .duplicateKey: return "\(subject): sent twice"
        case .unterminatedPair: return "\(subject): not terminated by NUL"
        case .tooManyPairs(let limit): return "\(subject): more than \(limit) pairs"
        case .textTooLong(let limit): return "\(subject): longer than \(limit) bytes"
        }
    }
}
