import Foundation
import NIOConcurrencyHelpers
import XCTest

@testable import Backstore

/// Shared blobs of RBD images in RADOS: two handles on one image stand for two gateways. Run
/// only with a cluster, as the RBD backstore tests (SWIFT_ISCSI_TEST_CEPH_CONF, and the image
/// of SWIFT_ISCSI_TEST_CEPH_IMAGE, "rbd/t1" by default). Each test uses a blob of its own.
final class RADOSSharedBlobTests: XCTestCase {
    private func openTwoGateways() throws -> (RBDBackstore, RBDBackstore) {
        guard let conf = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_CONF"], !conf.isEmpty else {
            throw XCTSkip("SWIFT_ISCSI_TEST_CEPH_CONF is not set")
        }
        let image = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_IMAGE"] ?? "rbd/t1"
        let a = try RBDBackstore.open(backingStore: image, options: "conf=\(conf)")
        let b = try RBDBackstore.open(backingStore: image, options: "conf=\(conf)")
        XCTAssertEqual(a.imageID, b.imageID)
        return (a, b)
    }

    private func uniqueName() -> String { "test-\(UInt32.random(in: 0...UInt32.max))" }

    /// Waits (bounded) for a completion-handler call; any thread.
    private func outcome<T>(_ start: (@escaping @Sendable (Result<T, SharedBlobError>) -> Void) -> Void) throws
        -> Result<T, SharedBlobError>
    {
        let box = NIOLockedValueBox<Result<T, SharedBlobError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        start { result in
            box.withLockedValue { $0 = result }
            done.signal()
        }
        guard done.wait(timeout: .now() + 15) == .success else { throw SharedBlobError.timedOut }
        return try XCTUnwrap(box.withLockedValue { $0 })
    }

    func testCompareAndStoreAcrossTwoHandles() throws {
        let (a, b) = try openTwoGateways()
        defer {
            XCTAssertNoThrow(try a.close())
            XCTAssertNoThrow(try b.close())
        }
        let name = uniqueName()
        let blobA = try a.openSharedBlob(named: name)
        let blobB = try b.openSharedBlob(named: name)
        XCTAssertTrue(blobA === (try a.openSharedBlob(named: name)))
        XCTAssertEqual(try outcome { blobA.load($0) }.get(), SharedBlobSnapshot(bytes: [], version: 0))
        XCTAssertEqual(try outcome { blobA.store([1, 2, 3], ifVersion: 0, $0) }.get(), 1)
        // B still believes version 0: its store writes nothing.
        XCTAssertEqual(try outcome { blobB.store([9], ifVersion: 0, $0) }, .failure(.versionConflict))
        XCTAssertEqual(try outcome { blobB.store([9], ifVersion: 7, $0) }, .failure(.versionConflict))
        XCTAssertEqual(try outcome { blobB.load($0) }.get(), SharedBlobSnapshot(bytes: [1, 2, 3], version: 1))
        XCTAssertEqual(try outcome { blobB.store([4], ifVersion: 1, $0) }.get(), 2)
        XCTAssertEqual(try outcome { blobA.load($0) }.get(), SharedBlobSnapshot(bytes: [4], version: 2))
        // Larger than the first read: read again at its size.
        let large = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        XCTAssertEqual(try outcome { blobA.store(large, ifVersion: 2, $0) }.get(), 3)
        XCTAssertEqual(try outcome { blobB.load($0) }.get(), SharedBlobSnapshot(bytes: large, version: 3))
        XCTAssertEqual(
            try outcome { blobA.store([UInt8](repeating: 0, count: blobA.maximumSize + 1), ifVersion: 3, $0) },
            .failure(.tooLarge(blobA.maximumSize + 1)))
    }

    /// A notify from A reaches B's handler, and A's notify completes once B acknowledged.
    func testNotifyReachesThePeerBeforeItCompletes() throws {
        let (a, b) = try openTwoGateways()
        defer {
            XCTAssertNoThrow(try a.close())
            XCTAssertNoThrow(try b.close())
        }
        let name = uniqueName()
        let blobA = try a.openSharedBlob(named: name)
        let blobB = try b.openSharedBlob(named: name)
        let seenByB = NIOLockedValueBox<[SharedBlobEvent]>([])
        blobB.setEventHandler { event in seenByB.withLockedValue { $0.append(event) } }
        let start = Date()
        XCTAssertNoThrow(try outcome { blobA.notifyPeers([0xAB, 0xCD], timeoutMilliseconds: 5000, $0) }.get())
        print("RADOS notify to 2 watchers acknowledged in \(Date().timeIntervalSince(start) * 1000) ms")
        XCTAssertEqual(seenByB.withLockedValue { $0 }, [.notified([0xAB, 0xCD])])
    }

    /// A broken watch (what librados' error callback reports) is set up again; the holder hears
    /// `.resync`, and peers' notifies reach it again.
    func testBrokenWatchIsSetUpAgain() throws {
        let (a, b) = try openTwoGateways()
        defer {
            XCTAssertNoThrow(try a.close())
            XCTAssertNoThrow(try b.close())
        }
        let name = uniqueName()
        let blobA = try a.openSharedBlob(named: name)
        let blobB = try XCTUnwrap(try b.openSharedBlob(named: name) as? RADOSSharedBlob)
        let seenByB = NIOLockedValueBox<[SharedBlobEvent]>([])
        blobB.setEventHandler { event in seenByB.withLockedValue { $0.append(event) } }
        let old = try XCTUnwrap(blobB.watchCookie)
        blobB.watchFailed(cookie: old, error: -ENOTCONN)
        let deadline = Date() + 10
        while seenByB.withLockedValue({ $0 }) != [.resync], Date() < deadline { usleep(10_000) }
        XCTAssertEqual(seenByB.withLockedValue { $0 }, [.resync])
        XCTAssertNotNil(blobB.watchCookie)
        XCTAssertNoThrow(try outcome { blobA.notifyPeers([7], timeoutMilliseconds: 5000, $0) }.get())
        XCTAssertEqual(seenByB.withLockedValue { $0 }, [.resync, .notified([7])])
    }

    /// Both handles add to a counter in the blob at once; lost races retry; nothing is lost.
    func testConcurrentIncrementsConverge() throws {
        let (a, b) = try openTwoGateways()
        defer {
            XCTAssertNoThrow(try a.close())
            XCTAssertNoThrow(try b.close())
        }
        let name = uniqueName()
        let blobs = [try a.openSharedBlob(named: name), try b.openSharedBlob(named: name)]
        let conflicts = NIOLockedValueBox(0)
        let perBlob = 15
        DispatchQueue.concurrentPerform(iterations: 2 * perBlob) { index in
            let blob = blobs[index % 2]
            for _ in 0..<50 {
                guard let snapshot = try? outcome({ blob.load($0) }).get() else { continue }
                let count = snapshot.bytes.first.map(Int.init) ?? 0
                switch try? outcome({ blob.store([UInt8(count + 1)], ifVersion: snapshot.version, $0) }) {
                case .success?: return
                case .failure(.versionConflict)?: conflicts.withLockedValue { $0 += 1 }
                default: XCTFail("store failed")
                }
                usleep(UInt32.random(in: 0...3000))
            }
            XCTFail("50 attempts were not enough")
        }
        let final = try outcome { blobs[0].load($0) }.get()
        XCTAssertEqual(final.bytes, [UInt8(2 * perBlob)])
        XCTAssertEqual(final.version, UInt64(2 * perBlob))
        print("RADOS blob: \(2 * perBlob) concurrent increments from 2 handles, \(conflicts.withLockedValue { $0 }) lost races")
    }

    func testClosedStoreRefusesBlobCalls() throws {
        let (a, b) = try openTwoGateways()
        XCTAssertNoThrow(try b.close())
        let blob = try a.openSharedBlob(named: uniqueName())
        try a.close()
        XCTAssertEqual(try outcome { blob.load($0) }, .failure(.closed))
        XCTAssertEqual(try outcome { blob.store([1], ifVersion: 0, $0) }, .failure(.closed))
        XCTAssertThrowsError(try a.openSharedBlob(named: uniqueName()))
    }
}
