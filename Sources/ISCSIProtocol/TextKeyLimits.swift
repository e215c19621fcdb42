/// Bounds applied while decoding key=value text (RFC 7143 section 6.1).
public struct TextKeyLimits: Hashable, Sendable {
    /// Key names "MUST NOT exceed 63 bytes".
    public var maxKeyLength: Int
    /// Simple values are at most 255 bytes unless a key says otherwise.
    public var maxValueLength: Int
    /// The bound for keys in `longValueKeys`: binary authentication values may
    /// be long, and every implementation must accept 8192 bytes of text.
    public var maxLongValueLength: Int
    /// Keys whose values may reach `maxLongValueLength`.
    public var longValueKeys: Set<String>
    /// Keys that may appear more than once, e.g. TargetName and TargetAddress in
    /// a SendTargets answer. Every other repeated key is an error.
    public var repeatableKeys: Set<String>
    /// Bound on the number of pairs, so hostile input cannot build huge arrays.
    public var maxPairs: Int

    /// Authentication keys carrying binary values longer than 255 bytes:
    /// CHAP challenges/responses (RFC 7143 section 12.1.3), SRP numbers and
    /// Kerberos messages (sections 12.1.1 and 12.1.2).
    public static let standardLongValueKeys: Set<String> = [
        "CHAP_C", "CHAP_R",
        "SRP_s", "SRP_A", "SRP_B", "SRP_M", "SRP_HM",
        "KRB_AP_REQ", "KRB_AP_REP",
    ]

    public init(
        maxKeyLength: Int = 63,
        maxValueLength: Int = 255,
        maxLongValueLength: Int = 8192,
        longValueKeys: Set<String> = TextKeyLimits.standardLongValueKeys,
        repeatableKeys: Set<String> = [],
        maxPairs: Int = 4096
    ) {
        self.maxKeyLength = maxKeyLength
        self.maxValueLength = maxValueLength
        self.maxLongValueLength = maxLongValueLength
        self.longValueKeys = longValueKeys
        self.repeatableKeys = repeatableKeys
        self.maxPairs = maxPairs
    }

    /// Limits for login and text requests and responses.
    public static let standard = TextKeyLimits()

    /// Limits for a SendTargets answer, where one record per target repeats
    /// TargetName, TargetAddress and TargetAlias.
    public static let sendTargetsResponse = TextKeyLimits(
        repeatableKeys: ["TargetName", "TargetAddress", "TargetAlias"]
    )

    func valueLimit(for key: String) -> Int {
        longValueKeys.contains(key) ? maxLongValueLength : maxValueLength
    }
}
