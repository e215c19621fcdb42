import ISCSIProtocol
import XCTest

/// The target's CHAP state machine with a scripted random source: identifier 7
/// and the challenge 0x10...0x2f. Expected responses come from Python's
/// hashlib, e.g. `hashlib.md5(bytes([7]) + b"initiator-secret" +
/// bytes(range(16, 48))).hexdigest()`.
final class CHAPTargetTests: XCTestCase {
    static let challenge: [UInt8] = (16..<48).map { UInt8($0) }
    static let initiatorChallenge: [UInt8] = (100..<132).map { UInt8($0) }
    static let md5Response = "0xc6e7d1c03b663a579c792112659ed0dd"
    static let sha3Response = "0x9ee471c4878d0159acfd020b1a9ad80419c4e3ca73c94dc23b274d28c67f7bdb"
    /// MD5 and SHA3-256 of 200 || "target-secret-01" || 0x64...0x83.
    static let md5TargetResponse = "0xe4b94e66a50963dbef0eee516e5a86d2"
    static let sha3TargetResponse = "0x9cb9ca228f9dcbda106ce2a9bd1cb39c68cb997dea4506f7adf62e762ed466c2"

    let user = CHAPExchangeTests.initiator
    let targetCredential = CHAPExchangeTests.target

    private func makeTarget(
        outgoing: CHAPCredential? = nil, algorithms: [CHAPAlgorithm] = CHAPAlgorithm.allCases,
        challengeLength: Int = 32
    ) -> TargetCHAPAuthenticator {
        let configuration = TargetCHAPAuthenticator.Configuration(
            credentials: [user, CHAPCredential(name: "other", secret: "other-secret-123")], outgoing: outgoing,
            algorithms: algorithms, challengeLength: challengeLength)
        let challenge = Array(Self.challenge.prefix(configuration.challengeLength))
        return TargetCHAPAuthenticator(
            configuration: configuration, random: CHAPExchangeTests.scriptedRandom([[7], challenge]))
    }

    /// A target that has answered CHAP_A=`offer`.
    private func challenged(_ offer: String = "5", outgoing: CHAPCredential? = nil) -> TargetCHAPAuthenticator {
        var target = makeTarget(outgoing: outgoing)
        XCTAssertEqual(target.receive([TextKeyValue("CHAP_A", offer)]).outcome, .proceed)
        return target
    }

    private func assertFailure(
        _ step: CHAPStep, detail: UInt8, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let failure = step.failure else {
            return XCTFail("expected failure 0x020\(detail), got \(step.outcome) \(message)", file: file, line: line)
        }
        XCTAssertEqual(failure.statusClass, 2, message, file: file, line: line)
        XCTAssertEqual(failure.statusDetail, detail, "\(failure.reason) \(message)", file: file, line: line)
        XCTAssertEqual(step.reply, [], file: file, line: line)
        for secret in ["initiator-secret", "target-secret-01", "other-secret-123"] {
            XCTAssertFalse(failure.reason.contains(secret), "reason leaks a secret: \(failure.reason)", file: file, line: line)
        }
    }

    // MARK: CHAP_A

    func testAnswersAlgorithmIdentifierAndChallenge() {
        var target = makeTarget()
        let step = target.receive([TextKeyValue("CHAP_A", "7,5")])
        XCTAssertEqual(step.outcome, .proceed)
        XCTAssertEqual(step.consumedKeys, ["CHAP_A"])
        XCTAssertEqual(
            step.reply,
            [
                TextKeyValue("CHAP_A", "7"), TextKeyValue("CHAP_I", "7"),
                TextKeyValue("CHAP_C", "0x101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"),
            ])
        XCTAssertEqual(target.state, .awaitingResponse)
        XCTAssertEqual(target.algorithm, .sha256)
    }

    /// RFC 7143 12.1.3: the initiator lists CHAP_A in its order of
    /// preference; we take the first value we accept.
    func testPicksTheInitiatorsFirstChoiceAmongAccepted() {
        let cases: [(String, [CHAPAlgorithm], CHAPAlgorithm)] = [
            ("5,6,7,8", CHAPAlgorithm.allCases, .md5),  // libiscsi's iSCSICHAP.Simple
            ("8,7,6,5", CHAPAlgorithm.allCases, .sha3_256),
            ("128,6,5", CHAPAlgorithm.allCases, .sha1),
            ("0x5", CHAPAlgorithm.allCases, .md5),
            ("5,6,7,8", [.sha256, .sha3_256], .sha256),  // the administrator's restriction
            ("8,7,6,5", [.md5, .sha256], .sha256),
        ]
        for (offer, accepted, expected) in cases {
            var target = makeTarget(algorithms: accepted)
            let step = target.receive([TextKeyValue("CHAP_A", offer)])
            XCTAssertEqual(step.reply.first, TextKeyValue("CHAP_A", String(expected.rawValue)), "\(offer) to \(accepted)")
            XCTAssertEqual(target.algorithm, expected)
        }
    }

    func testChallengeIsAtLeastSixteenBytes() {
        var target = makeTarget(challengeLength: 4)
        XCTAssertEqual(target.configuration.challengeLength, 16)
        let challenge = target.receive([TextKeyValue("CHAP_A", "5")]).reply[2].value
        XCTAssertEqual(challenge, "0x101112131415161718191a1b1c1d1e1f")
        XCTAssertEqual(
            TargetCHAPAuthenticator.Configuration(credentials: [], challengeLength: 5000).challengeLength, 1024)
    }

    func testNoCommonAlgorithmFails() {
        var target = makeTarget(algorithms: [.sha3_256, .sha256])
        let step = target.receive([TextKeyValue("CHAP_A", "5,6,128")])
        assertFailure(step, detail: 1)
        XCTAssertEqual(target.state, .failed(step.failure!))
    }

    func testMalformedOrOverlongAlgorithmListFails() {
        let bad = [
            "", "5,,7", "MD5", "5;7", "256", "-5", "Reject", "None",
            Array(repeating: "5", count: 17).joined(separator: ","),
            String(repeating: "0", count: 300) + "5",
        ]
        for offer in bad {
            var target = makeTarget()
            assertFailure(target.receive([TextKeyValue("CHAP_A", offer)]), detail: 1, offer)
        }
    }

    func testResponseBeforeChallengeIsInitiatorError() {
        var target = makeTarget()
        assertFailure(
            target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", Self.md5Response)]), detail: 0)
        var other = makeTarget()
        assertFailure(other.receive([TextKeyValue("CHAP_A", "5"), TextKeyValue("CHAP_C", "0x00")]), detail: 0)
    }

    func testWithoutChapKeysNothingHappens() {
        var target = makeTarget()
        let step = target.receive([TextKeyValue("SRP_U", "someone")])
        XCTAssertEqual(step, CHAPStep(outcome: .proceed))
        XCTAssertEqual(target.state, .awaitingAlgorithms)
        var waiting = challenged()
        XCTAssertEqual(waiting.receive([]), CHAPStep(outcome: .proceed))
        XCTAssertEqual(waiting.state, .awaitingResponse)
    }

    func testUnknownChapKeyFails() {
        var target = makeTarget()
        assertFailure(target.receive([TextKeyValue("CHAP_X", "1")]), detail: 0)
    }

    func testRepeatedKeyFails() {
        var target = makeTarget()
        assertFailure(target.receive([TextKeyValue("CHAP_A", "5"), TextKeyValue("CHAP_A", "5")]), detail: 0)
    }

    // MARK: CHAP_N / CHAP_R

    func testAcceptsCorrectMD5Response() {
        var target = challenged()
        let step = target.receive([
            TextKeyValue("SRP_U", "ignored"), TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", Self.md5Response),
        ])
        XCTAssertEqual(step.outcome, .success(CHAPResult(algorithm: .md5, authenticatedName: user.name, mutual: false)))
        XCTAssertEqual(step.consumedKeys, ["CHAP_N", "CHAP_R"])
        XCTAssertEqual(step.reply, [])
        XCTAssertTrue(target.isAuthenticated)
    }

    func testAcceptsUppercaseHexAndBase64Responses() {
        var upper = challenged()
        XCTAssertNotNil(
            upper.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", "0XC6E7D1C03B663A579C792112659ED0DD")])
                .result)
        var base64 = challenged()
        XCTAssertNotNil(
            base64.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", "0bxufRwDtmOleceSESZZ7Q3Q==")])
                .result)
    }

    func testAcceptsCorrectSHA3Response() {
        var target = challenged("8")
        let step = target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", Self.sha3Response)])
        XCTAssertEqual(step.result, CHAPResult(algorithm: .sha3_256, authenticatedName: user.name, mutual: false))
    }

    func testWrongResponseFails() {
        var target = challenged()
        assertFailure(
            target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", "0xc6e7d1c03b663a579c792112659ed0de")]),
            detail: 1)
    }

    func testResponseOfAnotherUserFails() {
        var target = challenged()
        assertFailure(
            target.receive([TextKeyValue("CHAP_N", "other"), TextKeyValue("CHAP_R", Self.md5Response)]), detail: 1)
    }

    func testUnknownUserFails() {
        var target = challenged()
        let step = target.receive([TextKeyValue("CHAP_N", "nobody"), TextKeyValue("CHAP_R", Self.md5Response)])
        assertFailure(step, detail: 1)
        XCTAssertTrue(step.failure!.reason.contains("nobody"))
    }

    func testResponseForWrongAlgorithmFails() {
        // A valid MD5 answer where SHA3-256 was chosen: wrong length.
        var target = challenged("8")
        assertFailure(target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", Self.md5Response)]), detail: 1)
    }

    func testResponseOfWrongLengthFails() {
        for response in ["0xc6e7d1c03b663a579c792112659ed0", "0xc6e7d1c03b663a579c792112659ed0dd00", "0x00"] {
            var target = challenged()
            assertFailure(target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", response)]), detail: 1)
        }
    }

    func testMalformedOrOverlongResponseFailsAuthentication() {
        for response in ["", "c6e7d1c03b663a579c792112659ed0dd", "0x", "0xZZ", "0b!!", "0x" + String(repeating: "00", count: 1025)] {
            var target = challenged()
            assertFailure(
                target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", response)]), detail: 1,
                response.prefix(20).description)
        }
    }

    func testMissingNameOrResponseIsInitiatorError() {
        var noResponse = challenged()
        assertFailure(noResponse.receive([TextKeyValue("CHAP_N", user.name)]), detail: 0)
        var noName = challenged()
        assertFailure(noName.receive([TextKeyValue("CHAP_R", Self.md5Response)]), detail: 0)
        var emptyName = challenged()
        assertFailure(emptyName.receive([TextKeyValue("CHAP_N", ""), TextKeyValue("CHAP_R", Self.md5Response)]), detail: 0)
    }

    func testAlgorithmAgainAfterChallengeIsInitiatorError() {
        var target = challenged()
        assertFailure(target.receive([TextKeyValue("CHAP_A", "5")]), detail: 0)
    }

    func testLookupClosureConfiguration() {
        let configuration = TargetCHAPAuthenticator.Configuration(
            secretForUser: { $0 == "iqn.2026-11.org.example:host1" ? Array("initiator-secret".utf8) : nil },
            algorithms: [.md5])
        var target = TargetCHAPAuthenticator(
            configuration: configuration, random: CHAPExchangeTests.scriptedRandom([[7], Self.challenge]))
        _ = target.receive([TextKeyValue("CHAP_A", "5")])
        XCTAssertNotNil(target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", Self.md5Response)]).result)
    }

    func testEmptySecretNeverAuthenticates() {
        let configuration = TargetCHAPAuthenticator.Configuration(secretForUser: { _ in [] })
        var target = TargetCHAPAuthenticator(
            configuration: configuration, random: CHAPExchangeTests.scriptedRandom([[7], Self.challenge]))
        _ = target.receive([TextKeyValue("CHAP_A", "5")])
        let emptySecretResponse = CHAPAlgorithm.md5.response(identifier: 7, secret: [], challenge: Self.challenge)
        assertFailure(
            target.receive([TextKeyValue("CHAP_N", "x"), TextKeyValue("CHAP_R", CHAPValue.encodeHex(emptySecretResponse))]),
            detail: 1)
    }

    // MARK: Mutual CHAP

    private func mutualKeys(
        identifier: String = "200", challenge: String = CHAPValue.encodeHex(CHAPTargetTests.initiatorChallenge),
        response: String = CHAPTargetTests.md5Response
    ) -> [TextKeyValue] {
        [
            TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", response),
            TextKeyValue("CHAP_I", identifier), TextKeyValue("CHAP_C", challenge),
        ]
    }

    func testMutualAnswersWithOutgoingCredential() {
        var target = challenged(outgoing: targetCredential)
        let step = target.receive(mutualKeys())
        XCTAssertEqual(step.outcome, .success(CHAPResult(algorithm: .md5, authenticatedName: user.name, mutual: true)))
        XCTAssertEqual(step.consumedKeys, ["CHAP_N", "CHAP_R", "CHAP_I", "CHAP_C"])
        XCTAssertEqual(step.reply, [TextKeyValue("CHAP_N", targetCredential.name), TextKeyValue("CHAP_R", Self.md5TargetResponse)])
    }

    func testMutualWithSHA3() {
        var target = challenged("8", outgoing: targetCredential)
        let step = target.receive(mutualKeys(response: Self.sha3Response))
        XCTAssertEqual(step.reply.last, TextKeyValue("CHAP_R", Self.sha3TargetResponse))
        XCTAssertEqual(step.result?.mutual, true)
    }

    func testMutualAcceptsHexIdentifierAndBase64Challenge() {
        var target = challenged(outgoing: targetCredential)
        let step = target.receive(
            mutualKeys(identifier: "0xc8", challenge: CHAPValue.encodeBase64(Self.initiatorChallenge)))
        XCTAssertEqual(step.reply.last, TextKeyValue("CHAP_R", Self.md5TargetResponse))
    }

    func testMutualWithoutOutgoingCredentialFails() {
        var target = challenged()
        assertFailure(target.receive(mutualKeys()), detail: 1)
    }

    func testReflectedChallengeFails() {
        var target = challenged(outgoing: targetCredential)
        assertFailure(target.receive(mutualKeys(challenge: CHAPValue.encodeHex(Self.challenge))), detail: 1)
        // The same bytes in another encoding are still a reflection.
        var other = challenged(outgoing: targetCredential)
        assertFailure(other.receive(mutualKeys(challenge: CHAPValue.encodeBase64(Self.challenge))), detail: 1)
    }

    func testShortInitiatorChallengeFails() {
        var target = challenged(outgoing: targetCredential)
        assertFailure(target.receive(mutualKeys(challenge: "0x" + String(repeating: "ab", count: 15))), detail: 1)
        var sixteen = challenged(outgoing: targetCredential)
        XCTAssertNotNil(sixteen.receive(mutualKeys(challenge: "0x" + String(repeating: "ab", count: 16))).result)
    }

    func testIdentifierOutsideByteRangeFails() {
        for identifier in ["256", "-1", "0x100", "abc", "", "1.5"] {
            var target = challenged(outgoing: targetCredential)
            assertFailure(target.receive(mutualKeys(identifier: identifier)), detail: 1, identifier)
        }
    }

    func testMutualNeedsBothIdentifierAndChallenge() {
        var noChallenge = challenged(outgoing: targetCredential)
        assertFailure(noChallenge.receive(Array(mutualKeys().prefix(3))), detail: 0)
        var noIdentifier = challenged(outgoing: targetCredential)
        let keys = mutualKeys()
        assertFailure(noIdentifier.receive([keys[0], keys[1], keys[3]]), detail: 0)
    }

    func testMalformedOrOverlongInitiatorChallengeFails() {
        for challenge in ["0x", "0xnothex", "0b#", "0x" + String(repeating: "ab", count: 1025)] {
            var target = challenged(outgoing: targetCredential)
            assertFailure(target.receive(mutualKeys(challenge: challenge)), detail: 1)
        }
    }

    /// RFC 7143 section 9.2.1: one secret must not serve both directions. A
    /// one-way login does not use the target's secret (seed 001 binds one
    /// account both ways, and tgt admits such logins).
    func testSameSecretBothWaysRefusesMutualCHAPOnly() {
        let sameSecret = CHAPCredential(name: user.name, secret: "initiator-secret")
        var mutual = challenged(outgoing: sameSecret)
        let refused = mutual.receive(mutualKeys())
        assertFailure(refused, detail: 1)
        XCTAssertTrue(refused.failure?.reason.contains("same secret as the target's outgoing account") ?? false)
        var oneWay = challenged(outgoing: sameSecret)
        let step = oneWay.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", Self.md5Response)])
        XCTAssertEqual(step.result, CHAPResult(algorithm: .md5, authenticatedName: user.name, mutual: false))
        XCTAssertEqual(step.reply, [])
    }

    // MARK: After the exchange

    func testFinishedExchangeRefusesMoreChapKeys() {
        var target = challenged()
        let success = target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", Self.md5Response)])
        XCTAssertEqual(target.receive([]), CHAPStep(outcome: success.outcome), "repeats the outcome")
        assertFailure(target.receive([TextKeyValue("CHAP_A", "5")]), detail: 0)
        XCTAssertFalse(target.isAuthenticated)
    }

    func testFailureIsFinal() {
        var target = challenged()
        let failed = target.receive([TextKeyValue("CHAP_N", "nobody"), TextKeyValue("CHAP_R", Self.md5Response)])
        let again = target.receive([TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", Self.md5Response)])
        XCTAssertEqual(again.failure, failed.failure)
        XCTAssertFalse(target.isAuthenticated)
    }
}
