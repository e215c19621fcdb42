/// Counts keys received and answer bytes produced against `NegotiationLimits`.
struct NegotiationBudget {
    let limits: NegotiationLimits
    private(set) var keysReceived = 0
    private(set) var replyBytes = 0

    init(limits: NegotiationLimits) {
        self.limits = limits
    }

    mutating func receive(keyCount: Int) throws(NegotiationFailure) {
        keysReceived += keyCount
        guard keysReceived <= limits.maxKeys else {
            throw .initiatorError("more than \(limits.maxKeys) keys in one negotiation")
        }
    }

    mutating func charge(_ pair: TextKeyValue) throws(NegotiationFailure) {
        replyBytes += pair.encodedLength
        guard replyBytes <= limits.maxReplyBytes else {
            throw .initiatorError("answer would exceed \(limits.maxReplyBytes) bytes")
        }
    }
}

/// The reply being built for one request, with its budget.
struct NegotiationExchange {
    var reply = NegotiationReply()
    var budget: NegotiationBudget

    mutating func answer(_ pair: TextKeyValue) throws(NegotiationFailure) {
        try budget.charge(pair)
        reply.pairs.append(pair)
    }

    mutating func answer(_ key: String, _ special: TextKeySpecialValue) throws(NegotiationFailure) {
        try answer(.special(key, special))
    }
}
