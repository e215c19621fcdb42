import Foundation
import ISCSIProtocol
import XCTest

/// Complete CHAP exchanges between our target and initiator authenticators,
/// one-way and mutual, with every algorithm and the system CSPRNG; plus the
/// helpers the other CHAP test files share.
final class CHAPExchangeTests: XCTestCase {
    static let initiator = CHAPCredential(name: "iqn.2026-11.org.example:host1", secret: "initiator-secret")
    static let target = CHAPCredential(name: "iqn.2026-11.org.example:disk1", secret: "target-secret-01")

    func testOneWayWithEveryAlgorithm() {
        for algorithm in CHAPAlgorithm.allCases {
            var target = TargetCHAPAuthenticator(configuration: .init(credentials: [Self.initiator]))
            var initiator = InitiatorCHAPAuthenticator(
                configuration: .init(credential: Self.initiator, algorithms: [algorithm]))

            let offer = initiator.start()
            XCTAssertEqual(offer, [TextKeyValue("CHAP_A", String(algorithm.rawValue))])
            let challenge = target.receive(offer)
            XCTAssertEqual(challenge.outcome, .proceed)
            XCTAssertEqual(challenge.consumedKeys, ["CHAP_A"])
            XCTAssertEqual(challenge.reply.map(\.key), ["CHAP_A", "CHAP_I", "CHAP_C"])
            XCTAssertEqual(target.algorithm, algorithm)

            let answer = initiator.receive(challenge.reply)
            XCTAssertEqual(answer.outcome, .success(CHAPResult(algorithm: algorithm, authenticatedName: nil, mutual: false)))
            XCTAssertEqual(answer.consumedKeys, ["CHAP_A", "CHAP_I", "CHAP_C"])
            XCTAssertEqual(answer.reply.map(\.key), ["CHAP_N", "CHAP_R"])

            let verdict = target.receive(answer.reply)
            XCTAssertEqual(
                verdict.outcome,
                .success(CHAPResult(algorithm: algorithm, authenticatedName: Self.initiator.name, mutual: false)),
                "\(algorithm)")
            XCTAssertEqual(verdict.reply, [])
            XCTAssertEqual(verdict.consumedKeys, ["CHAP_N", "CHAP_R"])
            XCTAssertTrue(target.isAuthenticated)
        }
    }

    func testMutualWithEveryAlgorithm() {
        for algorithm in CHAPAlgorithm.allCases {
            var target = TargetCHAPAuthenticator(
                configuration: .init(credentials: [Self.initiator], outgoing: Self.target))
            var initiator = InitiatorCHAPAuthenticator(
                configuration: .init(credential: Self.initiator, targetCredential: Self.target, algorithms: [algorithm]))

            let challenge = target.receive(initiator.start())
            let answer = initiator.receive(challenge.reply)
            XCTAssertEqual(answer.outcome, .proceed)
            XCTAssertEqual(answer.reply.map(\.key), ["CHAP_N", "CHAP_R", "CHAP_I", "CHAP_C"])
            XCTAssertEqual(initiator.state, .awaitingTargetResponse)

            let verdict = target.receive(answer.reply)
            let targetSide = CHAPResult(algorithm: algorithm, authenticatedName: Self.initiator.name, mutual: true)
            XCTAssertEqual(verdict.outcome, .success(targetSide), "\(algorithm)")
            XCTAssertEqual(verdict.consumedKeys, ["CHAP_N", "CHAP_R", "CHAP_I", "CHAP_C"])
            XCTAssertEqual(verdict.reply.map(\.key), ["CHAP_N", "CHAP_R"])
            XCTAssertEqual(verdict.reply.first?.value, Self.target.name)

            let done = initiator.receive(verdict.reply)
            XCTAssertEqual(
                done.outcome, .success(CHAPResult(algorithm: algorithm, authenticatedName: Self.target.name, mutual: true)),
                "\(algorithm)")
            XCTAssertEqual(done.consumedKeys, ["CHAP_N", "CHAP_R"])
            XCTAssertEqual(done.reply, [])
        }
    }

    /// The target takes the initiator's first choice among those it accepts.
    func testNegotiatesTheInitiatorsFirstChoiceItAccepts() {
        let cases: [([CHAPAlgorithm], [CHAPAlgorithm], CHAPAlgorithm)] = [
            (CHAPAlgorithm.defaultPreference, CHAPAlgorithm.allCases, .sha3_256),
            ([.md5, .sha1, .sha256], CHAPAlgorithm.allCases, .md5),
            ([.sha256, .md5], [.sha3_256, .md5], .md5),
            ([.md5, .sha1, .sha256, .sha3_256], [.sha256, .sha3_256], .sha256),
        ]
        for (offered, accepted, expected) in cases {
            var target = TargetCHAPAuthenticator(configuration: .init(credentials: [Self.initiator], algorithms: accepted))
            var initiator = InitiatorCHAPAuthenticator(configuration: .init(credential: Self.initiator, algorithms: offered))
            let answer = initiator.receive(target.receive(initiator.start()).reply)
            XCTAssertEqual(target.receive(answer.reply).result?.algorithm, expected, "\(offered) to \(accepted)")
        }
    }

    func testWrongSecretFailsAndNeverLeaksIt() {
        let wrong = CHAPCredential(name: Self.initiator.name, secret: "not-the-secret!!")
        var target = TargetCHAPAuthenticator(configuration: .init(credentials: [Self.initiator]))
        var initiator = InitiatorCHAPAuthenticator(configuration: .init(credential: wrong))
        let answer = initiator.receive(target.receive(initiator.start()).reply)
        let failure = target.receive(answer.reply).failure
        XCTAssertEqual(failure?.statusClass, 2)
        XCTAssertEqual(failure?.statusDetail, 1)
        let reason = failure?.reason ?? ""
        XCTAssertFalse(reason.contains("not-the-secret"))
        XCTAssertFalse(reason.contains("initiator-secret"))
        XCTAssertFalse(reason.contains(answer.reply.first { $0.key == "CHAP_R" }!.value.dropFirst(2)))
    }

    /// Mutual CHAP where the target proves the wrong secret.
    func testInitiatorRejectsTargetWithWrongSecret() {
        let impostor = CHAPCredential(name: Self.target.name, secret: "impostor-secret!")
        var target = TargetCHAPAuthenticator(configuration: .init(credentials: [Self.initiator], outgoing: impostor))
        var initiator = InitiatorCHAPAuthenticator(
            configuration: .init(credential: Self.initiator, targetCredential: Self.target))
        let answer = initiator.receive(target.receive(initiator.start()).reply)
        let verdict = target.receive(answer.reply)
        XCTAssertNotNil(verdict.result, "the target accepts the initiator")
        let done = initiator.receive(verdict.reply)
        XCTAssertEqual(done.failure?.statusDetail, 1)
        XCTAssertFalse(done.failure?.reason.contains("impostor") ?? true)
    }

    func testSystemRandomSourceGivesFreshChallenges() {
        var challenges = Set<String>()
        for _ in 0..<8 {
            var target = TargetCHAPAuthenticator(configuration: .init(credentials: [Self.initiator]))
            let reply = target.receive([TextKeyValue("CHAP_A", "5")]).reply
            let challenge = reply.first { $0.key == "CHAP_C" }!.value
            XCTAssertEqual(challenge.utf8.count, 2 + 64, "32 bytes in hex")
            challenges.insert(challenge)
        }
        XCTAssertEqual(challenges.count, 8)
        XCTAssertEqual(CHAPRandomSource.system.bytes(37).count, 37)
        XCTAssertEqual(CHAPRandomSource.system.bytes(0), [])
    }

    // MARK: Shared helpers

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }

    static func bytes(fromHex text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        precondition(digits.count % 2 == 0, "odd hex")
        return stride(from: 0, to: digits.count, by: 2).map { index in
            UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16)!
        }
    }

    /// 0, 1, 2, ..., 255, 0, 1, ...
    static func counting(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0) }
    }

    /// A random source that returns the given draws in order, one per call.
    static func scriptedRandom(_ draws: [[UInt8]]) -> CHAPRandomSource {
        let script = Script(draws)
        return CHAPRandomSource { count in
            let draw = script.next()
            precondition(draw.count == count, "scripted draw has \(draw.count) bytes, \(count) wanted")
            return draw
        }
    }

    private final class Script: @unchecked Sendable {
        private let lock = NSLock()
        private var draws: [[UInt8]]

        init(_ draws: [[UInt8]]) { self.draws = draws }

        func next() -> [UInt8] {
            lock.lock()
            defer { lock.unlock() }
            precondition(!draws.isEmpty, "random source called more often than scripted")
            return draws.removeFirst()
        }
    }
}
