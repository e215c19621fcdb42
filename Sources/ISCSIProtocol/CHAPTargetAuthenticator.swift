/// The target's side of CHAP (RFC 1994 as used by RFC 7143 section 12.1.3),
/// without IO: the login layer feeds it the authentication keys of each
/// security-stage request once AuthMethod=CHAP was agreed, and sends back
/// what it answers.
///
///     I->T  CHAP_A=<A1,A2,...>
///     T->I  CHAP_A=<A>  CHAP_I=<I>  CHAP_C=<C>
///     I->T  CHAP_N=<N>  CHAP_R=<R>  [CHAP_I=<I'>  CHAP_C=<C'>  for mutual CHAP]
///     T->I  [CHAP_N=<N'>  CHAP_R=<R'>]
///
/// Failures carry 0x0201 (authentication failure) when credentials, algorithms
/// or policy do not allow the login, and 0x0200 (initiator error) when the
/// keys themselves are malformed or out of order. Reasons never contain a
/// secret, a challenge or a response.
public struct TargetCHAPAuthenticator: Sendable {
    public struct Configuration: Sendable {
        /// The secret for an initiator's CHAP_N, or nil when the name is unknown.
        public var secretForUser: @Sendable (String) -> [UInt8]?
        /// The target's own name and secret, for mutual CHAP. Without it, an
        /// initiator asking the target to authenticate is refused.
        public var outgoing: CHAPCredential?
        /// Algorithms we accept (the administrator's restriction; order does
        /// not matter). We pick the first one of the initiator's CHAP_A that
        /// is among them: RFC 7143 lists offers in the initiator's order of
        /// preference, and the responder takes the first it supports.
        public var algorithms: [CHAPAlgorithm]
        /// Bytes of the challenge we send, within 16...1024.
        public var challengeLength: Int
        /// The shortest challenge we answer for mutual CHAP. RFC 7143 sets
        /// only a maximum (1024 bytes); 16 is our policy and what LIO,
        /// open-iscsi and tgtd send at least.
        public var minimumPeerChallengeLength: Int

        public init(
            secretForUser: @escaping @Sendable (String) -> [UInt8]?,
            outgoing: CHAPCredential? = nil,
            algorithms: [CHAPAlgorithm] = CHAPAlgorithm.allCases,
            challengeLength: Int = 32,
            minimumPeerChallengeLength: Int = 16
        ) {
            self.secretForUser = secretForUser
            self.outgoing = outgoing
            self.algorithms = algorithms
            self.challengeLength = min(max(challengeLength, 16), CHAPValue.maxBinaryLength)
            self.minimumPeerChallengeLength = max(minimumPeerChallengeLength, 1)
        }

        /// A fixed set of accepted initiator credentials (the last one wins
        /// for a repeated name).
        public init(
            credentials: [CHAPCredential],
            outgoing: CHAPCredential? = nil,
            algorithms: [CHAPAlgorithm] = CHAPAlgorithm.allCases,
            challengeLength: Int = 32,
            minimumPeerChallengeLength: Int = 16
        ) {
            var table: [String: [UInt8]] = [:]
            for credential in credentials { table[credential.name] = credential.secret }
            let secrets = table
            self.init(
                secretForUser: { secrets[$0] }, outgoing: outgoing, algorithms: algorithms,
                challengeLength: challengeLength, minimumPeerChallengeLength: minimumPeerChallengeLength
            )
        }
    }

    public enum State: Hashable, Sendable {
        /// Waiting for the initiator's CHAP_A.
        case awaitingAlgorithms
        /// Our challenge is out; waiting for CHAP_N and CHAP_R.
        case awaitingResponse
        case succeeded(CHAPResult)
        case failed(NegotiationFailure)
    }

    public let configuration: Configuration
    public private(set) var state: State = .awaitingAlgorithms
    /// The algorithm chosen from the initiator's CHAP_A.
    public private(set) var algorithm: CHAPAlgorithm?

    private let random: CHAPRandomSource
    /// The challenge we sent the initiator.
    private var challenge: CHAPChallenge?

    public init(configuration: Configuration, random: CHAPRandomSource = .system) {
        self.configuration = configuration
        self.random = random
    }

    /// True once the initiator is authenticated: only then may the login
    /// leave the security stage.
    public var isAuthenticated: Bool {
        if case .succeeded = state { return true }
        return false
    }

    /// Handles the authentication keys of one complete request. Keys that do
    /// not start with `CHAP_` are ignored and left unconsumed. A request with
    /// no CHAP key changes nothing: it answers `.proceed` while the exchange
    /// is under way, and repeats the final outcome once it is over.
    public mutating func receive(_ pairs: [TextKeyValue]) -> CHAPStep {
        do throws(NegotiationFailure) {
            switch state {
            case .awaitingAlgorithms:
                return try selectAlgorithm(pairs)
            case .awaitingResponse:
                return try verifyResponse(pairs)
            case .succeeded(let result):
                _ = try CHAPReceivedKeys(pairs, allowed: [], step: "after CHAP completed")
                return CHAPStep(outcome: .success(result))
            case .failed(let failure):
                return CHAPStep(outcome: .failure(failure))
            }
        } catch {
            state = .failed(error)
            return CHAPStep(outcome: .failure(error))
        }
    }

    private mutating func selectAlgorithm(_ pairs: [TextKeyValue]) throws(NegotiationFailure) -> CHAPStep {
        let keys = try CHAPReceivedKeys(pairs, allowed: ["CHAP_A"], step: "before CHAP_A was answered")
        guard let offer = keys["CHAP_A"] else { return CHAPStep(outcome: .proceed) }
        guard let offered = CHAPAlgorithm.parseList(offer) else {
            throw .authenticationFailure("CHAP_A is not a list of at most \(CHAPAlgorithm.maxListItems) algorithm numbers")
        }
        let accepted = Set(configuration.algorithms.map(\.rawValue))
        guard let number = offered.first(where: accepted.contains), let chosen = CHAPAlgorithm(rawValue: number) else {
            let list = CHAPAlgorithm.encodeList(configuration.algorithms)
            throw .authenticationFailure("CHAP_A=\(offer) offers none of the accepted algorithms \(list)")
        }
        algorithm = chosen
        let challenge = CHAPChallenge.random(length: configuration.challengeLength, from: random)
        self.challenge = challenge
        state = .awaitingResponse
        return CHAPStep(
            outcome: .proceed, reply: [TextKeyValue("CHAP_A", String(chosen.rawValue))] + challenge.keys,
            consumedKeys: keys.order)
    }

    private mutating func verifyResponse(_ pairs: [TextKeyValue]) throws(NegotiationFailure) -> CHAPStep {
        let keys = try CHAPReceivedKeys(
            pairs, allowed: ["CHAP_N", "CHAP_R", "CHAP_I", "CHAP_C"], step: "after the target's challenge"
        )
        if keys.isEmpty { return CHAPStep(outcome: .proceed) }
        guard let algorithm, let challenge else { throw .initiatorError("no CHAP algorithm was chosen") }

        // Syntax first: every malformed key is an initiator error.
        guard let nameText = keys["CHAP_N"] else { throw .initiatorError("CHAP_N missing from the CHAP response") }
        guard let responseText = keys["CHAP_R"] else { throw .initiatorError("CHAP_R missing from the CHAP response") }
        let name = try CHAPParse.name(nameText)
        let response = try CHAPParse.binary("CHAP_R", responseText)
        var peerChallenge: CHAPChallenge?
        switch (keys["CHAP_I"], keys["CHAP_C"]) {
        case (nil, nil):
            break
        case (let identifierText?, let challengeText?):
            peerChallenge = CHAPChallenge(
                identifier: try CHAPParse.identifier(identifierText), bytes: try CHAPParse.binary("CHAP_C", challengeText))
        default:
            throw .initiatorError("mutual CHAP needs both CHAP_I and CHAP_C")
        }

        // Then policy and credentials.
        if let peerChallenge {
            guard let outgoing = configuration.outgoing, !outgoing.secret.isEmpty, !outgoing.name.isEmpty else {
                throw .authenticationFailure("initiator \(name) asked for mutual CHAP; no target credential is configured")
            }
            let minimum = configuration.minimumPeerChallengeLength
            guard peerChallenge.bytes.count >= minimum else {
                throw .authenticationFailure(
                    "initiator's CHAP_C has \(peerChallenge.bytes.count) bytes; at least \(minimum) are required")
            }
            guard !CHAPAlgorithm.constantTimeEqual(peerChallenge.bytes, challenge.bytes) else {
                throw .authenticationFailure("initiator \(name) reflected the target's CHAP challenge")
            }
        }
        guard response.count == algorithm.digestLength else {
            throw .authenticationFailure(
                "CHAP_R from \(name) has \(response.count) bytes; \(algorithm) responses have \(algorithm.digestLength)"
            )
        }
        guard let secret = configuration.secretForUser(name), !secret.isEmpty else {
            throw .authenticationFailure("unknown CHAP user \(name)")
        }
        guard challenge.isAnswered(by: response, secret: secret, algorithm: algorithm) else {
            throw .authenticationFailure("wrong CHAP response from user \(name)")
        }
        // RFC 7143 section 9.2.1: a response we would have produced ourselves
        // means one secret serves both directions, which mutual CHAP refuses.
        // A one-way login never uses our secret, so it is not affected.
        if peerChallenge != nil, let outgoing = configuration.outgoing,
            challenge.isAnswered(by: response, secret: outgoing.secret, algorithm: algorithm)
        {
            throw .authenticationFailure(
                "mutual CHAP refused: user \(name) has the same secret as the target's outgoing account "
                    + "\(outgoing.name) (RFC 7143 9.2.1); one-way CHAP logins still work")
        }

        var reply: [TextKeyValue] = []
        if let peerChallenge, let outgoing = configuration.outgoing {
            reply = peerChallenge.answer(as: outgoing, algorithm: algorithm)
        }
        let result = CHAPResult(algorithm: algorithm, authenticatedName: name, mutual: peerChallenge != nil)
        state = .succeeded(result)
        return CHAPStep(outcome: .success(result), reply: reply, consumedKeys: keys.order)
    }
}
