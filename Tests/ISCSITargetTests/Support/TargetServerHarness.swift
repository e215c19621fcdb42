import Backstore
import ISCSIProtocol
import ISCSITestSupport
import NIOCore
import SCSITarget
import XCTest

@testable import ISCSITarget

/// A `TargetServer` on 127.0.0.1 with one target (a RAM LUN 1, open to everyone) and a second
/// target whose empty ACL admits nobody.
final class TargetServerHarness {
    static let closedTargetName = "iqn.2026-11.org.example.test:closed"
    static let lunBytes: UInt64 = 1 << 20

    private let fixture: TargetFixture
    var server: TargetServer { fixture.server }
    var port: Int { fixture.port }

    init(_ configure: (inout TargetServerConfiguration) -> Void = { _ in }) throws {
        fixture = try TargetFixture(lunBytes: Self.lunBytes, closedTargets: [Self.closedTargetName], configure)
    }

    func shutdown() { fixture.shutdown() }

    func connect() throws -> RawInitiator { try RawInitiator(port: port) }

    /// Logs in a fresh initiator to the open target; fails the test if that does not work.
    func loggedIn(
        _ keys: RawInitiator.LoginKeys = RawInitiator.LoginKeys(), file: StaticString = #filePath, line: UInt = #line
    ) throws -> RawInitiator {
        let initiator = try connect()
        let response = try initiator.login(keys)
        XCTAssertEqual(response.statusClass, .success, "login: \(response)", file: file, line: line)
        XCTAssertNotEqual(response.tsih, 0, "the final Login Response carries the TSIH", file: file, line: line)
        return initiator
    }

    /// The daemon still serves a well-behaved session: login, a NOP ping answered, logout.
    func assertStillServes(file: StaticString = #filePath, line: UInt = #line) {
        do {
            let initiator = try loggedIn(file: file, line: line)
            defer { initiator.close() }
            let echo = Fixture.pattern(37)
            let itt = initiator.ping(data: echo)
            guard case .nopIn(let reply)? = initiator.expectPDU(file: file, line: line) else {
                return XCTFail("expected a NOP-In", file: file, line: line)
            }
            XCTAssertEqual(reply.initiatorTaskTag, itt, file: file, line: line)
            XCTAssertEqual(reply.dataSegment, echo, file: file, line: line)
            XCTAssertEqual(initiator.logout()?.response, .closedSuccessfully, file: file, line: line)
            XCTAssertTrue(initiator.waitForClose().closed, "closed after logout", file: file, line: line)
        } catch {
            XCTFail("a fresh session could not be served: \(error)", file: file, line: line)
        }
    }
}
