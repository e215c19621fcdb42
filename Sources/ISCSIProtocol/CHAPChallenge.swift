/// A CHAP challenge (CHAP_I and CHAP_C) and the answers to it: the one a side sends and checks
/// the peer's response against, or the one it received and answers. The target's challenge and,
/// for mutual CHAP, the initiator's work the same way (RFC 1994 section 4.1, RFC 7143 section 12.1.3).
struct CHAPChallenge {
    var identifier: UInt8
    var bytes: [UInt8]

    /// A fresh challenge: a random identifier, then `length` random bytes.
    static func random(length: Int, from source: CHAPRandomSource) -> CHAPChallenge {
        let identifier = source.bytes(1)[0]
        return CHAPChallenge(identifier: identifier, bytes: source.bytes(length))
    }

    /// CHAP_I and CHAP_C, to send.
    var keys: [TextKeyValue] {
        [TextKeyValue("CHAP_I", String(identifier)), TextKeyValue("CHAP_C", CHAPValue.encodeHex(bytes))]
    }

    /// The response that `secret` gives to this challenge.
    func response(secret: [UInt8], algorithm: CHAPAlgorithm) -> [UInt8] {
        algorithm.response(identifier: identifier, secret: secret, challenge: bytes)
    }

    /// True when `response` is the one `secret` gives (compared in constant time).
    func isAnswered(by response: [UInt8], secret: [UInt8], algorithm: CHAPAlgorithm) -> Bool {
        CHAPAlgorithm.constantTimeEqual(response, self.response(secret: secret, algorithm: algorithm))
    }

    /// CHAP_N and CHAP_R answering this (the peer's) challenge as `credential`.
    func answer(as credential: CHAPCredential, algorithm: CHAPAlgorithm) -> [TextKeyValue] {
        let response = response(secret: credential.secret, algorithm: algorithm)
        return [TextKeyValue("CHAP_N", credential.name), TextKeyValue("CHAP_R", CHAPValue.encodeHex(response))]
    }
}
