import ISCSIProtocol
import XCTest

final class NegotiationTargetTests: XCTestCase {
    private func target(
        _ configure: (inout TargetNegotiationConfiguration) -> Void = { _ in },
        sessionType: SessionType = .normal
    ) -> TargetNegotiator {
        var configuration = TargetNegotiationConfiguration()
        configure(&configuration)
        return TargetNegotiator(configuration: configuration, sessionType: sessionType)
    }

    // MARK: Result functions

    func testMinimumKeysTakeTheLowerValue() throws {
        var negotiator = target {
            $0.maxBurstLength = 262_144
            $0.firstBurstLength = 65_536
            $0.maxOutstandingR2T = 4
            $0.maxConnections = 2
            $0.errorRecoveryLevel = 0
            $0.defaultTime2Retain = 20
        }
        let reply = try negotiator.respond(to: keyValues([
            "MaxBurstLength": "16776192", "FirstBurstLength": "8192", "MaxOutstandingR2T": "1",
            "MaxConnections": "8", "ErrorRecoveryLevel": "2", "DefaultTime2Retain": "0",
        ]), stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("MaxBurstLength"), "262144")
        XCTAssertEqual(reply.value("FirstBurstLength"), "8192")
        XCTAssertEqual(reply.value("MaxOutstandingR2T"), "1")
        XCTAssertEqual(reply.value("MaxConnections"), "2")
        XCTAssertEqual(reply.value("ErrorRecoveryLevel"), "0")
        XCTAssertEqual(reply.value("DefaultTime2Retain"), "0")
        let negotiated = negotiator.negotiated
        XCTAssertEqual(negotiated.maxBurstLength, 262_144)
        XCTAssertEqual(negotiated.firstBurstLength, 8192)
        XCTAssertEqual(negotiated.maxOutstandingR2T, 1)
        XCTAssertEqual(negotiated.maxConnections, 2)
        XCTAssertEqual(negotiated.errorRecoveryLevel, 0)
        XCTAssertEqual(negotiated.defaultTime2Retain, 0)
    }

    func testMaximumKeyTakesTheHigherValue() throws {
        for (offer, expected) in [("1", 2), ("10", 10)] {
            var negotiator = target { $0.defaultTime2Wait = 2 }
            let reply = try negotiator.respond(to: [TextKeyValue("DefaultTime2Wait", offer)], stage: .operational,
                                               isLeadingConnection: true).unwrapReply()
            XCTAssertEqual(reply.value("DefaultTime2Wait"), String(expected))
            XCTAssertEqual(negotiator.negotiated.defaultTime2Wait, expected)
        }
    }

    func testAndKeyImmediateData() throws {
        for (offer, local, expected) in [("Yes", true, "Yes"), ("Yes", false, "No"), ("No", true, "No")] {
            var negotiator = target { $0.immediateData = local }
            let reply = try negotiator.respond(to: [TextKeyValue("ImmediateData", offer)], stage: .operational,
                                               isLeadingConnection: true).unwrapReply()
            XCTAssertEqual(reply.value("ImmediateData"), expected, "\(offer) AND \(local)")
            XCTAssertEqual(negotiator.negotiated.immediateData, expected == "Yes")
        }
    }

    func testOrKeys() throws {
        for key in ["InitialR2T", "DataPDUInOrder", "DataSequenceInOrder"] {
            for (offer, local, expected) in [("No", false, "No"), ("No", true, "Yes"), ("Yes", false, "Yes")] {
                var negotiator = target {
                    $0.initialR2T = local
                    $0.dataPDUInOrder = local
                    $0.dataSequenceInOrder = local
                }
                let reply = try negotiator.respond(to: [TextKeyValue(key, offer)], stage: .operational,
                                                   isLeadingConnection: true).unwrapReply()
                XCTAssertEqual(reply.value(key), expected, "\(key): \(offer) OR \(local)")
            }
        }
        var negotiator = target { $0.initialR2T = false }
        _ = try negotiator.respond(to: keyValues(["InitialR2T": "No", "DataPDUInOrder": "Yes"]),
                                   stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertFalse(negotiator.negotiated.initialR2T)
        XCTAssertTrue(negotiator.negotiated.dataPDUInOrder)
    }

    func testDigestListPicksInitiatorsFirstAcceptableValue() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues(["HeaderDigest": "CRC32C,None", "DataDigest": "None,CRC32C"]),
                                           stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("HeaderDigest"), "CRC32C")
        XCTAssertEqual(reply.value("DataDigest"), "None")
        XCTAssertTrue(negotiator.negotiated.headerDigest)
        XCTAssertFalse(negotiator.negotiated.dataDigest)
    }

    func testDigestWithoutCommonValueIsRejectedOrFailsWhenMandatory() throws {
        var optional = target { $0.headerDigests = [.none] }
        let reply = try optional.respond(to: [TextKeyValue("HeaderDigest", "CRC32C")], stage: .operational,
                                         isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("HeaderDigest"), "Reject")
        XCTAssertFalse(optional.negotiated.headerDigest)

        var mandatory = target { $0.dataDigests = [.crc32c] }
        let result = mandatory.respond(to: [TextKeyValue("DataDigest", "None")], stage: .operational,
                                       isLeadingConnection: true)
        XCTAssertEqual(result.statusCode, 0x0200)
    }

    func testUnknownListValuesAreIgnored() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: [TextKeyValue("HeaderDigest", "MD5,CRC32C")], stage: .operational,
                                           isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("HeaderDigest"), "CRC32C")
    }

    func testHexNumbersAreAccepted() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: [TextKeyValue("MaxBurstLength", "0x10000")], stage: .operational,
                                           isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("MaxBurstLength"), "65536")
    }

    // MARK: Declarations

    func testDeclarationsAreRecordedNotAnswered() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues([
            "InitiatorName": "iqn.2001-04.com.example:host", "InitiatorAlias": "host",
            "SessionType": "Normal", "TargetName": "iqn.2001-04.com.example:disk",
        ]), stage: .security, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.pairs, [])
        XCTAssertEqual(negotiator.negotiated.initiatorName, "iqn.2001-04.com.example:host")
        XCTAssertEqual(negotiator.negotiated.initiatorAlias, "host")
        XCTAssertEqual(negotiator.negotiated.targetName, "iqn.2001-04.com.example:disk")
        XCTAssertEqual(negotiator.negotiated.sessionType, .normal)
    }

    func testMaxRecvDataSegmentLengthIsDeclaredPerDirection() throws {
        var negotiator = target { $0.maxRecvDataSegmentLength = 131_072 }
        let first = try negotiator.respond(to: [TextKeyValue("MaxRecvDataSegmentLength", "65536")],
                                           stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(first.pairs, [TextKeyValue("MaxRecvDataSegmentLength", "131072")])
        XCTAssertEqual(negotiator.negotiated.initiatorMaxRecvDataSegmentLength, 65_536)
        XCTAssertEqual(negotiator.negotiated.targetMaxRecvDataSegmentLength, 131_072)

        let second = try negotiator.respond(to: [TextKeyValue("MaxBurstLength", "65536")],
                                            stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertNil(second.value("MaxRecvDataSegmentLength"), "declared once per connection")
    }

    func testOurMaxRecvDataSegmentLengthIsNotDeclaredInSecurityStage() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: [TextKeyValue("InitiatorName", "iqn.x")], stage: .security,
                                           isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.pairs, [])
        XCTAssertEqual(negotiator.negotiated.targetMaxRecvDataSegmentLength, 8192, "still the default")
    }

    func testOutOfRangeDeclarationFailsTheLogin() {
        for value in ["511", "16777216", "big"] {
            var negotiator = target()
            let result = negotiator.respond(to: [TextKeyValue("MaxRecvDataSegmentLength", value)],
                                            stage: .operational, isLeadingConnection: true)
            XCTAssertEqual(result.statusCode, 0x0200, value)
        }
    }

    func testUnsupportedSessionTypeFails0x0209() {
        var negotiator = target()
        let result = negotiator.respond(to: [TextKeyValue("SessionType", "Bogus")], stage: .security,
                                        isLeadingConnection: true)
        XCTAssertEqual(result.statusCode, 0x0209)
    }

    // MARK: Reject, Irrelevant, NotUnderstood

    func testInadmissibleValuesAreAnsweredReject() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues([
            "MaxBurstLength": "100", "ErrorRecoveryLevel": "3", "InitialR2T": "Maybe",
            "MaxConnections": "0", "DefaultTime2Wait": "3601", "TaskReporting": "FastAbort",
        ]), stage: .operational, isLeadingConnection: true).unwrapReply()
        for key in ["MaxBurstLength", "ErrorRecoveryLevel", "InitialR2T", "MaxConnections", "DefaultTime2Wait",
                    "TaskReporting"] {
            XCTAssertEqual(reply.value(key), "Reject", key)
        }
        XCTAssertEqual(negotiator.negotiated.maxBurstLength, 262_144, "a rejected key keeps its default")
        XCTAssertEqual(negotiator.negotiated.defaultTime2Wait, 2)
    }

    func testOfferingAReservedValueFailsTheLogin() {
        for value in ["Reject", "Irrelevant", "NotUnderstood"] {
            var negotiator = target()
            let result = negotiator.respond(to: [TextKeyValue("ImmediateData", value)], stage: .operational,
                                            isLeadingConnection: true)
            XCTAssertEqual(result.statusCode, 0x0200, value)
        }
    }

    func testUnknownAndExtensionKeysAreNotUnderstood() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues(["X-com.example.turbo": "Yes", "FooBar": "1", "X#Thing": "2"]),
                                           stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("X-com.example.turbo"), "NotUnderstood")
        XCTAssertEqual(reply.value("FooBar"), "NotUnderstood")
        XCTAssertEqual(reply.value("X#Thing"), "NotUnderstood")
    }

    func testTargetOnlyKeysFromTheInitiatorAreIrrelevant() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues(["TargetAlias": "x", "TargetPortalGroupTag": "1"]),
                                           stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("TargetAlias"), "Irrelevant")
        XCTAssertEqual(reply.value("TargetPortalGroupTag"), "Irrelevant")
        XCTAssertNil(negotiator.negotiated.targetAlias)
    }

    func testDiscoverySessionAnswersSessionKeysIrrelevant() throws {
        var negotiator = target()
        // SessionType comes last, yet governs the keys before it.
        let reply = try negotiator.respond(to: keyValues([
            "MaxBurstLength": "65536", "FirstBurstLength": "512", "InitialR2T": "No", "ImmediateData": "No",
            "MaxOutstandingR2T": "2", "DataPDUInOrder": "No", "DataSequenceInOrder": "No", "MaxConnections": "4",
            "HeaderDigest": "None", "ErrorRecoveryLevel": "0", "DefaultTime2Wait": "2",
            "InitiatorName": "iqn.x", "SessionType": "Discovery",
        ]), stage: .operational, isLeadingConnection: true).unwrapReply()
        for key in ["MaxBurstLength", "FirstBurstLength", "InitialR2T", "ImmediateData", "MaxOutstandingR2T",
                    "DataPDUInOrder", "DataSequenceInOrder", "MaxConnections"] {
            XCTAssertEqual(reply.value(key), "Irrelevant", key)
        }
        XCTAssertEqual(reply.value("HeaderDigest"), "None")
        XCTAssertEqual(reply.value("ErrorRecoveryLevel"), "0")
        XCTAssertEqual(reply.value("DefaultTime2Wait"), "2")
        XCTAssertNotNil(reply.value("MaxRecvDataSegmentLength"))
        XCTAssertEqual(negotiator.sessionType, .discovery)
        XCTAssertEqual(negotiator.negotiated.maxBurstLength, 262_144)
    }

    func testSessionTypeSetLaterAlsoGovernsIrrelevance() throws {
        var negotiator = target()
        negotiator.sessionType = .discovery
        let reply = try negotiator.respond(to: [TextKeyValue("ImmediateData", "Yes")], stage: .operational,
                                           isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("ImmediateData"), "Irrelevant")
        XCTAssertEqual(negotiator.negotiated.sessionType, .discovery)
    }

    func testLeadingOnlyKeysAreIrrelevantOnOtherConnections() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues([
            "SessionType": "Normal", "MaxBurstLength": "65536", "ErrorRecoveryLevel": "0", "HeaderDigest": "CRC32C",
        ]), stage: .operational, isLeadingConnection: false).unwrapReply()
        XCTAssertNil(reply.value("SessionType"))
        XCTAssertEqual(reply.value("MaxBurstLength"), "Irrelevant")
        XCTAssertEqual(reply.value("ErrorRecoveryLevel"), "Irrelevant")
        XCTAssertEqual(reply.value("HeaderDigest"), "CRC32C")
    }

    func testObsoleteMarkers() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues([
            "IFMarker": "No", "OFMarker": "Yes", "IFMarkInt": "2048~8192", "OFMarkInt": "2048",
        ]), stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("IFMarker"), "No")
        XCTAssertEqual(reply.value("OFMarker"), "No")
        XCTAssertEqual(reply.value("IFMarkInt"), "Reject")
        XCTAssertEqual(reply.value("OFMarkInt"), "Reject")
    }

    // MARK: Renegotiation and stages

    func testRenegotiationInALaterRequestFails() throws {
        var negotiator = target()
        _ = try negotiator.respond(to: [TextKeyValue("MaxBurstLength", "65536")], stage: .operational,
                                   isLeadingConnection: true).unwrapReply()
        let result = negotiator.respond(to: [TextKeyValue("MaxBurstLength", "65536")], stage: .operational,
                                        isLeadingConnection: true)
        XCTAssertEqual(result.statusCode, 0x0200)
        XCTAssertTrue(try result.unwrapFailure().reason.contains("MaxBurstLength"))
    }

    func testIdenticalRedeclarationIsIgnoredButAChangedOneFails() throws {
        var negotiator = target()
        _ = try negotiator.respond(to: [TextKeyValue("InitiatorName", "iqn.a")], stage: .security,
                                   isLeadingConnection: true).unwrapReply()
        let same = try negotiator.respond(to: [TextKeyValue("InitiatorName", "iqn.a")], stage: .operational,
                                          isLeadingConnection: true).unwrapReply()
        XCTAssertNil(same.value("InitiatorName"))
        let changed = negotiator.respond(to: [TextKeyValue("InitiatorName", "iqn.b")], stage: .operational,
                                         isLeadingConnection: true)
        XCTAssertEqual(changed.statusCode, 0x0200)
    }

    func testUnknownKeySentTwiceFails() throws {
        var negotiator = target()
        _ = try negotiator.respond(to: [TextKeyValue("X-a", "1")], stage: .operational,
                                   isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(negotiator.respond(to: [TextKeyValue("X-a", "1")], stage: .operational,
                                          isLeadingConnection: true).statusCode, 0x0200)
    }

    func testOperationalKeyInSecurityStageFails() {
        var negotiator = target()
        let result = negotiator.respond(to: keyValues(["AuthMethod": "None", "MaxBurstLength": "65536"]),
                                        stage: .security, isLeadingConnection: true)
        XCTAssertEqual(result.statusCode, 0x0200)
    }

    func testSecurityKeysInOperationalStageFail() {
        for key in ["CHAP_A", "AuthMethod"] {
            var negotiator = target()
            let result = negotiator.respond(to: [TextKeyValue(key, "5")], stage: .operational,
                                            isLeadingConnection: true)
            XCTAssertEqual(result.statusCode, 0x0200, key)
        }
    }

    func testSendTargetsDuringLoginIsInvalid() {
        var negotiator = target(sessionType: .discovery)
        let result = negotiator.respond(to: [TextKeyValue("SendTargets", "All")], stage: .operational,
                                        isLeadingConnection: true)
        XCTAssertEqual(result.statusCode, 0x020B)
    }

    // MARK: Authentication

    func testAuthMethodPicksNoneWhenNoAuthenticationIsRequired() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues(["InitiatorName": "iqn.x", "AuthMethod": "CHAP,None"]),
                                           stage: .security, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.pairs, [TextKeyValue("AuthMethod", "None")])
        XCTAssertEqual(reply.authMethod, AuthMethod.none)
    }

    func testRequiredChapAgainstNoneOnlyFails0x0201() {
        var negotiator = target { $0.authMethods = [.chap] }
        let result = negotiator.respond(to: [TextKeyValue("AuthMethod", "None")], stage: .security,
                                        isLeadingConnection: true)
        XCTAssertEqual(result.statusCode, 0x0201)
    }

    func testChapIsSelectedAndItsKeysArePassedThrough() throws {
        var negotiator = target { $0.authMethods = [.chap] }
        let first = try negotiator.respond(to: [TextKeyValue("AuthMethod", "CHAP,None")], stage: .security,
                                           isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(first.pairs, [TextKeyValue("AuthMethod", "CHAP")])
        XCTAssertEqual(first.authMethod, .chap)
        XCTAssertEqual(negotiator.negotiated.authMethod, .chap)

        let second = try negotiator.respond(to: [TextKeyValue("CHAP_A", "7,5")], stage: .security,
                                            isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(second.pairs, [])
        XCTAssertEqual(second.authenticationKeys, [TextKeyValue("CHAP_A", "7,5")])

        let third = try negotiator.respond(to: keyValues(["CHAP_N": "user", "CHAP_R": "0x0102"]), stage: .security,
                                           isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(third.authenticationKeys, keyValues(["CHAP_N": "user", "CHAP_R": "0x0102"]))
        XCTAssertNotNil(try negotiator.respond(to: [], stage: .operational, isLeadingConnection: true).unwrapReply())
    }

    func testOperationalStageWithoutRequiredAuthenticationFails0x0201() {
        var negotiator = target { $0.authMethods = [.chap] }
        let result = negotiator.respond(to: keyValues(["InitiatorName": "iqn.x", "HeaderDigest": "None"]),
                                        stage: .operational, isLeadingConnection: true)
        XCTAssertEqual(result.statusCode, 0x0201)
    }

    // MARK: Bounds

    func testThousandsOfTinyUnknownKeysFailInsteadOfGrowingTheAnswer() {
        var negotiator = target()
        let flood = (0..<5000).map { TextKeyValue("k\($0)", "") }
        XCTAssertEqual(negotiator.respond(to: flood, stage: .operational, isLeadingConnection: true).statusCode, 0x0200)
    }

    func testKeyBudgetCountsTheWholeLogin() throws {
        var negotiator = target()
        for batch in 0..<2 {
            let keys = (0..<100).map { TextKeyValue("X-k\(batch)-\($0)", "") }
            let reply = try negotiator.respond(to: keys, stage: .operational, isLeadingConnection: true).unwrapReply()
            XCTAssertEqual(reply.pairs.filter { $0.value == "NotUnderstood" }.count, 100)
        }
        let third = (0..<100).map { TextKeyValue("X-k2-\($0)", "") }
        XCTAssertEqual(negotiator.respond(to: third, stage: .operational, isLeadingConnection: true).statusCode, 0x0200)
    }

    func testReplyByteBudget() {
        var negotiator = target { $0.limits = NegotiationLimits(maxKeys: 256, maxReplyBytes: 100) }
        let keys = (0..<10).map { TextKeyValue("X-some.long.key.\($0)", "") }
        XCTAssertEqual(negotiator.respond(to: keys, stage: .operational, isLeadingConnection: true).statusCode, 0x0200)
    }

    // MARK: Burst lengths

    func testFirstBurstLengthIsAnsweredWithinMaxBurstLength() throws {
        var negotiator = target {
            $0.maxBurstLength = 262_144
            $0.firstBurstLength = 262_144
        }
        let reply = try negotiator.respond(to: keyValues(["FirstBurstLength": "131072", "MaxBurstLength": "65536"]),
                                           stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("MaxBurstLength"), "65536")
        XCTAssertEqual(reply.value("FirstBurstLength"), "65536")
        XCTAssertEqual(negotiator.negotiated.firstBurstLength, 65_536)
    }

    func testFirstBurstLengthIsClampedWhenMaxBurstLengthComesLater() throws {
        var negotiator = target {
            $0.maxBurstLength = 262_144
            $0.firstBurstLength = 262_144
        }
        _ = try negotiator.respond(to: [TextKeyValue("FirstBurstLength", "131072")], stage: .operational,
                                   isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(negotiator.negotiated.firstBurstLength, 131_072)
        _ = try negotiator.respond(to: [TextKeyValue("MaxBurstLength", "16384")], stage: .operational,
                                   isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(negotiator.negotiated.maxBurstLength, 16_384)
        XCTAssertEqual(negotiator.negotiated.firstBurstLength, 16_384)
    }

    func testConfigurationIsClampedIntoLegalRanges() throws {
        var negotiator = target {
            $0.maxBurstLength = 100
            $0.firstBurstLength = 1 << 30
            $0.errorRecoveryLevel = 7
        }
        let reply = try negotiator.respond(to: keyValues([
            "MaxBurstLength": "65536", "FirstBurstLength": "65536", "ErrorRecoveryLevel": "2",
        ]), stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.value("MaxBurstLength"), "512")
        XCTAssertEqual(reply.value("FirstBurstLength"), "512")
        XCTAssertEqual(reply.value("ErrorRecoveryLevel"), "2")
    }

    // MARK: A whole request, and full feature phase

    func testOpenISCSIStyleRequestGetsEveryKeyAnsweredOnce() throws {
        var negotiator = target()
        let request = keyValues([
            "HeaderDigest": "None", "DataDigest": "None", "DefaultTime2Wait": "2", "DefaultTime2Retain": "0",
            "IFMarker": "No", "OFMarker": "No", "ErrorRecoveryLevel": "0", "InitialR2T": "No",
            "ImmediateData": "Yes", "MaxBurstLength": "16776192", "FirstBurstLength": "262144",
            "MaxConnections": "1", "DataPDUInOrder": "Yes", "DataSequenceInOrder": "Yes",
            "MaxOutstandingR2T": "1", "MaxRecvDataSegmentLength": "262144",
        ])
        let reply = try negotiator.respond(to: request, stage: .operational, isLeadingConnection: true).unwrapReply()
        let answered = reply.pairs.map(\.key)
        XCTAssertEqual(answered.count, Set(answered).count, "no key answered twice")
        XCTAssertEqual(Set(answered), Set(request.map(\.key)))
        XCTAssertEqual(reply.value("MaxRecvDataSegmentLength"), "262144", "our declaration, not an echo")
        XCTAssertEqual(reply.value("InitialR2T"), "Yes")
        XCTAssertEqual(reply.value("FirstBurstLength"), "65536")
        XCTAssertEqual(negotiator.negotiated.initiatorMaxRecvDataSegmentLength, 262_144)
    }

    func testSendTargetsIsSurfacedInFullFeaturePhase() throws {
        var negotiator = target(sessionType: .discovery)
        let reply = try negotiator.respond(to: [TextKeyValue("SendTargets", "All")], stage: .fullFeature,
                                           isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.sendTargets, "All")
        XCTAssertEqual(reply.pairs, [])
    }

    func testFullFeaturePhaseAllowsOnlyAllAndFullFeatureKeys() throws {
        var negotiator = target()
        let reply = try negotiator.respond(to: keyValues(["MaxRecvDataSegmentLength": "16384", "X-foo": "1"]),
                                           stage: .fullFeature, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(reply.pairs, [TextKeyValue("X-foo", "NotUnderstood")])
        XCTAssertEqual(negotiator.negotiated.initiatorMaxRecvDataSegmentLength, 16_384)

        for key in ["MaxBurstLength", "HeaderDigest", "AuthMethod", "CHAP_A"] {
            var fresh = target()
            XCTAssertEqual(fresh.respond(to: [TextKeyValue(key, "5")], stage: .fullFeature,
                                         isLeadingConnection: true).statusCode, 0x0200, key)
        }
    }

    func testEachTextExchangeHasItsOwnBudget() throws {
        var negotiator = target()
        for exchange in 0..<3 {
            let keys = (0..<200).map { TextKeyValue("X-e\(exchange)-\($0)", "") }
            XCTAssertNotNil(negotiator.respond(to: keys, stage: .fullFeature, isLeadingConnection: true).reply)
        }
    }

    // MARK: Completion

    func testCompletionRequiresNamesAndMandatoryFeatures() throws {
        var normal = target()
        XCTAssertEqual(normal.completionFailure()?.statusDetail, 7, "InitiatorName missing")
        _ = try normal.respond(to: [TextKeyValue("InitiatorName", "iqn.x")], stage: .security,
                               isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(normal.completionFailure()?.statusDetail, 7, "TargetName missing for a normal session")
        _ = try normal.respond(to: [TextKeyValue("TargetName", "iqn.t")], stage: .security,
                               isLeadingConnection: true).unwrapReply()
        XCTAssertNil(normal.completionFailure())

        var discovery = target()
        _ = try discovery.respond(to: keyValues(["InitiatorName": "iqn.x", "SessionType": "Discovery"]),
                                  stage: .security, isLeadingConnection: true).unwrapReply()
        XCTAssertNil(discovery.completionFailure())

        var digestRequired = target { $0.headerDigests = [.crc32c] }
        _ = try digestRequired.respond(to: keyValues(["InitiatorName": "iqn.x", "SessionType": "Discovery"]),
                                       stage: .operational, isLeadingConnection: true).unwrapReply()
        XCTAssertEqual(digestRequired.completionFailure()?.statusDetail, 7)
    }
}

// MARK: - Helpers shared by the negotiation tests

/// Shorthand for building pairs in negotiation tests.
func keyValues(_ list: KeyValuePairs<String, String>) -> [TextKeyValue] {
    list.map { TextKeyValue($0.key, $0.value) }
}

extension NegotiationReply {
    /// The answer for `key`, failing the test if it appears more than once.
    func value(_ key: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        let matches = pairs.filter { $0.key == key }
        XCTAssertLessThanOrEqual(matches.count, 1, "\(key) answered \(matches.count) times", file: file, line: line)
        return matches.first?.value
    }
}

extension NegotiationResult {
    func unwrapReply(file: StaticString = #filePath, line: UInt = #line) throws -> NegotiationReply {
        try XCTUnwrap(reply, "expected a reply, got \(String(describing: failure))", file: file, line: line)
    }

    func unwrapFailure(file: StaticString = #filePath, line: UInt = #line) throws -> NegotiationFailure {
        try XCTUnwrap(failure, "expected a failure, got \(String(describing: reply))", file: file, line: line)
    }

    /// Status class and detail as one number, e.g. 0x0207.
    var statusCode: UInt16? {
        failure.map { UInt16($0.statusClass) << 8 | UInt16($0.statusDetail) }
    }
}
