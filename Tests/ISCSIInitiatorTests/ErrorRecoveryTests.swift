import ISCSIProtocol
import NIOCore
import XCTest

@testable import ISCSIInitiator

/// The session machine against a target that breaks the protocol or stops answering: command
/// timeouts and the error handler's escalation, resend limits, bounded waits. Time is the
/// machine's input (`tick(now:)`), so nothing here sleeps.
final class ErrorRecoveryTests: XCTestCase {
    typealias Machine = InitiatorSessionMachine<Int>
    typealias Output = Machine.Output

    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    func at(_ seconds: Double) -> NIODeadline { t0 + .nanoseconds(Int64(seconds * 1e9)) }

    /// 30 s commands, 15/30/30 s TMFs, 10 s logout, 60 s without a connection, 1 s scans.
    func machine(maxCmdSN: UInt32 = 100, resends: Int = 5) -> Machine {
        var p = NegotiatedParameters()
        p.maxBurstLength = 262_144
        p.firstBurstLength = 65_536
        p.targetMaxRecvDataSegmentLength = 8192
        let timeouts = InitiatorSessionTimeouts(
            command: .seconds(30), abort: .seconds(15), logicalUnitReset: .seconds(30), targetReset: .seconds(30),
            logout: .seconds(10), disconnected: .seconds(60), resends: resends, scanInterval: .seconds(1))
        return Machine(parameters: p, cmdSN: 1, expStatSN: 1, maxCmdSN: maxCmdSN, timeouts: timeouts, now: t0)
    }

    func read(_ m: inout Machine, context: Int, lun: UInt64 = 1, length: Int = 512) -> UInt32 {
        var out: [Output] = []
        let cdb = ByteBuffer(bytes: [0x28] + [UInt8](repeating: 0, count: 15))
        return m.submit(.scsi(lun: lun, cdb: cdb, dataOut: nil, expectedDataInLength: length), context: context, into: &out)
    }

    func tick(_ m: inout Machine, _ seconds: Double) -> [Output] {
        var out: [Output] = []
        m.tick(now: at(seconds), into: &out)
        return out
    }

    func receive(_ m: inout Machine, _ pdu: ISCSIPDU) -> [Output] {
        var out: [Output] = []
        m.received(pdu, into: &out)
        return out
    }

    func tmfs(_ out: [Output]) -> [TaskManagementRequest] {
        out.compactMap { if case .send(.taskManagementRequest(let r)) = $0 { return r } else { return nil } }
    }

    func commands(_ out: [Output]) -> [SCSICommand] {
        out.compactMap { if case .send(.scsiCommand(let c)) = $0 { return c } else { return nil } }
    }

    func failures(_ out: [Output]) -> [(Int, ISCSIInitiatorError)] {
        out.compactMap { if case .complete(let c, .failure(let e)) = $0 { return (c, e) } else { return nil } }
    }

    func closed(_ out: [Output]) -> ISCSIInitiatorError? {
        for case .closeConnection(let error) in out { return error }
        return nil
    }

    func answer(_ tmf: TaskManagementRequest, _ response: TaskManagementResponse.Response) -> ISCSIPDU {
        .taskManagementResponse(TaskManagementResponse(response: response, initiatorTaskTag: tmf.initiatorTaskTag, expCmdSN: 2, maxCmdSN: 100))
    }

    func reconnect(_ m: inout Machine, lostAt: Double, backAt: Double, reason: String = "gone") -> [Output] {
        var out: [Output] = []
        m.connectionLost(now: at(lostAt), reason: reason, into: &out)
        m.restart(parameters: m.parameters, cmdSN: m.cmdSN, expStatSN: m.expStatSN, maxCmdSN: m.cmdSN &+ 100, now: at(backAt), into: &out)
        return out
    }

    // MARK: Command timeout and escalation

    func testUnansweredCommandIsAbortedAfterTheCommandTimeout() {
        var m = machine()
        let itt = read(&m, context: 7)
        XCTAssertTrue(tick(&m, 30.5).isEmpty, "nothing before the timeout and a scan")
        let out = tick(&m, 31)
        guard let abort = tmfs(out).first else { return XCTFail("\(out)") }
        XCTAssertEqual(abort.function, .abortTask)
        XCTAssertEqual(abort.referencedTaskTag, itt)
        XCTAssertEqual(abort.refCmdSN, 1)
        XCTAssertEqual(abort.lun, ISCSIProtocol.SAMLUN.encode(1))
        XCTAssertTrue(failures(out).isEmpty, "the command ends only when the target confirms")
        let done = receive(&m, answer(abort, .functionComplete))
        guard let (context, error) = failures(done).first, case .timeout(let text) = error else { return XCTFail("\(done)") }
        XCTAssertEqual(context, 7)
        XCTAssertEqual(text, "SCSI command 0x28 got no answer within 30 s; ended by ABORT TASK")
        XCTAssertEqual(m.outstandingCount, 0)
    }

    func testEscalationRunsAbortLUResetTargetResetThenDropsTheConnection() {
        var m = machine()
        _ = read(&m, context: 1)
        XCTAssertEqual(tmfs(tick(&m, 31)).map(\.function), [.abortTask])
        XCTAssertTrue(tick(&m, 45.5).isEmpty, "ABORT TASK has 15 s")
        let lu = tick(&m, 46)
        XCTAssertEqual(tmfs(lu).map(\.function), [.logicalUnitReset])
        XCTAssertEqual(tmfs(lu).first?.lun, ISCSIProtocol.SAMLUN.encode(1))
        XCTAssertTrue(tick(&m, 75.5).isEmpty, "LOGICAL UNIT RESET has 30 s")
        XCTAssertEqual(tmfs(tick(&m, 76)).map(\.function), [.targetWarmReset])
        XCTAssertTrue(tick(&m, 105.5).isEmpty, "TARGET WARM RESET has 30 s")
        let out = tick(&m, 106)
        guard let (_, error) = failures(out).first, case .timeout(let text) = error else { return XCTFail("\(out)") }
        XCTAssertTrue(text.hasSuffix("ABORT TASK, LOGICAL UNIT RESET and TARGET WARM RESET all failed; connection dropped"), text)
        guard case .timeout? = closed(out) else { return XCTFail("the connection must be dropped: \(out)") }
        XCTAssertTrue(receive(&m, .scsiResponse(SCSIResponse(initiatorTaskTag: 1, statSN: 1))).isEmpty, "nothing more is taken from it")
    }

    func testRejectedAbortEscalatesAndALUResetResendsTheCommandsItTookDown() {
        var m = machine()
        let slow = read(&m, context: 1)
        _ = tick(&m, 20)
        let other = read(&m, context: 2)  // stamped at 20: not timed out yet at 31
        let abort = tmfs(tick(&m, 31))[0]
        XCTAssertTrue(tmfs(receive(&m, answer(abort, .functionRejected))).isEmpty, "the next step waits for the next scan")
        let lu = tmfs(tick(&m, 32))
        XCTAssertEqual(lu.map(\.function), [.logicalUnitReset])
        let out = receive(&m, answer(lu[0], .functionComplete))
        XCTAssertEqual(failures(out).map(\.0), [1])
        XCTAssertTrue("\(failures(out)[0].1)".hasSuffix("ended by LOGICAL UNIT RESET"), "\(failures(out)[0].1)")
        XCTAssertEqual(commands(out).map(\.initiatorTaskTag), [other], "the command the reset took down goes out again")
        XCTAssertEqual(commands(out).first?.cmdSN, 3)
        XCTAssertNil(closed(out))
        _ = slow
    }

    func testTargetResetEndsTheTimedOutCommandsWhenLUResetFails() {
        var m = machine()
        _ = read(&m, context: 1, lun: 1)
        _ = read(&m, context: 2, lun: 2)
        let aborts = tmfs(tick(&m, 31))
        XCTAssertEqual(aborts.count, 2, "each timed-out command gets its own ABORT TASK")
        let resets = tmfs(tick(&m, 46))
        XCTAssertEqual(Set(resets.map(\.lun)), [ISCSIProtocol.SAMLUN.encode(1), ISCSIProtocol.SAMLUN.encode(2)], "one LU reset per LUN")
        _ = receive(&m, answer(resets[0], .functionNotSupported))
        let target = tmfs(tick(&m, 47))
        XCTAssertEqual(target.map(\.function), [.targetWarmReset])
        XCTAssertTrue(tmfs(tick(&m, 48)).isEmpty, "one target reset at a time")
        let out = receive(&m, answer(target[0], .functionComplete))
        XCTAssertEqual(Set(failures(out).map(\.0)), [1, 2])
    }

    func testTimerPausesWhileDisconnectedAndResendsAreLimited() {
        var m = machine(resends: 2)
        _ = read(&m, context: 1)
        XCTAssertEqual(commands(reconnect(&m, lostAt: 10, backAt: 100)).count, 1, "resent after the login")
        XCTAssertTrue(tmfs(tick(&m, 120)).isEmpty, "30 s of connected time is not up yet")
        XCTAssertEqual(tmfs(tick(&m, 121)).map(\.function), [.abortTask])
        // Lost in the middle of the error handler: the command has had its time.
        var out: [Output] = []
        m.connectionLost(now: at(122), into: &out)
        guard let (_, error) = failures(out).first else { return XCTFail("\(out)") }
        XCTAssertTrue("\(error)".hasSuffix("the connection was lost during error recovery"), "\(error)")

        var n = machine(resends: 2)
        _ = read(&n, context: 5)
        XCTAssertTrue(failures(reconnect(&n, lostAt: 1, backAt: 2)).isEmpty)
        XCTAssertTrue(failures(reconnect(&n, lostAt: 3, backAt: 4)).isEmpty)
        let third = reconnect(&n, lostAt: 5, backAt: 6, reason: "no NOP-In answer")
        XCTAssertEqual(failures(third).first?.1.description, "connection failed: no NOP-In answer; the command was already resent 2 times")
        XCTAssertTrue(commands(third).isEmpty)
    }

    func testWaitsWithoutAConnectionAreBounded() {
        var m = machine()
        _ = read(&m, context: 1)
        var out: [Output] = []
        m.connectionLost(now: at(5), into: &out)
        XCTAssertTrue(tick(&m, 65.5).isEmpty, "60 s without a connection, plus a scan")
        let late = tick(&m, 66)
        guard let (_, error) = failures(late).first, case .sessionFailed = error else { return XCTFail("\(late)") }
    }

    func testFailFastCommandsFailAtOnceWhenTheConnectionDrops() {
        var m = machine()
        var out: [Output] = []
        let cdb = ByteBuffer(bytes: [0x28] + [UInt8](repeating: 0, count: 15))
        m.submit(.scsi(lun: 1, cdb: cdb, dataOut: nil, expectedDataInLength: 512), context: 1, failFast: true, into: &out)
        _ = read(&m, context: 2)
        out = []
        m.connectionLost(now: at(5), reason: "reset by peer", into: &out)
        let failed = failures(out)
        XCTAssertEqual(failed.map(\.0), [1], "only the fail-fast command ends; the other waits for a new login")
        XCTAssertEqual(failed.first?.1, .sessionFailed("reset by peer; failed at once (fail-fast)"))
        out = []
        m.restart(parameters: m.parameters, cmdSN: m.cmdSN, expStatSN: m.expStatSN, maxCmdSN: m.cmdSN &+ 100, now: at(6), into: &out)
        XCTAssertEqual(commands(out).count, 1, "the other is resent after the login")
    }

    func testACommandTheWindowNeverLetsOutTimesOut() {
        var m = machine(maxCmdSN: 0)  // the target's window is closed
        _ = read(&m, context: 3)
        let out = tick(&m, 31)
        XCTAssertTrue(tmfs(out).isEmpty, "never sent: nothing to abort")
        XCTAssertEqual(failures(out).first?.1.description, "timed out: command not sent within 30 s: the target's command window stayed full")
    }

    func testUnansweredTaskManagementOfTheCallerTimesOut() {
        var m = machine()
        var out: [Output] = []
        m.submit(.taskManagement(function: .logicalUnitReset, lun: 1, referencedTaskTag: nil), context: 9, into: &out)
        XCTAssertTrue(failures(tick(&m, 30.5)).isEmpty)
        XCTAssertEqual(failures(tick(&m, 31)).map(\.0), [9])
    }

    // MARK: Protocol violations: one resend, then the error

    /// Feeds `pdu(itt)` twice, with a reconnect between: the first closes the connection and the
    /// command goes out again; the second fails it with the violation.
    func assertFailsOnSecondViolation(
        _ expected: String, length: Int = 512, file: StaticString = #filePath, line: UInt = #line,
        _ pdu: (UInt32) -> ISCSIPDU
    ) {
        var m = machine()
        let itt = read(&m, context: 4, length: length)
        let first = receive(&m, pdu(itt))
        XCTAssertEqual(closed(first)?.description, "protocol error: \(expected)", file: file, line: line)
        XCTAssertTrue(failures(first).isEmpty, "resent once", file: file, line: line)
        XCTAssertEqual(commands(reconnect(&m, lostAt: 1, backAt: 2)).map(\.initiatorTaskTag), [itt], file: file, line: line)
        let second = receive(&m, pdu(itt))
        XCTAssertEqual(failures(second).map { "\($0.1)" }, ["protocol error: \(expected)"], file: file, line: line)
        XCTAssertNotNil(closed(second), file: file, line: line)
        XCTAssertEqual(m.outstandingCount, 0, file: file, line: line)
    }

    func testDataInBeyondTheExpectedLength() {
        assertFailsOnSecondViolation("Data-In brings 1024 bytes, more than the 512 expected") { itt in
            .dataIn(DataIn(final: true, statusPresent: true, initiatorTaskTag: itt, dataSegment: ByteBuffer(repeating: 1, count: 1024)))
        }
    }

    func testDataInForATaskWeNeverSent() {
        assertFailsOnSecondViolation("Data-In for unknown task 0x5a5a0001") { itt in
            .dataIn(DataIn(final: true, statusPresent: true, initiatorTaskTag: itt ^ 0x5a5a_0000, dataSegment: ByteBuffer(repeating: 1, count: 512)))
        }
    }

    func testStatusWithoutTheFinalBit() {
        assertFailsOnSecondViolation("Data-In carries status (S bit) without the F bit") { itt in
            .dataIn(DataIn(final: false, statusPresent: true, initiatorTaskTag: itt, dataSegment: ByteBuffer(repeating: 1, count: 512)))
        }
    }

    func testDataSNGapOnTheStatusPDU() {
        var m = machine()
        let itt = read(&m, context: 1, length: 1024)
        XCTAssertTrue(receive(&m, .dataIn(DataIn(initiatorTaskTag: itt, dataSN: 0, dataSegment: ByteBuffer(repeating: 1, count: 512)))).isEmpty)
        let out = receive(&m, .dataIn(DataIn(final: true, statusPresent: true, initiatorTaskTag: itt, dataSN: 2, bufferOffset: 512, dataSegment: ByteBuffer(repeating: 1, count: 512))))
        XCTAssertEqual(closed(out)?.description, "protocol error: Data-In DataSN 2, expected 1")
        XCTAssertTrue(failures(out).isEmpty)
    }

    func testR2TForMoreThanTheWrite() {
        var m = machine()
        var out: [Output] = []
        let cdb = ByteBuffer(bytes: [0x2A] + [UInt8](repeating: 0, count: 15))
        let itt = m.submit(.scsi(lun: 1, cdb: cdb, dataOut: ByteBuffer(repeating: 7, count: 65536 + 4096), expectedDataInLength: 0), context: 1, into: &out)
        let r2t = ISCSIPDU.r2t(R2T(initiatorTaskTag: itt, targetTransferTag: 9, expCmdSN: 2, maxCmdSN: 100, bufferOffset: 65536, desiredDataTransferLength: 8192))
        XCTAssertEqual(closed(receive(&m, r2t))?.description, "protocol error: R2T asks for 8192 bytes at offset 65536 of a 69632-byte write")
        _ = reconnect(&m, lostAt: 1, backAt: 2)
        XCTAssertEqual(failures(receive(&m, r2t)).map(\.0), [1])
        var n = machine()
        let write = n.submit(.scsi(lun: 1, cdb: cdb, dataOut: ByteBuffer(repeating: 7, count: 4096), expectedDataInLength: 0), context: 1, into: &out)
        let reserved = ISCSIPDU.r2t(R2T(initiatorTaskTag: write, targetTransferTag: ISCSITag.reserved, desiredDataTransferLength: 4096))
        XCTAssertEqual(closed(receive(&n, reserved))?.description, "protocol error: R2T with the reserved Target Transfer Tag 0xffffffff")
    }

    // MARK: A target that asks for a logout

    func testLogoutRequestedByTheTargetClosesTheConnectionOnly() {
        var m = machine()
        var out = receive(&m, .asyncMessage(AsyncMessage(statSN: 1, expCmdSN: 1, maxCmdSN: 100, asyncEvent: .logoutRequest, parameter3: 5)))
        guard case .send(.logoutRequest(let logout))? = out.first else { return XCTFail("\(out)") }
        XCTAssertEqual(logout.reasonCode, .closeConnection)
        var queued: [Output] = []
        m.submit(.scsi(lun: 1, cdb: ByteBuffer(repeating: 0, count: 16), dataOut: nil, expectedDataInLength: 512), context: 1, into: &queued)
        XCTAssertTrue(commands(queued).isEmpty, "nothing new goes out on a closing connection")
        XCTAssertEqual(m.waitingCount, 1)
        out = receive(&m, .logoutResponse(LogoutResponse(initiatorTaskTag: logout.initiatorTaskTag, statSN: 2, expCmdSN: 1, maxCmdSN: 100)))
        XCTAssertEqual(closed(out)?.description, "connection failed: logged out at the target's request")
        XCTAssertTrue(failures(out).isEmpty, "the command waits for the next login")

        var n = machine()
        _ = receive(&n, .asyncMessage(AsyncMessage(asyncEvent: .logoutRequest)))
        XCTAssertNil(closed(tick(&n, 9.5)))
        XCTAssertEqual(closed(tick(&n, 10))?.description, "timed out: the target asked for a logout, then left ours unanswered for 10 s")
    }

    func testTimeoutWhileTheConnectionClosesDropsItInsteadOfSendingTMFs() {
        var m = machine()
        _ = read(&m, context: 1)
        _ = tick(&m, 29)
        _ = receive(&m, .asyncMessage(AsyncMessage(asyncEvent: .logoutRequest)))
        let out = tick(&m, 31)
        XCTAssertTrue(tmfs(out).isEmpty)
        XCTAssertEqual(failures(out).map(\.0), [1])
        XCTAssertNotNil(closed(out))
    }
}
