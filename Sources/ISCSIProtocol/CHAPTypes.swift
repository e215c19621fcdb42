/// A CHAP name and its secret. The secret never appears in descriptions,
/// failure reasons or logs.
public struct CHAPCredential: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var secret: [UInt8]

    public init(name: String, secret: [UInt8]) {
        self.name = name
        self.secret = secret
    }

    /// A secret given as text (as tgtadm and iscsiadm take it), used as its
    /// UTF-8 bytes.
    public init(name: String, secret: String) {
        self.init(name: name, secret: Array(secret.utf8))
    }

    public var description: String { "CHAPCredential(name: \(name), secret: <\(secret.count) bytes>)" }
}

/// Where CHAP challenges and identifiers come from. The default reads the
/// system CSPRNG (`SystemRandomNumberGenerator`: getrandom(2) on Linux,
/// arc4random on Darwin); tests inject fixed bytes.
public struct CHAPRandomSource: Sendable {
    private let generate: @Sendable (Int) -> [UInt8]

    public init(_ generate: @escaping @Sendable (Int) -> [UInt8]) {
        self.generate = generate
    }

    public static let system = CHAPRandomSource { count in
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 8)
        while bytes.count < count {
            let word = generator.next()
            for shift in stride(from: 0, to: 64, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return Array(bytes.prefix(count))
    }

    /// `count` random bytes. A source that returns the wrong count is a
    /// programming error.
    public func bytes(_ count: Int) -> [UInt8] {
        let bytes = generate(count)
        precondition(bytes.count == count, "random source returned \(bytes.count) bytes, not \(count)")
        return bytes
    }
}

/// What a completed CHAP exchange established.
public struct CHAPResult: Hashable, Sendable {
    public var algorithm: CHAPAlgorithm
    /// On the target: the initiator's CHAP_N, whose response was verified.
    /// On the initiator: the target's CHAP_N when mutual CHAP verified it,
    /// otherwise nil (only the target's login status tells whether it
    /// accepted our response).
    public var authenticatedName: String?
    /// Whether the target authenticated itself to the initiator as well.
    public var mutual: Bool

    public init(algorithm: CHAPAlgorithm, authenticatedName: String?, mutual: Bool) {
        self.algorithm = algorithm
        self.authenticatedName = authenticatedName
        self.mutual = mutual
    }
}

/// What one CHAP step produced: keys to send, whether the exchange goes on,
/// finished or failed, and which received keys it consumed.
public struct CHAPStep: Hashable, Sendable {
    public enum Outcome: Hashable, Sendable {
        /// Send `reply` and feed the peer's next keys to the authenticator.
        case proceed
        /// Authentication finished; still send `reply` (it may be empty).
        case success(CHAPResult)
        /// Stop. On the target, send a Login Response with this status and
        /// close; `reply` is empty. The reason names no secret.
        case failure(NegotiationFailure)
    }

    public var outcome: Outcome
    public var reply: [TextKeyValue]
    /// Names of the received keys this step took, in the order received.
    /// Every CHAP_* key given to a step is either consumed or makes it fail;
    /// other keys are left to the caller.
    public var consumedKeys: [String]

    public init(outcome: Outcome, reply: [TextKeyValue] = [], consumedKeys: [String] = []) {
        self.outcome = outcome
        self.reply = reply
        self.consumedKeys = consumedKeys
    }

    public var failure: NegotiationFailure? {
        if case .failure(let failure) = outcome { return failure }
        return nil
    }

    public var result: CHAPResult? {
        if case .success(let result) = outcome { return result }
        return nil
    }
}

/// The CHAP keys of one received request or response, checked for keys that
/// do not belong to the current step.
struct CHAPReceivedKeys {
    private var values: [String: String] = [:]
    private(set) var order: [String] = []

    static let names: Set<String> = ["CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R"]

    /// Takes the CHAP_* pairs; fails on a repeated key and on any CHAP key
    /// outside `allowed`.
    init(_ pairs: [TextKeyValue], allowed: Set<String>, step: String) throws(NegotiationFailure) {
        for pair in pairs where pair.key.hasPrefix("CHAP_") {
            guard allowed.contains(pair.key) else {
                if Self.names.contains(pair.key) {
                    throw .initiatorError("\(pair.key) is not expected \(step)")
                }
                throw .initiatorError("unknown CHAP key \(pair.key)")
            }
            guard values.updateValue(pair.value, forKey: pair.key) == nil else {
                throw .initiatorError("\(pair.key) sent twice")
            }
            order.append(pair.key)
        }
    }

    subscript(key: String) -> String? { values[key] }

    var isEmpty: Bool { order.isEmpty }
}

/// Malformed CHAP values fail authentication (0x0201), as RFC 7143 12.1.3 treats a CHAP exchange
/// that cannot be completed; the reason says which key was wrong.
enum CHAPParse {
    /// CHAP_I: a number in 0...255 (decimal, or 0x hex as numbers allow).
    static func identifier(_ text: String) throws(NegotiationFailure) -> UInt8 {
        guard let number = TextValue.number(text), number <= 255 else {
            throw .authenticationFailure("CHAP_I must be a number in 0...255")
        }
        return UInt8(number)
    }

    /// A CHAP_C or CHAP_R value; an encoding error is malformed input.
    static func binary(_ key: String, _ text: String) throws(NegotiationFailure) -> [UInt8] {
        do {
            return try CHAPValue.decode(text)
        } catch {
            throw .authenticationFailure("\(key): \(error)")
        }
    }

    /// CHAP_N: non-empty; the text codec already bounds it to 255 bytes.
    static func name(_ text: String) throws(NegotiationFailure) -> String {
        guard !text.isEmpty, text.utf8.count <= 255 else {
            throw .initiatorError("CHAP_N must be 1 to 255 bytes")
        }
        return text
    }
}
