import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

@testable import Backstore

/// Two gateways' handles on one image (cluster only, as RBDBackstoreTests): the first takes the
/// lock, the second sees its tags; a write through the second breaks the lock, which fences the
/// first (its writes fail and never land).
final class RBDLockOwnershipTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 1) }
    override func tearDown() { try? group.syncShutdownGracefully() }

    private func open() throws -> RBDBackstore {
        guard let conf = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_CONF"], !conf.isEmpty else {
            throw XCTSkip("SWIFT_ISCSI_TEST_CEPH_CONF is not set")
        }
        let image = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_IMAGE"] ?? "rbd/t1"
        return try RBDBackstore.open(backingStore: image, options: "conf=\(conf)")
    }

    private func eventually(_ what: String, within seconds: Double = 15, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { return XCTFail("not within \(seconds) s: \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    func testTakeOverFencesTheHolder() throws {
        let first = try open()
        let second = try open()
        let loop = group.next()
        let seen = NIOLockedValueBox<[RBDLockOwnership.State]>([])
        let one = try first.enableLockOwnership(tags: { "1" }, eventLoop: loop) { state in
            seen.withLockedValue { $0.append(state) }
        }
        eventually("the first handle holds the lock") { one.state == .owner }
        XCTAssertTrue(try first.enableLockOwnership(tags: { "9" }, eventLoop: loop) { _ in } === one, "enabling twice keeps the first")
        let two = try second.enableLockOwnership(tags: { "2" }, eventLoop: loop) { _ in }
        eventually("the second handle sees the holder's tags") { two.state == .other(tags: "1") }

        let offset: UInt64 = 24 << 20
        let mine = ByteBuffer(repeating: 0x11, count: 4096)
        try first.write(mine, offset: offset, fua: true, on: loop).wait()

        // The second handle's write finds the lock held, breaks it and takes it.
        let theirs = ByteBuffer(repeating: 0x22, count: 4096)
        let start = Date()
        try second.write(theirs, offset: offset, fua: true, on: loop).wait()
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "take-over is bounded")
        XCTAssertEqual(two.state, .owner)

        // The first handle's client is blocklisted: its write fails and nothing of it lands.
        let late = ByteBuffer(repeating: 0x33, count: 4096)
        XCTAssertThrowsError(try first.write(late, offset: offset, fua: true, on: loop).wait())
        eventually("the first handle knows it was fenced") { one.state == .fenced }
        XCTAssertEqual(seen.withLockedValue { $0 }.last, .fenced)
        XCTAssertThrowsError(try one.takeOver(on: loop).wait(), "a fenced handle cannot take the lock back")
        let back = try second.read(offset: offset, length: 4096, allocator: ByteBufferAllocator(), on: loop).wait()
        XCTAssertEqual(back, theirs)

        try first.close()
        try second.close()
    }
}
