/// The initiator's side of login negotiation: builds the offers for each
/// stage and checks every answer the target gives (RFC 7143 section 6.2).
///
/// An answer must be admissible for our offer (a single offered value for
/// lists, no higher than our offer for minimum keys, ...). NotUnderstood for a
/// standard key, a key sent twice, and Reject of AuthMethod or of a digest we
/// insist on fail the negotiation; any other Reject or Irrelevant leaves the key
/// at its default. Keys the target offers on its own are answered from our
/// configuration in `NegotiationReply.pairs`, to be sent with the next request.
public struct InitiatorNegotiator: Sendable {
    public let configuration: InitiatorNegotiationConfiguration
    public let isLeadingConnection: Bool
    public private(set) var negotiated = NegotiatedParameters()
    /// Offered keys whose answer has not arrived yet; login may move on to
    /// the next stage only once this is empty.
    public private(set) var pendingKeys: Set<String> = []

    public var isSettled: Bool { pendingKeys.isEmpty }

    /// Everything we sent: offers and declarations.
    private var sent: [String: String] = [:]
    /// Everything the target sent, to catch renegotiation.
    private var received: [String: String] = [:]
    private var budget: NegotiationBudget

    public init(configuration: InitiatorNegotiationConfiguration, isLeadingConnection: Bool = true) {
        self.configuration = configuration.clamped()
        self.isLeadingConnection = isLeadingConnection
        self.budget = NegotiationBudget(limits: configuration.limits)
        negotiated.sessionType = configuration.sessionType
    }

    // MARK: Offers

    /// The first request of a login that starts with authentication: our
    /// declarations and the AuthMethod list.
    public mutating func securityOffers() -> [TextKeyValue] {
        var pairs = loginDeclarations()
        offer("AuthMethod", configuration.localValue(for: "AuthMethod"), into: &pairs)
        return pairs
    }

    /// Operational offers for this connection and session type. Set
    /// `includeLoginDeclarations` when the login skips the security stage, so
    /// this is the first request.
    public mutating func operationalOffers(includeLoginDeclarations: Bool = false) -> [TextKeyValue] {
        var pairs = includeLoginDeclarations ? loginDeclarations() : []
        var keys = ["HeaderDigest", "DataDigest"]
        if isLeadingConnection {
            if configuration.sessionType == .normal {
                keys += [
                    "MaxConnections", "InitialR2T", "ImmediateData", "MaxBurstLength", "FirstBurstLength",
                    "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder",
                ]
            }
            keys += ["ErrorRecoveryLevel", "DefaultTime2Wait", "DefaultTime2Retain"]
        }
        for key in keys {
            offer(key, configuration.localValue(for: key), into: &pairs)
        }
        let length = configuration.maxRecvDataSegmentLength
        offer("MaxRecvDataSegmentLength", TextValue.encode(length), into: &pairs)
        negotiated.initiatorMaxRecvDataSegmentLength = length
        return pairs
    }

    private mutating func loginDeclarations() -> [TextKeyValue] {
        var pairs: [TextKeyValue] = []
        offer("InitiatorName", configuration.initiatorName, into: &pairs)
        offer("InitiatorAlias", configuration.initiatorAlias, into: &pairs)
        // Leading-only: a target may not understand it on other connections.
        if isLeadingConnection {
            offer("SessionType", configuration.sessionType.rawValue, into: &pairs)
        }
        if configuration.sessionType == .normal {
            offer("TargetName", configuration.targetName, into: &pairs)
        }
        return pairs
    }

    /// Sends each key once per login, and never one the target already settled
    /// by offering it first. Answers that may be omitted (AND offered No, OR
    /// offered Yes) are not waited for: the offer fixes the result.
    private mutating func offer(_ key: String, _ value: String?, into pairs: inout [TextKeyValue]) {
        guard let value, sent[key] == nil, let definition = TextKeyRegistry.definition(for: key),
              definition.isDeclarative || received[key] == nil
        else { return }
        sent[key] = value
        pairs.append(TextKeyValue(key, value))
        if definition.isDeclarative {
            if key != "MaxRecvDataSegmentLength" { negotiated.record(key: key, value: value) }
        } else if definition.answerIsOptional(forOffer: value) {
            negotiated.record(key: key, value: value)
        } else {
            pendingKeys.insert(key)
        }
    }

    // MARK: Answers

    /// Checks one login response's pairs (all PDUs of it, once accumulated).
    public mutating func process(response pairs: [TextKeyValue], stage: NegotiationStage) -> NegotiationResult {
        var exchange = NegotiationExchange(budget: budget)
        do {
            try exchange.budget.receive(keyCount: pairs.count)
            for pair in pairs {
                try handle(pair, stage: stage, into: &exchange)
            }
        } catch {
            return .failure(error)
        }
        budget = exchange.budget
        return .reply(exchange.reply)
    }

    private mutating func handle(
        _ pair: TextKeyValue, stage: NegotiationStage, into exchange: inout NegotiationExchange
    ) throws(NegotiationFailure) {
        let definition = TextKeyRegistry.definition(for: pair.key)
        if let previous = received[pair.key] {
            if definition?.isDeclarative == true, previous == pair.value { return }
            throw .initiatorError("target sent \(pair.key) twice")
        }
        received[pair.key] = pair.value

        guard let definition else {
            return try exchange.answer(pair.key, .notUnderstood)
        }
        if definition.negotiation == .authentication {
            guard stage == .security else {
                throw .initiatorError("target sent \(pair.key) outside the security stage")
            }
            exchange.reply.authenticationKeys.append(pair)
        } else if definition.isDeclarative {
            try acceptDeclaration(pair, definition)
        } else if let offer = sent[pair.key] {
            try settle(pair, offer: offer, definition, into: &exchange)
        } else {
            try answerTargetOffer(pair, definition, stage: stage, into: &exchange)
        }
    }

    private mutating func settle(
        _ pair: TextKeyValue, offer: String, _ definition: TextKeyDefinition,
        into exchange: inout NegotiationExchange
    ) throws(NegotiationFailure) {
        pendingKeys.remove(pair.key)
        switch TextKeySpecialValue(rawValue: pair.value) {
        case .notUnderstood:
            throw .initiatorError("target answered the standard key \(pair.key) with NotUnderstood")
        case .irrelevant where pair.key == "AuthMethod":
            throw .authenticationFailure("target answered AuthMethod with Irrelevant")
        case .irrelevant:
            return
        case .reject:
            try checkRejectAcceptable(pair.key, offer: offer)
        case nil:
            guard NegotiationRules.isLegal(answer: pair.value, toOffer: offer, definition: definition) else {
                throw .initiatorError("target answered \(pair.key)=\(pair.value) to our offer \(offer)")
            }
            negotiated.record(key: pair.key, value: pair.value)
            if pair.key == "AuthMethod" { exchange.reply.authMethod = AuthMethod(rawValue: pair.value) }
        }
    }

    private func checkRejectAcceptable(_ key: String, offer: String) throws(NegotiationFailure) {
        let insistsOnDigest = (key == "HeaderDigest" || key == "DataDigest")
            && !TextValue.list(offer).contains(DigestAlgorithm.none.rawValue)
        if key == "AuthMethod" {
            throw .authenticationFailure("target rejected AuthMethod=\(offer)")
        }
        if insistsOnDigest {
            throw .initiatorError("target rejected \(key)=\(offer), and we require a digest")
        }
    }

    private mutating func acceptDeclaration(
        _ pair: TextKeyValue, _ definition: TextKeyDefinition
    ) throws(NegotiationFailure) {
        // Some targets echo our declarations with a reserved value; nothing to learn.
        let isEcho = sent[pair.key] != nil && pair.key != "MaxRecvDataSegmentLength"
        if isEcho, TextKeySpecialValue(rawValue: pair.value) != nil {
            return
        }
        guard definition.senders != .initiator else {
            throw .initiatorError("target sent \(pair.key), which only an initiator may send")
        }
        if case .number = definition.format {
            guard let number = NegotiationRules.number(pair.value, for: definition) else {
                throw .initiatorError("target declared \(pair.key)=\(pair.value), outside its range")
            }
            if pair.key == "MaxRecvDataSegmentLength" {
                negotiated.targetMaxRecvDataSegmentLength = number
                return
            }
        }
        negotiated.record(key: pair.key, value: pair.value)
    }

    /// The target proposes a key we did not offer: answer as the responder.
    private mutating func answerTargetOffer(
        _ pair: TextKeyValue, _ definition: TextKeyDefinition, stage: NegotiationStage,
        into exchange: inout NegotiationExchange
    ) throws(NegotiationFailure) {
        let wrongStage = (definition.stage == .security) != (stage == .security)
        guard !wrongStage, stage != .fullFeature else {
            throw .initiatorError("target offered \(pair.key) in the wrong stage")
        }
        if definition.use == .leadingOnly, !isLeadingConnection {
            return try exchange.answer(pair.key, .irrelevant)
        }
        if configuration.sessionType == .discovery, definition.irrelevantInDiscovery {
            return try exchange.answer(pair.key, .irrelevant)
        }
        guard let local = configuration.localValue(for: pair.key) else {
            // Obsolete markers: we implement none of them.
            return try exchange.answer(pair.key, .reject)
        }
        switch try NegotiationRules.answer(offer: pair.value, local: local, definition: definition) {
        case .value(let result):
            negotiated.record(key: pair.key, value: result)
            try exchange.answer(TextKeyValue(pair.key, result))
        case .reject:
            try exchange.answer(pair.key, .reject)
        }
    }
}
