/// The semantics of one negotiation key, as described in RFC 7143 sections
/// 12 (security keys) and 13 (operational keys).
public struct TextKeyDefinition: Hashable, Sendable {
    /// How the final value is reached.
    public enum Negotiation: Hashable, Sendable {
        /// The sender states a value; nobody answers.
        case declarative
        /// The proposer lists values by preference; the responder picks one.
        case list
        /// Numerical; the result is the lower of offer and local value.
        case minimum
        /// Numerical; the result is the higher of offer and local value.
        case maximum
        /// Boolean; the result is offer AND local value.
        case and
        /// Boolean; the result is offer OR local value.
        case or
        /// Part of an authentication exchange (CHAP_*, SRP_*, KRB_*): handed to
        /// the authentication layer untouched.
        case authentication
    }

    /// The grammar of the value.
    public enum ValueFormat: Hashable, Sendable {
        case number(ClosedRange<Int>)
        case boolean
        /// One token, or for list negotiation a comma list, from these values.
        case tokens([String])
        /// Free text, e.g. iSCSI names, aliases and addresses.
        case text
        case binary
    }

    /// When the key may be sent ("Use" in RFC 7143 section 13).
    public enum Use: Hashable, Sendable {
        /// IO: only during login.
        case initializeOnly
        /// LO: only during the login of the leading connection of a session.
        case leadingOnly
        /// FFPO: only in full feature phase.
        case fullFeatureOnly
        /// ALL: during login and in full feature phase.
        case all
    }

    public enum Scope: Hashable, Sendable {
        case session
        case connection
    }

    public enum Senders: Hashable, Sendable {
        case initiator
        case target
        case both
    }

    /// The login stage in which the key is legal.
    public enum Stage: Hashable, Sendable {
        case security
        case operational
        /// Declarations such as InitiatorName open either stage.
        case any
    }

    public let name: String
    public let negotiation: Negotiation
    public let format: ValueFormat
    public let use: Use
    public let scope: Scope
    public let senders: Senders
    public let stage: Stage
    /// The value in force when the key is never negotiated.
    public let defaultValue: String?
    /// "Irrelevant when: SessionType=Discovery".
    public let irrelevantInDiscovery: Bool
    /// The RFC 3720 marker keys, which RFC 7143 obsoletes.
    public let isObsolete: Bool

    public init(
        name: String,
        negotiation: Negotiation,
        format: ValueFormat,
        use: Use,
        scope: Scope,
        senders: Senders,
        stage: Stage,
        defaultValue: String? = nil,
        irrelevantInDiscovery: Bool = false,
        isObsolete: Bool = false
    ) {
        self.name = name
        self.negotiation = negotiation
        self.format = format
        self.use = use
        self.scope = scope
        self.senders = senders
        self.stage = stage
        self.defaultValue = defaultValue
        self.irrelevantInDiscovery = irrelevantInDiscovery
        self.isObsolete = isObsolete
    }

    public var isDeclarative: Bool { negotiation == .declarative }

    /// True when the responder may omit its answer because the offer alone
    /// fixes the result: "No" for an AND key, "Yes" for an OR key (RFC 7143
    /// section 6.2.2).
    public func answerIsOptional(forOffer offer: String) -> Bool {
        switch negotiation {
        case .and: return offer == "No"
        case .or: return offer == "Yes"
        case .declarative: return true
        default: return false
        }
    }
}
