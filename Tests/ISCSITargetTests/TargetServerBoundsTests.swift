import Foundation
import ISCSIProtocol
import NIOCore
import SCSITarget
import XCTest

@testable import ISCSITarget

/// The engine's bounds against hostile peers, over real sockets: logins that never finish, too
/// many of them, and an initiator that never takes its responses.
final class TargetServerBoundsTests: XCTestCase {
    private var harness: TargetServerHarness?

    override func tearDown() {
        harness?.shutdown()
        harness = nil
    }

    private func start(_ configure: (inout TargetServerConfiguration) -> Void) throws -> TargetServerHarness {
        let started = try TargetServerHarness(configure)
        harness = started
        return started
    }

    /// Polls `condition` every 50 ms for up to `timeout` seconds.
    private func eventually(_ timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    func testALoginThatDoesNotFinishIsClosedAfterTheLoginTimeout() throws {
        let harness = try start { $0.loginTimeout = .seconds(1) }
        let silent = try harness.connect()
        let trickling = try harness.connect()
        var half = ByteBuffer()
        half.writeBytes([0x43, 0x87, 0, 0, 0, 0, 0, 0x40])  // the start of a Login Request
        trickling.sendRaw(half)
        let started = Date()
        XCTAssertTrue(silent.waitForClose(timeout: 5).closed)
        XCTAssertTrue(trickling.waitForClose(timeout: 5).closed)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(elapsed, 0.5)
        XCTAssertLessThan(elapsed, 3, "closed within the login timeout, not later")
        harness.assertStillServes()
    }

    func testLoginsInProgressAreCappedPerAddressAndTheOldestGivesWay() throws {
        let harness = try start {
            $0.maxLoginsPerAddress = 2
            $0.maxLoginsInProgress = 3
        }
        let first = try harness.connect()
        let second = try harness.connect()
        let third = try harness.connect()
        XCTAssertTrue(third.waitForClose(timeout: 2).closed, "a third login from 127.0.0.1 is refused")
        XCTAssertFalse(first.waitForClose(timeout: 0.3).closed)
        first.close()
        second.close()
        XCTAssertTrue(eventually(2) { harness.server.logins.inProgress == 0 })
        harness.assertStillServes()
    }

    func testTheOldestLoginGivesWayWhenAllSlotsAreTaken() throws {
        let harness = try start {
            $0.maxLoginsPerAddress = 10
            $0.maxLoginsInProgress = 2
        }
        let oldest = try harness.connect()
        XCTAssertTrue(eventually(2) { harness.server.logins.inProgress == 1 })
        let newer = try harness.connect()
        XCTAssertTrue(eventually(2) { harness.server.logins.inProgress == 2 })
        // A third arrives: the one logging in longest is dropped, the newcomer logs in.
        let initiator = try harness.loggedIn()
        XCTAssertTrue(oldest.waitForClose(timeout: 2).closed)
        XCTAssertFalse(newer.waitForClose(timeout: 0.3).closed)
        XCTAssertNotNil(initiator.logout())
    }

    func testAnInitiatorThatNeverReadsIsHeldToItsBudgetThenDropped() throws {
        let budget = 1 << 20
        let harness = try start {
            $0.connectionDataBudget = budget
            $0.nopInterval = .seconds(1)
            $0.nopTimeout = .seconds(2)
        }
        let greedy = try RawInitiator(port: harness.port, receiveBuffer: 4096)
        XCTAssertEqual(try greedy.login().statusClass, .success)
        // 64 reads of 256 KiB (16 MiB), as fast as they go, and not a byte read back.
        for _ in 0..<64 {
            _ = greedy.scsiCommand(cdb: Fixture.read10(lba: 0, blocks: 512), read: true, length: 256 << 10)
        }
        var peak = 0
        let deadline = Date().addingTimeInterval(8)
        while Date() < deadline && harness.server.connectionCount > 0 {
            peak = max(peak, harness.server.dataBudget.usedBytes)
            usleep(20_000)
        }
        XCTAssertEqual(harness.server.connectionCount, 0, "dropped once it took nothing for nopTimeout")
        XCTAssertLessThanOrEqual(peak, budget + (256 << 10), "held to its budget (peak \(peak) bytes)")
        XCTAssertGreaterThan(peak, 0)
        XCTAssertTrue(eventually(2) { harness.server.dataBudget.usedBytes == 0 }, "everything given back")
        XCTAssertTrue(greedy.waitForClose(timeout: 5).closed)
        harness.assertStillServes()
    }

    func testASlowButReadingInitiatorIsNotDropped() throws {
        let harness = try start {
            $0.nopInterval = .seconds(1)
            $0.nopTimeout = .seconds(2)
        }
        let slow = try RawInitiator(port: harness.port, receiveBuffer: 65536)
        XCTAssertEqual(try slow.login().statusClass, .success)
        // 8 MiB of responses at once, taken at about 1.6 MB/s: longer than nopTimeout in all,
        // but the target sees them leave a MiB at a time.
        for _ in 0..<8 {
            _ = slow.scsiCommand(cdb: Fixture.read10(lba: 0, blocks: 2048), read: true, length: 1 << 20)
        }
        let started = Date()
        var answered = 0  // the first meets the power-on unit attention
        while Date().timeIntervalSince(started) < 10 && answered < 8 {
            guard slow.receiveSome(maxBytes: 40_000) else {
                return XCTFail("dropped after \(Date().timeIntervalSince(started)) s")
            }
            while case .pdu(let pdu) = slow.receive(timeout: 0) {
                switch pdu {
                case .dataIn(let dataIn) where dataIn.statusPresent: answered += 1
                case .scsiResponse: answered += 1
                default: break
                }
            }
            usleep(25_000)
        }
        XCTAssertEqual(answered, 8, "every read answered")
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 3, "slower than nopTimeout in all")
        XCTAssertEqual(harness.server.connectionCount, 1)
    }
}
