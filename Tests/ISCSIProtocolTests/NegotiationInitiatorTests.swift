import ISCSIProtocol
import XCTest

final class NegotiationInitiatorTests: XCTestCase {
    private let initiatorName = "iqn.2001-04.com.example:host"
    private let targetName = "iqn.2001-04.com.example:disk"

    private func initiator(
        sessionType: SessionType = .normal, leading: Bool = true,
        _ configure: (inout InitiatorNegotiationConfiguration) -> Void = { _ in }
    ) -> InitiatorNegotiator {
        var configuration = InitiatorNegotiationConfiguration(
            initiatorName: initiatorName, targetName: sessionType == .normal ? targetName : nil,
            sessionType: sessionType
        )
        configure(&configuration)
        return InitiatorNegotiator(configuration: configuration, isLeadingConnection: leading)
    }

    // MARK: Offers

    func testSecurityOffers() {
        var negotiator = initiator { $0.authMethods = [.chap, .none] }
        XCTAssertEqual(negotiator.securityOffers(), keyValues([
            "InitiatorName": initiatorName, "SessionType": "Normal", "TargetName": targetName,
            "AuthMethod": "CHAP,None",
        ]))
        XCTAssertEqual(negotiator.pendingKeys, ["AuthMethod"])
        XCTAssertEqual(negotiator.securityOffers(), [], "nothing is offered twice")
    }

    func testDiscoveryOffersLeaveOutNormalSessionKeys() {
        var negotiator = initiator(sessionType: .discovery)
        let keys = negotiator.operationalOffers(includeLoginDeclarations: true).map(\.key)
        XCTAssertEqual(keys, [
            "InitiatorName", "SessionType", "HeaderDigest", "DataDigest", "ErrorRecoveryLevel",
            "DefaultTime2Wait", "DefaultTime2Retain", "MaxRecvDataSegmentLength",
        ])
    }

    func testNormalLeadingOffersEveryOperationalKey() {
        var negotiator = initiator { $0.initialR2T = false }
        let offers = negotiator.operationalOffers()
        XCTAssertEqual(Set(offers.map(\.key)), [
            "HeaderDigest", "DataDigest", "MaxConnections", "InitialR2T", "ImmediateData", "MaxBurstLength",
            "FirstBurstLength", "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder",
            "ErrorRecoveryLevel", "DefaultTime2Wait", "DefaultTime2Retain", "MaxRecvDataSegmentLength",
        ])
        // OR offered Yes fixes the result, so those answers are not awaited.
        XCTAssertFalse(negotiator.pendingKeys.contains("DataPDUInOrder"))
        XCTAssertTrue(negotiator.pendingKeys.contains("InitialR2T"))
        XCTAssertFalse(negotiator.pendingKeys.contains("MaxRecvDataSegmentLength"))
    }

    func testNonLeadingConnectionOffersOnlyConnectionKeys() {
        var negotiator = initiator(leading: false)
        let keys = negotiator.operationalOffers(includeLoginDeclarations: true).map(\.key)
        XCTAssertEqual(keys, ["InitiatorName", "TargetName", "HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength"])
    }

    // MARK: Legal answers

    func testLegalAnswersSettleTheNegotiation() throws {
        var negotiator = initiator {
            $0.headerDigests = [.crc32c, .none]
            $0.maxBurstLength = 1_048_576
            $0.initialR2T = false
        }
        _ = negotiator.operationalOffers()
        let reply = try negotiator.process(response: keyValues([
            "HeaderDigest": "CRC32C", "DataDigest": "None", "MaxConnections": "1", "InitialR2T": "Yes",
            "ImmediateData": "Yes", "MaxBurstLength": "262144", "FirstBurstLength": "65536",
            "MaxOutstandingR2T": "1", "ErrorRecoveryLevel": "0", "DefaultTime2Wait": "2",
            "DefaultTime2Retain": "20", "MaxRecvDataSegmentLength": "131072", "TargetPortalGroupTag": "1",
            "TargetAlias": "disk",
        ]), stage: .operational).unwrapReply()
        XCTAssertEqual(reply.pairs, [])
        XCTAssertTrue(negotiator.isSettled)
        let negotiated = negotiator.negotiated
        XCTAssertTrue(negotiated.headerDigest)
        XCTAssertTrue(negotiated.initialR2T)
        XCTAssertEqual(negotiated.maxBurstLength, 262_144)
        XCTAssertEqual(negotiated.targetMaxRecvDataSegmentLength, 131_072)
        XCTAssertEqual(negotiated.initiatorMaxRecvDataSegmentLength, 262_144)
        XCTAssertEqual(negotiated.targetPortalGroupTag, 1)
        XCTAssertEqual(negotiated.targetAlias, "disk")
    }

    func testAnswersMayArriveOverSeveralResponses() throws {
        var negotiator = initiator(sessionType: .discovery)
        _ = negotiator.operationalOffers()
        _ = try negotiator.process(response: keyValues(["HeaderDigest": "None"]), stage: .operational).unwrapReply()
        XCTAssertFalse(negotiator.isSettled)
        XCTAssertEqual(
            negotiator.pendingKeys, ["DataDigest", "ErrorRecoveryLevel", "DefaultTime2Wait", "DefaultTime2Retain"]
        )
        _ = try negotiator.process(response: keyValues([
            "DataDigest": "None", "ErrorRecoveryLevel": "0", "DefaultTime2Wait": "2", "DefaultTime2Retain": "0",
        ]), stage: .operational).unwrapReply()
        XCTAssertTrue(negotiator.isSettled)
        XCTAssertEqual(negotiator.negotiated.defaultTime2Retain, 0)
    }

    func testRejectAndIrrelevantLeaveDefaults() throws {
        var negotiator = initiator { $0.maxBurstLength = 65_536 }
        _ = negotiator.operationalOffers()
        _ = try negotiator.process(response: keyValues(["MaxBurstLength": "Reject", "MaxConnections": "Irrelevant"]),
                                   stage: .operational).unwrapReply()
        XCTAssertEqual(negotiator.negotiated.maxBurstLength, 262_144)
        XCTAssertEqual(negotiator.negotiated.maxConnections, 1)
        XCTAssertFalse(negotiator.pendingKeys.contains("MaxBurstLength"))
    }

    // MARK: Illegal answers

    func testIllegalAnswersFail() {
        let cases: [(String, String)] = [
            ("MaxBurstLength", "524288"),       // above our minimum-function offer
            ("DefaultTime2Wait", "1"),          // below our maximum-function offer
            ("MaxBurstLength", "100"),          // outside the key's range
            ("HeaderDigest", "CRC32C"),         // not offered
            ("HeaderDigest", "None,CRC32C"),    // a list instead of one value
            ("ImmediateData", "Yes"),           // AND offered No
            ("DataPDUInOrder", "No"),           // OR offered Yes
            ("MaxConnections", "NotUnderstood"),  // a standard key
            ("ErrorRecoveryLevel", "zero"),
        ]
        for (key, answer) in cases {
            var negotiator = initiator {
                $0.maxBurstLength = 262_144
                $0.immediateData = false
                $0.defaultTime2Wait = 2
            }
            _ = negotiator.operationalOffers()
            XCTAssertNotNil(negotiator.process(response: [TextKeyValue(key, answer)], stage: .operational).failure,
                            "\(key)=\(answer)")
        }
    }

    func testOptionalAnswerMayStillBeSentIfConsistent() throws {
        var negotiator = initiator { $0.immediateData = false }
        _ = negotiator.operationalOffers()
        _ = try negotiator.process(response: keyValues(["ImmediateData": "No", "DataPDUInOrder": "Yes"]),
                                   stage: .operational).unwrapReply()
        XCTAssertFalse(negotiator.negotiated.immediateData)
    }

    func testRejectedAuthMethodFails0x0201() throws {
        var negotiator = initiator { $0.authMethods = [.chap] }
        _ = negotiator.securityOffers()
        let result = negotiator.process(response: [TextKeyValue("AuthMethod", "Reject")], stage: .security)
        XCTAssertEqual(result.statusCode, 0x0201)
    }

    func testRejectedMandatoryDigestFails() {
        var negotiator = initiator { $0.dataDigests = [.crc32c] }
        _ = negotiator.operationalOffers()
        let result = negotiator.process(response: [TextKeyValue("DataDigest", "Reject")], stage: .operational)
        XCTAssertNotNil(result.failure)
    }

    func testKeySentTwiceByTheTargetFails() throws {
        var negotiator = initiator()
        _ = negotiator.operationalOffers()
        _ = try negotiator.process(response: [TextKeyValue("MaxBurstLength", "65536")], stage: .operational)
            .unwrapReply()
        XCTAssertNotNil(negotiator.process(response: [TextKeyValue("MaxBurstLength", "65536")],
                                           stage: .operational).failure)
    }

    func testTargetDeclarationsAreChecked() {
        for (key, value) in [("MaxRecvDataSegmentLength", "100"), ("TargetPortalGroupTag", "70000"),
                             ("InitiatorName", "iqn.spoof")] {
            var negotiator = initiator()
            _ = negotiator.operationalOffers()
            XCTAssertNotNil(negotiator.process(response: [TextKeyValue(key, value)], stage: .operational).failure,
                            "\(key)=\(value)")
        }
    }

    // MARK: Authentication and target offers

    func testChapKeysArePassedThroughInSecurityStageOnly() throws {
        var negotiator = initiator { $0.authMethods = [.chap] }
        _ = negotiator.securityOffers()
        let reply = try negotiator.process(response: keyValues(["AuthMethod": "CHAP"]), stage: .security).unwrapReply()
        XCTAssertEqual(reply.authMethod, .chap)
        XCTAssertEqual(negotiator.negotiated.authMethod, .chap)

        let challenge = try negotiator.process(response: keyValues(["CHAP_A": "5", "CHAP_I": "1", "CHAP_C": "0x0a0b"]),
                                               stage: .security).unwrapReply()
        XCTAssertEqual(challenge.authenticationKeys.map(\.key), ["CHAP_A", "CHAP_I", "CHAP_C"])
        XCTAssertNotNil(negotiator.process(response: [TextKeyValue("CHAP_N", "x")], stage: .operational).failure)
    }

    func testTargetOfferIsAnsweredAndNotReoffered() throws {
        var negotiator = initiator { $0.headerDigests = [.none] }
        _ = negotiator.securityOffers()
        let reply = try negotiator.process(response: keyValues([
            "AuthMethod": "None", "HeaderDigest": "CRC32C,None", "X-vendor.thing": "1", "OFMarkInt": "2048",
        ]), stage: .operational).unwrapReply()
        XCTAssertEqual(reply.pairs, keyValues([
            "HeaderDigest": "None", "X-vendor.thing": "NotUnderstood", "OFMarkInt": "Reject",
        ]))
        XCTAssertFalse(negotiator.operationalOffers().map(\.key).contains("HeaderDigest"))
    }

    func testTargetOfferOfLeadingOnlyKeyOnOtherConnectionIsIrrelevant() throws {
        var negotiator = initiator(leading: false)
        let reply = try negotiator.process(response: [TextKeyValue("MaxBurstLength", "65536")],
                                           stage: .operational).unwrapReply()
        XCTAssertEqual(reply.pairs, [TextKeyValue("MaxBurstLength", "Irrelevant")])
    }
}
