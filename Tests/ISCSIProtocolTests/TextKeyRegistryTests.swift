import ISCSIProtocol
import XCTest

final class TextKeyRegistryTests: XCTestCase {
    private typealias Definition = TextKeyDefinition

    private func definition(_ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> Definition {
        try XCTUnwrap(TextKeyRegistry.definition(for: key), "\(key) missing", file: file, line: line)
    }

    func testNegotiatedOperationalKeys() throws {
        let expected: [(String, Definition.Negotiation, ClosedRange<Int>?, String)] = [
            ("MaxConnections", .minimum, 1...65535, "1"),
            ("MaxBurstLength", .minimum, 512...16_777_215, "262144"),
            ("FirstBurstLength", .minimum, 512...16_777_215, "65536"),
            ("DefaultTime2Wait", .maximum, 0...3600, "2"),
            ("DefaultTime2Retain", .minimum, 0...3600, "20"),
            ("MaxOutstandingR2T", .minimum, 1...65535, "1"),
            ("ErrorRecoveryLevel", .minimum, 0...2, "0"),
            ("iSCSIProtocolLevel", .minimum, 0...31, "1"),
            ("InitialR2T", .or, nil, "Yes"),
            ("ImmediateData", .and, nil, "Yes"),
            ("DataPDUInOrder", .or, nil, "Yes"),
            ("DataSequenceInOrder", .or, nil, "Yes"),
            ("TaskReporting", .list, nil, "RFC3720"),
        ]
        for (key, negotiation, range, defaultValue) in expected {
            let definition = try definition(key)
            XCTAssertEqual(definition.negotiation, negotiation, key)
            XCTAssertEqual(definition.defaultValue, defaultValue, key)
            XCTAssertEqual(definition.use, .leadingOnly, key)
            XCTAssertEqual(definition.scope, .session, key)
            XCTAssertEqual(definition.stage, .operational, key)
            if let range {
                XCTAssertEqual(definition.format, .number(range), key)
            }
        }
    }

    func testConnectionKeys() throws {
        for key in ["HeaderDigest", "DataDigest"] {
            let definition = try definition(key)
            XCTAssertEqual(definition.negotiation, .list)
            XCTAssertEqual(definition.format, .tokens(["CRC32C", "None"]))
            XCTAssertEqual(definition.scope, .connection)
            XCTAssertEqual(definition.use, .initializeOnly)
        }
        let maxRecv = try definition("MaxRecvDataSegmentLength")
        XCTAssertEqual(maxRecv.negotiation, .declarative)
        XCTAssertEqual(maxRecv.format, .number(512...16_777_215))
        XCTAssertEqual(maxRecv.use, .all)
        XCTAssertEqual(maxRecv.scope, .connection)
        XCTAssertEqual(maxRecv.senders, .both)
    }

    func testDeclarations() throws {
        let expected: [(String, Definition.Use, Definition.Senders)] = [
            ("InitiatorName", .initializeOnly, .initiator),
            ("TargetName", .initializeOnly, .both),
            ("InitiatorAlias", .all, .initiator),
            ("TargetAlias", .all, .target),
            ("TargetAddress", .all, .target),
            ("TargetPortalGroupTag", .initializeOnly, .target),
            ("SessionType", .leadingOnly, .initiator),
            ("SendTargets", .fullFeatureOnly, .initiator),
        ]
        for (key, use, senders) in expected {
            let definition = try definition(key)
            XCTAssertTrue(definition.isDeclarative, key)
            XCTAssertEqual(definition.use, use, key)
            XCTAssertEqual(definition.senders, senders, key)
        }
        XCTAssertEqual(try definition("SessionType").format, .tokens(["Discovery", "Normal"]))
    }

    func testSecurityKeys() throws {
        let authMethod = try definition("AuthMethod")
        XCTAssertEqual(authMethod.negotiation, .list)
        XCTAssertEqual(authMethod.stage, .security)
        for key in ["CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R", "SRP_U", "KRB_AP_REQ"] {
            let definition = try definition(key)
            XCTAssertEqual(definition.negotiation, .authentication, key)
            XCTAssertEqual(definition.stage, .security, key)
        }
    }

    func testDiscoveryIrrelevance() throws {
        let irrelevant = [
            "MaxConnections", "InitialR2T", "ImmediateData", "MaxBurstLength", "FirstBurstLength",
            "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder", "TaskReporting",
        ]
        for definition in TextKeyRegistry.definitions {
            XCTAssertEqual(definition.irrelevantInDiscovery, irrelevant.contains(definition.name), definition.name)
        }
    }

    func testObsoleteMarkersAndUnknownKeys() throws {
        for key in ["IFMarker", "OFMarker", "IFMarkInt", "OFMarkInt"] {
            XCTAssertTrue(try definition(key).isObsolete, key)
        }
        XCTAssertNil(TextKeyRegistry.definition(for: "X-com.example.feature"))
        XCTAssertNil(TextKeyRegistry.definition(for: "maxburstlength"), "keys are case-sensitive")
        XCTAssertTrue(TextKeyRegistry.isExtensionKey("X-com.example.feature"))
        XCTAssertTrue(TextKeyRegistry.isExtensionKey("X#Registered"))
        XCTAssertFalse(TextKeyRegistry.isExtensionKey("XFoo"))
    }

    func testOptionalAnswers() throws {
        XCTAssertTrue(try definition("ImmediateData").answerIsOptional(forOffer: "No"))
        XCTAssertFalse(try definition("ImmediateData").answerIsOptional(forOffer: "Yes"))
        XCTAssertTrue(try definition("InitialR2T").answerIsOptional(forOffer: "Yes"))
        XCTAssertFalse(try definition("InitialR2T").answerIsOptional(forOffer: "No"))
        XCTAssertFalse(try definition("MaxBurstLength").answerIsOptional(forOffer: "512"))
    }

    /// The registry's defaults and NegotiatedParameters' initial values must agree.
    func testDefaultsMatchNegotiatedParameterDefaults() {
        var keys = Set<String>()
        for definition in TextKeyRegistry.definitions where definition.defaultValue != nil {
            keys.insert(definition.name)
        }
        XCTAssertTrue(keys.isSuperset(of: ["MaxBurstLength", "DefaultTime2Retain", "HeaderDigest", "InitialR2T"]))

        let initial = NegotiatedParameters()
        let expected: [String: String] = [
            "HeaderDigest": initial.headerDigest ? "CRC32C" : "None",
            "DataDigest": initial.dataDigest ? "CRC32C" : "None",
            "MaxRecvDataSegmentLength": String(initial.initiatorMaxRecvDataSegmentLength),
            "MaxConnections": String(initial.maxConnections),
            "MaxBurstLength": String(initial.maxBurstLength),
            "FirstBurstLength": String(initial.firstBurstLength),
            "DefaultTime2Wait": String(initial.defaultTime2Wait),
            "DefaultTime2Retain": String(initial.defaultTime2Retain),
            "MaxOutstandingR2T": String(initial.maxOutstandingR2T),
            "ErrorRecoveryLevel": String(initial.errorRecoveryLevel),
            "iSCSIProtocolLevel": String(initial.protocolLevel),
            "InitialR2T": initial.initialR2T ? "Yes" : "No",
            "ImmediateData": initial.immediateData ? "Yes" : "No",
            "DataPDUInOrder": initial.dataPDUInOrder ? "Yes" : "No",
            "DataSequenceInOrder": initial.dataSequenceInOrder ? "Yes" : "No",
            "TaskReporting": initial.taskReporting,
            "SessionType": initial.sessionType.rawValue,
            "AuthMethod": initial.authMethod.rawValue,
        ]
        XCTAssertEqual(Set(expected.keys), keys)
        for (key, value) in expected {
            XCTAssertEqual(TextKeyRegistry.definition(for: key)?.defaultValue, value, key)
        }
    }
}
