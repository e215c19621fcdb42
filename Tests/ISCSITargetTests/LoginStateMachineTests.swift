import ISCSIProtocol
import NIOCore
import XCTest

@testable import ISCSITarget

final class LoginStateMachineTests: XCTestCase {
    private let script = LoginScript()

    private func assertFailure(
        _ action: LoginStateMachine.Action, code: UInt16, file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let failure = action.failure else {
            return XCTFail("expected a login failure 0x\(String(code, radix: 16)), got \(action)", file: file, line: line)
        }
        XCTAssertEqual(failure.code, code, "\(failure)", file: file, line: line)
        let response = action.response
        XCTAssertEqual(UInt16(response.statusClass.rawValue) << 8 | UInt16(response.statusDetail), code, file: file, line: line)
        XCTAssertFalse(response.transit, file: file, line: line)
        XCTAssertEqual(response.tsih, 0, file: file, line: line)
        XCTAssertEqual(response.isid, script.isid, file: file, line: line)
        XCTAssertEqual(response.initiatorTaskTag, script.itt, file: file, line: line)
    }

    // MARK: Successful logins

    func testNormalLoginThroughSecurityAndOperationalStages() {
        var configuration = TargetNegotiationConfiguration()
        configuration.initialR2T = false
        configuration.maxOutstandingR2T = 8
        var harness = LoginHarness(configuration: configuration, portalGroupTag: 7, window: 32)

        let first = harness.receive(script.securityRequest())
        XCTAssertTrue(first.isRespond, "\(first)")
        let r1 = first.response
        XCTAssertTrue(r1.transit)
        XCTAssertEqual(r1.csg, .securityNegotiation)
        XCTAssertEqual(r1.nsg, .loginOperationalNegotiation)
        XCTAssertEqual(r1.statusClass, .success)
        XCTAssertEqual(r1.tsih, 0)
        XCTAssertEqual(r1.isid, script.isid)
        XCTAssertEqual(r1.initiatorTaskTag, script.itt)
        XCTAssertEqual(r1.versionMax, 0)
        XCTAssertEqual(r1.versionActive, 0)
        XCTAssertEqual(r1.statSN, script.expStatSN, "the first StatSN follows the initiator's ExpStatSN")
        XCTAssertEqual(r1.expCmdSN, script.cmdSN)
        XCTAssertEqual(r1.maxCmdSN, script.cmdSN + 31)
        let k1 = Fixture.keys(r1.dataSegment)
        XCTAssertEqual(k1["AuthMethod"], "None")
        XCTAssertEqual(k1["TargetPortalGroupTag"], "7")
        XCTAssertEqual(harness.resolved.calls.map(\.target), [Fixture.targetName])
        XCTAssertEqual(harness.resolved.calls.map(\.initiator), [Fixture.initiatorName])

        let second = harness.receive(
            script.request(
                csg: 1, nsg: 3, transit: true,
                [
                    "HeaderDigest=None", "DataDigest=None", "MaxRecvDataSegmentLength=16384",
                    "MaxBurstLength=131072", "FirstBurstLength=32768", "InitialR2T=No", "ImmediateData=Yes",
                    "MaxOutstandingR2T=4", "ErrorRecoveryLevel=0",
                ]))
        guard let outcome = second.outcome else { return XCTFail("expected completion, got \(second)") }
        let r2 = second.response
        XCTAssertTrue(r2.transit)
        XCTAssertEqual(r2.csg, .loginOperationalNegotiation)
        XCTAssertEqual(r2.nsg, .fullFeaturePhase)
        XCTAssertEqual(r2.tsih, 0, "the caller fills in the TSIH")
        XCTAssertEqual(r2.statSN, script.expStatSN + 1)
        XCTAssertEqual(r2.expCmdSN, script.cmdSN)
        XCTAssertEqual(r2.maxCmdSN, script.cmdSN + 31)
        let k2 = Fixture.keys(r2.dataSegment)
        XCTAssertNil(k2["TargetPortalGroupTag"], "TargetPortalGroupTag is sent once")
        XCTAssertEqual(k2["HeaderDigest"], "None")
        XCTAssertEqual(k2["DataDigest"], "None")
        XCTAssertEqual(k2["MaxRecvDataSegmentLength"], "262144", "the target declares its own limit")
        XCTAssertEqual(k2["MaxBurstLength"], "131072")
        XCTAssertEqual(k2["FirstBurstLength"], "32768")
        XCTAssertEqual(k2["InitialR2T"], "No")
        XCTAssertEqual(k2["ImmediateData"], "Yes")
        XCTAssertEqual(k2["MaxOutstandingR2T"], "4")

        XCTAssertEqual(outcome.isid, script.isid)
        XCTAssertEqual(outcome.connectionID, script.cid)
        XCTAssertEqual(outcome.initiatorName, Fixture.initiatorName)
        XCTAssertEqual(outcome.target?.name, Fixture.targetName)
        XCTAssertEqual(outcome.expCmdSN, script.cmdSN)
        XCTAssertEqual(outcome.nextStatSN, script.expStatSN + 2)
        XCTAssertEqual(outcome.parameters.initiatorMaxRecvDataSegmentLength, 16384)
        XCTAssertEqual(outcome.parameters.targetMaxRecvDataSegmentLength, 262_144)
        XCTAssertEqual(outcome.parameters.maxBurstLength, 131_072)
        XCTAssertEqual(outcome.parameters.firstBurstLength, 32768)
        XCTAssertFalse(outcome.parameters.initialR2T)
        XCTAssertEqual(outcome.parameters.maxOutstandingR2T, 4)
        XCTAssertTrue(harness.machine.isFinished)
    }

    func testDiscoveryLoginSkipsOperationalStageAndSendsNoPortalGroupTag() {
        var harness = LoginHarness()
        let action = harness.receive(
            script.request(
                csg: 0, nsg: 3, transit: true,
                ["InitiatorName=\(Fixture.initiatorName)", "SessionType=Discovery", "AuthMethod=None"]))
        guard let outcome = action.outcome else { return XCTFail("expected completion, got \(action)") }
        XCTAssertNil(outcome.target)
        XCTAssertEqual(outcome.parameters.sessionType, .discovery)
        XCTAssertEqual(action.response.nsg, .fullFeaturePhase)
        XCTAssertNil(Fixture.keys(action.response.dataSegment)["TargetPortalGroupTag"])
        XCTAssertTrue(harness.resolved.calls.isEmpty, "discovery looks up no target")
    }

    func testLoginStartingInOperationalStage() {
        var harness = LoginHarness(portalGroupTag: 3)
        let action = harness.receive(
            script.request(
                csg: 1, nsg: 3, transit: true,
                ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)", "MaxRecvDataSegmentLength=4096"]))
        guard let outcome = action.outcome else { return XCTFail("expected completion, got \(action)") }
        let keys = Fixture.keys(action.response.dataSegment)
        XCTAssertEqual(keys["TargetPortalGroupTag"], "3")
        XCTAssertEqual(keys["MaxRecvDataSegmentLength"], "262144")
        XCTAssertEqual(outcome.parameters.initiatorMaxRecvDataSegmentLength, 4096)
        XCTAssertEqual(action.response.statSN, script.expStatSN)
        XCTAssertEqual(outcome.nextStatSN, script.expStatSN + 1)
    }

    func testStageWithoutTransitStaysAndAnswersAgain() {
        var harness = LoginHarness()
        let first = harness.receive(
            script.request(
                csg: 0, transit: false, ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"]))
        XCTAssertTrue(first.isRespond)
        XCTAssertFalse(first.response.transit)
        XCTAssertEqual(first.response.nsg.rawValue, 0)
        let second = harness.receive(script.request(csg: 0, nsg: 1, transit: true, ["AuthMethod=None"]))
        XCTAssertTrue(second.isRespond)
        XCTAssertTrue(second.response.transit)
        XCTAssertEqual(second.response.statSN, first.response.statSN + 1)
        XCTAssertNil(Fixture.keys(second.response.dataSegment)["TargetPortalGroupTag"])
        let third = harness.receive(script.request(csg: 1, nsg: 3, transit: true, []))
        XCTAssertNotNil(third.outcome)
        XCTAssertEqual(third.response.statSN, first.response.statSN + 2)
    }

    // MARK: Missing and refused names

    func testMissingInitiatorNameFailsWithMissingParameter() {
        var harness = LoginHarness()
        let action = harness.receive(script.request(csg: 0, nsg: 1, transit: true, ["TargetName=\(Fixture.targetName)"]))
        assertFailure(action, code: 0x0207)
        XCTAssertTrue(harness.machine.isFinished)
    }

    func testMissingTargetNameFailsWithMissingParameter() {
        var harness = LoginHarness()
        let action = harness.receive(
            script.request(csg: 0, nsg: 1, transit: true, ["InitiatorName=\(Fixture.initiatorName)", "SessionType=Normal"]))
        assertFailure(action, code: 0x0207)
    }

    func testUnknownTargetFailsWithNotFound() {
        var harness = LoginHarness()
        let action = harness.receive(
            script.request(
                csg: 0, nsg: 1, transit: true,
                ["InitiatorName=\(Fixture.initiatorName)", "TargetName=iqn.2026-11.org.example.test:nothing"]))
        assertFailure(action, code: 0x0203)
    }

    func testResolverRefusalFailsWithAuthorizationFailure() {
        var harness = LoginHarness(admitted: "iqn.2026-11.org.example.test:someone-else")
        let action = harness.receive(script.securityRequest())
        assertFailure(action, code: 0x0202)
    }

    func testUnsupportedSessionType() {
        var harness = LoginHarness()
        let action = harness.receive(
            script.request(
                csg: 0, nsg: 1, transit: true, ["InitiatorName=\(Fixture.initiatorName)", "SessionType=Bogus"]))
        assertFailure(action, code: 0x0209)
    }

    // MARK: Header checks

    func testVersionMismatchFailsWithUnsupportedVersion() {
        var harness = LoginHarness()
        let request = script.request(
            csg: 0, nsg: 1, transit: true, ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"],
            versionMin: 1, versionMax: 2)
        assertFailure(harness.receive(request), code: 0x0205)
    }

    func testNonZeroTSIHIsRefusedAsTooManyConnections() {
        // Adding a connection to a session is refused (MaxConnections=1); the machine cannot tell
        // "too many connections" (0x0206) from "session does not exist" (0x020A) and uses the former.
        var harness = LoginHarness()
        let request = script.request(
            csg: 0, nsg: 1, transit: true, ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"],
            tsih: 9)
        assertFailure(harness.receive(request), code: 0x0206)
    }

    func testNonZeroTSIHOfUnknownSessionFailsWithSessionDoesNotExist() {
        var harness = LoginHarness(sessionExists: { _, _, _ in false })
        let request = script.request(
            csg: 0, nsg: 1, transit: true, ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"],
            tsih: 9)
        assertFailure(harness.receive(request), code: 0x020A)
    }

    func testLiveTSIHOfAnotherInitiatorPortLooksLikeAnUnknownOne() {
        // Session 9 is live and belongs to the script's ISID under another name: the answer to a
        // stranger must not reveal it; only its owner hears that it exists.
        let owner = "iqn.2026-11.test:owner"
        let lookup: LoginStateMachine.SessionLookup = { tsih, isid, name in
            tsih == 9 && isid == self.script.isid && name == owner
        }
        var stranger = LoginHarness(sessionExists: lookup)
        let probe = script.request(
            csg: 0, nsg: 1, transit: true, ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"],
            tsih: 9)
        assertFailure(stranger.receive(probe), code: 0x020A)

        var ownerHarness = LoginHarness(sessionExists: lookup)
        let own = script.request(
            csg: 0, nsg: 1, transit: true, ["InitiatorName=\(owner)", "TargetName=\(Fixture.targetName)"], tsih: 9)
        assertFailure(ownerHarness.receive(own), code: 0x0206)
    }

    func testTransitAndContinueTogetherFail() {
        var harness = LoginHarness()
        let request = script.request(
            csg: 0, nsg: 1, transit: true, continue: true, ["InitiatorName=\(Fixture.initiatorName)"])
        assertFailure(harness.receive(request), code: 0x0200)
    }

    func testInvalidStagesFail() {
        for (csg, nsg) in [(UInt8(2), UInt8(3)), (3, 3), (1, 0), (1, 1), (0, 2)] {
            var harness = LoginHarness()
            let request = script.request(
                csg: csg, nsg: nsg, transit: true,
                ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"])
            let action = harness.receive(request)
            XCTAssertEqual(action.failure?.code, 0x0200, "CSG \(csg) NSG \(nsg): \(action)")
        }
    }

    func testStageGoingBackwardsFails() {
        var harness = LoginHarness()
        XCTAssertTrue(harness.receive(script.securityRequest()).isRespond)
        assertFailure(harness.receive(script.request(csg: 0, nsg: 1, transit: true, [])), code: 0x0200)
    }

    func testISIDChangingMidLoginFails() {
        var harness = LoginHarness()
        XCTAssertTrue(harness.receive(script.request(csg: 0, transit: false, ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"])).isRespond)
        var other = script
        other.isid = 0x40_00_00_00_00_01
        let action = harness.receive(other.request(csg: 0, nsg: 1, transit: true, ["AuthMethod=None"]))
        XCTAssertEqual(action.failure?.code, 0x0200)
    }

    func testITTChangingMidLoginFails() {
        var harness = LoginHarness()
        XCTAssertTrue(harness.receive(script.request(csg: 0, transit: false, ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"])).isRespond)
        var other = script
        other.itt = 0x0bad
        let action = harness.receive(other.request(csg: 0, nsg: 1, transit: true, ["AuthMethod=None"]))
        XCTAssertEqual(action.failure?.code, 0x0200)
        XCTAssertEqual(action.response.initiatorTaskTag, 0x0bad, "the failure answers the offending request")
    }

    // MARK: Text over several PDUs and hostile text

    func testLoginTextSplitOverContinuePDUs() {
        var harness = LoginHarness()
        let whole = Fixture.text([
            "InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)", "SessionType=Normal",
            "AuthMethod=None",
        ])
        // Cut inside the InitiatorName value and inside the "TargetName" key.
        let cuts = [20, 50, whole.readableBytes]
        var start = 0
        var statSNs: [UInt32] = []
        for (index, end) in cuts.enumerated() {
            let part = whole.getSlice(at: start, length: end - start)!
            start = end
            let last = index == cuts.count - 1
            let action = harness.receive(
                script.request(csg: 0, nsg: last ? 1 : 0, transit: last, continue: !last, data: part))
            XCTAssertTrue(action.isRespond, "\(action)")
            statSNs.append(action.response.statSN)
            if last {
                XCTAssertTrue(action.response.transit)
                XCTAssertEqual(Fixture.keys(action.response.dataSegment)["AuthMethod"], "None")
            } else {
                XCTAssertEqual(action.response.dataSegment.readableBytes, 0, "a partial request gets an empty answer")
                XCTAssertFalse(action.response.transit)
                XCTAssertTrue(harness.resolved.calls.isEmpty, "nothing is decided before the text is complete")
            }
        }
        XCTAssertEqual(statSNs, [100, 101, 102])
        XCTAssertEqual(harness.resolved.calls.map(\.initiator), [Fixture.initiatorName])
    }

    func testOversizedLoginTextOverContinuePDUsFails() {
        var harness = LoginHarness()
        var filler = ByteBuffer()
        filler.writeRepeatingByte(UInt8(ascii: "a"), count: 8192)
        for _ in 0..<(LoginStateMachine.maxLoginTextBytes / 8192) {
            XCTAssertTrue(harness.receive(script.request(csg: 0, transit: false, continue: true, data: filler)).isRespond)
        }
        let action = harness.receive(script.request(csg: 0, transit: false, continue: true, data: Fixture.text(["x=y"])))
        XCTAssertEqual(action.failure?.code, 0x0200)
    }

    func testKeyNameLimit() {
        let name63 = String(repeating: "K", count: 63)
        var ok = LoginHarness()
        let accepted = ok.receive(script.securityRequest(extra: ["\(name63)=1"]))
        XCTAssertTrue(accepted.isRespond, "\(accepted)")
        XCTAssertEqual(Fixture.keys(accepted.response.dataSegment)[name63], "NotUnderstood")

        var harness = LoginHarness()
        let action = harness.receive(script.securityRequest(extra: [String(repeating: "K", count: 64) + "=1"]))
        assertFailure(action, code: 0x0200)
    }

    func testValueLengthLimit() {
        var ok = LoginHarness()
        XCTAssertTrue(ok.receive(script.securityRequest(extra: ["X-com.example.v=" + String(repeating: "v", count: 255)])).isRespond)

        var harness = LoginHarness()
        let action = harness.receive(script.securityRequest(extra: ["X-com.example.v=" + String(repeating: "v", count: 256)]))
        assertFailure(action, code: 0x0200)
    }

    func testOverlongOrIllegalTargetName() {
        let long = "iqn.2026-11.org.example:" + String(repeating: "t", count: 200)
        XCTAssertGreaterThan(long.utf8.count, 223)
        for name in [long, "iqn.2026-11.org.example:Disk", "iqn.2026-11.org.example:d isk", "iqn.2026-11.org.example:d_isk"] {
            var harness = LoginHarness()
            let action = harness.receive(
                script.request(csg: 0, nsg: 1, transit: true, ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(name)"]))
            XCTAssertEqual(action.failure?.statusClass, 2, "\(name): \(action)")
            XCTAssertEqual(action.failure?.code, 0x0203, name)
            XCTAssertTrue(harness.resolved.calls.isEmpty, "an invalid name is never looked up")
        }
    }

    func testOverlongOrIllegalInitiatorName() {
        let long = "iqn.2026-11.org.example:" + String(repeating: "i", count: 200)
        for name in [long, "iqn.2026-11.org.example:Init", "iqn.2026-11.org.example:i*", "not-an-iscsi-name"] {
            var harness = LoginHarness()
            let action = harness.receive(
                script.request(csg: 0, nsg: 1, transit: true, ["InitiatorName=\(name)", "TargetName=\(Fixture.targetName)"]))
            XCTAssertEqual(action.failure?.code, 0x0200, "\(name): \(action)")
        }
    }

    func testManyTinyUnknownKeysGetABoundedAnswerThenFail() {
        // Up to the key budget (256 per login) each unknown key is answered NotUnderstood ...
        var harness = LoginHarness()
        let some = (0..<200).map { "k\($0)=1" }
        let action = harness.receive(script.securityRequest(extra: some))
        XCTAssertTrue(action.isRespond, "\(action)")
        let keys = Fixture.keys(action.response.dataSegment)
        XCTAssertEqual(keys.values.filter { $0 == "NotUnderstood" }.count, 200)
        // ... and the budget counts over the whole login.
        let more = harness.receive(script.request(csg: 1, nsg: 3, transit: true, (200..<260).map { "k\($0)=1" }))
        XCTAssertEqual(more.failure?.code, 0x0200)
    }

    func testThousandsOfTinyUnknownKeysFail() {
        for count in [300, 5000] {
            var harness = LoginHarness()
            // Spread over Continue PDUs of at most 8 KiB, as the framing limit would force.
            let text = Fixture.text(
                ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"]
                    + (0..<count).map { "k\($0)=1" })
            let parts = TextKeyCodec.split(text, maxSegmentLength: 8192)
            var last: LoginStateMachine.Action?
            for (index, part) in parts.enumerated() {
                let final = index == parts.count - 1
                last = harness.receive(script.request(csg: 0, nsg: final ? 1 : 0, transit: final, continue: !final, data: part))
                if !final { XCTAssertTrue(last!.isRespond) }
            }
            XCTAssertEqual(last?.failure?.code, 0x0200, "\(count) keys")
            XCTAssertEqual(last?.response.dataSegment.readableBytes, 0)
        }
    }

    func testMalformedTextFails() {
        var harness = LoginHarness()
        var data = Fixture.text(["InitiatorName=\(Fixture.initiatorName)"])
        data.writeString("NoTerminator=1")
        assertFailure(harness.receive(script.request(csg: 0, nsg: 1, transit: true, data: data)), code: 0x0200)
    }

    func testRenegotiatingAKeyFails() {
        var harness = LoginHarness()
        XCTAssertTrue(harness.receive(script.securityRequest()).isRespond)
        let first = harness.receive(script.request(csg: 1, transit: false, ["MaxBurstLength=65536"]))
        XCTAssertTrue(first.isRespond)
        let again = harness.receive(script.request(csg: 1, nsg: 3, transit: true, ["MaxBurstLength=32768"]))
        XCTAssertEqual(again.failure?.code, 0x0200)
    }
}
