/// Where in the life of a connection a set of keys is exchanged.
public enum NegotiationStage: Hashable, Sendable {
    /// Login, CSG=0: authentication.
    case security
    /// Login, CSG=1: operational parameters.
    case operational
    /// Text Request/Response after login.
    case fullFeature
}

public enum SessionType: String, Hashable, Sendable {
    case normal = "Normal"
    case discovery = "Discovery"
}

/// Values of HeaderDigest and DataDigest.
public enum DigestAlgorithm: String, Hashable, Sendable {
    case none = "None"
    case crc32c = "CRC32C"
}

/// Values of AuthMethod (RFC 7143 section 12.1).
public enum AuthMethod: String, Hashable, Sendable {
    case none = "None"
    case chap = "CHAP"
    case srp = "SRP"
    case kerberos = "KRB5"
}

/// Bounds on one negotiation, so a peer sending thousands of tiny unknown keys
/// cannot make us build an unbounded answer. Counted over a whole login, and
/// over each text exchange in full feature phase.
public struct NegotiationLimits: Hashable, Sendable {
    /// Most keys the peer may send.
    public var maxKeys: Int
    /// Most bytes of encoded answer we will produce.
    public var maxReplyBytes: Int

    public init(maxKeys: Int = 256, maxReplyBytes: Int = 65_536) {
        self.maxKeys = maxKeys
        self.maxReplyBytes = maxReplyBytes
    }
}

/// Why a negotiation cannot go on. On the target, `statusClass` and
/// `statusDetail` go into the Login Response (RFC 7143 section 11.13.5); in
/// full feature phase and on the initiator they only classify the failure.
public struct NegotiationFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public var statusClass: UInt8
    public var statusDetail: UInt8
    public var reason: String

    public init(statusClass: UInt8, statusDetail: UInt8, reason: String) {
        self.statusClass = statusClass
        self.statusDetail = statusDetail
        self.reason = reason
    }

    /// 0x0200: the peer broke the protocol.
    public static func initiatorError(_ reason: String) -> Self {
        Self(statusClass: 2, statusDetail: 0, reason: reason)
    }

    /// 0x0201: no acceptable authentication.
    public static func authenticationFailure(_ reason: String) -> Self {
        Self(statusClass: 2, statusDetail: 1, reason: reason)
    }

    /// 0x0207: a required key was not sent.
    public static func missingParameter(_ reason: String) -> Self {
        Self(statusClass: 2, statusDetail: 7, reason: reason)
    }

    /// 0x0209: SessionType names a type we do not support.
    public static func sessionTypeNotSupported(_ reason: String) -> Self {
        Self(statusClass: 2, statusDetail: 9, reason: reason)
    }

    /// 0x020B: a request not allowed during login.
    public static func invalidDuringLogin(_ reason: String) -> Self {
        Self(statusClass: 2, statusDetail: 0x0B, reason: reason)
    }

    public var description: String {
        let code = UInt16(statusClass) << 8 | UInt16(statusDetail)
        return "negotiation failed (0x\(String(code, radix: 16))): \(reason)"
    }
}

/// What one negotiation step produced.
public struct NegotiationReply: Hashable, Sendable {
    /// Pairs to send back: answers, then our own declarations.
    public var pairs: [TextKeyValue] = []
    /// Authentication keys (CHAP_*, SRP_*, KRB_*) received in this step, in
    /// order, for the authentication layer; they are not answered here.
    public var authenticationKeys: [TextKeyValue] = []
    /// Set when AuthMethod was settled in this step.
    public var authMethod: AuthMethod?
    /// The value of SendTargets when a text request carried it; the caller
    /// builds the TargetName/TargetAddress answer.
    public var sendTargets: String?

    public init() {}
}

public enum NegotiationResult: Hashable, Sendable {
    case reply(NegotiationReply)
    case failure(NegotiationFailure)

    public var reply: NegotiationReply? {
        if case .reply(let reply) = self { return reply }
        return nil
    }

    public var failure: NegotiationFailure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
