import BlockDevice
import ISCSIInitiator
import ISCSITestSupport
import NIOCore
import NIOPosix
import XCTest

@testable import ISCSIBlockDevice

/// The backend against our own target over a real socket: block IO becomes SCSI commands,
/// requests above the transfer limit are split and reassembled in order.
final class SessionLUNBackendTests: XCTestCase {
    private var fixture: TargetFixture!
    private let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func tearDown() {
        fixture?.shutdown()
        try? clientGroup.syncShutdownGracefully()
    }

    private func backend(maxTransfer: Int) async throws -> (ISCSISession, SessionLUNBackend) {
        fixture = try TargetFixture()
        var c = InitiatorConfiguration(initiatorName: "iqn.2026-11.org.example.test:blockdev")
        c.loginTimeout = .seconds(5)
        let session = try await ISCSISession.login(
            host: "127.0.0.1", port: fixture.port, targetName: TargetFixture.targetName, configuration: c,
            group: clientGroup)
        let backend = SessionLUNBackend(
            session: session, lun: 1, blockSize: 512, byteCount: TargetFixture.lunBytes, maxTransferBytes: maxTransfer)
        return (session, backend)
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

    func testSplitWritesAndReadsLandInOrder() async throws {
        let (session, backend) = try await backend(maxTransfer: 64 * 1024)
        XCTAssertEqual(backend.maxTransferBytes, 65536)
        // 5 pieces, the last one short.
        let data = TargetFixture.pattern(4 * 65536 + 4096, seed: 3)
        try await write(backend, offset: 3 * 4096, data)
        let back = try await read(backend, offset: 3 * 4096, length: data.readableBytes)
        XCTAssertEqual(back, data)
        // Each piece went to its own place on the LUN, as one unsplit read sees it.
        let whole = try await session.read(lun: 1, lba: 24, blocks: UInt32(data.readableBytes / 512))
        XCTAssertEqual(whole, data)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            backend.flush { continuation.resume(with: $0.mapError { $0 as Error }) }
        }
        try await session.logout()
    }

    func testReadBeyondTheLUNIsAnError() async throws {
        let (session, backend) = try await backend(maxTransfer: 1 << 20)
        do {
            _ = try await read(backend, offset: TargetFixture.lunBytes, length: 4096)
            XCTFail("a read past the end must fail")
        } catch let error as BlockDeviceError {
            XCTAssertEqual(error.errno, EINVAL, "LBA out of range: \(error)")
        }
        try await session.logout()
    }

    func testTransferLimitIsWholeBlocks() async throws {
        let (session, backend) = try await backend(maxTransfer: 1000)
        XCTAssertEqual(backend.maxTransferBytes, 512)
        let data = TargetFixture.pattern(2048, seed: 9)
        try await write(backend, offset: 0, data)
        let back = try await read(backend, offset: 0, length: 2048)
        XCTAssertEqual(back, data)
        try await session.logout()
    }
}
