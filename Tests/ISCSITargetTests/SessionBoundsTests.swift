import ISCSIProtocol
import NIOCore
import SCSITarget
import XCTest

@testable import ISCSITarget

/// The session machine's bounds against an initiator that announces more than it sends, sends
/// more than it may, or stops taking its responses: memory follows the CDB and the budgets, the
/// CmdSN window holds, immediate commands are capped.
final class SessionBoundsTests: XCTestCase {
    typealias H = SessionHarness

    /// What the SCSI layer answers for a 512-byte-block LU: the CDB's blocks, cut to EDTL.
    static let blocksOf512 = H.Demand { _, cdb, expected in
        let blocks = Int(cdb.getInteger(at: cdb.readerIndex + 7, as: UInt16.self)!)
        return DataOutDemand(length: blocks * 512, gather: min(blocks * 512, Int(expected)))
    }

    // MARK: Data-Out sized by the CDB, not by ExpectedDataTransferLength

    func testOneBlockWriteAnnouncedAs4GiBGathersOneBlockAndReportsTheUnderflow() {
        var session = H(dataOutDemand: Self.blocksOf512)
        let block = Fixture.pattern(512)
        let write = ISCSIPDU.scsiCommand(
            SCSICommand(
                write: true, lun: H.lun1, initiatorTaskTag: 1, expectedDataTransferLength: .max, cmdSN: 10,
                cdb: Fixture.write10(lba: 0, blocks: 1), dataSegment: block))
        let actions = session.receive(write)
        XCTAssertTrue(actions.r2ts.isEmpty, "nothing more is solicited than the one block")
        XCTAssertEqual(actions.executed.first?.request.dataOut, block)
        XCTAssertEqual(session.machine.reservedBytes, 512)
        let response = session.complete(1, Fixture.result()).scsiResponses.first
        XCTAssertEqual(response?.residualUnderflow, true)
        XCTAssertEqual(response?.residualCount, UInt32.max - 512)
        XCTAssertEqual(session.machine.reservedBytes, 0)
    }

    func testWriteLongerThanItsEDTLGathersOnlyWhatWasAnnouncedAndReportsTheOverflow() {
        var session = H(dataOutDemand: Self.blocksOf512)
        let write = ISCSIPDU.scsiCommand(
            SCSICommand(
                write: true, lun: H.lun1, initiatorTaskTag: 2, expectedDataTransferLength: 512, cmdSN: 10,
                cdb: Fixture.write10(lba: 0, blocks: 2)))
        let r2ts = session.receive(write).r2ts
        XCTAssertEqual(r2ts.map(\.desiredDataTransferLength), [512])
        let done = session.receive(H.dataOut(itt: 2, ttt: r2ts[0].targetTransferTag, dataSN: 0, offset: 0, Fixture.pattern(512), final: true))
        XCTAssertEqual(done.executed.first?.request.dataOut?.readableBytes, 512)
        let response = session.complete(2, Fixture.result()).scsiResponses.first
        XCTAssertEqual(response?.residualOverflow, true)
        XCTAssertEqual(response?.residualCount, 512)
    }

    func testWriteBufferGrowsWithTheR2TsNotWithTheTransferLength() {
        var session = H {
            $0.maxBurstLength = 8192
            $0.maxOutstandingR2T = 1
        }
        let length: UInt32 = 1 << 20
        let r2t = session.receive(H.write(itt: 3, cmdSN: 10, length: length)).r2ts
        XCTAssertEqual(r2t.map(\.desiredDataTransferLength), [8192])
        XCTAssertLessThanOrEqual(session.machine.tasks[3]?.data?.capacity ?? 0, 2 * 8192, "room for the burst asked for")
        let next = session.receive(H.dataOut(itt: 3, ttt: r2t[0].targetTransferTag, dataSN: 0, offset: 0, Fixture.pattern(8192), final: true))
        XCTAssertEqual(next.r2ts.map(\.bufferOffset), [8192])
        XCTAssertLessThanOrEqual(session.machine.tasks[3]?.data?.capacity ?? 0, 4 * 8192)
    }

    // MARK: The CmdSN window

    func testCommandsBeyondMaxCmdSNAreIgnoredWhileTheWindowIsHeld() {
        var session = H(window: 2)
        XCTAssertEqual(session.receive(H.read(itt: 1, cmdSN: 10, length: 512)).executed.count, 1)
        XCTAssertEqual(session.receive(H.read(itt: 2, cmdSN: 11, length: 512)).executed.count, 1)
        XCTAssertEqual(session.machine.maxCmdSN, 11, "both slots are taken")
        // An initiator that ignores MaxCmdSN: its commands are dropped, however in order.
        XCTAssertTrue(session.receive(H.read(itt: 3, cmdSN: 12, length: 512)).isEmpty)
        XCTAssertEqual(session.machine.expCmdSN, 12)
        XCTAssertNil(session.machine.tasks[3])
        let answered = session.complete(1, Fixture.result(data: Fixture.pattern(512)))
        XCTAssertEqual(answered.dataIns.last?.maxCmdSN, 12, "the answer opens one slot")
        XCTAssertEqual(session.receive(H.read(itt: 3, cmdSN: 12, length: 512)).executed.map(\.itt), [3])
    }

    func testImmediateCommandsAreCappedWithAnImmediateCommandReject() {
        var session = H(maxImmediateTasks: 2)
        for itt: UInt32 in [1, 2] {
            XCTAssertEqual(session.receive(H.read(itt: itt, cmdSN: 10, length: 512, immediate: true)).executed.count, 1)
        }
        let third = session.receive(H.read(itt: 3, cmdSN: 10, length: 512, immediate: true))
        XCTAssertEqual(third.rejects.map(\.reason), [.immediateCommandRejected])
        XCTAssertTrue(third.executed.isEmpty)
        _ = session.complete(1, Fixture.result())
        XCTAssertEqual(session.receive(H.read(itt: 3, cmdSN: 10, length: 512, immediate: true)).executed.count, 1)
    }

    // MARK: Data budgets

    func testReadsWaitInOrderForTheConnectionBudgetAndHoldTheWindow() {
        var session = H(window: 16, connectionBudget: 1 << 20)
        var executed: [UInt32] = []
        for n: UInt32 in 0..<6 {
            executed += session.receive(H.read(itt: n, cmdSN: 10 + n, length: 256 << 10)).executed.map(\.itt)
        }
        XCTAssertEqual(executed, [0, 1, 2, 3], "1 MiB holds four 256 KiB reads")
        XCTAssertTrue(session.machine.hasWaitingTasks)
        XCTAssertEqual(session.machine.maxCmdSN, 16 &+ 16 &- 6 &- 1, "waiting commands keep their slots")
        let done = session.complete(0, Fixture.result(data: Fixture.pattern(256 << 10)))
        XCTAssertEqual(done.executed.map(\.itt), [4], "an answer lets the next one in")
    }

    func testResponsesNotYetTakenCountAgainstTheBudget() {
        var session = H(connectionBudget: 1 << 20)
        session.machine.outboundBytes = 1 << 20
        XCTAssertTrue(session.receive(H.read(itt: 1, cmdSN: 10, length: 4096)).executed.isEmpty)
        var actions: [SessionStateMachine.Action] = []
        session.machine.admitWaiting(into: &actions)
        XCTAssertTrue(actions.isEmpty, "still nothing taken")
        session.machine.outboundBytes = 0
        session.machine.admitWaiting(into: &actions)
        XCTAssertEqual(actions.executed.map(\.itt), [1])
    }

    func testTheDaemonBudgetIsSharedAndAnIdleConnectionAlwaysGetsOneCommand() {
        let budget = DataBudget(limit: 1 << 20)
        var first = H(budget: budget)
        var second = H(budget: budget)
        XCTAssertEqual(first.receive(H.read(itt: 1, cmdSN: 10, length: 1 << 20)).executed.count, 1)
        XCTAssertEqual(budget.usedBytes, 1 << 20)
        XCTAssertTrue(first.receive(H.read(itt: 2, cmdSN: 11, length: 4096)).executed.isEmpty, "the daemon is full")
        // A connection with nothing in flight runs its command anyway: no connection starves.
        XCTAssertEqual(second.receive(H.read(itt: 1, cmdSN: 10, length: 4096)).executed.count, 1)
        XCTAssertTrue(second.receive(H.read(itt: 2, cmdSN: 11, length: 4096)).executed.isEmpty)
        XCTAssertEqual(first.complete(1, Fixture.result()).executed.map(\.itt), [2])
        _ = first.complete(2, Fixture.result())
        XCTAssertEqual(second.complete(1, Fixture.result()).executed.map(\.itt), [2])
        _ = second.complete(2, Fixture.result())
        XCTAssertEqual(budget.usedBytes, 0, "every byte given back")
    }

    func testAbortingAWaitingTaskFreesItsSlotAndAClosedConnectionItsBudget() {
        let budget = DataBudget(limit: 1 << 30)
        var session = H(connectionBudget: 1 << 20, budget: budget)
        _ = session.receive(H.read(itt: 1, cmdSN: 10, length: 1 << 20))
        XCTAssertTrue(session.receive(H.read(itt: 2, cmdSN: 11, length: 4096)).executed.isEmpty)
        let abort = session.receive(H.tmf(.abortTask, itt: 9, cmdSN: 12, referenced: 2, refCmdSN: 11))
        XCTAssertEqual(abort.tmfResponses.map(\.response), [.functionComplete])
        XCTAssertNil(session.machine.tasks[2])
        XCTAssertFalse(session.machine.hasWaitingTasks || session.machine.windowHeld != 1)
        session.machine.releaseBudget()
        XCTAssertEqual(budget.usedBytes, 0)
        XCTAssertTrue(session.complete(1, Fixture.result()).sent.count <= 1)
        XCTAssertEqual(budget.usedBytes, 0, "a late completion gives nothing back twice")
    }
}

extension SessionBoundsTests {
    func testTaskManagementAnswersThatWaitAreBounded() {
        var session = H(maxImmediateTasks: 2)
        for n: UInt32 in 0..<3 { _ = session.receive(H.read(itt: n, cmdSN: 10 + n, length: 512)) }
        // Each ABORT TASK of an executing command waits for it to leave the SCSI layer.
        for n: UInt32 in 0..<2 {
            XCTAssertTrue(session.receive(H.tmf(.abortTask, itt: 20 + n, cmdSN: 13, referenced: n)).tmfResponses.isEmpty)
        }
        let third = session.receive(H.tmf(.abortTask, itt: 22, cmdSN: 13, referenced: 2)).tmfResponses
        XCTAssertEqual(third.map(\.response), [.functionRejected], "refused at once, the task untouched")
        XCTAssertEqual(session.machine.tasks[2]?.aborted, false)
        XCTAssertEqual(session.complete(0, Fixture.result()).tmfResponses.map(\.initiatorTaskTag), [20])
        XCTAssertEqual(session.complete(1, Fixture.result()).tmfResponses.map(\.initiatorTaskTag), [21])
    }
}
