import ISCSIProtocol
import NIOCore
import SCSITarget
import XCTest

@testable import ISCSITarget

/// READ/WRITE data movement of the session machine: Data-In, residuals, immediate, unsolicited
/// and solicited Data-Out, and the Rejects for bad Data-Out.
final class SessionDataTransferTests: XCTestCase {
    typealias H = SessionHarness

    // MARK: Data-In

    func testReadSplitsDataInBySegmentAndBurstWithStatusInLastPDU() {
        var session = H {
            $0.initiatorMaxRecvDataSegmentLength = 1024
            $0.maxBurstLength = 2500
        }
        let start = session.receive(H.read(itt: 1, cmdSN: 10, length: 6000))
        XCTAssertEqual(start.executed.map(\.itt), [1])
        XCTAssertEqual(start.executed.first?.request.lun, 1)
        XCTAssertEqual(start.executed.first?.request.expectedDataTransferLength, 6000)
        XCTAssertTrue(start.sent.isEmpty)

        let data = Fixture.pattern(6000)
        let actions = session.complete(1, Fixture.result(data: data))
        let pdus = actions.dataIns
        XCTAssertEqual(pdus.count, actions.sent.count, "GOOD status rides in the last Data-In: no SCSI Response")
        // Bursts of 2500 cut into segments of at most 1024: 1024+1024+452 | 1024+1024+452 | 1000.
        XCTAssertEqual(pdus.map { $0.dataSegment.readableBytes }, [1024, 1024, 452, 1024, 1024, 452, 1000])
        XCTAssertEqual(pdus.map(\.final), [false, false, true, false, false, true, true])
        XCTAssertEqual(pdus.map(\.dataSN), Array(0..<7))
        XCTAssertEqual(pdus.map(\.bufferOffset), [0, 1024, 2048, 2500, 3524, 4548, 5000])
        XCTAssertEqual(pdus.map(\.statusPresent), [false, false, false, false, false, false, true])
        XCTAssertTrue(pdus.allSatisfy { $0.initiatorTaskTag == 1 && $0.lun == H.lun1 })
        XCTAssertTrue(pdus.allSatisfy { $0.expCmdSN == 11 && $0.maxCmdSN == 18 })
        let last = pdus.last!
        XCTAssertEqual(last.status, SCSIStatus.good.rawValue)
        XCTAssertEqual(last.statSN, 50)
        XCTAssertFalse(last.residualUnderflow || last.residualOverflow)
        var joined = ByteBuffer()
        for pdu in pdus { var d = pdu.dataSegment; joined.writeBuffer(&d) }
        XCTAssertEqual(joined, data)
        XCTAssertEqual(session.machine.statSN, 51)
        XCTAssertTrue(session.machine.tasks.isEmpty)
    }

    func testReadUnderflowResidual() {
        var session = H { $0.initiatorMaxRecvDataSegmentLength = 8192 }
        _ = session.receive(H.read(itt: 2, cmdSN: 10, length: 8192))
        let pdus = session.complete(2, Fixture.result(data: Fixture.pattern(4096))).dataIns
        XCTAssertEqual(pdus.count, 1)
        XCTAssertTrue(pdus[0].statusPresent && pdus[0].final)
        XCTAssertTrue(pdus[0].residualUnderflow)
        XCTAssertFalse(pdus[0].residualOverflow)
        XCTAssertEqual(pdus[0].residualCount, 4096)
    }

    func testReadOverflowResidualTruncatesData() {
        var session = H()
        _ = session.receive(H.read(itt: 3, cmdSN: 10, length: 1000))
        let pdus = session.complete(3, Fixture.result(data: Fixture.pattern(3000))).dataIns
        XCTAssertEqual(pdus.count, 1)
        XCTAssertEqual(pdus[0].dataSegment, Fixture.pattern(1000))
        XCTAssertTrue(pdus[0].residualOverflow)
        XCTAssertFalse(pdus[0].residualUnderflow)
        XCTAssertEqual(pdus[0].residualCount, 2000)
    }

    func testReadWithoutDataIsAFullUnderflow() {
        var session = H()
        _ = session.receive(H.read(itt: 4, cmdSN: 10, length: 512))
        let actions = session.complete(4, Fixture.result())
        XCTAssertTrue(actions.dataIns.isEmpty)
        let response = actions.scsiResponses
        XCTAssertEqual(response.count, 1)
        XCTAssertEqual(response.first?.status, 0)
        XCTAssertEqual(response.first?.residualUnderflow, true)
        XCTAssertEqual(response.first?.residualCount, 512)
        XCTAssertEqual(response.first?.statSN, 50)
    }

    func testCheckConditionCarriesSenseInSCSIResponse() {
        var session = H()
        _ = session.receive(H.read(itt: 5, cmdSN: 10, length: 512))
        var sense = ByteBuffer()
        sense.writeBytes([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x21, 0x00, 0, 0, 0, 0])
        let actions = session.complete(5, Fixture.result(.checkCondition, sense: sense))
        XCTAssertTrue(actions.dataIns.isEmpty)
        guard let response = actions.scsiResponses.first, actions.sent.count == 1 else {
            return XCTFail("expected one SCSI Response, got \(actions)")
        }
        XCTAssertEqual(response.initiatorTaskTag, 5)
        XCTAssertEqual(response.status, SCSIStatus.checkCondition.rawValue)
        XCTAssertEqual(response.response, .commandCompleted)
        XCTAssertEqual(response.dataSegment.getInteger(at: 0, as: UInt16.self), 18)
        XCTAssertEqual(response.senseData, sense)
        XCTAssertEqual(response.statSN, 50)
        XCTAssertEqual(response.expCmdSN, 11)
    }

    func testCheckConditionAfterDataSendsDataThenResponse() {
        var session = H()
        _ = session.receive(H.read(itt: 6, cmdSN: 10, length: 1024))
        let sense = ByteBuffer(bytes: [0x70, 0, 0x03, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0, 0, 0, 0, 0])
        let actions = session.complete(
            6, SCSICommandResult(status: .checkCondition, senseData: sense, dataIn: Fixture.pattern(512)))
        XCTAssertEqual(actions.dataIns.count, 1)
        XCTAssertFalse(actions.dataIns[0].statusPresent, "status is not GOOD: it goes in the SCSI Response")
        XCTAssertEqual(actions.scsiResponses.count, 1)
        guard case .scsiResponse = actions.sent.last else { return XCTFail("the SCSI Response comes last") }
        XCTAssertEqual(actions.scsiResponses[0].senseData, sense)
    }

    // MARK: Writes

    func testWriteWithImmediateDataOnlyExecutesAtOnce() {
        var session = H()
        let data = Fixture.pattern(1024)
        let actions = session.receive(H.write(itt: 7, cmdSN: 10, length: 1024, immediateData: data))
        XCTAssertTrue(actions.r2ts.isEmpty)
        XCTAssertEqual(actions.executed.count, 1)
        XCTAssertEqual(actions.executed.first?.request.dataOut, data)
        let done = session.complete(7, Fixture.result())
        XCTAssertEqual(done.scsiResponses.map(\.status), [0])
        XCTAssertEqual(done.scsiResponses.first?.residualCount, 0)
    }

    func testWriteWithUnsolicitedDataOut() {
        var session = H {
            $0.initialR2T = false
            $0.firstBurstLength = 4096
        }
        let data = Fixture.pattern(2048)
        let command = session.receive(
            H.write(itt: 8, cmdSN: 10, length: 2048, immediateData: data.getSlice(at: 0, length: 512)!, final: false))
        XCTAssertTrue(command.sent.isEmpty, "all of it comes unsolicited: no R2T")
        XCTAssertTrue(command.executed.isEmpty)
        let first = session.receive(H.dataOut(itt: 8, dataSN: 0, offset: 512, data.getSlice(at: 512, length: 1024)!))
        XCTAssertTrue(first.isEmpty)
        let last = session.receive(
            H.dataOut(itt: 8, dataSN: 1, offset: 1536, data.getSlice(at: 1536, length: 512)!, final: true))
        XCTAssertEqual(last.executed.count, 1)
        XCTAssertEqual(last.executed.first?.request.dataOut, data)
    }

    func testUnsolicitedBurstFollowedBySolicitedData() {
        var session = H {
            $0.initialR2T = false
            $0.maxBurstLength = 2048
            $0.firstBurstLength = 1024
            $0.maxOutstandingR2T = 2
        }
        let data = Fixture.pattern(5000)
        let command = session.receive(
            H.write(itt: 9, cmdSN: 10, length: 5000, immediateData: data.getSlice(at: 0, length: 512)!, final: false))
        let r2ts = command.r2ts
        XCTAssertEqual(r2ts.map(\.bufferOffset), [1024, 3072], "R2Ts start after FirstBurstLength")
        XCTAssertEqual(r2ts.map(\.desiredDataTransferLength), [2048, 1928])
        XCTAssertEqual(r2ts.map(\.r2tSN), [0, 1])
        XCTAssertEqual(Set(r2ts.map(\.targetTransferTag)).count, 2)
        XCTAssertFalse(r2ts.contains { $0.targetTransferTag == ISCSITag.reserved })
        XCTAssertTrue(r2ts.allSatisfy { $0.statSN == 50 && $0.expCmdSN == 11 && $0.initiatorTaskTag == 9 })
        XCTAssertEqual(session.machine.statSN, 50, "R2T does not advance StatSN")

        XCTAssertTrue(session.receive(H.dataOut(itt: 9, dataSN: 0, offset: 512, data.getSlice(at: 512, length: 512)!, final: true)).isEmpty)
        XCTAssertTrue(session.receive(H.dataOut(itt: 9, ttt: r2ts[1].targetTransferTag, dataSN: 0, offset: 3072, data.getSlice(at: 3072, length: 1928)!, final: true)).isEmpty)
        let done = session.receive(H.dataOut(itt: 9, ttt: r2ts[0].targetTransferTag, dataSN: 0, offset: 1024, data.getSlice(at: 1024, length: 2048)!, final: true))
        XCTAssertEqual(done.executed.first?.request.dataOut, data)
    }

    func testUnsolicitedDataEndingEarlyGetsTheHoleSolicited() {
        var session = H {
            $0.initialR2T = false
            $0.maxBurstLength = 4096
            $0.firstBurstLength = 2048
            $0.maxOutstandingR2T = 1
        }
        let data = Fixture.pattern(4096)
        let command = session.receive(
            H.write(itt: 11, cmdSN: 10, length: 4096, immediateData: data.getSlice(at: 0, length: 512)!, final: false))
        XCTAssertEqual(command.r2ts.map(\.bufferOffset), [2048])
        let first = command.r2ts[0]
        // The unsolicited sequence stops at 1024 (F=1) instead of FirstBurstLength (2048).
        let early = session.receive(H.dataOut(itt: 11, dataSN: 0, offset: 512, data.getSlice(at: 512, length: 512)!, final: true))
        XCTAssertTrue(early.isEmpty, "the hole waits for the outstanding R2T to finish")
        let afterFirst = session.receive(
            H.dataOut(itt: 11, ttt: first.targetTransferTag, dataSN: 0, offset: 2048, data.getSlice(at: 2048, length: 2048)!, final: true))
        XCTAssertEqual(afterFirst.r2ts.map(\.bufferOffset), [1024])
        XCTAssertEqual(afterFirst.r2ts.map(\.desiredDataTransferLength), [1024])
        let hole = afterFirst.r2ts[0]
        let done = session.receive(
            H.dataOut(itt: 11, ttt: hole.targetTransferTag, dataSN: 0, offset: 1024, data.getSlice(at: 1024, length: 1024)!, final: true))
        XCTAssertEqual(done.executed.first?.request.dataOut, data)
    }

    func testR2TsHonourMaxBurstLengthAndMaxOutstandingR2T() {
        var session = H {
            $0.maxBurstLength = 2048
            $0.maxOutstandingR2T = 2
        }
        let data = Fixture.pattern(10000)
        var r2ts = session.receive(H.write(itt: 10, cmdSN: 10, length: 10000)).r2ts
        XCTAssertEqual(r2ts.map(\.bufferOffset), [0, 2048])
        var seen: [R2T] = r2ts
        var executed: [(itt: UInt32, request: SCSICommandRequest)] = []
        while let r2t = r2ts.first {
            r2ts.removeFirst()
            // Each burst in two Data-Out PDUs, DataSN restarting at 0 for each R2T.
            let half = r2t.desiredDataTransferLength / 2
            let a = session.receive(H.dataOut(itt: 10, ttt: r2t.targetTransferTag, dataSN: 0, offset: r2t.bufferOffset, data.getSlice(at: Int(r2t.bufferOffset), length: Int(half))!))
            XCTAssertTrue(a.isEmpty)
            let rest = r2t.desiredDataTransferLength - half
            let b = session.receive(H.dataOut(itt: 10, ttt: r2t.targetTransferTag, dataSN: 1, offset: r2t.bufferOffset + half, data.getSlice(at: Int(r2t.bufferOffset + half), length: Int(rest))!, final: true))
            XCTAssertLessThanOrEqual(b.r2ts.count, 1, "one finished R2T makes room for one more")
            r2ts += b.r2ts
            seen += b.r2ts
            executed += b.executed
            XCTAssertLessThanOrEqual(r2ts.count, 2)
        }
        XCTAssertEqual(seen.map(\.bufferOffset), [0, 2048, 4096, 6144, 8192])
        XCTAssertEqual(seen.map(\.desiredDataTransferLength), [2048, 2048, 2048, 2048, 1808])
        XCTAssertEqual(seen.map(\.r2tSN), [0, 1, 2, 3, 4])
        XCTAssertTrue(seen.allSatisfy { $0.desiredDataTransferLength <= 2048 })
        XCTAssertEqual(executed.count, 1)
        XCTAssertEqual(executed.first?.request.dataOut, data)
    }

    func testFinalBitOnCommandForbidsUnsolicitedData() {
        var session = H {
            $0.initialR2T = false
            $0.firstBurstLength = 4096
        }
        let actions = session.receive(
            H.write(itt: 11, cmdSN: 10, length: 4096, immediateData: Fixture.pattern(512), final: true))
        XCTAssertEqual(actions.r2ts.map(\.bufferOffset), [512], "data after the immediate part is solicited")
        let unsolicited = session.receive(H.dataOut(itt: 11, dataSN: 0, offset: 512, Fixture.pattern(512)))
        XCTAssertEqual(unsolicited.rejects.map(\.reason), [.protocolError])
    }

    func testInitialR2TYesForbidsUnsolicitedData() {
        var session = H()
        let actions = session.receive(H.write(itt: 12, cmdSN: 10, length: 2048, final: false))
        XCTAssertEqual(actions.r2ts.map(\.bufferOffset), [0])
        let unsolicited = session.receive(H.dataOut(itt: 12, dataSN: 0, offset: 0, Fixture.pattern(512)))
        XCTAssertEqual(unsolicited.rejects.map(\.reason), [.protocolError])
    }

    // MARK: Bad Data-Out

    func testDataOutForUnknownTaskIsRejectedWithItsHeader() {
        var session = H()
        let pdu = H.dataOut(itt: 99, ttt: 5, dataSN: 0, offset: 0, Fixture.pattern(16))
        let actions = session.receive(pdu)
        XCTAssertEqual(actions.rejects.count, 1)
        XCTAssertEqual(actions.rejects[0].reason, .invalidPDUField)
        XCTAssertEqual(actions.rejects[0].dataSegment, Fixture.header(of: pdu))
        XCTAssertEqual(actions.rejects[0].statSN, 50)
        XCTAssertEqual(actions.rejects[0].expCmdSN, 10)
        XCTAssertEqual(session.machine.statSN, 51)
    }

    func testDataOutBeyondExpectedLengthIsRejected() {
        var session = H()
        let r2t = session.receive(H.write(itt: 13, cmdSN: 10, length: 1024)).r2ts[0]
        let actions = session.receive(H.dataOut(itt: 13, ttt: r2t.targetTransferTag, dataSN: 0, offset: 512, Fixture.pattern(1024)))
        XCTAssertEqual(actions.rejects.map(\.reason), [.invalidPDUField])
        XCTAssertTrue(actions.executed.isEmpty)
        // The task survives: correct data still completes it.
        let ok = session.receive(H.dataOut(itt: 13, ttt: r2t.targetTransferTag, dataSN: 0, offset: 0, Fixture.pattern(1024), final: true))
        XCTAssertEqual(ok.executed.count, 1)
    }

    func testDataOutWithWrongDataSNIsRejected() {
        var session = H()
        let r2t = session.receive(H.write(itt: 14, cmdSN: 10, length: 1024)).r2ts[0]
        XCTAssertTrue(session.receive(H.dataOut(itt: 14, ttt: r2t.targetTransferTag, dataSN: 0, offset: 0, Fixture.pattern(512))).isEmpty)
        let wrong = session.receive(H.dataOut(itt: 14, ttt: r2t.targetTransferTag, dataSN: 5, offset: 512, Fixture.pattern(512)))
        XCTAssertEqual(wrong.rejects.map(\.reason), [.protocolError])

        var unsolicited = H {
            $0.initialR2T = false
            $0.firstBurstLength = 4096
        }
        _ = unsolicited.receive(H.write(itt: 15, cmdSN: 10, length: 2048, final: false))
        let bad = unsolicited.receive(H.dataOut(itt: 15, dataSN: 1, offset: 0, Fixture.pattern(512)))
        XCTAssertEqual(bad.rejects.map(\.reason), [.protocolError])
    }

    func testDataOutWithOutOfRangeBufferOffsetIsRejected() {
        var session = H { $0.maxBurstLength = 1024 }
        let r2ts = session.receive(H.write(itt: 16, cmdSN: 10, length: 4096)).r2ts
        XCTAssertEqual(r2ts.count, 1)
        // Inside the command but outside the R2T, and not the next offset of the R2T.
        for offset: UInt32 in [2048, 512] {
            let actions = session.receive(H.dataOut(itt: 16, ttt: r2ts[0].targetTransferTag, dataSN: 0, offset: offset, Fixture.pattern(512)))
            XCTAssertEqual(actions.rejects.map(\.reason), [.invalidPDUField], "offset \(offset)")
        }
        // An offset that wraps around 2^32.
        let wrap = session.receive(H.dataOut(itt: 16, ttt: r2ts[0].targetTransferTag, dataSN: 0, offset: UInt32.max - 10, Fixture.pattern(512)))
        XCTAssertEqual(wrap.rejects.map(\.reason), [.invalidPDUField])
        // An unknown TTT.
        let tag = session.receive(H.dataOut(itt: 16, ttt: 0x7777, dataSN: 0, offset: 0, Fixture.pattern(512)))
        XCTAssertEqual(tag.rejects.map(\.reason), [.invalidPDUField])
    }

    func testUnsolicitedDataBeyondFirstBurstLengthIsRejected() {
        var session = H {
            $0.initialR2T = false
            $0.firstBurstLength = 1024
        }
        _ = session.receive(H.write(itt: 17, cmdSN: 10, length: 4096, immediateData: Fixture.pattern(512), final: false))
        let over = session.receive(H.dataOut(itt: 17, dataSN: 0, offset: 512, Fixture.pattern(1024)))
        XCTAssertEqual(over.rejects.map(\.reason), [.protocolError])
    }

    func testImmediateDataBeyondFirstBurstLengthRejectsTheCommand() {
        var session = H { $0.firstBurstLength = 1024 }
        let actions = session.receive(H.write(itt: 18, cmdSN: 10, length: 4096, immediateData: Fixture.pattern(2048)))
        XCTAssertEqual(actions.rejects.map(\.reason), [.protocolError])
        XCTAssertTrue(actions.executed.isEmpty && actions.r2ts.isEmpty)
        XCTAssertNil(session.machine.tasks[18])
    }

    func testImmediateDataRefusedWhenImmediateDataIsNo() {
        var session = H { $0.immediateData = false }
        let actions = session.receive(H.write(itt: 19, cmdSN: 10, length: 512, immediateData: Fixture.pattern(512)))
        XCTAssertEqual(actions.rejects.map(\.reason), [.protocolError])
    }

    func testDataOutAfterExecutionStartedIsRejected() {
        var session = H()
        _ = session.receive(H.write(itt: 20, cmdSN: 10, length: 512, immediateData: Fixture.pattern(512)))
        let late = session.receive(H.dataOut(itt: 20, dataSN: 0, offset: 0, Fixture.pattern(512)))
        XCTAssertEqual(late.rejects.map(\.reason), [.invalidPDUField])
    }
}
