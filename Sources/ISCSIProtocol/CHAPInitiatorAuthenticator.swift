/// The initiator's side of CHAP (RFC 7143 section 12.1.3), without IO: after
/// the target agreed AuthMethod=CHAP, send `start()`'s keys, then feed each
/// login response's keys to `receive`.
///
/// The target's choices are checked strictly: it must pick one algorithm we
/// offered, send an identifier in 0...255 and a challenge of at least
/// `minimumChallengeLength` bytes. For mutual CHAP our challenge never equals
/// the target's, and the target's answer must come from the configured target
/// name and secret, and differ from what our own secret would produce
/// (RFC 7143 section 9.2.1). Failures reuse `NegotiationFailure` to classify:
/// 0x0200 for a malformed or out-of-order answer, 0x0201 for everything that
/// means "this target cannot be authenticated".
public struct InitiatorCHAPAuthenticator: Sendable {
    public struct Configuration: Sendable {
        /// Our CHAP_N and secret.
        public var credential: CHAPCredential
        /// The name and secret the target must prove for mutual CHAP; nil for
        /// one-way CHAP.
        public var targetCredential: CHAPCredential?
        /// Algorithms we offer, in our order of preference. RFC 7143 asks
        /// initiators always to offer MD5; Debian's tgtd also reads 7 as SHA-1,
        /// so offer `[.md5]` alone (or MD5 before SHA-256) to tgtd.
        public var algorithms: [CHAPAlgorithm]
        /// Bytes of the challenge we send for mutual CHAP, within 16...1024.
        public var challengeLength: Int
        /// The shortest target challenge we answer. RFC 7143 sets only a
        /// maximum; LIO sends the digest length (16 or more), tgtd 25 to 49,
        /// FreeBSD's ctld 1024.
        public var minimumChallengeLength: Int

        public init(
            credential: CHAPCredential,
            targetCredential: CHAPCredential? = nil,
            algorithms: [CHAPAlgorithm] = CHAPAlgorithm.defaultPreference,
            challengeLength: Int = 32,
            minimumChallengeLength: Int = 16
        ) {
            precondition(!algorithms.isEmpty, "offer at least one CHAP algorithm")
            self.credential = credential
            self.targetCredential = targetCredential
            self.algorithms = algorithms
            self.challengeLength = min(max(challengeLength, 16), CHAPValue.maxBinaryLength)
            self.minimumChallengeLength = max(minimumChallengeLength, 1)
        }
    }

    public enum State: Hashable, Sendable {
        /// `start()` not called yet.
        case initial
        /// CHAP_A sent; waiting for the target's CHAP_A, CHAP_I and CHAP_C.
        case awaitingChallenge
        /// Mutual CHAP: our challenge is out; waiting for CHAP_N and CHAP_R.
        case awaitingTargetResponse
        case succeeded(CHAPResult)
        case failed(NegotiationFailure)
    }

    public let configuration: Configuration
    public private(set) var state: State = .initial
    /// The algorithm the target chose.
    public private(set) var algorithm: CHAPAlgorithm?

    private let random: CHAPRandomSource
    /// Mutual CHAP: the challenge we sent the target.
    private var challenge: CHAPChallenge?

    public init(configuration: Configuration, random: CHAPRandomSource = .system) {
        self.configuration = configuration
        self.random = random
    }

    /// The first keys to send: CHAP_A with our algorithms.
    public mutating func start() -> [TextKeyValue] {
        precondition(state == .initial, "CHAP already started")
        state = .awaitingChallenge
        return [TextKeyValue("CHAP_A", CHAPAlgorithm.encodeList(configuration.algorithms))]
    }

    /// Handles the authentication keys of one login response. `.success`
    /// means our part is done: for one-way CHAP right after answering the
    /// challenge (send the reply; the target's login status is the verdict),
    /// for mutual CHAP once the target proved itself.
    public mutating func receive(_ pairs: [TextKeyValue]) -> CHAPStep {
        do throws(NegotiationFailure) {
            switch state {
            case .initial:
                throw NegotiationFailure.initiatorError("CHAP keys received before CHAP_A was sent")
            case .awaitingChallenge:
                return try answerChallenge(pairs)
            case .awaitingTargetResponse:
                return try verifyTarget(pairs)
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

    private mutating func answerChallenge(_ pairs: [TextKeyValue]) throws(NegotiationFailure) -> CHAPStep {
        let keys = try CHAPReceivedKeys(pairs, allowed: ["CHAP_A", "CHAP_I", "CHAP_C"], step: "in the target's challenge")
        guard let algorithmText = keys["CHAP_A"] else { throw .initiatorError("target did not answer CHAP_A") }
        guard let identifierText = keys["CHAP_I"] else { throw .initiatorError("target sent no CHAP_I") }
        guard let challengeText = keys["CHAP_C"] else { throw .initiatorError("target sent no CHAP_C") }

        guard let chosen = CHAPAlgorithm.parseList(algorithmText), chosen.count == 1,
            let algorithm = configuration.algorithms.first(where: { $0.rawValue == chosen[0] })
        else {
            throw .authenticationFailure(
                "target answered CHAP_A=\(algorithmText), not one of the offered "
                    + CHAPAlgorithm.encodeList(configuration.algorithms)
            )
        }
        let targetChallenge = CHAPChallenge(
            identifier: try CHAPParse.identifier(identifierText), bytes: try CHAPParse.binary("CHAP_C", challengeText))
        let minimum = configuration.minimumChallengeLength
        guard targetChallenge.bytes.count >= minimum else {
            throw .authenticationFailure(
                "target's CHAP_C has \(targetChallenge.bytes.count) bytes; at least \(minimum) are required")
        }
        guard !configuration.credential.secret.isEmpty else {
            throw .authenticationFailure("no CHAP secret is configured")
        }
        self.algorithm = algorithm
        var reply = targetChallenge.answer(as: configuration.credential, algorithm: algorithm)

        guard configuration.targetCredential != nil else {
            let result = CHAPResult(algorithm: algorithm, authenticatedName: nil, mutual: false)
            state = .succeeded(result)
            return CHAPStep(outcome: .success(result), reply: reply, consumedKeys: keys.order)
        }
        let challenge = CHAPChallenge.random(length: configuration.challengeLength, from: random)
        // RFC 7143 section 9.2.1: never send back the challenge we were given.
        guard !CHAPAlgorithm.constantTimeEqual(challenge.bytes, targetChallenge.bytes) else {
            throw .authenticationFailure("our CHAP challenge would repeat the target's")
        }
        self.challenge = challenge
        reply += challenge.keys
        state = .awaitingTargetResponse
        return CHAPStep(outcome: .proceed, reply: reply, consumedKeys: keys.order)
    }

    private mutating func verifyTarget(_ pairs: [TextKeyValue]) throws(NegotiationFailure) -> CHAPStep {
        let keys = try CHAPReceivedKeys(pairs, allowed: ["CHAP_N", "CHAP_R"], step: "in the target's CHAP response")
        guard let algorithm, let challenge, let expectedTarget = configuration.targetCredential else {
            throw .initiatorError("mutual CHAP is not under way")
        }
        guard let nameText = keys["CHAP_N"], let responseText = keys["CHAP_R"] else {
            throw .authenticationFailure("target did not authenticate itself (CHAP_N and CHAP_R missing)")
        }
        let name = try CHAPParse.name(nameText)
        let response = try CHAPParse.binary("CHAP_R", responseText)
        guard name == expectedTarget.name else {
            throw .authenticationFailure("target authenticated as \(name), not \(expectedTarget.name)")
        }
        guard response.count == algorithm.digestLength else {
            throw .authenticationFailure(
                "target's CHAP_R has \(response.count) bytes; \(algorithm) responses have \(algorithm.digestLength)"
            )
        }
        guard !expectedTarget.secret.isEmpty else {
            throw .authenticationFailure("no secret is configured for target \(name)")
        }
        if challenge.isAnswered(by: response, secret: configuration.credential.secret, algorithm: algorithm) {
            throw .authenticationFailure("target \(name) uses the same CHAP secret as this initiator")
        }
        guard challenge.isAnswered(by: response, secret: expectedTarget.secret, algorithm: algorithm) else {
            throw .authenticationFailure("wrong CHAP response from target \(name)")
        }
        let result = CHAPResult(algorithm: algorithm, authenticatedName: name, mutual: true)
        state = .succeeded(result)
        return CHAPStep(outcome: .success(result), reply: [], consumedKeys: keys.order)
    }
}
