import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

@testable import Backstore

/// The RBD backstore. The tests without a cluster run everywhere (with or without librbd); those
/// with one run only when SWIFT_ISCSI_TEST_CEPH_CONF names a ceph.conf, on the image named by
/// SWIFT_ISCSI_TEST_CEPH_IMAGE ("rbd/t1" by default; at least 64 MiB, its data is overwritten):
///
///     bash scripts/ceph-cluster.sh start /tmp/rbdtest
///     rbd -c /tmp/rbdtest/ceph.conf create --size 256M rbd/t1
///     SWIFT_ISCSI_TEST_CEPH_CONF=/tmp/rbdtest/ceph.conf swift test --filter RBD
final class RBDBackstoreTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        try? group.syncShutdownGracefully()
    }

    // MARK: everywhere

    func testMissingLibraryIsOneClearLine() {
        XCTAssertThrowsError(
            try LibRBD(rbdLibrary: "librbd-not-here.so.1", radosLibrary: "librados-not-here.so.2")
        ) { error in
            let error = error as? BackstoreError
            XCTAssertEqual(error?.kind, .notFound)
            XCTAssertEqual(error?.message, "librbd-not-here.so.1 not found: install librbd1")
        }
    }

    func testMissingConfIsAClearError() {
        XCTAssertThrowsError(try RBDBackstore.open(backingStore: "rbd/x", options: "conf=/nonexistent/ceph.conf")) { error in
            guard let error = error as? BackstoreError else { return XCTFail("not a BackstoreError: \(error)") }
            XCTAssertEqual(error.kind, .notFound)
            if (try? LibRBD.shared()) == nil {
                XCTAssertEqual(error.message, "librbd.so.1 not found: install librbd1")
            } else {
                XCTAssertEqual(
                    error.message, "can't read Ceph configuration /nonexistent/ceph.conf: No such file or directory")
            }
        }
    }

    /// A monitor that is not there: a bounded wait and an error, not a hang.
    func testUnreachableClusterTimesOut() throws {
        guard (try? LibRBD.shared()) != nil else { throw XCTSkip("librbd not installed") }
        let directory = try TemporaryDirectory()
        let conf = directory.path + "/ceph.conf"
        try """
        [global]
        fsid = 00000000-0000-0000-0000-000000000001
        mon host = v2:127.0.0.1:9
        auth cluster required = none
        auth service required = none
        auth client required = none
        admin socket = \(directory.path)/$name.$pid.asok
        log file = \(directory.path)/client.log

        """.write(toFile: conf, atomically: true, encoding: .utf8)
        let start = Date()
        XCTAssertThrowsError(try RBDBackstore.open(backingStore: "rbd/x", options: "conf=\(conf);timeout=2")) { error in
            let error = error as? BackstoreError
            XCTAssertEqual(error?.kind, .ioError)
            XCTAssertTrue(error?.message.hasPrefix("can't connect to the Ceph cluster of \(conf): ") ?? false, "\(String(describing: error))")
        }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertLessThan(elapsed, 15, "connect timeout 2 s took \(elapsed) s")
    }

    func testLocationParsesTgtRBDSyntax() throws {
        var location = try RBDLocation(backingStore: "vms/disk1", options: "conf=/c/ceph.conf;id=iscsi")
        XCTAssertEqual([location.pool, location.image, location.conf, location.clientID], ["vms", "disk1", "/c/ceph.conf", "iscsi"])
        XCTAssertNil(location.namespace)
        XCTAssertEqual(location.options, "conf=/c/ceph.conf;id=iscsi")
        location = try RBDLocation(backingStore: "disk1", options: nil)
        XCTAssertEqual(location.path, "rbd/disk1")
        XCTAssertNil(location.options)
        location = try RBDLocation(backingStore: "p/ns/img", options: "keyring=/k;timeout=3;cluster=c2;cache=0;osd_op_timeout=30")
        XCTAssertEqual(location.cache, false)
        XCTAssertEqual(location.osdOpTimeout, 30)
        XCTAssertEqual([location.pool, location.namespace, location.image], ["p", "ns", "img"])
        XCTAssertEqual(location.path, "p/ns/img")
        XCTAssertEqual(location.timeout, 3)
        XCTAssertEqual(try RBDLocation(backingStore: location.path, options: location.options), location)
    }

    func testLocationRefusesWhatItCannotServe() {
        let cases: [(String, String?, String)] = [
            ("/image", nil, "RBD backing store /image is not [pool/[namespace/]]image"),
            ("pool/", nil, "RBD backing store pool/ is not [pool/[namespace/]]image"),
            ("a/b/c/d", nil, "RBD backing store a/b/c/d is not [pool/[namespace/]]image"),
            ("rbd/img@snap", nil, "RBD backing store rbd/img@snap: snapshots are not served"),
            ("rbd/img", "conf", "RBD option conf is not key=value"),
            ("rbd/img", "user=x", "unknown RBD option user (conf, id, cluster, keyring, timeout, osd_op_timeout, cache)"),
            ("rbd/img", "osd_op_timeout=0", "RBD option osd_op_timeout=0 is not 1 to 3600 seconds"),
            ("rbd/img", "cache=yes", "RBD option cache=yes is not 0 or 1"),
            ("rbd/img", "timeout=0", "RBD option timeout=0 is not 1 to 3600 seconds"),
        ]
        for (store, options, message) in cases {
            XCTAssertThrowsError(try RBDLocation(backingStore: store, options: options)) { error in
                XCTAssertEqual((error as? BackstoreError)?.message, message)
                XCTAssertEqual((error as? BackstoreError)?.kind, .invalidArgument)
            }
        }
    }

    // MARK: with a cluster

    private func openTestImage() throws -> RBDBackstore {
        guard let conf = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_CONF"], !conf.isEmpty else {
            throw XCTSkip("SWIFT_ISCSI_TEST_CEPH_CONF is not set")
        }
        let image = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_IMAGE"] ?? "rbd/t1"
        let store = try RBDBackstore.open(backingStore: image, options: "conf=\(conf)")
        XCTAssertFalse(store.imageID.isEmpty)
        XCTAssertEqual(store.typeName, "rbd")
        XCTAssertEqual(store.path, image)
        XCTAssertGreaterThanOrEqual(store.byteSize, 64 << 20)
        return store
    }

    /// 1 MiB straddling the boundary of the first two 4 MiB objects, not 4 KiB aligned.
    func testWriteFlushReadBackAcrossObjects() throws {
        let store = try openTestImage()
        defer { XCTAssertNoThrow(try store.close()) }
        let loop = group.next()
        let offset: UInt64 = (4 << 20) - (256 << 10) + 512
        let pattern = ByteBuffer.pattern(count: 1 << 20, seed: UInt8.random(in: 0...255))
        let onLoop = NIOLockedValueBox<[Bool]>([])
        func note<T>(_ future: EventLoopFuture<T>) -> EventLoopFuture<T> {
            future.whenComplete { _ in onLoop.withLockedValue { $0.append(loop.inEventLoop) } }
            return future
        }
        try note(store.write(pattern, offset: offset, fua: false, on: loop)).wait()
        try note(store.flush(on: loop)).wait()
        let back = try note(store.read(offset: offset, length: 1 << 20, allocator: ByteBufferAllocator(), on: loop)).wait()
        XCTAssertEqual(back.readableBytes, 1 << 20)
        XCTAssertTrue(back == pattern, "read back differs from what was written")
        XCTAssertEqual(onLoop.withLockedValue { $0 }, [true, true, true])

        // FUA, then zeroing an unaligned range inside the pattern: zeros there, the rest intact.
        let second = ByteBuffer.pattern(count: 64 << 10, seed: 7)
        try store.write(second, offset: offset, fua: true, on: loop).wait()
        try store.writeZeroes(offset: offset + 4096 + 512, length: 8192, on: loop).wait()
        let after = try store.read(offset: offset, length: 1 << 20, allocator: ByteBufferAllocator(), on: loop).wait()
        var expected = pattern
        expected.setBuffer(second, at: expected.readerIndex)
        expected.setRepeatingByte(0, count: 8192, at: expected.readerIndex + 4096 + 512)
        XCTAssertTrue(after == expected, "FUA write + zeroing did not read back as expected")
    }

    func testOutOfRangeAndClosed() throws {
        let store = try openTestImage()
        let loop = group.next()
        XCTAssertThrowsError(
            try store.read(offset: store.byteSize - 512, length: 4096, allocator: ByteBufferAllocator(), on: loop).wait()
        ) { XCTAssertEqual(($0 as? BackstoreError)?.kind, .outOfRange) }
        try store.close()
        XCTAssertThrowsError(
            try store.read(offset: 0, length: 4096, allocator: ByteBufferAllocator(), on: loop).wait()
        ) { XCTAssertEqual(($0 as? BackstoreError)?.kind, .closed) }
        assertBackstoreError(try store.close(), kind: .closed)
    }

    /// Closing with IO in flight: the admitted IOs complete, later ones are refused, the event loop
    /// keeps running (the image is closed off the loop by the last completion).
    func testCloseWithIOInFlight() throws {
        let store = try openTestImage()
        let loop = group.next()
        let reads = try loop.submit {
            let futures = (0..<32).map { index in
                store.read(offset: UInt64(index) << 20, length: 64 << 10, allocator: ByteBufferAllocator(), on: loop)
            }
            XCTAssertNoThrow(try store.close())
            return futures
        }.wait()
        for read in reads { XCTAssertEqual(try read.wait().readableBytes, 64 << 10) }
        XCTAssertThrowsError(try store.flush(on: loop).wait()) {
            XCTAssertEqual(($0 as? BackstoreError)?.kind, .closed)
        }
        XCTAssertEqual(try loop.submit { 42 }.wait(), 42)
    }

    /// Not a benchmark: 32 outstanding 4 KiB IOs for about 2 s each way, printed for the notes.
    func testQueueDepth32Smoke() throws {
        let store = try openTestImage()
        defer { XCTAssertNoThrow(try store.close()) }
        let loop = group.next()
        let block = ByteBuffer.pattern(count: 4096, seed: 3)
        let span = UInt64(min(store.byteSize, 64 << 20)) / 4096
        for writing in [true, false] {
            let done = NIOLockedValueBox(0)
            let deadline = NIODeadline.now() + .seconds(2)
            let start = NIODeadline.now()
            @Sendable func next() -> EventLoopFuture<Void> {
                guard NIODeadline.now() < deadline else { return loop.makeSucceededVoidFuture() }
                let offset = UInt64.random(in: 0..<span) * 4096
                let io: EventLoopFuture<Void> =
                    writing
                    ? store.write(block, offset: offset, fua: false, on: loop)
                    : store.read(offset: offset, length: 4096, allocator: ByteBufferAllocator(), on: loop).map { _ in }
                return io.flatMap {
                    done.withLockedValue { $0 += 1 }
                    return next()
                }
            }
            let all = try loop.submit { EventLoopFuture.andAllSucceed((0..<32).map { _ in next() }, on: loop) }.wait()
            try all.wait()
            let seconds = Double((NIODeadline.now() - start).nanoseconds) / 1e9
            let count = done.withLockedValue { $0 }
            print("RBD QD32 4 KiB random \(writing ? "writes" : "reads"): \(count) in \(seconds) s = \(Int(Double(count) / seconds)) IOPS")
            if writing { try store.flush(on: loop).wait() }
        }
    }

    /// rbd_aio_discard skips what does not cover a whole discard granule (64 KiB by default), so
    /// this store reports LBPRZ 0; write_zeroes zeroes any range.
    func testDiscardMayKeepDataAndWriteZeroesZeroes() throws {
        let store = try openTestImage()
        defer { XCTAssertNoThrow(try store.close()) }
        XCTAssertFalse(store.discardReadsZeros)
        XCTAssertFalse((store as Backstore).deallocatedBlocksReadAsZeros)
        let loop = group.next()
        let offset: UInt64 = 8 << 20
        let pattern = ByteBuffer.pattern(count: 256 << 10, seed: 11)
        try store.write(pattern, offset: offset, fua: true, on: loop).wait()
        // 8 KiB inside one granule: left as it was.
        try store.discard(offset: offset + 4096 + 512, length: 8192, on: loop).wait()
        var back = try store.read(offset: offset, length: 256 << 10, allocator: ByteBufferAllocator(), on: loop).wait()
        XCTAssertTrue(back == pattern, "a partial-granule discard changed the data")
        // The same range zeroed, and a whole aligned 64 KiB granule discarded: both read as zeros.
        try store.writeZeroes(offset: offset + 4096 + 512, length: 8192, on: loop).wait()
        try store.discard(offset: offset + (128 << 10), length: 64 << 10, on: loop).wait()
        back = try store.read(offset: offset, length: 256 << 10, allocator: ByteBufferAllocator(), on: loop).wait()
        var expected = pattern
        expected.setRepeatingByte(0, count: 8192, at: expected.readerIndex + 4096 + 512)
        expected.setRepeatingByte(0, count: 64 << 10, at: expected.readerIndex + (128 << 10))
        XCTAssertTrue(back == expected, "zeroed or discarded granule does not read as zeros")
    }

    /// COMPARE AND WRITE on the OSD: a match writes, a mismatch reports the index of the first
    /// differing byte and writes nothing, ranges beyond one sector are left to the caller.
    func testCompareAndWriteOnTheOSD() throws {
        let store = try openTestImage()
        defer { XCTAssertNoThrow(try store.close()) }
        let loop = group.next()
        // In the second object, not at its start, so librbd's object/image offset mapping shows.
        let offset: UInt64 = (4 << 20) + 3 * 512
        let old = ByteBuffer.pattern(count: 512, seed: 21)
        let new = ByteBuffer.pattern(count: 512, seed: 22)
        try store.write(old, offset: offset, fua: false, on: loop).wait()
        XCTAssertEqual(try store.compareAndWrite(expected: old, replacement: new, offset: offset, fua: true, on: loop).wait(), .written)
        var back = try store.read(offset: offset, length: 512, allocator: ByteBufferAllocator(), on: loop).wait()
        XCTAssertTrue(back == new)
        var wrong = new
        wrong.setInteger(~new.getInteger(at: new.readerIndex + 123, as: UInt8.self)!, at: wrong.readerIndex + 123)
        XCTAssertEqual(
            try store.compareAndWrite(expected: wrong, replacement: old, offset: offset, fua: false, on: loop).wait(),
            .mismatch(offset: 123))
        back = try store.read(offset: offset, length: 512, allocator: ByteBufferAllocator(), on: loop).wait()
        XCTAssertTrue(back == new, "a miscompare wrote")
        // Two sectors: librbd would refuse; nothing is sent.
        let two = ByteBuffer.pattern(count: 1024, seed: 1)
        XCTAssertEqual(
            try store.compareAndWrite(expected: two, replacement: two, offset: offset, fua: false, on: loop).wait(),
            .unsupported)
        // A sector never written (a sparse object): compares as zeros.
        let fresh: UInt64 = 40 << 20
        try store.discard(offset: fresh - (4 << 20), length: 8 << 20, on: loop).wait()
        let zeros = ByteBuffer(repeating: 0, count: 512)
        XCTAssertEqual(
            try store.compareAndWrite(expected: zeros, replacement: new, offset: fresh + 512, fua: false, on: loop).wait(),
            .written)
        back = try store.read(offset: fresh + 512, length: 512, allocator: ByteBufferAllocator(), on: loop).wait()
        XCTAssertTrue(back == new)
    }

    /// `rbd resize` from outside: the header watch calls the handler, `refreshSize` adopts the
    /// new size; after close the watch is gone.
    func testResizeSeenThroughTheHeaderWatch() throws {
        let store = try openTestImage()
        XCTAssertTrue(store.followsResize)
        let conf = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_CONF"]!
        let image = store.path!
        let original = store.byteSize
        let calls = NIOLockedValueBox(0)
        let called = DispatchSemaphore(value: 0)
        store.setResizeHandler {
            calls.withLockedValue { $0 += 1 }
            called.signal()
        }
        XCTAssertFalse(store.refreshSize(), "nothing changed yet")

        let grown = original + (64 << 20)
        try runRBD(conf, "resize", "--size", "\(grown)B", image)
        XCTAssertEqual(called.wait(timeout: .now() + 15), .success, "no resize notification in 15 s")
        XCTAssertTrue(store.refreshSize())
        XCTAssertEqual(store.byteSize, grown)
        XCTAssertFalse(store.refreshSize())
        let loop = group.next()
        try store.write(ByteBuffer.pattern(count: 4096, seed: 5), offset: grown - 4096, fua: false, on: loop).wait()

        try runRBD(conf, "resize", "--allow-shrink", "--size", "\(original)B", image)
        XCTAssertEqual(called.wait(timeout: .now() + 15), .success, "no notification of the shrink in 15 s")
        XCTAssertTrue(store.refreshSize())
        XCTAssertEqual(store.byteSize, original)
        XCTAssertThrowsError(
            try store.write(ByteBuffer.pattern(count: 4096, seed: 5), offset: grown - 4096, fua: false, on: loop).wait()
        ) { XCTAssertEqual(($0 as? BackstoreError)?.kind, .outOfRange) }

        try store.close()
        let before = calls.withLockedValue { $0 }
        try runRBD(conf, "resize", "--size", "\(grown)B", image)
        try runRBD(conf, "resize", "--allow-shrink", "--size", "\(original)B", image)
        XCTAssertEqual(called.wait(timeout: .now() + 1), .timedOut, "a closed store still watches")
        XCTAssertEqual(calls.withLockedValue { $0 }, before)
    }

    private func runRBD(_ conf: String, _ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/rbd")
        process.arguments = ["-c", conf] + arguments
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "rbd \(arguments.joined(separator: " "))")
    }

    /// Two clients of the image (two gateways) race compare-and-writes expecting the same old
    /// sector: exactly one writes, every other one sees a mismatch, the winner's data stays.
    func testCompareAndWriteIsAtomicAcrossClients() throws {
        let first = try openTestImage()
        defer { XCTAssertNoThrow(try first.close()) }
        let second = try openTestImage()
        defer { XCTAssertNoThrow(try second.close()) }
        let loop = group.next()
        let offset: UInt64 = (20 << 20) + 512
        let old = ByteBuffer.pattern(count: 512, seed: 40)
        try first.write(old, offset: offset, fua: true, on: loop).wait()
        let attempts = (0..<16).map { index in
            let store = index % 2 == 0 ? first : second
            let new = ByteBuffer.pattern(count: 512, seed: UInt8(50 + index))
            return (new, store.compareAndWrite(expected: old, replacement: new, offset: offset, fua: false, on: loop))
        }
        var winners: [ByteBuffer] = []
        for (new, attempt) in attempts {
            switch try attempt.wait() {
            case .written: winners.append(new)
            case .mismatch: break
            case .unsupported: XCTFail("one sector must be compared on the OSD")
            }
        }
        XCTAssertEqual(winners.count, 1, "exactly one compare-and-write may win")
        try first.flush(on: loop).wait()
        let back = try second.read(offset: offset, length: 512, allocator: ByteBufferAllocator(), on: loop).wait()
        XCTAssertTrue(winners.first == back, "the medium holds the winner's data")
    }
}
