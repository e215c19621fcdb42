/// One `key=value` pair of iSCSI login or text negotiation (RFC 7143 section 6.1).
public struct TextKeyValue: Hashable, Sendable, CustomStringConvertible {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    public init(_ key: String, _ value: String) {
        self.init(key: key, value: value)
    }

    /// Bytes this pair occupies on the wire: key, `=`, value and the NUL terminator.
    public var encodedLength: Int {
        key.utf8.count + value.utf8.count + 2
    }

    public var description: String { "\(key)=\(value)" }
}

/// Constants with a reserved meaning in negotiation answers (RFC 7143 section 6.2).
/// A proposer must never offer them; only a responder may answer with them.
public enum TextKeySpecialValue: String, CaseIterable, Sendable {
    /// The responder does not know the key.
    case notUnderstood = "NotUnderstood"
    /// The key does not apply to this session or connection.
    case irrelevant = "Irrelevant"
    /// The offered value is not admissible; the key keeps its current value.
    case reject = "Reject"
}

extension TextKeyValue {
    static func special(_ key: String, _ value: TextKeySpecialValue) -> TextKeyValue {
        TextKeyValue(key: key, value: value.rawValue)
    }
}
