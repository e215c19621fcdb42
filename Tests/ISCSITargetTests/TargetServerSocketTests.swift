import ISCSIProtocol
import ISCSITestSupport
import NIOCore
import SCSITarget
import XCTest

@testable import ISCSITarget

/// A real `TargetServer` on a loopback port, spoken to with raw PDUs over a blocking socket. Every
/// hostile case ends by checking the daemon still serves a fresh, well-behaved session.
final class TargetServerSocketTests: XCTestCase {
    private var harness: TargetServerHarness!

    override func setUpWithError() throws {
        harness = try TargetServerHarness {
            $0.negotiation.maxRecvDataSegmentLength = 16384
            $0.negotiation.initialR2T = false
            $0.negotiation.firstBurstLength = 8192
        }
    }

    override func tearDown() {
        harness.shutdown()
        harness = nil
    }

    private func loggedIn(file: StaticString = #filePath, line: UInt = #line) throws -> RawInitiator {
        try harness.loggedIn(file: file, line: line)
    }

    private func expectReject(
        _ initiator: RawInitiator, reason: Reject.Reason, header: ByteBuffer? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        guard case .reject(let reject)? = initiator.expectPDU(file: file, line: line) else {
            return XCTFail("expected a Reject", file: file, line: line)
        }
        XCTAssertEqual(reject.reason, reason, file: file, line: line)
        if let header { XCTAssertEqual(reject.dataSegment, header, "the Reject carries the BHS", file: file, line: line) }
    }

    private func expectLoginFailure(
        _ initiator: RawInitiator, keys: RawInitiator.LoginKeys, detail: UInt8? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            let response = try initiator.login(keys)
            XCTAssertEqual(response.statusClass, .initiatorError, "\(response)", file: file, line: line)
            if let detail { XCTAssertEqual(response.statusDetail, detail, file: file, line: line) }
            XCTAssertTrue(initiator.waitForClose().closed, "the target closes after a login failure", file: file, line: line)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }

    private static func bhs(of pdu: ISCSIPDU) -> ByteBuffer { Fixture.header(of: pdu) }

    // MARK: Happy path

    func testLoginWriteReadBackAndLogout() throws {
        let initiator = try loggedIn()
        // A new nexus first sees the power-on unit attention, as CHECK CONDITION with sense.
        let tur = initiator.scsiCommand(cdb: PDUBuilders.cdb(0x00), length: 0)
        guard case .scsiResponse(let attention)? = initiator.expectPDU() else { return XCTFail("expected a SCSI Response") }
        XCTAssertEqual(attention.initiatorTaskTag, tur)
        XCTAssertEqual(attention.status, SCSIStatus.checkCondition.rawValue)
        let sense = try XCTUnwrap(attention.senseData)
        XCTAssertEqual(sense.getInteger(at: sense.readerIndex + 2, as: UInt8.self).map { $0 & 0x0f }, 0x06, "UNIT ATTENTION")
        XCTAssertEqual(sense.getInteger(at: sense.readerIndex + 12, as: UInt8.self), 0x29)

        let data = Fixture.pattern(4096, seed: 9)
        let write = initiator.scsiCommand(cdb: Fixture.write10(lba: 16, blocks: 8), write: true, length: 4096, immediateData: data)
        guard case .scsiResponse(let written)? = initiator.expectPDU() else { return XCTFail("expected a SCSI Response") }
        XCTAssertEqual(written.initiatorTaskTag, write)
        XCTAssertEqual(written.status, SCSIStatus.good.rawValue)
        XCTAssertEqual(written.residualCount, 0)

        let read = initiator.scsiCommand(cdb: Fixture.read10(lba: 16, blocks: 8), read: true, length: 4096)
        var readBack = ByteBuffer()
        var sawStatus = false
        var readStatSN: UInt32 = 0
        while !sawStatus {
            guard case .dataIn(let dataIn)? = initiator.expectPDU() else { return XCTFail("expected Data-In") }
            XCTAssertEqual(dataIn.initiatorTaskTag, read)
            XCTAssertLessThanOrEqual(dataIn.dataSegment.readableBytes, 8192, "within our MaxRecvDataSegmentLength")
            var segment = dataIn.dataSegment
            readBack.writeBuffer(&segment)
            if dataIn.statusPresent {
                sawStatus = true
                readStatSN = dataIn.statSN
                XCTAssertEqual(dataIn.status, SCSIStatus.good.rawValue)
                XCTAssertTrue(dataIn.final)
            }
        }
        XCTAssertEqual(readBack, data)

        let logout = try XCTUnwrap(initiator.logout())
        XCTAssertEqual(logout.response, .closedSuccessfully)
        XCTAssertEqual(logout.statSN, readStatSN &+ 1, "StatSN advances by one per response")
        XCTAssertEqual(written.statSN, attention.statSN &+ 1)
        XCTAssertEqual(readStatSN, written.statSN &+ 1)
        XCTAssertTrue(initiator.waitForClose().closed)
        harness.assertStillServes()
    }

    func testWriteWithR2TAndUnsolicitedDataOverTheWire() throws {
        let initiator = try loggedIn()
        _ = initiator.scsiCommand(cdb: PDUBuilders.cdb(0x00), length: 0)
        _ = initiator.expectPDU()  // unit attention
        // 20 KiB: 4 KiB immediate, 4 KiB unsolicited (FirstBurstLength 8 KiB), then solicited.
        let data = Fixture.pattern(20480, seed: 3)
        let itt = initiator.scsiCommand(
            cdb: Fixture.write10(lba: 100, blocks: 40), write: true, length: 20480,
            immediateData: data.getSlice(at: 0, length: 4096)!, final: false)
        initiator.send(
            .dataOut(DataOut(final: true, lun: SAMLUN.encode(1), initiatorTaskTag: itt, dataSN: 0, bufferOffset: 4096, dataSegment: data.getSlice(at: 4096, length: 4096)!)))
        var sentUpTo = 8192
        while true {
            guard let pdu = initiator.expectPDU() else { return }
            if case .scsiResponse(let response) = pdu {
                XCTAssertEqual(response.status, 0)
                break
            }
            guard case .r2t(let r2t) = pdu else { return XCTFail("expected R2T, got \(pdu.opcode)") }
            XCTAssertEqual(Int(r2t.bufferOffset), sentUpTo)
            var offset = Int(r2t.bufferOffset)
            let end = offset + Int(r2t.desiredDataTransferLength)
            var dataSN: UInt32 = 0
            while offset < end {
                let length = min(initiator.targetMaxRecvDataSegmentLength, end - offset)
                initiator.send(
                    .dataOut(
                        DataOut(
                            final: offset + length == end, lun: SAMLUN.encode(1), initiatorTaskTag: itt,
                            targetTransferTag: r2t.targetTransferTag, dataSN: dataSN, bufferOffset: UInt32(offset),
                            dataSegment: data.getSlice(at: offset, length: length)!)))
                offset += length
                dataSN += 1
            }
            sentUpTo = end
        }
        XCTAssertEqual(sentUpTo, 20480)
        _ = initiator.scsiCommand(cdb: Fixture.read10(lba: 100, blocks: 40), read: true, length: 20480)
        var readBack = ByteBuffer()
        while case .dataIn(let dataIn)? = initiator.expectPDU() {
            var segment = dataIn.dataSegment
            readBack.writeBuffer(&segment)
            if dataIn.statusPresent { break }
        }
        XCTAssertEqual(readBack, data)
    }

    func testDiscoverySendTargets() throws {
        let initiator = try harness.connect()
        var keys = RawInitiator.LoginKeys()
        keys.discovery = true
        keys.targetName = nil
        keys.operational = ["HeaderDigest=None", "DataDigest=None", "MaxRecvDataSegmentLength=8192"]
        XCTAssertEqual(try initiator.login(keys).statusClass, .success)
        initiator.send(
            .textRequest(
                TextRequest(initiatorTaskTag: 1, cmdSN: initiator.cmdSN, expStatSN: initiator.expStatSN, dataSegment: Fixture.text(["SendTargets=All"]))))
        guard case .textResponse(let response)? = initiator.expectPDU() else { return XCTFail("expected a Text Response") }
        XCTAssertTrue(response.final)
        let pairs = try TextKeyCodec.decode(response.dataSegment, limits: .sendTargetsResponse)
        XCTAssertEqual(pairs.filter { $0.key == "TargetName" }.map(\.value), [Fixture.targetName], "the closed target is hidden")
        XCTAssertEqual(pairs.first { $0.key == "TargetAddress" }?.value, "127.0.0.1:\(harness.port),1")
    }

    // MARK: Hostile login phase

    func testLoginDataSegmentOverLoginLimitClosesConnection() throws {
        let initiator = try harness.connect()
        var text = Fixture.text(["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"])
        text.writeRepeatingByte(0, count: 8200 - text.readableBytes)
        initiator.send(initiator.loginRequest(csg: 0, nsg: 1, transit: true, data: text))
        let result = initiator.waitForClose()
        XCTAssertTrue(result.closed)
        XCTAssertFalse(result.before.contains { if case .loginResponse(let r) = $0 { return r.statusClass == .success } else { return false } })
        harness.assertStillServes()
    }

    func testTruncatedHeaderThenCloseLeavesServerRunning() throws {
        let initiator = try harness.connect()
        let bhs = Self.bhs(of: initiator.loginRequest(csg: 0, nsg: 1, transit: true, data: Fixture.text(["InitiatorName=\(Fixture.initiatorName)"])))
        initiator.sendRaw(bhs.getSlice(at: 0, length: 30)!)
        initiator.close()
        // And a truncated data segment on a second connection.
        let second = try harness.connect()
        var pdu = ByteBuffer()
        PDUEncoder().encode(second.loginRequest(csg: 0, nsg: 1, transit: true, data: Fixture.text(["InitiatorName=\(Fixture.initiatorName)"])), into: &pdu)
        second.sendRaw(pdu.getSlice(at: 0, length: 60)!)
        XCTAssertEqual(second.receive(timeout: 0.3).isTimeout, true, "the target waits for the rest")
        second.close()
        harness.assertStillServes()
    }

    func testNonLoginPDUBeforeLoginClosesConnection() throws {
        let initiator = try harness.connect()
        initiator.send(.nopOut(NOPOut(immediate: false, initiatorTaskTag: 1, cmdSN: 1)))
        let result = initiator.waitForClose()
        XCTAssertTrue(result.closed)
        XCTAssertTrue(result.before.isEmpty, "no answer to a NOP-Out before login")
        harness.assertStillServes()
    }

    func testOverlongKeyNameFailsLogin() throws {
        var keys = RawInitiator.LoginKeys()
        keys.operational.append(String(repeating: "K", count: 64) + "=1")
        expectLoginFailure(try harness.connect(), keys: keys, detail: 0x00)
        harness.assertStillServes()
    }

    func testOverlongValueFailsLogin() throws {
        var keys = RawInitiator.LoginKeys()
        keys.operational.append("X-org.example.long=" + String(repeating: "v", count: 256))
        expectLoginFailure(try harness.connect(), keys: keys, detail: 0x00)
        harness.assertStillServes()
    }

    func testThousandsOfTinyUnknownKeysFailLogin() throws {
        let initiator = try harness.connect()
        // 1000 keys in one login PDU (under 8 KiB) ...
        let keys = Fixture.text(
            ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"] + (0..<1000).map { "k\($0)=" })
        XCTAssertLessThanOrEqual(keys.readableBytes, 8192)
        initiator.send(initiator.loginRequest(csg: 0, nsg: 1, transit: true, data: keys))
        let response = try initiator.loginResponse()
        XCTAssertEqual(response.statusClass, .initiatorError)
        XCTAssertEqual(response.dataSegment.readableBytes, 0, "no answer per key")
        XCTAssertTrue(initiator.waitForClose().closed)

        // ... and 6000 spread over Continue PDUs.
        let second = try harness.connect()
        let text = Fixture.text(
            ["InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)"] + (0..<6000).map { "k\($0)=1" })
        let parts = TextKeyCodec.split(text, maxSegmentLength: 8192)
        var last: LoginResponse?
        for (index, part) in parts.enumerated() {
            let final = index == parts.count - 1
            second.send(second.loginRequest(csg: 0, nsg: final ? 1 : 0, transit: final, continue: !final, data: part))
            last = try second.loginResponse()
            if !final { XCTAssertEqual(last?.statusClass, .success) }
        }
        XCTAssertEqual(last?.statusClass, .initiatorError)
        XCTAssertTrue(second.waitForClose().closed)
        harness.assertStillServes()
    }

    func testOverlongOrIllegalNamesFailLogin() throws {
        let longTarget = "iqn.2026-11.org.example:" + String(repeating: "t", count: 210)
        let longInitiator = "iqn.2026-11.org.example:" + String(repeating: "i", count: 210)
        let cases: [(initiator: String, target: String, detail: UInt8)] = [
            (Fixture.initiatorName, longTarget, 0x03),
            (Fixture.initiatorName, "iqn.2026-11.org.example:UPPER case", 0x03),
            (longInitiator, Fixture.targetName, 0x00),
            (Fixture.initiatorName + "/evil", Fixture.targetName, 0x00),
        ]
        for (initiatorName, targetName, detail) in cases {
            var keys = RawInitiator.LoginKeys()
            keys.initiatorName = initiatorName
            keys.targetName = targetName
            expectLoginFailure(try harness.connect(), keys: keys, detail: detail)
        }
        harness.assertStillServes()
    }

    func testUnknownTargetAndACLRefusal() throws {
        var unknown = RawInitiator.LoginKeys()
        unknown.targetName = "iqn.2026-11.org.example.test:nowhere"
        expectLoginFailure(try harness.connect(), keys: unknown, detail: 0x03)
        var closed = RawInitiator.LoginKeys()
        closed.targetName = TargetServerHarness.closedTargetName
        expectLoginFailure(try harness.connect(), keys: closed, detail: 0x02)
        harness.assertStillServes()
    }

    // MARK: Hostile full feature phase

    func testDataSegmentOverNegotiatedLimitIsNotAccepted() throws {
        let initiator = try loggedIn()
        XCTAssertEqual(initiator.targetMaxRecvDataSegmentLength, 16384)
        _ = initiator.ping(data: Fixture.pattern(16388))
        switch initiator.receive() {
        case .closed:
            break  // the handler drops the connection
        case .pdu(.reject(let reject)):
            XCTAssertEqual(reject.reason, .protocolError)
        case .pdu(let other):
            XCTFail("an oversized PDU must not be served: got \(other.opcode)")
        case .timeout:
            XCTFail("no reaction to an oversized PDU")
        }
        harness.assertStillServes()
    }

    func testSCSICommandWithGarbageAHSIsRejected() throws {
        let initiator = try loggedIn()
        let command = ISCSIPDU.scsiCommand(
            SCSICommand(read: true, lun: SAMLUN.encode(1), initiatorTaskTag: 0x51, expectedDataTransferLength: 512, cmdSN: initiator.cmdSN, cdb: Fixture.read10(lba: 0, blocks: 1)))
        var bytes = ByteBuffer()
        PDUEncoder().encode(command, into: &bytes)
        bytes.setInteger(UInt8(255), at: 4)  // TotalAHSLength: 1020 bytes
        var ahs = ByteBuffer()
        ahs.writeInteger(UInt16(0xFFFF))  // an AHSLength running past the end
        ahs.writeRepeatingByte(0xA5, count: 1018)
        bytes.writeBuffer(&ahs)
        initiator.sendRaw(bytes)
        expectReject(initiator, reason: .protocolError, header: bytes.getSlice(at: 0, length: 48))
        // The rejected command's CmdSN counts as received: a NOP with the next CmdSN is answered.
        initiator.send(.nopOut(NOPOut(immediate: false, initiatorTaskTag: 0x52, cmdSN: initiator.cmdSN &+ 1)))
        guard case .nopIn(let reply)? = initiator.expectPDU() else { return XCTFail("expected a NOP-In") }
        XCTAssertEqual(reply.initiatorTaskTag, 0x52)
        harness.assertStillServes()
    }

    func testWriteWithReservedAHSTypeIsRejectedAndNotRun() throws {
        let initiator = try loggedIn()
        var block = ByteBuffer()
        block.writeRepeatingByte(0xEE, count: 512)
        let write = ISCSIPDU.scsiCommand(
            SCSICommand(
                write: true, lun: SAMLUN.encode(1), initiatorTaskTag: 0x71, expectedDataTransferLength: 512,
                cmdSN: initiator.cmdSN, cdb: Fixture.write10(lba: 0, blocks: 1), dataSegment: block))
        var bytes = ByteBuffer()
        PDUEncoder().encode(write, into: &bytes)
        // Splice in one AHS of reserved type 0x3f (AHSLength 1: just the reserved byte).
        bytes.setInteger(UInt8(1), at: 4)  // TotalAHSLength: one word
        var frame = bytes.getSlice(at: 0, length: 48)!
        frame.writeBytes([0x00, 0x01, 0x3f, 0x00])
        var data = bytes.getSlice(at: 48, length: bytes.readableBytes - 48)!
        frame.writeBuffer(&data)
        initiator.sendRaw(frame)
        expectReject(initiator, reason: .protocolError, header: frame.getSlice(at: 0, length: 48))
        initiator.cmdSN &+= 1
        // The first command of the nexus meets the power-on unit attention; the second reads.
        for _ in 0..<2 {
            _ = initiator.scsiCommand(cdb: Fixture.read10(lba: 0, blocks: 1), read: true, length: 512)
            if case .dataIn(let dataIn)? = initiator.expectPDU() {
                XCTAssertEqual(Array(dataIn.dataSegment.readableBytesView), [UInt8](repeating: 0, count: 512), "the write ran")
                return
            }
        }
        XCTFail("no Data-In")
    }

    func testUnknownOpcodeIsRejected() throws {
        let initiator = try loggedIn()
        var bhs = Self.bhs(of: .nopOut(NOPOut(immediate: true, initiatorTaskTag: 0x61, cmdSN: initiator.cmdSN)))
        bhs.setInteger(UInt8(0x40 | 0x1c), at: 0)  // immediate, vendor-specific opcode 0x1c
        initiator.sendRaw(bhs)
        expectReject(initiator, reason: .commandNotSupported, header: bhs)
        let itt = initiator.ping()
        guard case .nopIn(let reply)? = initiator.expectPDU() else { return XCTFail("expected a NOP-In") }
        XCTAssertEqual(reply.initiatorTaskTag, itt)
        harness.assertStillServes()
    }

    func testTextRequestWithContinueBitAndNoData() throws {
        let initiator = try loggedIn()
        let itt = initiator.takeITT()
        initiator.send(.textRequest(TextRequest(final: false, continue: true, initiatorTaskTag: itt, cmdSN: initiator.cmdSN, expStatSN: initiator.expStatSN)))
        initiator.cmdSN &+= 1
        guard case .textResponse(let empty)? = initiator.expectPDU() else { return XCTFail("expected a Text Response") }
        XCTAssertEqual(empty.initiatorTaskTag, itt)
        XCTAssertEqual(empty.dataSegment.readableBytes, 0)
        XCTAssertFalse(empty.final)
        XCTAssertNotEqual(empty.targetTransferTag, ISCSITag.reserved)
        initiator.send(
            .textRequest(
                TextRequest(
                    initiatorTaskTag: itt, targetTransferTag: empty.targetTransferTag, cmdSN: initiator.cmdSN,
                    expStatSN: initiator.expStatSN, dataSegment: Fixture.text(["SendTargets="]))))
        initiator.cmdSN &+= 1
        guard case .textResponse(let answer)? = initiator.expectPDU() else { return XCTFail("expected a Text Response") }
        XCTAssertTrue(answer.final)
        XCTAssertEqual(Fixture.keys(answer.dataSegment)["TargetName"], Fixture.targetName)
        harness.assertStillServes()
    }

    func testDataOutForUnknownTaskIsRejected() throws {
        let initiator = try loggedIn()
        let pdu = ISCSIPDU.dataOut(DataOut(final: true, lun: SAMLUN.encode(1), initiatorTaskTag: 0xdead, targetTransferTag: 3, dataSN: 0, bufferOffset: 0, dataSegment: Fixture.pattern(512)))
        initiator.send(pdu)
        expectReject(initiator, reason: .invalidPDUField, header: Self.bhs(of: pdu))
        harness.assertStillServes()
    }

    /// Starts a 16 KiB write that waits for an R2T (F=1, no immediate data) and returns it.
    private func startSolicitedWrite(_ initiator: RawInitiator) -> (itt: UInt32, r2t: R2T)? {
        _ = initiator.scsiCommand(cdb: PDUBuilders.cdb(0x00), length: 0)
        _ = initiator.expectPDU()  // unit attention
        let itt = initiator.scsiCommand(cdb: Fixture.write10(lba: 0, blocks: 32), write: true, length: 16384)
        guard case .r2t(let r2t)? = initiator.expectPDU() else {
            XCTFail("expected an R2T")
            return nil
        }
        XCTAssertEqual(r2t.initiatorTaskTag, itt)
        XCTAssertEqual(r2t.bufferOffset, 0)
        return (itt, r2t)
    }

    func testDataOutBeyondExpectedLengthIsRejected() throws {
        let initiator = try loggedIn()
        guard let (itt, r2t) = startSolicitedWrite(initiator) else { return }
        let pdu = ISCSIPDU.dataOut(DataOut(lun: SAMLUN.encode(1), initiatorTaskTag: itt, targetTransferTag: r2t.targetTransferTag, dataSN: 0, bufferOffset: 16000, dataSegment: Fixture.pattern(1024)))
        initiator.send(pdu)
        expectReject(initiator, reason: .invalidPDUField, header: Self.bhs(of: pdu))
        harness.assertStillServes()
    }

    func testDataOutWithWrongDataSNIsRejected() throws {
        let initiator = try loggedIn()
        guard let (itt, r2t) = startSolicitedWrite(initiator) else { return }
        let pdu = ISCSIPDU.dataOut(DataOut(lun: SAMLUN.encode(1), initiatorTaskTag: itt, targetTransferTag: r2t.targetTransferTag, dataSN: 7, bufferOffset: 0, dataSegment: Fixture.pattern(1024)))
        initiator.send(pdu)
        expectReject(initiator, reason: .protocolError, header: Self.bhs(of: pdu))
        harness.assertStillServes()
    }

    func testDataOutWithOutOfRangeBufferOffsetIsRejected() throws {
        let initiator = try loggedIn()
        guard let (itt, r2t) = startSolicitedWrite(initiator) else { return }
        let pdu = ISCSIPDU.dataOut(DataOut(lun: SAMLUN.encode(1), initiatorTaskTag: itt, targetTransferTag: r2t.targetTransferTag, dataSN: 0, bufferOffset: 4096, dataSegment: Fixture.pattern(1024)))
        initiator.send(pdu)
        expectReject(initiator, reason: .invalidPDUField, header: Self.bhs(of: pdu))
        harness.assertStillServes()
    }

    func testUnsolicitedDataOverFirstBurstLengthIsRejected() throws {
        let initiator = try loggedIn()
        _ = initiator.scsiCommand(cdb: PDUBuilders.cdb(0x00), length: 0)
        _ = initiator.expectPDU()  // unit attention
        // FirstBurstLength is 8 KiB: 4 KiB immediate, then 8 KiB more unsolicited.
        let itt = initiator.scsiCommand(
            cdb: Fixture.write10(lba: 0, blocks: 64), write: true, length: 32768, immediateData: Fixture.pattern(4096), final: false)
        guard case .r2t(let r2t)? = initiator.expectPDU() else { return XCTFail("expected an R2T past the first burst") }
        XCTAssertEqual(r2t.bufferOffset, 8192)
        let pdu = ISCSIPDU.dataOut(DataOut(lun: SAMLUN.encode(1), initiatorTaskTag: itt, dataSN: 0, bufferOffset: 4096, dataSegment: Fixture.pattern(8192)))
        initiator.send(pdu)
        expectReject(initiator, reason: .protocolError, header: Self.bhs(of: pdu))
        harness.assertStillServes()
    }

    func testCmdSNOutsideWindowGetsNoAnswer() throws {
        let initiator = try loggedIn()
        let window = harness.server.configuration.commandWindow
        initiator.send(.nopOut(NOPOut(immediate: false, initiatorTaskTag: 0x71, cmdSN: initiator.cmdSN &+ window, expStatSN: initiator.expStatSN)))
        initiator.send(.nopOut(NOPOut(immediate: false, initiatorTaskTag: 0x72, cmdSN: initiator.cmdSN &- 1, expStatSN: initiator.expStatSN)))
        XCTAssertEqual(initiator.receive(timeout: 0.5).isTimeout, true, "commands outside the window are dropped silently")
        let itt = initiator.ping()
        guard case .nopIn(let reply)? = initiator.expectPDU() else { return XCTFail("expected a NOP-In") }
        XCTAssertEqual(reply.initiatorTaskTag, itt)
        XCTAssertEqual(reply.expCmdSN, initiator.cmdSN)
        harness.assertStillServes()
    }

    func testSNACKIsRejected() throws {
        let initiator = try loggedIn()
        let pdu = ISCSIPDU.snackRequest(SNACKRequest(type: .status, expStatSN: initiator.expStatSN, begRun: 0, runLength: 0))
        initiator.send(pdu)
        expectReject(initiator, reason: .snackReject, header: Self.bhs(of: pdu))
        harness.assertStillServes()
    }
}

extension Received {
    var isTimeout: Bool {
        if case .timeout = self { return true }
        return false
    }
}
