import BlockDevice
import ISCSITestSupport
import NIOCore
import NIOPosix
import XCTest

@testable import ISCSIBlockDevice
@testable import ISCSIInitiator

/// Two sessions to our own target as two paths to one LU, over real sockets: a connection
/// dropped under load costs the application nothing, and the path is used again once its
/// session is back.
final class MultipathSessionTests: XCTestCase {
    private var fixture: TargetFixture!
    private let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    override func tearDown() {
        fixture?.shutdown()
        try? clientGroup.syncShutdownGracefully()
    }

    private func login() async throws -> ISCSISession {
        var c = InitiatorConfiguration(initiatorName: "iqn.2026-11.org.example.test:mpath")
        c.loginTimeout = .seconds(5)
        c.reconnectDelay = .milliseconds(50)
        return try await ISCSISession.login(
            host: "127.0.0.1", port: fixture.port, targetName: TargetFixture.targetName, configuration: c, group: clientGroup)
    }

    func testDroppedConnectionUnderLoadFailsOverAndBack() async throws {
        fixture = try TargetFixture()
        let first = try await login()
        let second = try await login()
        var settings = MultipathSettings()
        settings.pollingInterval = .milliseconds(100)
        let runner = MultipathRunner(alua: false, settings: settings, timerLoop: clientGroup.next())
        runner.addPath(id: 1, session: first, lun: 1, group: nil, relativePort: nil)
        runner.addPath(id: 2, session: second, lun: 1, group: nil, relativePort: nil)
        runner.start()
        defer { runner.stop() }
        let backend = SessionLUNBackend(runner: runner, blockSize: 512, byteCount: TargetFixture.lunBytes, maxTransferBytes: 1 << 20)
        try await waitUntil { runner.status.paths.allSatisfy(\.usable) }

        // Patterns made up front: debug builds make them slowly.
        let piece = 16 * 1024
        let count = 48
        let patterns = (0..<count).map { TargetFixture.pattern(piece, seed: UInt8($0)) }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for index in 0..<count {
                if index == count / 4 { first.dropConnection() }
                tasks.addTask { try await self.write(backend, offset: UInt64(index * piece), patterns[index]) }
            }
            try await tasks.waitForAll()
        }
        for index in 0..<count {
            let back = try await read(backend, offset: UInt64(index * piece), length: piece)
            XCTAssertEqual(back, patterns[index], "piece \(index)")
        }
        // The session logs in again and its path carries IO again.
        try await waitUntil { runner.status.paths.allSatisfy(\.usable) }
        XCTAssertEqual(first.reconnectCount, 1)
        let before = await first.statistics().scsicmdPDUs
        for index in 0..<8 { _ = try await read(backend, offset: UInt64(index * 4096), length: 4096) }
        let after = await first.statistics().scsicmdPDUs
        XCTAssertGreaterThan(after, before, "failback: the returned path is used")
        try await first.logout()
        try await second.logout()
    }

    private func waitUntil(_ condition: @escaping () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw BlockDeviceSetupError("condition not met within 10 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private func read(_ backend: SessionLUNBackend, offset: UInt64, length: Int) async throws -> ByteBuffer {
        try await withCheckedThrowingContinuation { continuation in
            backend.read(offset: offset, length: length) { continuation.resume(with: $0.mapError { $0 as Error }) }
        }
    }

    private func write(_ backend: SessionLUNBackend, offset: UInt64, _ data: ByteBuffer) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            backend.write(offset: offset, data: data) { continuation.resume(with: $0.mapError { $0 as Error }) }
        }
    }
}
