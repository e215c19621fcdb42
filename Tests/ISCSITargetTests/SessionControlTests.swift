import ISCSIProtocol
import NIOCore
import SCSITarget
import XCTest

@testable import ISCSITarget

/// The session machine's CmdSN window, NOP, task management, text, logout and rejects.
final class SessionControlTests: XCTestCase {
    typealias H = SessionHarness

    // MARK: CmdSN window

    func testCommandsOutsideTheWindowAreDroppedSilently() {
        var session = H(window: 8)  // ExpCmdSN 10, MaxCmdSN 17
        XCTAssertEqual(session.machine.maxCmdSN, 17)
        XCTAssertTrue(session.receive(H.nop(itt: 1, cmdSN: 18)).isEmpty, "one past MaxCmdSN")
        XCTAssertTrue(session.receive(H.nop(itt: 2, cmdSN: 9)).isEmpty, "already used")
        XCTAssertTrue(session.receive(H.nop(itt: 3, cmdSN: 10 &+ 0x8000_0000)).isEmpty)
        XCTAssertEqual(session.machine.expCmdSN, 10)
        XCTAssertEqual(session.machine.statSN, 50, "nothing was answered")
        // The gap was never filled by the dropped commands.
        let answer = session.receive(H.nop(itt: 4, cmdSN: 10))
        XCTAssertEqual(answer.nopIns.map(\.initiatorTaskTag), [4])
        XCTAssertEqual(session.machine.expCmdSN, 11)
    }

    func testGapFilledLaterExecutesInOrder() {
        var session = H(window: 8)
        XCTAssertTrue(session.receive(H.read(itt: 12, cmdSN: 12, length: 512)).isEmpty)
        XCTAssertTrue(session.receive(H.read(itt: 11, cmdSN: 11, length: 512)).isEmpty)
        XCTAssertTrue(session.receive(H.read(itt: 17, cmdSN: 17, length: 512)).isEmpty, "MaxCmdSN itself is in the window")
        XCTAssertTrue(session.receive(H.read(itt: 99, cmdSN: 12, length: 512)).isEmpty, "a duplicate CmdSN is ignored")
        XCTAssertEqual(session.machine.expCmdSN, 10)
        let filled = session.receive(H.read(itt: 10, cmdSN: 10, length: 512))
        XCTAssertEqual(filled.executed.map(\.itt), [10, 11, 12])
        XCTAssertEqual(session.machine.expCmdSN, 13)
        XCTAssertEqual(session.machine.maxCmdSN, 17, "the three commands in the target hold their slots")
        for itt: UInt32 in [10, 11, 12] { _ = session.complete(itt, SCSICommandResult(status: .good)) }
        XCTAssertEqual(session.machine.maxCmdSN, 20, "answered: the window opens again")
    }

    func testImmediateCommandsBypassTheQueue() {
        var session = H(window: 8)
        XCTAssertTrue(session.receive(H.read(itt: 11, cmdSN: 11, length: 512)).isEmpty)
        let immediate = session.receive(H.nop(itt: 7, cmdSN: 10, immediate: true))
        XCTAssertEqual(immediate.nopIns.map(\.initiatorTaskTag), [7])
        XCTAssertEqual(session.machine.expCmdSN, 10, "an immediate command does not advance ExpCmdSN")
        let read = session.receive(H.read(itt: 8, cmdSN: 10, length: 512, immediate: true))
        XCTAssertEqual(read.executed.map(\.itt), [8])
        XCTAssertEqual(session.machine.expCmdSN, 10)
    }

    func testDuplicateITTIsRejectedAsTaskInProgress() {
        var session = H()
        XCTAssertEqual(session.receive(H.read(itt: 5, cmdSN: 10, length: 512)).executed.count, 1)
        let duplicate = H.read(itt: 5, cmdSN: 11, length: 512)
        let actions = session.receive(duplicate)
        XCTAssertEqual(actions.rejects.map(\.reason), [.taskInProgress])
        XCTAssertEqual(actions.rejects.first?.dataSegment, Fixture.header(of: duplicate))
        XCTAssertTrue(actions.executed.isEmpty)
        XCTAssertEqual(session.machine.expCmdSN, 12)
    }

    // MARK: NOP

    func testNOPOutIsEchoed() {
        var session = H()
        let ping = Fixture.pattern(100)
        let actions = session.receive(H.nop(itt: 0x42, cmdSN: 10, data: ping))
        XCTAssertEqual(actions.nopIns.count, 1)
        let reply = actions.nopIns[0]
        XCTAssertEqual(reply.initiatorTaskTag, 0x42)
        XCTAssertEqual(reply.targetTransferTag, ISCSITag.reserved)
        XCTAssertEqual(reply.dataSegment, ping)
        XCTAssertEqual(reply.statSN, 50)
        XCTAssertEqual(reply.expCmdSN, 11)
        XCTAssertEqual(reply.maxCmdSN, 18)
        XCTAssertEqual(session.machine.statSN, 51)
    }

    func testNOPOutWithReservedITTGetsNoAnswer() {
        var session = H()
        XCTAssertTrue(session.receive(.nopOut(NOPOut(immediate: true, cmdSN: 10))).isEmpty)
        XCTAssertEqual(session.machine.statSN, 50)
    }

    func testPingAndItsAnswer() throws {
        var session = H()
        let ping = try XCTUnwrap(session.machine.makePing())
        XCTAssertEqual(ping.initiatorTaskTag, ISCSITag.reserved)
        XCTAssertNotEqual(ping.targetTransferTag, ISCSITag.reserved)
        XCTAssertEqual(ping.statSN, 50)
        XCTAssertEqual(session.machine.statSN, 50, "a ping does not advance StatSN")
        XCTAssertNil(session.machine.makePing(), "one ping at a time")
        // A NOP-Out with another TTT is not the answer.
        _ = session.receive(.nopOut(NOPOut(immediate: true, targetTransferTag: ping.targetTransferTag &+ 1, cmdSN: 10)))
        XCTAssertNotNil(session.machine.outstandingPing)
        let answer = session.receive(.nopOut(NOPOut(immediate: true, targetTransferTag: ping.targetTransferTag, cmdSN: 10)))
        XCTAssertTrue(answer.isEmpty)
        XCTAssertNil(session.machine.outstandingPing)
        let next = try XCTUnwrap(session.machine.makePing())
        XCTAssertNotEqual(next.targetTransferTag, ping.targetTransferTag)
    }

    // MARK: Task management

    func testAbortTaskOfExecutingCommandAnswersAfterItCompletes() {
        var session = H()
        _ = session.receive(H.read(itt: 1, cmdSN: 10, length: 512))
        let abort = session.receive(H.tmf(.abortTask, itt: 2, cmdSN: 11, referenced: 1, refCmdSN: 10))
        XCTAssertTrue(abort.sent.isEmpty, "the response waits for the command to leave the SCSI layer")
        let done = session.complete(1, Fixture.result(data: Fixture.pattern(512)))
        XCTAssertTrue(done.dataIns.isEmpty && done.scsiResponses.isEmpty, "an aborted command gets no response")
        XCTAssertEqual(done.tmfResponses.map(\.response), [.functionComplete])
        XCTAssertEqual(done.tmfResponses.first?.initiatorTaskTag, 2)
        XCTAssertEqual(done.tmfResponses.first?.statSN, 50)
        // Aborting it again while nothing is left: the task does not exist (RefCmdSN below ExpCmdSN).
        let again = session.receive(H.tmf(.abortTask, itt: 3, cmdSN: 11, referenced: 1, refCmdSN: 10))
        XCTAssertEqual(again.tmfResponses.map(\.response), [.taskDoesNotExist])
    }

    func testAbortTaskOfCollectingWriteIsImmediateAndLateDataIsDiscarded() {
        var session = H()
        let r2t = session.receive(H.write(itt: 4, cmdSN: 10, length: 4096)).r2ts[0]
        let abort = session.receive(H.tmf(.abortTask, itt: 5, cmdSN: 11, referenced: 4, refCmdSN: 10))
        XCTAssertEqual(abort.tmfResponses.map(\.response), [.functionComplete])
        XCTAssertNil(session.machine.tasks[4])
        let late = session.receive(H.dataOut(itt: 4, ttt: r2t.targetTransferTag, dataSN: 0, offset: 0, Fixture.pattern(512)))
        XCTAssertTrue(late.isEmpty, "Data-Out of an aborted task is discarded, not rejected: \(late)")
        // The ITT can be used again.
        let reuse = session.receive(H.read(itt: 4, cmdSN: 11, length: 512))
        XCTAssertEqual(reuse.executed.map(\.itt), [4])
    }

    func testAbortTaskOfUnknownTaskFollowsRefCmdSNRule() {
        var session = H(window: 8)  // ExpCmdSN 10
        // RefCmdSN outside the window (already used): the task does not exist.
        let old = session.receive(H.tmf(.abortTask, itt: 1, cmdSN: 10, referenced: 77, refCmdSN: 5))
        XCTAssertEqual(old.tmfResponses.map(\.response), [.taskDoesNotExist])
        // RefCmdSN equal to the TMF's own CmdSN (an immediate command): does not exist.
        let own = session.receive(H.tmf(.abortTask, itt: 2, cmdSN: 10, referenced: 77, refCmdSN: 10))
        XCTAssertEqual(own.tmfResponses.map(\.response), [.taskDoesNotExist])

        // CmdSN 11 is queued behind a missing 10; the TMF (CmdSN 12) aborts the never-received 10.
        XCTAssertTrue(session.receive(H.read(itt: 11, cmdSN: 11, length: 512)).isEmpty)
        let lost = session.receive(H.tmf(.abortTask, itt: 3, cmdSN: 12, referenced: 10, refCmdSN: 10))
        XCTAssertEqual(lost.tmfResponses.map(\.response), [.functionComplete])
        XCTAssertEqual(lost.executed.map(\.itt), [11], "CmdSN 10 counts as received, so 11 runs")
        XCTAssertEqual(session.machine.expCmdSN, 12)
        // The aborted command turning up late is ignored.
        XCTAssertTrue(session.receive(H.read(itt: 10, cmdSN: 10, length: 512)).isEmpty)
    }

    func testAbortTaskOfQueuedCommandDropsIt() {
        var session = H(window: 8)
        XCTAssertTrue(session.receive(H.read(itt: 11, cmdSN: 11, length: 512)).isEmpty)
        XCTAssertTrue(session.receive(H.read(itt: 12, cmdSN: 12, length: 512)).isEmpty)
        let abort = session.receive(H.tmf(.abortTask, itt: 20, cmdSN: 13, referenced: 11, refCmdSN: 11))
        XCTAssertEqual(abort.tmfResponses.map(\.response), [.functionComplete])
        XCTAssertTrue(abort.executed.isEmpty)
        let filled = session.receive(H.read(itt: 10, cmdSN: 10, length: 512))
        XCTAssertEqual(filled.executed.map(\.itt), [10, 12], "the aborted CmdSN 11 never executes")
        XCTAssertEqual(session.machine.expCmdSN, 13)
    }

    func testAbortTaskSetWaitsForTheTasksOfItsLUNOnly() {
        var session = H()
        _ = session.receive(H.read(itt: 1, cmdSN: 10, length: 512, lun: H.lun1))
        _ = session.receive(H.read(itt: 2, cmdSN: 11, length: 512, lun: H.lun1))
        _ = session.receive(H.read(itt: 3, cmdSN: 12, length: 512, lun: H.lun2))
        XCTAssertTrue(session.receive(H.tmf(.abortTaskSet, itt: 9, cmdSN: 13, lun: H.lun1)).sent.isEmpty)
        let other = session.complete(3, Fixture.result(data: Fixture.pattern(512)))
        XCTAssertEqual(other.dataIns.count, 1, "LUN 2 is not affected")
        XCTAssertTrue(other.tmfResponses.isEmpty)
        XCTAssertTrue(session.complete(1, Fixture.result()).sent.isEmpty)
        let last = session.complete(2, Fixture.result())
        XCTAssertEqual(last.sent.count, 1)
        XCTAssertEqual(last.tmfResponses.map(\.response), [.functionComplete])
        XCTAssertEqual(last.tmfResponses.first?.initiatorTaskTag, 9)
    }

    func testLogicalUnitResetResetsAndWaits() {
        var session = H()
        _ = session.receive(H.read(itt: 1, cmdSN: 10, length: 512))
        let reset = session.receive(H.tmf(.logicalUnitReset, itt: 9, cmdSN: 11))
        guard case .resetLogicalUnit(let lun) = reset.first else { return XCTFail("expected a LU reset, got \(reset)") }
        XCTAssertEqual(lun, 1)
        XCTAssertTrue(reset.tmfResponses.isEmpty)
        XCTAssertEqual(session.complete(1, Fixture.result()).tmfResponses.map(\.response), [.functionComplete])
    }

    func testTargetResets() {
        for (function, cold) in [(TaskManagementRequest.Function.targetWarmReset, false), (.targetColdReset, true)] {
            var session = H()
            let actions = session.receive(H.tmf(function, itt: 9, cmdSN: 10))
            guard case .resetTarget(let isCold) = actions.first else { return XCTFail("expected a target reset, got \(actions)") }
            XCTAssertEqual(isCold, cold)
            XCTAssertEqual(actions.tmfResponses.map(\.response), [.functionComplete])
        }
    }

    func testUnsupportedTaskManagementFunctions() {
        var session = H()
        XCTAssertEqual(session.receive(H.tmf(.clearACA, itt: 1, cmdSN: 10)).tmfResponses.map(\.response), [.functionNotSupported])
        XCTAssertEqual(
            session.receive(H.tmf(.taskReassign, itt: 2, cmdSN: 10, referenced: 1)).tmfResponses.map(\.response),
            [.taskAllegianceReassignmentNotSupported])
        XCTAssertEqual(
            session.receive(H.tmf(.init(rawValue: 0x30), itt: 3, cmdSN: 10)).tmfResponses.map(\.response), [.functionNotSupported])
    }

    // MARK: Text

    private static func manyTargets(_ count: Int) -> [TextKeyValue] {
        (0..<count).flatMap { index in
            [
                TextKeyValue("TargetName", "iqn.2026-11.org.example.test:target-number-\(index)"),
                TextKeyValue("TargetAddress", "192.0.2.\(index % 250):3260,1"),
            ]
        }
    }

    func testSendTargetsAnswerSplitOverTextResponses() throws {
        let answer = Self.manyTargets(60)
        var asked: [String] = []
        var session = H(
            sendTargets: .init { value in
                asked.append(value)
                return answer
            }
        ) { $0.initiatorMaxRecvDataSegmentLength = 1024 }
        var expected = ByteBuffer()
        TextKeyCodec.encode(answer, into: &expected)
        XCTAssertGreaterThan(expected.readableBytes, 3 * 1024)

        var actions = session.receive(
            .textRequest(TextRequest(initiatorTaskTag: 0x77, cmdSN: 10, dataSegment: Fixture.text(["SendTargets=All"]))))
        XCTAssertEqual(asked, ["All"])
        var received = ByteBuffer()
        var statSNs: [UInt32] = []
        var cmdSN: UInt32 = 11
        while true {
            let response = try XCTUnwrap(actions.textResponses.first, "\(actions)")
            XCTAssertEqual(actions.sent.count, 1)
            XCTAssertEqual(response.initiatorTaskTag, 0x77)
            XCTAssertLessThanOrEqual(response.dataSegment.readableBytes, 1024)
            var data = response.dataSegment
            received.writeBuffer(&data)
            statSNs.append(response.statSN)
            if response.final {
                XCTAssertEqual(response.targetTransferTag, ISCSITag.reserved)
                XCTAssertFalse(response.continue)
                break
            }
            XCTAssertTrue(response.continue)
            XCTAssertNotEqual(response.targetTransferTag, ISCSITag.reserved)
            actions = session.receive(
                .textRequest(TextRequest(initiatorTaskTag: 0x77, targetTransferTag: response.targetTransferTag, cmdSN: cmdSN)))
            cmdSN += 1
        }
        XCTAssertEqual(received, expected)
        XCTAssertEqual(statSNs, Array(50..<(50 + UInt32(statSNs.count))))
        XCTAssertEqual(statSNs.count, (expected.readableBytes + 1023) / 1024)
        XCTAssertEqual(try TextKeyCodec.decode(received, limits: .sendTargetsResponse), answer)
    }

    func testTextContinuationWithUnknownTagIsRejected() {
        var session = H()
        let actions = session.receive(.textRequest(TextRequest(initiatorTaskTag: 1, targetTransferTag: 1234, cmdSN: 10)))
        XCTAssertEqual(actions.rejects.map(\.reason), [.invalidPDUField])
    }

    func testTextRequestWithContinueBitAndNoData() {
        var session = H(sendTargets: .init { _ in [TextKeyValue("TargetName", Fixture.targetName)] })
        let first = session.receive(
            .textRequest(TextRequest(final: false, continue: true, initiatorTaskTag: 3, cmdSN: 10)))
        XCTAssertEqual(first.sent.count, 1)
        guard let empty = first.textResponses.first else { return XCTFail("expected a Text Response, got \(first)") }
        XCTAssertEqual(empty.dataSegment.readableBytes, 0)
        XCTAssertFalse(empty.final, "more is to come")
        XCTAssertFalse(empty.continue, "the target's own (empty) text is complete")
        XCTAssertNotEqual(empty.targetTransferTag, ISCSITag.reserved)
        // The initiator continues its text, copying the TTT (RFC 7143 11.10.4).
        let rest = session.receive(
            .textRequest(
                TextRequest(
                    initiatorTaskTag: 3, targetTransferTag: empty.targetTransferTag, cmdSN: 11,
                    dataSegment: Fixture.text(["SendTargets=All"]))))
        XCTAssertTrue(rest.rejects.isEmpty, "\(rest)")
        guard let answer = rest.textResponses.first else { return XCTFail("expected the answer, got \(rest)") }
        XCTAssertTrue(answer.final)
        XCTAssertEqual(Fixture.keys(answer.dataSegment)["TargetName"], Fixture.targetName)
    }

    func testTextRequestSplitOverContinuePDUs() {
        var session = H(sendTargets: .init { value in [TextKeyValue("TargetName", "iqn.2026-11.org.example.test:\(value)")] })
        let whole = Fixture.text(["SendTargets=abc"])
        let first = session.receive(
            .textRequest(
                TextRequest(final: false, continue: true, initiatorTaskTag: 4, cmdSN: 10, dataSegment: whole.getSlice(at: 0, length: 6)!)))
        let tag = first.textResponses.first?.targetTransferTag ?? ISCSITag.reserved
        XCTAssertNotEqual(tag, ISCSITag.reserved)
        let second = session.receive(
            .textRequest(
                TextRequest(
                    initiatorTaskTag: 4, targetTransferTag: tag, cmdSN: 11,
                    dataSegment: whole.getSlice(at: 6, length: whole.readableBytes - 6)!)))
        XCTAssertEqual(Fixture.keys(second.textResponses.first?.dataSegment ?? ByteBuffer())["TargetName"], "iqn.2026-11.org.example.test:abc")
    }

    func testTextRequestWithContinueAndFinalIsRejected() {
        var session = H()
        let actions = session.receive(
            .textRequest(TextRequest(final: true, continue: true, initiatorTaskTag: 5, cmdSN: 10, dataSegment: Fixture.text(["SendTargets=All"]))))
        XCTAssertEqual(actions.rejects.map(\.reason), [.protocolError])
    }

    func testOversizedTextOverContinuePDUsIsRejected() {
        var session = H()
        var chunk = ByteBuffer()
        chunk.writeRepeatingByte(UInt8(ascii: "a"), count: 16384)
        var tag = ISCSITag.reserved
        var cmdSN: UInt32 = 10
        for _ in 0..<(SessionStateMachine.maxTextBytes / 16384) {
            let actions = session.receive(
                .textRequest(TextRequest(final: false, continue: true, initiatorTaskTag: 6, targetTransferTag: tag, cmdSN: cmdSN, dataSegment: chunk)))
            XCTAssertTrue(actions.rejects.isEmpty)
            tag = actions.textResponses.first?.targetTransferTag ?? ISCSITag.reserved
            cmdSN += 1
        }
        let over = session.receive(
            .textRequest(TextRequest(final: false, continue: true, initiatorTaskTag: 6, targetTransferTag: tag, cmdSN: cmdSN, dataSegment: chunk)))
        XCTAssertEqual(over.rejects.map(\.reason), [.protocolError])
    }

    func testTextNegotiationInFullFeaturePhaseUpdatesParameters() {
        var session = H { $0.initiatorMaxRecvDataSegmentLength = 8192 }
        let actions = session.receive(
            .textRequest(TextRequest(initiatorTaskTag: 7, cmdSN: 10, dataSegment: Fixture.text(["MaxRecvDataSegmentLength=2048"]))))
        XCTAssertEqual(actions.textResponses.count, 1)
        XCTAssertEqual(session.machine.parameters.initiatorMaxRecvDataSegmentLength, 2048)
        XCTAssertEqual(session.machine.maxSendSegment, 2048)
    }

    // MARK: Logout, SNACK, misplaced PDUs

    func testLogoutWhenIdleClosesAfterTheResponse() {
        var session = H()
        let actions = session.receive(.logoutRequest(LogoutRequest(initiatorTaskTag: 8, cmdSN: 10)))
        XCTAssertEqual(actions.logoutResponses.map(\.response), [.closedSuccessfully])
        XCTAssertEqual(actions.logoutResponses.first?.initiatorTaskTag, 8)
        XCTAssertEqual(actions.logoutResponses.first?.statSN, 50)
        XCTAssertEqual(actions.logoutResponses.first?.expCmdSN, 11)
        guard case .closeAfterFlush = actions.last else { return XCTFail("close comes after the response: \(actions)") }
        XCTAssertTrue(session.machine.loggedOut)
    }

    func testLogoutWaitsForExecutingCommands() {
        var session = H()
        _ = session.receive(H.read(itt: 1, cmdSN: 10, length: 512))
        let logout = session.receive(.logoutRequest(LogoutRequest(initiatorTaskTag: 2, cmdSN: 11)))
        XCTAssertTrue(logout.isEmpty, "the answer waits for the READ")
        let done = session.complete(1, Fixture.result(data: Fixture.pattern(512)))
        XCTAssertEqual(done.dataIns.count, 1)
        XCTAssertEqual(done.logoutResponses.map(\.response), [.closedSuccessfully], "\(done)")
        XCTAssertEqual(done.logoutResponses.first?.statSN, 51, "after the READ's status")
        XCTAssertTrue(done.closes)
        XCTAssertTrue(session.machine.loggedOut)
    }

    func testLogoutForRecoveryIsRefusedWithoutClosing() {
        var session = H()
        let actions = session.receive(
            .logoutRequest(LogoutRequest(reasonCode: .removeConnectionForRecovery, initiatorTaskTag: 3, cmdSN: 10)))
        XCTAssertEqual(actions.logoutResponses.map(\.response), [.connectionRecoveryNotSupported])
        XCTAssertFalse(actions.closes)
        XCTAssertFalse(session.machine.loggedOut)
    }

    func testSNACKIsRejected() {
        var session = H()
        let actions = session.receive(.snackRequest(SNACKRequest(type: .dataR2T, initiatorTaskTag: 1, begRun: 0, runLength: 0)))
        XCTAssertEqual(actions.rejects.map(\.reason), [.snackReject])
    }

    func testLoginRequestInFullFeaturePhaseIsRejected() {
        var session = H()
        let actions = session.receive(.loginRequest(LoginRequest(isid: Fixture.isid, cmdSN: 10)))
        XCTAssertEqual(actions.rejects.map(\.reason), [.protocolError])
    }

    func testSCSICommandInDiscoverySessionIsRejected() {
        var session = H(discovery: true)
        let actions = session.receive(H.read(itt: 1, cmdSN: 10, length: 512))
        XCTAssertEqual(actions.rejects.map(\.reason), [.protocolError])
        XCTAssertTrue(actions.executed.isEmpty)
        // NOP still works in discovery.
        XCTAssertEqual(session.receive(H.nop(itt: 2, cmdSN: 11)).nopIns.count, 1)
    }
}
