import ISCSIProtocol
import NIOCore
import XCTest

@testable import ISCSIInitiator

/// Login Responses a target must not send: each fails the login at once with what was wrong.
final class LoginStrictnessTests: XCTestCase {
    static func text(_ pairs: [String]) -> ByteBuffer {
        var b = ByteBuffer()
        TextKeyCodec.encode(pairs.map { p in let kv = p.split(separator: "=", maxSplits: 1); return TextKeyValue(String(kv[0]), String(kv[1])) }, into: &b)
        return b
    }

    func machine(tsih: UInt16 = 0) -> InitiatorLoginMachine {
        let config = InitiatorConfiguration().negotiation(targetName: "iqn.2026-11.test:t", sessionType: .normal)
        var m = InitiatorLoginMachine(negotiation: config, chap: nil, isid: 1, tsih: tsih, initiatorTaskTag: 7)
        _ = m.start()
        return m
    }

    func failure(_ response: LoginResponse, tsih: UInt16 = 0) -> String? {
        var m = machine(tsih: tsih)
        guard case .fail(let error) = m.receive(response) else { return nil }
        return "\(error)"
    }

    func testVersionOtherThanZeroFailsAtOnce() {
        let response = LoginResponse(transit: true, nsg: .loginOperationalNegotiation, versionMax: 0x7f, versionActive: 0x7f, isid: 1, initiatorTaskTag: 7)
        XCTAssertEqual(failure(response), "login failed: unsupported version: the target answered with version-max 0x7f and version-active 0x7f; only version 0 exists")
    }

    func testResponseForAnotherTaskOrWithContradictoryBits() {
        XCTAssertEqual(
            failure(LoginResponse(isid: 1, initiatorTaskTag: 8)),
            "protocol error: Login Response for ITT 0x8 and ISID 0x1; ours are 0x7 and 0x1")
        XCTAssertEqual(
            failure(LoginResponse(transit: true, continue: true, nsg: .loginOperationalNegotiation, isid: 1, initiatorTaskTag: 7)),
            "protocol error: Login Response with both the T and C bits")
        XCTAssertEqual(
            failure(LoginResponse(transit: true, nsg: .securityNegotiation, isid: 1, initiatorTaskTag: 7)),
            "protocol error: Login Response moves from stage 0 to stage 0")
    }

    func testReinstatementMustKeepTheSession() {
        var m = machine(tsih: 5)
        let first = LoginResponse(
            transit: true, csg: .securityNegotiation, nsg: .loginOperationalNegotiation, isid: 1, tsih: 5, initiatorTaskTag: 7,
            dataSegment: Self.text(["AuthMethod=None", "TargetPortalGroupTag=1"]))
        guard case .send = m.receive(first) else { return XCTFail() }
        let text = Self.text([
            "HeaderDigest=None", "DataDigest=None", "InitialR2T=Yes", "ImmediateData=Yes", "MaxBurstLength=65536",
            "FirstBurstLength=8192", "MaxRecvDataSegmentLength=4096", "MaxConnections=1", "MaxOutstandingR2T=1",
            "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes", "ErrorRecoveryLevel=0", "DefaultTime2Wait=2",
            "DefaultTime2Retain=20",
        ])
        let last = LoginResponse(transit: true, csg: .loginOperationalNegotiation, nsg: .fullFeaturePhase, isid: 1, tsih: 6, initiatorTaskTag: 7, statSN: 1, dataSegment: text)
        guard case .fail(let error) = m.receive(last) else { return XCTFail() }
        XCTAssertEqual("\(error)", "protocol error: final Login Response has TSIH 6, for session 5")
    }
}
