import ISCSIProtocol
import XCTest

/// The initiator's CHAP state machine against scripted target answers, with
/// the same hashlib values as CHAPTargetTests (target identifier 7 and
/// challenge 0x10...0x2f; our identifier 200 and challenge 0x64...0x83).
final class CHAPInitiatorTests: XCTestCase {
    let user = CHAPExchangeTests.initiator
    let targetCredential = CHAPExchangeTests.target
    let targetChallenge = CHAPValue.encodeHex(CHAPTargetTests.challenge)

    private func makeInitiator(
        mutual: Bool = false, algorithms: [CHAPAlgorithm] = CHAPAlgorithm.defaultPreference,
        ourChallenge: [UInt8] = CHAPTargetTests.initiatorChallenge
    ) -> InitiatorCHAPAuthenticator {
        var initiator = InitiatorCHAPAuthenticator(
            configuration: .init(
                credential: user, targetCredential: mutual ? targetCredential : nil, algorithms: algorithms),
            random: CHAPExchangeTests.scriptedRandom([[200], ourChallenge]))
        _ = initiator.start()
        return initiator
    }

    private func challengeKeys(
        algorithm: String = "5", identifier: String = "7", challenge: String? = nil
    ) -> [TextKeyValue] {
        [
            TextKeyValue("CHAP_A", algorithm), TextKeyValue("CHAP_I", identifier),
            TextKeyValue("CHAP_C", challenge ?? targetChallenge),
        ]
    }

    private func assertFailure(
        _ step: CHAPStep, detail: UInt8, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let failure = step.failure else {
            return XCTFail("expected failure 0x020\(detail), got \(step.outcome) \(message)", file: file, line: line)
        }
        XCTAssertEqual(failure.statusDetail, detail, "\(failure.reason) \(message)", file: file, line: line)
        XCTAssertEqual(step.reply, [], file: file, line: line)
        for secret in ["initiator-secret", "target-secret-01"] {
            XCTAssertFalse(failure.reason.contains(secret), "reason leaks a secret: \(failure.reason)", file: file, line: line)
        }
    }

    func testStartOffersConfiguredAlgorithms() {
        var initiator = InitiatorCHAPAuthenticator(configuration: .init(credential: user))
        XCTAssertEqual(initiator.start(), [TextKeyValue("CHAP_A", "8,7,6,5")])
        XCTAssertEqual(initiator.state, .awaitingChallenge)
        var md5Only = InitiatorCHAPAuthenticator(configuration: .init(credential: user, algorithms: [.md5]))
        XCTAssertEqual(md5Only.start(), [TextKeyValue("CHAP_A", "5")])
    }

    func testKeysBeforeStartFail() {
        var initiator = InitiatorCHAPAuthenticator(configuration: .init(credential: user))
        assertFailure(initiator.receive(challengeKeys()), detail: 0)
    }

    func testOneWayAnswer() {
        var initiator = makeInitiator()
        let step = initiator.receive(challengeKeys())
        XCTAssertEqual(step.outcome, .success(CHAPResult(algorithm: .md5, authenticatedName: nil, mutual: false)))
        XCTAssertEqual(step.consumedKeys, ["CHAP_A", "CHAP_I", "CHAP_C"])
        XCTAssertEqual(step.reply, [TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", CHAPTargetTests.md5Response)])
    }

    func testOneWayAnswerSHA3WithBase64Challenge() {
        var initiator = makeInitiator()
        let step = initiator.receive(challengeKeys(algorithm: "8", challenge: CHAPValue.encodeBase64(CHAPTargetTests.challenge)))
        XCTAssertEqual(step.reply.last, TextKeyValue("CHAP_R", CHAPTargetTests.sha3Response))
        XCTAssertEqual(initiator.algorithm, .sha3_256)
    }

    func testTargetPickingAnAlgorithmWeDidNotOfferFails() {
        for answer in ["7", "6", "8", "5,7", "Reject", "", "x"] {
            var initiator = makeInitiator(algorithms: [.md5])
            assertFailure(initiator.receive(challengeKeys(algorithm: answer)), detail: 1, answer)
        }
    }

    func testMissingTargetKeysFail() {
        let keys = challengeKeys()
        for missing in 0..<3 {
            var initiator = makeInitiator()
            var partial = keys
            partial.remove(at: missing)
            assertFailure(initiator.receive(partial), detail: 0, keys[missing].key)
        }
    }

    func testUnexpectedKeyInChallengeFails() {
        var initiator = makeInitiator()
        assertFailure(initiator.receive(challengeKeys() + [TextKeyValue("CHAP_R", "0x00")]), detail: 0)
    }

    func testBadIdentifierFails() {
        for identifier in ["256", "-1", "seven", ""] {
            var initiator = makeInitiator()
            assertFailure(initiator.receive(challengeKeys(identifier: identifier)), detail: 1, identifier)
        }
    }

    func testShortChallengeFails() {
        var initiator = makeInitiator()
        assertFailure(initiator.receive(challengeKeys(challenge: "0x" + String(repeating: "5a", count: 15))), detail: 1)
        var sixteen = makeInitiator()
        XCTAssertNotNil(sixteen.receive(challengeKeys(challenge: "0x" + String(repeating: "5a", count: 16))).result)
    }

    func testMalformedOrOverlongChallengeFails() {
        for challenge in ["0x", "12", "0xq1", "0x" + String(repeating: "00", count: 1025)] {
            var initiator = makeInitiator()
            assertFailure(initiator.receive(challengeKeys(challenge: challenge)), detail: 1)
        }
    }

    // MARK: Mutual CHAP

    func testMutualSendsOurChallengeThenVerifiesTarget() {
        var initiator = makeInitiator(mutual: true)
        let step = initiator.receive(challengeKeys())
        XCTAssertEqual(step.outcome, .proceed)
        XCTAssertEqual(
            step.reply,
            [
                TextKeyValue("CHAP_N", user.name), TextKeyValue("CHAP_R", CHAPTargetTests.md5Response),
                TextKeyValue("CHAP_I", "200"),
                TextKeyValue("CHAP_C", "0x6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283"),
            ])
        let done = initiator.receive([
            TextKeyValue("CHAP_N", targetCredential.name), TextKeyValue("CHAP_R", CHAPTargetTests.md5TargetResponse),
        ])
        XCTAssertEqual(done.outcome, .success(CHAPResult(algorithm: .md5, authenticatedName: targetCredential.name, mutual: true)))
        XCTAssertEqual(done.consumedKeys, ["CHAP_N", "CHAP_R"])
    }

    func testMutualSHA3() {
        var initiator = makeInitiator(mutual: true)
        _ = initiator.receive(challengeKeys(algorithm: "8"))
        let done = initiator.receive([
            TextKeyValue("CHAP_N", targetCredential.name), TextKeyValue("CHAP_R", CHAPTargetTests.sha3TargetResponse),
        ])
        XCTAssertEqual(done.result?.algorithm, .sha3_256)
    }

    private func awaitingTarget() -> InitiatorCHAPAuthenticator {
        var initiator = makeInitiator(mutual: true)
        XCTAssertEqual(initiator.receive(challengeKeys()).outcome, .proceed)
        return initiator
    }

    func testTargetWithWrongNameFails() {
        var initiator = awaitingTarget()
        assertFailure(
            initiator.receive([TextKeyValue("CHAP_N", "iqn.evil"), TextKeyValue("CHAP_R", CHAPTargetTests.md5TargetResponse)]),
            detail: 1)
    }

    func testTargetWithWrongResponseFails() {
        var initiator = awaitingTarget()
        assertFailure(
            initiator.receive([
                TextKeyValue("CHAP_N", targetCredential.name), TextKeyValue("CHAP_R", "0xe4b94e66a50963dbef0eee516e5a86d3"),
            ]), detail: 1)
    }

    func testTargetResponseOfWrongLengthFails() {
        var initiator = awaitingTarget()
        assertFailure(
            initiator.receive([TextKeyValue("CHAP_N", targetCredential.name), TextKeyValue("CHAP_R", CHAPTargetTests.sha3TargetResponse)]),
            detail: 1)
    }

    func testTargetNotAuthenticatingFails() {
        var initiator = awaitingTarget()
        assertFailure(initiator.receive([]), detail: 1)
        var nameOnly = awaitingTarget()
        assertFailure(nameOnly.receive([TextKeyValue("CHAP_N", targetCredential.name)]), detail: 1)
    }

    func testTargetSendingAnotherChallengeFails() {
        var initiator = awaitingTarget()
        assertFailure(initiator.receive(challengeKeys()), detail: 0)
    }

    /// A target answering with our own secret (shared secret in both
    /// directions) is refused even when configured that way.
    func testTargetUsingOurSecretFails() {
        var initiator = InitiatorCHAPAuthenticator(
            configuration: .init(
                credential: user, targetCredential: CHAPCredential(name: targetCredential.name, secret: user.secret)),
            random: CHAPExchangeTests.scriptedRandom([[200], CHAPTargetTests.initiatorChallenge]))
        _ = initiator.start()
        _ = initiator.receive(challengeKeys())
        let mirrored = CHAPAlgorithm.md5.response(
            identifier: 200, secret: user.secret, challenge: CHAPTargetTests.initiatorChallenge)
        assertFailure(
            initiator.receive([TextKeyValue("CHAP_N", targetCredential.name), TextKeyValue("CHAP_R", CHAPValue.encodeHex(mirrored))]),
            detail: 1)
    }

    /// Our challenge must never repeat the one the target sent us.
    func testNeverSendsBackTheTargetsChallenge() {
        var initiator = makeInitiator(mutual: true, ourChallenge: CHAPTargetTests.challenge)
        assertFailure(initiator.receive(challengeKeys()), detail: 1)
    }

    func testCompletedExchangeRefusesMoreChapKeys() {
        var initiator = makeInitiator()
        let success = initiator.receive(challengeKeys())
        XCTAssertEqual(initiator.receive([]).outcome, success.outcome)
        assertFailure(initiator.receive([TextKeyValue("CHAP_N", "x")]), detail: 0)
        XCTAssertEqual(initiator.receive([]).failure?.statusDetail, 0, "failure is final")
    }
}
