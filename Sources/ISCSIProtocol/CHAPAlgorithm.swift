/// The CHAP hash algorithms iSCSI may negotiate with CHAP_A, numbered as in
/// IANA's "PPP Authentication Algorithms" registry. RFC 7143 section 12.1.3
/// requires MD5 (5) of every implementation; 6, 7 and 8 were registered later
/// for iSCSI and are implemented by Linux (LIO, open-iscsi).
///
/// Beware: Debian's tgtd treats CHAP_A=7 as SHA-1 (not SHA-256); an initiator
/// that offers 7 before 5 to tgtd fails to authenticate.
public enum CHAPAlgorithm: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case md5 = 5
    case sha1 = 6
    case sha256 = 7
    case sha3_256 = 8

    /// Strongest first: what the initiator offers unless configured
    /// otherwise. (The target follows the initiator's order instead.)
    public static let defaultPreference: [CHAPAlgorithm] = [.sha3_256, .sha256, .sha1, .md5]

    /// Length in bytes of the digest, and so of a valid CHAP_R.
    public var digestLength: Int {
        switch self {
        case .md5: return MD5.digestLength
        case .sha1: return SHA1.digestLength
        case .sha256: return SHA256.digestLength
        case .sha3_256: return SHA3_256.digestLength
        }
    }

    public var description: String {
        switch self {
        case .md5: return "MD5"
        case .sha1: return "SHA-1"
        case .sha256: return "SHA-256"
        case .sha3_256: return "SHA3-256"
        }
    }

    /// The digest of `bytes`.
    public func hash(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .md5: return MD5.hash(bytes)
        case .sha1: return SHA1.hash(bytes)
        case .sha256: return SHA256.hash(bytes)
        case .sha3_256: return SHA3_256.hash(bytes)
        }
    }

    /// The CHAP response of RFC 1994 section 4.1: the hash of the identifier
    /// octet, then the secret, then the challenge.
    public func response(identifier: UInt8, secret: [UInt8], challenge: [UInt8]) -> [UInt8] {
        switch self {
        case .md5: return Self.response(MD5(), identifier, secret, challenge)
        case .sha1: return Self.response(SHA1(), identifier, secret, challenge)
        case .sha256: return Self.response(SHA256(), identifier, secret, challenge)
        case .sha3_256: return Self.response(SHA3_256(), identifier, secret, challenge)
        }
    }

    private static func response<H: CHAPHashFunction>(
        _ hasher: H, _ identifier: UInt8, _ secret: [UInt8], _ challenge: [UInt8]
    ) -> [UInt8] {
        var hasher = hasher
        hasher.update([identifier])
        hasher.update(secret)
        hasher.update(challenge)
        return hasher.finalize()
    }

    /// Compares two byte strings in time that depends only on their lengths,
    /// so a forged response learns nothing from how fast it was refused.
    public static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }

    // MARK: CHAP_A values

    /// Longest CHAP_A list we parse; a simple value is at most 255 bytes.
    public static let maxListTextLength = 255
    /// Most items in a CHAP_A list: the registry has a handful of values.
    public static let maxListItems = 16

    /// The numbers of a CHAP_A list (`5`, `7,5`, `0x8,5`) in the sender's
    /// order, unknown algorithms included; nil when the list is empty, has an
    /// empty item or one that is not a number in 0...255, is longer than
    /// `maxListTextLength` bytes or has more than `maxListItems` items.
    public static func parseList(_ text: String) -> [Int]? {
        guard !text.isEmpty, text.utf8.count <= maxListTextLength else { return nil }
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        guard items.count <= maxListItems else { return nil }
        var numbers: [Int] = []
        for item in items {
            guard let number = TextValue.number(String(item)), number <= 255 else { return nil }
            numbers.append(Int(number))
        }
        return numbers
    }

    /// The algorithm open-iscsi's `node.session.auth.chap_algs` names
    /// (MD5, SHA1, SHA256, SHA3-256), in any case.
    public init?(name: String) {
        switch name.uppercased() {
        case "MD5": self = .md5
        case "SHA1": self = .sha1
        case "SHA256": self = .sha256
        case "SHA3-256": self = .sha3_256
        default: return nil
        }
    }

    /// A comma-separated list of names (`SHA3-256,SHA256`); nil when empty
    /// or when a name is unknown.
    public static func parseNames(_ text: String) -> [CHAPAlgorithm]? {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.filter { $0 != " " } }
        let algorithms = names.compactMap { CHAPAlgorithm(name: $0) }
        return algorithms.isEmpty || algorithms.count != names.count ? nil : algorithms
    }

    /// `8,7,6,5` for CHAP_A.
    public static func encodeList(_ algorithms: [CHAPAlgorithm]) -> String {
        algorithms.map { String($0.rawValue) }.joined(separator: ",")
    }
}
