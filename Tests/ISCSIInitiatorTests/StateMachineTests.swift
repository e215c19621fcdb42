import ISCSIProtocol
import NIOCore
import XCTest

@testable import ISCSIInitiator

final class URLTests: XCTestCase {
    func testFullURL() throws {
        let url = try ISCSIURL(parsing: "iscsi://bob%s3cret@10.0.0.1:3261/iqn.2026-11.test:disk/3")
        XCTAssertEqual(url.user, "bob")
        XCTAssertEqual(url.password, "s3cret")
        XCTAssertEqual(url.host, "10.0.0.1")
        XCTAssertEqual(url.port, 3261)
        XCTAssertEqual(url.targetName, "iqn.2026-11.test:disk")
        XCTAssertEqual(url.lun, 3)
    }

    func testIPv6AndDefaults() throws {
        let url = try ISCSIURL(parsing: "iscsi://[fe80::1]/iqn.2026-11.test:disk/0")
        XCTAssertEqual(url.host, "fe80::1")
        XCTAssertEqual(url.port, 3260)
        XCTAssertEqual(url.lun, 0)
        XCTAssertNil(url.user)
        let bare = try ISCSIURL(parsing: "iscsi://[::1]:3300")
        XCTAssertEqual(bare.port, 3300)
        XCTAssertNil(bare.targetName)
    }

    func testRejects() {
        for bad in ["http://h/t/1", "iscsi://", "iscsi://h:99999/t/1", "iscsi://h/t/x", "iscsi://[::1/t/1", "iscsi://h/t/1/2"] {
            XCTAssertThrowsError(try ISCSIURL(parsing: bad), bad)
        }
    }
}

final class SessionMachineTests: XCTestCase {
    typealias Machine = InitiatorSessionMachine<Int>

    func params(immediate: Bool = true, initialR2T: Bool = false, first: Int = 65536, mrdsl: Int = 8192) -> NegotiatedParameters {
        var p = NegotiatedParameters()
        p.immediateData = immediate
        p.initialR2T = initialR2T
        p.maxBurstLength = 262_144
        p.firstBurstLength = first
        p.targetMaxRecvDataSegmentLength = mrdsl
        return p
    }

    func cdb() -> ByteBuffer { ByteBuffer(bytes: [UInt8](repeating: 0, count: 16)) }

    func sent(_ out: [Machine.Output]) -> [ISCSIPDU] {
        out.compactMap { if case .send(let p) = $0 { return p } else { return nil } }
    }

    func completions(_ out: [Machine.Output]) -> [(Int, Result<InitiatorTaskCompletion, ISCSIInitiatorError>)] {
        out.compactMap { if case .complete(let c, let r) = $0 { return (c, r) } else { return nil } }
    }

    func testCmdSNWindowHoldsCommands() {
        var m = Machine(parameters: params(), cmdSN: 10, expStatSN: 1, maxCmdSN: 11)
        var out: [Machine.Output] = []
        for i in 0..<4 { m.submit(.scsi(lun: 1, cdb: cdb(), dataOut: nil, expectedDataInLength: 512), context: i, into: &out) }
        XCTAssertEqual(sent(out).count, 2, "only CmdSN 10 and 11 fit")
        XCTAssertEqual(m.waitingCount, 2)
        out.removeAll()
        // The target completes the first and opens the window by one.
        let itt = sent([]).isEmpty ? UInt32(1) : 1
        m.received(.scsiResponse(SCSIResponse(status: 0, initiatorTaskTag: itt, statSN: 1, expCmdSN: 11, maxCmdSN: 12)), into: &out)
        XCTAssertEqual(completions(out).map(\.0), [0])
        guard case .scsiCommand(let third)? = sent(out).first else { return XCTFail("expected the third command") }
        XCTAssertEqual(third.cmdSN, 12)
        XCTAssertEqual(third.expStatSN, 2)
    }

    func testImmediateAndUnsolicitedDataThenR2T() {
        var m = Machine(parameters: params(first: 16384, mrdsl: 8192), cmdSN: 1, expStatSN: 1, maxCmdSN: 100)
        var out: [Machine.Output] = []
        var data = ByteBuffer()
        data.writeRepeatingByte(7, count: 40960)
        let itt = m.submit(.scsi(lun: 1, cdb: cdb(), dataOut: data, expectedDataInLength: 0), context: 1, into: &out)
        let pdus = sent(out)
        guard case .scsiCommand(let command) = pdus[0], case .dataOut(let d1) = pdus[1] else { return XCTFail("\(pdus)") }
        XCTAssertEqual(command.dataSegment.readableBytes, 8192, "immediate data up to MaxRecvDataSegmentLength")
        XCTAssertFalse(command.final, "unsolicited Data-Out follows")
        XCTAssertEqual(pdus.count, 2)
        XCTAssertEqual(d1.bufferOffset, 8192)
        XCTAssertEqual(d1.dataSegment.readableBytes, 8192)
        XCTAssertTrue(d1.final)
        XCTAssertEqual(d1.targetTransferTag, ISCSITag.reserved)
        out.removeAll()
        m.received(.r2t(R2T(initiatorTaskTag: itt, targetTransferTag: 0x55, expCmdSN: 2, maxCmdSN: 100, bufferOffset: 16384, desiredDataTransferLength: 24576)), into: &out)
        let burst = sent(out).compactMap { if case .dataOut(let d) = $0 { return d } else { return nil } }
        XCTAssertEqual(burst.map(\.bufferOffset), [16384, 24576, 32768])
        XCTAssertEqual(burst.map(\.dataSN), [0, 1, 2])
        XCTAssertEqual(burst.map(\.final), [false, false, true])
        XCTAssertTrue(burst.allSatisfy { $0.targetTransferTag == 0x55 })
        out.removeAll()
        // An R2T past the end of the data kills the connection.
        m.received(.r2t(R2T(initiatorTaskTag: itt, targetTransferTag: 0x56, bufferOffset: 40000, desiredDataTransferLength: 8192)), into: &out)
        guard case .closeConnection? = out.first else { return XCTFail("\(out)") }
    }

    func testDataInReassemblyAndBounds() {
        var m = Machine(parameters: params(), cmdSN: 1, expStatSN: 1, maxCmdSN: 100)
        var out: [Machine.Output] = []
        let itt = m.submit(.scsi(lun: 1, cdb: cdb(), dataOut: nil, expectedDataInLength: 1024), context: 9, into: &out)
        out.removeAll()
        m.received(.dataIn(DataIn(initiatorTaskTag: itt, expCmdSN: 2, maxCmdSN: 100, dataSN: 0, bufferOffset: 0, dataSegment: ByteBuffer(repeating: 1, count: 512))), into: &out)
        XCTAssertTrue(out.isEmpty)
        m.received(.dataIn(DataIn(final: true, statusPresent: true, status: 0, initiatorTaskTag: itt, statSN: 1, expCmdSN: 2, maxCmdSN: 100, dataSN: 1, bufferOffset: 512, dataSegment: ByteBuffer(repeating: 2, count: 512))), into: &out)
        guard let (context, result) = completions(out).first, case .success(.scsi(let r)) = result else { return XCTFail("\(out)") }
        XCTAssertEqual(context, 9)
        XCTAssertEqual(r.data.readableBytes, 1024)
        XCTAssertEqual(r.data.getInteger(at: 600, as: UInt8.self), 2)
        XCTAssertEqual(m.expStatSN, 2)

        out.removeAll()
        let second = m.submit(.scsi(lun: 1, cdb: cdb(), dataOut: nil, expectedDataInLength: 512), context: 10, into: &out)
        out.removeAll()
        m.received(.dataIn(DataIn(initiatorTaskTag: second, dataSN: 0, bufferOffset: 0, dataSegment: ByteBuffer(repeating: 1, count: 1024))), into: &out)
        guard case .closeConnection? = out.first else { return XCTFail("more data than expected must be refused") }
    }

    func testAnswersTargetNOPInAndCompletesPing() {
        var m = Machine(parameters: params(), cmdSN: 5, expStatSN: 1, maxCmdSN: 100)
        var out: [Machine.Output] = []
        m.received(.nopIn(NOPIn(lun: 0, initiatorTaskTag: ISCSITag.reserved, targetTransferTag: 0x77, statSN: 1, expCmdSN: 5, maxCmdSN: 100, dataSegment: ByteBuffer(bytes: [1, 2, 3]))), into: &out)
        guard case .nopOut(let answer)? = sent(out).first else { return XCTFail("\(out)") }
        XCTAssertEqual(answer.targetTransferTag, 0x77)
        XCTAssertEqual(answer.initiatorTaskTag, ISCSITag.reserved)
        XCTAssertEqual(answer.cmdSN, 5)
        XCTAssertEqual(answer.dataSegment, ByteBuffer(bytes: [1, 2, 3]))
        out.removeAll()
        let itt = m.submit(.nop(ByteBuffer()), context: 3, into: &out)
        XCTAssertEqual(m.cmdSN, 5, "an immediate ping does not advance CmdSN")
        out.removeAll()
        m.received(.nopIn(NOPIn(initiatorTaskTag: itt, targetTransferTag: ISCSITag.reserved, statSN: 1, expCmdSN: 5, maxCmdSN: 100)), into: &out)
        XCTAssertEqual(completions(out).map(\.0), [3])
    }

    func testConnectionLossRequeuesAndRestartResends() {
        var m = Machine(parameters: params(), cmdSN: 1, expStatSN: 1, maxCmdSN: 100)
        var out: [Machine.Output] = []
        m.submit(.scsi(lun: 1, cdb: cdb(), dataOut: nil, expectedDataInLength: 512), context: 1, into: &out)
        m.submit(.scsi(lun: 1, cdb: cdb(), dataOut: nil, expectedDataInLength: 512), context: 2, into: &out)
        m.submit(.nop(ByteBuffer()), context: 3, into: &out)
        out.removeAll()
        m.connectionLost(now: .now(), into: &out)
        XCTAssertEqual(completions(out).map(\.0), [3], "the ping fails; SCSI commands wait")
        out.removeAll()
        m.submit(.scsi(lun: 1, cdb: cdb(), dataOut: nil, expectedDataInLength: 512), context: 4, into: &out)
        XCTAssertTrue(sent(out).isEmpty, "nothing is sent while disconnected")
        m.restart(parameters: params(), cmdSN: 40, expStatSN: 9, maxCmdSN: 100, now: .now(), into: &out)
        let commands = sent(out).compactMap { if case .scsiCommand(let c) = $0 { return c } else { return nil } }
        XCTAssertEqual(commands.map(\.cmdSN), [40, 41, 42])
        out.removeAll()
        m.failAll(.sessionFailed("x"), into: &out)
        XCTAssertEqual(Set(completions(out).map(\.0)), [1, 2, 4])
    }
}

final class LoginMachineTests: XCTestCase {
    func text(_ pairs: [String]) -> ByteBuffer {
        var b = ByteBuffer()
        TextKeyCodec.encode(pairs.map { p in let kv = p.split(separator: "=", maxSplits: 1); return TextKeyValue(String(kv[0]), String(kv[1])) }, into: &b)
        return b
    }

    func keys(_ request: LoginRequest) -> [String: String] {
        let pairs = (try? TextKeyCodec.decode(request.dataSegment)) ?? []
        return Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
    }

    func testNoAuthLoginCompletes() {
        let config = InitiatorConfiguration(initiatorName: "iqn.2026-11.test:i").negotiation(targetName: "iqn.2026-11.test:t", sessionType: .normal)
        var m = InitiatorLoginMachine(negotiation: config, chap: nil, isid: 0x80_0000_0001, initiatorTaskTag: 7)
        let first = m.start()
        XCTAssertTrue(first.transit)
        XCTAssertEqual(first.nsg, .loginOperationalNegotiation)
        XCTAssertEqual(keys(first)["AuthMethod"], "None")
        XCTAssertEqual(keys(first)["TargetName"], "iqn.2026-11.test:t")
        let r1 = LoginResponse(transit: true, csg: .securityNegotiation, nsg: .loginOperationalNegotiation, isid: 0x80_0000_0001, initiatorTaskTag: 7, statSN: 0, expCmdSN: 1, maxCmdSN: 1, dataSegment: text(["AuthMethod=None", "TargetPortalGroupTag=1"]))
        guard case .send(let second) = m.receive(r1) else { return XCTFail() }
        XCTAssertEqual(second.csg, .loginOperationalNegotiation)
        XCTAssertEqual(second.nsg, .fullFeaturePhase)
        XCTAssertNotNil(keys(second)["MaxRecvDataSegmentLength"])
        let r2 = LoginResponse(transit: true, csg: .loginOperationalNegotiation, nsg: .fullFeaturePhase, isid: 0x80_0000_0001, tsih: 12, initiatorTaskTag: 7, statSN: 1, expCmdSN: 1, maxCmdSN: 32, dataSegment: text(["HeaderDigest=None", "DataDigest=None", "InitialR2T=Yes", "ImmediateData=Yes", "MaxBurstLength=65536", "FirstBurstLength=8192", "MaxRecvDataSegmentLength=4096", "MaxConnections=1", "MaxOutstandingR2T=1", "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes", "ErrorRecoveryLevel=0", "DefaultTime2Wait=2", "DefaultTime2Retain=20"]))
        guard case .complete(let result) = m.receive(r2) else { return XCTFail() }
        XCTAssertEqual(result.tsih, 12)
        XCTAssertEqual(result.maxCmdSN, 32)
        XCTAssertEqual(result.expStatSN, 2)
        XCTAssertEqual(result.parameters.maxBurstLength, 65536)
        XCTAssertEqual(result.parameters.targetMaxRecvDataSegmentLength, 4096)
        XCTAssertTrue(result.parameters.initialR2T)
    }

    func testLoginRejectCarriesStatus() {
        let config = InitiatorConfiguration().negotiation(targetName: "iqn.2026-11.test:t", sessionType: .normal)
        var m = InitiatorLoginMachine(negotiation: config, chap: nil, isid: 1)
        _ = m.start()
        guard case .fail(let error) = m.receive(LoginResponse(isid: 1, statusClass: .initiatorError, statusDetail: 1)) else { return XCTFail() }
        XCTAssertEqual("\(error)", "login failed: authentication failure (0x0201)")
    }
}
