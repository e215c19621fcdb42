/// The result functions of RFC 7143 section 6.2, shared by both sides: how a
/// responder answers an offer, and how a proposer checks that answer.
enum NegotiationRules {
    enum Answer: Hashable {
        case value(String)
        /// Nothing in the offer is admissible; answer "Reject" and keep the current value.
        case reject
    }

    /// The responder's answer to `offer`, given its own `local` value (for list
    /// keys, the comma list of values it accepts, in no particular order).
    ///
    /// Offering a reserved constant (Reject, Irrelevant, NotUnderstood) is a
    /// protocol error. A malformed or out-of-range value is answered with
    /// Reject, which section 6.2.2 allows for inadmissible proposals.
    static func answer(
        offer: String, local: String, definition: TextKeyDefinition
    ) throws(NegotiationFailure) -> Answer {
        if let reserved = TextKeySpecialValue(rawValue: offer) {
            throw .initiatorError("\(definition.name) offered the reserved value \(reserved.rawValue)")
        }
        switch definition.negotiation {
        case .list:
            let acceptable = Set(TextValue.list(local))
            // The first offered value we accept wins: the offer is in preference order.
            guard let choice = TextValue.list(offer).first(where: acceptable.contains) else { return .reject }
            return .value(choice)
        case .minimum, .maximum:
            guard let offered = number(offer, for: definition), let mine = number(local, for: definition) else {
                return .reject
            }
            let result = definition.negotiation == .minimum ? min(offered, mine) : max(offered, mine)
            return .value(TextValue.encode(result))
        case .and, .or:
            guard let offered = TextValue.boolean(offer), let mine = TextValue.boolean(local) else { return .reject }
            let result = definition.negotiation == .and ? offered && mine : offered || mine
            return .value(TextValue.encode(result))
        case .declarative, .authentication:
            // Nothing to select: these are recorded or passed on, never answered.
            return .value(offer)
        }
    }

    /// Whether `answer` is a legal response to our `offer`: a single offered
    /// value for lists, within range and on the right side of the offer for
    /// numbers, and consistent with the boolean function.
    static func isLegal(answer: String, toOffer offer: String, definition: TextKeyDefinition) -> Bool {
        switch definition.negotiation {
        case .list:
            return !answer.contains(",") && TextValue.list(offer).contains(answer)
        case .minimum, .maximum:
            guard let answered = number(answer, for: definition), let offered = number(offer, for: definition) else {
                return false
            }
            return definition.negotiation == .minimum ? answered <= offered : answered >= offered
        case .and:
            guard let answered = TextValue.boolean(answer) else { return false }
            return answered == false || offer == "Yes"
        case .or:
            guard let answered = TextValue.boolean(answer) else { return false }
            return answered == true || offer == "No"
        case .declarative, .authentication:
            return true
        }
    }

    /// A numerical value inside the key's legal range, or nil.
    static func number(_ text: String, for definition: TextKeyDefinition) -> Int? {
        guard case .number(let range) = definition.format,
              let value = TextValue.number(text).flatMap({ Int(exactly: $0) }),
              range.contains(value)
        else { return nil }
        return value
    }
}
