import ISCSIProtocol
import NIOCore
import XCTest

/// Our initiator against our target, through the codec, with every request and
/// response cut into small continued segments.
final class NegotiationRoundTripTests: XCTestCase {
    private struct Login {
        var initiator: InitiatorNegotiator
        var target: TargetNegotiator
        let segmentLength: Int

        /// Encodes, splits, reassembles and decodes, as the wire would.
        func carry(_ pairs: [TextKeyValue]) throws -> [TextKeyValue] {
            var encoded = ByteBuffer()
            TextKeyCodec.encode(pairs, into: &encoded)
            var accumulator = TextAccumulator()
            for segment in TextKeyCodec.split(encoded, maxSegmentLength: segmentLength) {
                try accumulator.append(segment)
            }
            return try accumulator.finish()
        }

        mutating func exchange(_ offers: [TextKeyValue], stage: NegotiationStage) throws {
            var request = offers
            // Keep going while the initiator owes answers to offers made by the target.
            for _ in 0..<4 {
                let reply = try target.respond(
                    to: carry(request), stage: stage, isLeadingConnection: initiator.isLeadingConnection
                ).unwrapReply()
                let followUp = try initiator.process(response: carry(reply.pairs), stage: stage).unwrapReply()
                if followUp.pairs.isEmpty { return }
                request = followUp.pairs
            }
            XCTFail("negotiation did not converge")
        }
    }

    private func login(
        _ initiatorConfiguration: InitiatorNegotiationConfiguration,
        _ targetConfiguration: TargetNegotiationConfiguration = TargetNegotiationConfiguration(),
        leading: Bool = true, withSecurityStage: Bool = true, segmentLength: Int = 7
    ) throws -> Login {
        var login = Login(
            initiator: InitiatorNegotiator(configuration: initiatorConfiguration, isLeadingConnection: leading),
            target: TargetNegotiator(configuration: targetConfiguration),
            segmentLength: segmentLength
        )
        if withSecurityStage {
            try login.exchange(login.initiator.securityOffers(), stage: .security)
        }
        let offers = login.initiator.operationalOffers(includeLoginDeclarations: !withSecurityStage)
        try login.exchange(offers, stage: .operational)
        XCTAssertTrue(login.initiator.isSettled, "pending: \(login.initiator.pendingKeys)")
        if leading {
            XCTAssertNil(login.target.completionFailure())
        }
        return login
    }

    private func normal(_ configure: (inout InitiatorNegotiationConfiguration) -> Void = { _ in })
        -> InitiatorNegotiationConfiguration
    {
        var configuration = InitiatorNegotiationConfiguration(
            initiatorName: "iqn.2001-04.com.example:host", targetName: "iqn.2001-04.com.example:disk"
        )
        configuration.initiatorAlias = "host"
        configure(&configuration)
        return configuration
    }

    func testDefaultsAgreeOnBothSides() throws {
        let result = try login(normal())
        XCTAssertEqual(result.initiator.negotiated, result.target.negotiated)
        XCTAssertEqual(result.target.negotiated.initiatorName, "iqn.2001-04.com.example:host")
        XCTAssertEqual(result.target.negotiated.initiatorMaxRecvDataSegmentLength, 262_144)
        XCTAssertEqual(result.initiator.negotiated.targetMaxRecvDataSegmentLength, 262_144)
    }

    func testLoginWithoutSecurityStage() throws {
        let result = try login(normal(), withSecurityStage: false)
        XCTAssertEqual(result.initiator.negotiated, result.target.negotiated)
        XCTAssertEqual(result.target.negotiated.targetName, "iqn.2001-04.com.example:disk")
    }

    func testVariousConfigurationsAgree() throws {
        var target = TargetNegotiationConfiguration()
        target.maxBurstLength = 131_072
        target.firstBurstLength = 32_768
        target.maxRecvDataSegmentLength = 65_536
        target.initialR2T = false
        target.immediateData = true
        target.maxOutstandingR2T = 8
        target.defaultTime2Wait = 5
        target.defaultTime2Retain = 0
        target.dataSequenceInOrder = false

        let result = try login(normal {
            $0.headerDigests = [.crc32c, .none]
            $0.dataDigests = [.crc32c]
            $0.maxBurstLength = 16_776_192
            $0.firstBurstLength = 262_144
            $0.initialR2T = false
            $0.immediateData = false
            $0.maxOutstandingR2T = 4
            $0.dataSequenceInOrder = false
            $0.maxRecvDataSegmentLength = 8192
        }, target)
        let negotiated = result.target.negotiated
        XCTAssertEqual(result.initiator.negotiated, negotiated)
        XCTAssertTrue(negotiated.headerDigest)
        XCTAssertTrue(negotiated.dataDigest)
        XCTAssertEqual(negotiated.maxBurstLength, 131_072)
        XCTAssertEqual(negotiated.firstBurstLength, 32_768)
        XCTAssertFalse(negotiated.initialR2T)
        XCTAssertFalse(negotiated.immediateData)
        XCTAssertEqual(negotiated.maxOutstandingR2T, 4)
        XCTAssertEqual(negotiated.defaultTime2Wait, 5)
        XCTAssertEqual(negotiated.defaultTime2Retain, 0)
        XCTAssertFalse(negotiated.dataSequenceInOrder)
        XCTAssertTrue(negotiated.dataPDUInOrder)
        XCTAssertEqual(negotiated.initiatorMaxRecvDataSegmentLength, 8192)
        XCTAssertEqual(negotiated.targetMaxRecvDataSegmentLength, 65_536)
    }

    func testDigestsFallBackToNoneWhenTheTargetHasNone() throws {
        var target = TargetNegotiationConfiguration()
        target.headerDigests = [.none]
        target.dataDigests = [.none]
        let result = try login(normal {
            $0.headerDigests = [.crc32c, .none]
            $0.dataDigests = [.crc32c, .none]
        }, target)
        XCTAssertFalse(result.initiator.negotiated.headerDigest)
        XCTAssertFalse(result.target.negotiated.dataDigest)
    }

    func testFirstBurstAboveMaxBurstEndsClampedOnBothSides() throws {
        var target = TargetNegotiationConfiguration()
        target.maxBurstLength = 65_536
        target.firstBurstLength = 65_536
        let result = try login(normal {
            $0.maxBurstLength = 1_048_576
            $0.firstBurstLength = 1_048_576
        }, target)
        XCTAssertEqual(result.initiator.negotiated, result.target.negotiated)
        XCTAssertEqual(result.target.negotiated.maxBurstLength, 65_536)
        XCTAssertEqual(result.target.negotiated.firstBurstLength, 65_536)
    }

    func testDiscoverySession() throws {
        var configuration = InitiatorNegotiationConfiguration(initiatorName: "iqn.x", sessionType: .discovery)
        configuration.defaultTime2Retain = 0
        let result = try login(configuration)
        XCTAssertEqual(result.target.sessionType, .discovery)
        XCTAssertEqual(result.initiator.negotiated, result.target.negotiated)
        XCTAssertEqual(result.target.negotiated.defaultTime2Retain, 0)
    }

    func testChapLoginHandsKeysToTheAuthenticationLayer() throws {
        var target = TargetNegotiationConfiguration()
        target.authMethods = [.chap]
        var login = Login(
            initiator: InitiatorNegotiator(configuration: normal { $0.authMethods = [.chap, .none] }),
            target: TargetNegotiator(configuration: target),
            segmentLength: 5
        )
        let first = try login.target.respond(to: login.carry(login.initiator.securityOffers()), stage: .security,
                                             isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(first.authMethod, .chap)
        XCTAssertEqual(try login.initiator.process(response: login.carry(first.pairs), stage: .security)
            .unwrapReply().authMethod, .chap)

        let chapA = try login.target.respond(to: login.carry([TextKeyValue("CHAP_A", "5")]), stage: .security,
                                             isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(chapA.authenticationKeys, [TextKeyValue("CHAP_A", "5")])
        let challenge = [TextKeyValue("CHAP_A", "5"), TextKeyValue("CHAP_I", "7"),
                         TextKeyValue("CHAP_C", TextValue.encodeHex(Array(repeating: 0xA5, count: 1024)))]
        let seen = try login.initiator.process(response: login.carry(challenge), stage: .security).unwrapReply()
        XCTAssertEqual(seen.authenticationKeys, challenge)

        try login.exchange(login.initiator.operationalOffers(), stage: .operational)
        XCTAssertNil(login.target.completionFailure())
        XCTAssertEqual(login.initiator.negotiated, login.target.negotiated)
    }

    func testSecondConnectionNegotiatesOnlyConnectionKeys() throws {
        let result = try login(normal { $0.headerDigests = [.crc32c] }, leading: false)
        XCTAssertTrue(result.target.negotiated.headerDigest)
        XCTAssertTrue(result.initiator.negotiated.headerDigest)
    }
}
