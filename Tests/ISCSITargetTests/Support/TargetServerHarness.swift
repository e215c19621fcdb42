import Backstore
import ISCSIProtocol
import Logging
import NIOCore
import NIOPosix
import SCSITarget
import XCTest

@testable import ISCSITarget

/// A `TargetServer` on 127.0.0.1 with one target (a RAM LUN 1, open to everyone) and a second
/// target whose empty ACL admits nobody.
final class TargetServerHarness {
    static let closedTargetName = "iqn.2026-11.org.example.test:closed"
    static let lunBytes: UInt64 = 1 << 20

    let group: MultiThreadedEventLoopGroup
    let server: TargetServer
    let port: Int

    init(_ configure: (inout TargetServerConfiguration) -> Void = { _ in }) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry = TargetRegistry()
        let target = try registry.createTarget(tid: 1, name: Fixture.targetName)
        try target.device.addLogicalUnit(1, backstore: MemoryBackstore(size: Self.lunBytes))
        target.bind(.all)
        _ = try registry.createTarget(tid: 2, name: Self.closedTargetName)
        var configuration = TargetServerConfiguration()
        configuration.nopInterval = nil
        configure(&configuration)
        var logger = Logger(label: "iscsi-target-tests")
        logger.logLevel = .critical
        server = TargetServer(registry: registry, configuration: configuration, group: group, logger: logger)
        do {
            port = try server.addPortal(Portal(host: "127.0.0.1", port: 0))
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    func shutdown() {
        server.shutdown()
        try? group.syncShutdownGracefully()
    }

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
