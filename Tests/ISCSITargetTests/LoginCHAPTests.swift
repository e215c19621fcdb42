import ISCSIProtocol
import NIOCore
import XCTest

@testable import ISCSITarget

/// CHAP in the target's security stage, driven by our initiator-side authenticator.
final class LoginCHAPTests: XCTestCase {
    private let script = LoginScript()
    private let user = CHAPCredential(name: "christina", secret: "123456789012")
    private let targetUser = CHAPCredential(name: "tgt-out", secret: "abcdefghijklmn")

    private func keys(_ action: LoginStateMachine.Action) -> [TextKeyValue] {
        (try? TextKeyCodec.decode(action.response.dataSegment)) ?? []
    }

    /// Runs the security stage; returns the last action (success moves to the operational stage).
    private func login(
        harness: inout LoginHarness, initiator: CHAPCredential, targetCredential: CHAPCredential? = nil,
        algorithms: [CHAPAlgorithm] = CHAPAlgorithm.defaultPreference
    ) -> LoginStateMachine.Action {
        var chap = InitiatorCHAPAuthenticator(
            configuration: .init(credential: initiator, targetCredential: targetCredential, algorithms: algorithms))
        let first = harness.receive(script.securityRequest(extra: []).withKeys(["AuthMethod=CHAP,None"]))
        XCTAssertEqual(first.response.transit, false, "no transit before CHAP is done")
        XCTAssertEqual(keys(first).first { $0.key == "AuthMethod" }?.value, "CHAP")
        let offer = chap.start()
        let challenge = harness.receive(script.request(csg: 0, nsg: 1, transit: true, offer.map { "\($0.key)=\($0.value)" }))
        XCTAssertFalse(challenge.response.transit)
        let answer = chap.receive(keys(challenge).filter { $0.key.hasPrefix("CHAP_") })
        guard answer.failure == nil else {
            XCTFail("initiator refused the challenge: \(answer)")
            return challenge
        }
        let last = harness.receive(script.request(csg: 0, nsg: 1, transit: true, answer.reply.map { "\($0.key)=\($0.value)" }))
        if targetCredential != nil, last.failure == nil {
            let verdict = chap.receive(keys(last).filter { $0.key.hasPrefix("CHAP_") })
            XCTAssertNil(verdict.failure, "the target's mutual response must verify")
        }
        return last
    }

    func testOneWayCHAPSucceedsAndTransits() {
        var harness = LoginHarness(authentication: TargetAuthentication(incoming: ["christina": "123456789012"]))
        let last = login(harness: &harness, initiator: user)
        XCTAssertNil(last.failure)
        XCTAssertTrue(last.response.transit)
        XCTAssertEqual(last.response.nsg, .loginOperationalNegotiation)
    }

    func testWrongSecretFailsWithAuthenticationFailure() {
        var harness = LoginHarness(authentication: TargetAuthentication(incoming: ["christina": "123456789012"]))
        let last = login(harness: &harness, initiator: CHAPCredential(name: "christina", secret: "wrong-secret-1"))
        XCTAssertEqual(last.failure?.code, 0x0201)
    }

    func testMutualCHAPSucceeds() {
        var harness = LoginHarness(
            authentication: TargetAuthentication(incoming: ["christina": "123456789012"], outgoing: targetUser))
        let last = login(harness: &harness, initiator: user, targetCredential: targetUser)
        XCTAssertNil(last.failure)
        XCTAssertTrue(last.response.transit)
    }

    /// Seed 001 binds one account (a 6-character secret) incoming and outgoing, as tgt allows:
    /// one-way logins work; mutual ones would use one secret both ways and are refused.
    func testOneAccountBoundBothWaysAdmitsOneWayCHAPOnly() {
        let seed = CHAPCredential(name: "christina", secret: "123456")
        let authentication = TargetAuthentication(incoming: ["christina": "123456"], outgoing: seed)
        var oneWay = LoginHarness(authentication: authentication)
        XCTAssertNil(login(harness: &oneWay, initiator: seed).failure)
        var mutual = LoginHarness(authentication: authentication)
        let refused = login(harness: &mutual, initiator: seed, targetCredential: seed)
        XCTAssertEqual(refused.failure?.code, 0x0201)
        XCTAssertTrue(refused.failure?.reason.contains("same secret") ?? false, "\(String(describing: refused.failure))")
    }

    /// CHAP_A=5,6,7,8 (libiscsi's iSCSICHAP.Simple) is answered with the initiator's first choice
    /// among the algorithms the administrator allows.
    func testAlgorithmIsTheInitiatorsFirstChoiceAmongThoseAllowed() {
        let authentication = TargetAuthentication(incoming: ["christina": "123456789012"])
        for (allowed, expected) in [(CHAPAlgorithm.allCases, "5"), ([.sha3_256, .sha256], "7")] {
            var harness = LoginHarness(authentication: authentication, chapAlgorithms: allowed)
            _ = harness.receive(script.securityRequest(extra: []).withKeys(["AuthMethod=CHAP"]))
            let challenge = harness.receive(script.request(csg: 0, nsg: 1, transit: true, ["CHAP_A=5,6,7,8"]))
            XCTAssertEqual(keys(challenge).first { $0.key == "CHAP_A" }?.value, expected, "\(allowed)")
        }
        var harness = LoginHarness(authentication: authentication, chapAlgorithms: [.sha256])
        XCTAssertNil(login(harness: &harness, initiator: user, algorithms: [.md5, .sha256]).failure)
    }

    func testMutualCHAPWithoutOutgoingAccountFails() {
        var harness = LoginHarness(authentication: TargetAuthentication(incoming: ["christina": "123456789012"]))
        let last = login(harness: &harness, initiator: user, targetCredential: targetUser)
        XCTAssertEqual(last.failure?.code, 0x0201)
    }

    func testSkippingSecurityWhenCHAPIsRequiredFails() {
        var harness = LoginHarness(authentication: TargetAuthentication(incoming: ["christina": "123456789012"]))
        let action = harness.receive(
            script.request(
                csg: 1, nsg: 3, transit: true,
                ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"]))
        XCTAssertEqual(action.failure?.code, 0x0201)
    }

    func testOfferingOnlyNoneWhenCHAPIsRequiredFails() {
        var harness = LoginHarness(authentication: TargetAuthentication(incoming: ["christina": "123456789012"]))
        let action = harness.receive(script.securityRequest())
        XCTAssertEqual(action.failure?.code, 0x0201)
    }

    func testCHAPKeysWithoutCHAPAreRefused() {
        var harness = LoginHarness()
        let action = harness.receive(script.securityRequest().withKeys(["CHAP_A=5"]))
        XCTAssertEqual(action.failure.map { $0.statusClass }, 2)
    }
}

extension LoginRequest {
    /// The same request with more key=value pairs appended (replacing AuthMethod if given).
    fileprivate func withKeys(_ extra: [String]) -> LoginRequest {
        var pairs = (try? TextKeyCodec.decode(dataSegment)) ?? []
        for item in extra {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            pairs.removeAll { $0.key == parts[0] }
            pairs.append(TextKeyValue(key: parts[0], value: parts[1]))
        }
        var copy = self
        var data = ByteBuffer()
        TextKeyCodec.encode(pairs, into: &data)
        copy.dataSegment = data
        return copy
    }
}
