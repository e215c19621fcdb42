/// The target's side of login and text negotiation (RFC 7143 sections 6 and 13).
///
/// Feed it the pairs of each complete request (after `TextAccumulator`); it
/// answers every negotiated key exactly once, adds our MaxRecvDataSegmentLength
/// declaration in the operational stage, and hands authentication keys to the
/// caller. It never originates offers of its own: keys the initiator does not
/// offer keep their RFC defaults, which every configuration must tolerate.
///
/// Decisions, where the RFC leaves a choice:
/// - a negotiated value that is malformed or out of range is answered Reject;
///   an out-of-range declaration (MaxRecvDataSegmentLength) fails the login;
/// - offering Reject, Irrelevant or NotUnderstood, sending a key again with a
///   new value (an identical re-declaration is ignored), a security key outside
///   the security stage and an operational key inside it all fail with 0x0200;
/// - keys only the target may send, leading-only keys on other connections and
///   operational keys of discovery sessions are answered Irrelevant;
/// - unknown and extension keys are answered NotUnderstood;
/// - past `NegotiationLimits` (256 keys or 64 KiB of answer per login) the
///   login fails with 0x0200.
public struct TargetNegotiator: Sendable {
    public let configuration: TargetNegotiationConfiguration
    /// Known from the first request's SessionType; set it directly when the
    /// login layer learns it another way (e.g. on a non-leading connection).
    public var sessionType: SessionType {
        didSet { negotiated.sessionType = sessionType }
    }
    public private(set) var negotiated = NegotiatedParameters()

    /// Every key received during login with its value, to catch renegotiation.
    private var loginKeys: [String: String] = [:]
    private var loginBudget: NegotiationBudget
    private var declaredMaxRecvDataSegmentLength = false

    public init(configuration: TargetNegotiationConfiguration, sessionType: SessionType = .normal) {
        self.configuration = configuration.clamped()
        self.sessionType = sessionType
        self.loginBudget = NegotiationBudget(limits: configuration.limits)
        negotiated.sessionType = sessionType
    }

    /// Answers one request. `stage` is the request's CSG during login, or
    /// `.fullFeature` for a Text Request.
    public mutating func respond(
        to pairs: [TextKeyValue], stage: NegotiationStage, isLeadingConnection: Bool
    ) -> NegotiationResult {
        do {
            return .reply(try process(pairs, stage: stage, isLeadingConnection: isLeadingConnection))
        } catch {
            return .failure(error)
        }
    }

    /// Checks, before the login moves to full feature phase, that everything
    /// the target needs was negotiated; nil when the login may complete.
    /// Authentication itself (did CHAP succeed?) is the caller's to check.
    public func completionFailure() -> NegotiationFailure? {
        if negotiated.initiatorName == nil {
            return .missingParameter("InitiatorName was not sent")
        }
        if sessionType == .normal, negotiated.targetName == nil {
            return .missingParameter("TargetName was not sent for a normal session")
        }
        if configuration.requiresAuthentication, negotiated.authMethod == .none {
            return .authenticationFailure("authentication is required")
        }
        if !configuration.headerDigests.contains(.none), !negotiated.headerDigest {
            return .missingParameter("HeaderDigest=CRC32C is required")
        }
        if !configuration.dataDigests.contains(.none), !negotiated.dataDigest {
            return .missingParameter("DataDigest=CRC32C is required")
        }
        return nil
    }

    private mutating func process(
        _ pairs: [TextKeyValue], stage: NegotiationStage, isLeadingConnection: Bool
    ) throws(NegotiationFailure) -> NegotiationReply {
        let isLogin = stage != .fullFeature
        var exchange = NegotiationExchange(
            budget: isLogin ? loginBudget : NegotiationBudget(limits: configuration.limits)
        )
        try exchange.budget.receive(keyCount: pairs.count)

        if stage == .operational, configuration.requiresAuthentication, negotiated.authMethod == .none {
            throw .authenticationFailure("operational stage reached without the required authentication")
        }
        var exchangeKeys: [String: String] = [:]
        for pair in Self.processingOrder(pairs) {
            try handle(pair, stage: stage, leading: isLeadingConnection, seen: &exchangeKeys, into: &exchange)
        }
        if stage == .operational, !declaredMaxRecvDataSegmentLength {
            let length = configuration.maxRecvDataSegmentLength
            try exchange.answer(TextKeyValue("MaxRecvDataSegmentLength", TextValue.encode(length)))
            negotiated.targetMaxRecvDataSegmentLength = length
            declaredMaxRecvDataSegmentLength = true
        }
        if isLogin {
            loginBudget = exchange.budget
        }
        return exchange.reply
    }

    /// SessionType first, so a discovery session is known before its other
    /// keys; MaxBurstLength before FirstBurstLength, so the latter can be
    /// answered within the former. Otherwise the request's order.
    private static func processingOrder(_ pairs: [TextKeyValue]) -> [TextKeyValue] {
        func rank(_ key: String) -> Int {
            switch key {
            case "SessionType": return 0
            case "FirstBurstLength": return 2
            default: return 1
            }
        }
        return pairs.enumerated()
            .sorted { (rank($0.element.key), $0.offset) < (rank($1.element.key), $1.offset) }
            .map(\.element)
    }

    private mutating func handle(
        _ pair: TextKeyValue, stage: NegotiationStage, leading: Bool,
        seen exchangeKeys: inout [String: String], into exchange: inout NegotiationExchange
    ) throws(NegotiationFailure) {
        let definition = TextKeyRegistry.definition(for: pair.key)
        if stage == .fullFeature {
            guard try Self.isFirstSighting(pair, definition, in: &exchangeKeys) else { return }
        } else {
            guard try Self.isFirstSighting(pair, definition, in: &loginKeys) else { return }
        }
        guard let definition else {
            return try exchange.answer(pair.key, .notUnderstood)
        }
        try Self.checkStage(of: definition, in: stage)

        if definition.negotiation == .authentication {
            exchange.reply.authenticationKeys.append(pair)
        } else if definition.senders == .target {
            try exchange.answer(pair.key, .irrelevant)
        } else if definition.use == .leadingOnly, !leading {
            // A leading-only declaration (SessionType) needs no answer.
            if !definition.isDeclarative { try exchange.answer(pair.key, .irrelevant) }
        } else if sessionType == .discovery, definition.irrelevantInDiscovery {
            try exchange.answer(pair.key, .irrelevant)
        } else if definition.isObsolete {
            try exchange.answer(Self.answerObsolete(pair))
        } else if definition.isDeclarative {
            try declare(pair, definition, into: &exchange)
        } else {
            try negotiate(pair, definition, into: &exchange)
        }
    }

    /// False for an identical re-declaration, which is ignored; throws when
    /// any other key comes again, which would be renegotiation (section 6.2).
    private static func isFirstSighting(
        _ pair: TextKeyValue, _ definition: TextKeyDefinition?, in seen: inout [String: String]
    ) throws(NegotiationFailure) -> Bool {
        guard let previous = seen[pair.key] else {
            seen[pair.key] = pair.value
            return true
        }
        if definition?.isDeclarative == true, previous == pair.value { return false }
        throw .initiatorError("\(pair.key) sent again; renegotiation is not allowed")
    }

    private static func checkStage(
        of definition: TextKeyDefinition, in stage: NegotiationStage
    ) throws(NegotiationFailure) {
        let name = definition.name
        switch stage {
        case .security where definition.stage == .operational:
            throw .initiatorError("\(name) is an operational key, not allowed in the security stage")
        case .operational where definition.stage == .security:
            throw .initiatorError("\(name) is a security key, not allowed in the operational stage")
        case .fullFeature where definition.use != .all && definition.use != .fullFeatureOnly:
            throw .initiatorError("\(name) may only be sent during login")
        case .security, .operational:
            if definition.use == .fullFeatureOnly {
                throw .invalidDuringLogin("\(name) is only allowed in full feature phase")
            }
        default:
            break
        }
    }

    private mutating func declare(
        _ pair: TextKeyValue, _ definition: TextKeyDefinition, into exchange: inout NegotiationExchange
    ) throws(NegotiationFailure) {
        switch pair.key {
        case "InitiatorName", "TargetName":
            // Syntax of iSCSI names is checked by name validation; here only the bounds.
            guard !pair.value.isEmpty, pair.value.utf8.count <= 223 else {
                throw .initiatorError("\(pair.key) must be 1 to 223 bytes")
            }
        case "SessionType":
            guard let type = SessionType(rawValue: pair.value) else {
                throw .sessionTypeNotSupported("SessionType=\(pair.value) is not supported")
            }
            sessionType = type
        case "MaxRecvDataSegmentLength":
            guard let length = NegotiationRules.number(pair.value, for: definition) else {
                throw .initiatorError("MaxRecvDataSegmentLength=\(pair.value) is outside 512...16777215")
            }
            negotiated.initiatorMaxRecvDataSegmentLength = length
            return
        case "SendTargets":
            exchange.reply.sendTargets = pair.value
            return
        default:
            break
        }
        negotiated.record(key: pair.key, value: pair.value)
    }

    private mutating func negotiate(
        _ pair: TextKeyValue, _ definition: TextKeyDefinition, into exchange: inout NegotiationExchange
    ) throws(NegotiationFailure) {
        guard var local = configuration.localValue(for: pair.key) else {
            return try exchange.answer(pair.key, .notUnderstood)
        }
        if pair.key == "FirstBurstLength" {
            local = TextValue.encode(min(configuration.firstBurstLength, negotiated.maxBurstLength))
        }
        switch try NegotiationRules.answer(offer: pair.value, local: local, definition: definition) {
        case .value(let result):
            negotiated.record(key: pair.key, value: result)
            if pair.key == "AuthMethod" { exchange.reply.authMethod = AuthMethod(rawValue: result) }
            try exchange.answer(TextKeyValue(pair.key, result))
        case .reject:
            try Self.checkRejectAcceptable(pair, configuration)
            try exchange.answer(pair.key, .reject)
        }
    }

    /// Reject leaves a key at its default; fail instead when we cannot live
    /// with that default (no common AuthMethod, a mandatory digest).
    private static func checkRejectAcceptable(
        _ pair: TextKeyValue, _ configuration: TargetNegotiationConfiguration
    ) throws(NegotiationFailure) {
        switch pair.key {
        case "AuthMethod":
            let accepted = configuration.authMethods.map(\.rawValue).sorted().joined(separator: ",")
            throw .authenticationFailure("AuthMethod=\(pair.value) offers none of \(accepted)")
        case "HeaderDigest" where !configuration.headerDigests.contains(.none),
             "DataDigest" where !configuration.dataDigests.contains(.none):
            throw .initiatorError("\(pair.key)=\(pair.value) offers no acceptable digest")
        default:
            return
        }
    }

    /// The RFC 3720 markers: answer "No" to the booleans (their AND with our
    /// "No", which older initiators expect) and Reject to the intervals.
    private static func answerObsolete(_ pair: TextKeyValue) -> TextKeyValue {
        let isMarkerSwitch = pair.key == "IFMarker" || pair.key == "OFMarker"
        if isMarkerSwitch, TextValue.boolean(pair.value) != nil {
            return TextKeyValue(pair.key, "No")
        }
        return .special(pair.key, .reject)
    }
}
