import Foundation
import NIOCore
import NIOPosix
import XCTest

@testable import Backstore

final class FileBackstoreTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var pool: BlockIOExecutor!
    private var directory: TemporaryDirectory!
    private let allocator = ByteBufferAllocator()

    override func setUpWithError() throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        pool = BackstoreIOPool.makeStarted(numberOfThreads: 3)
        directory = try TemporaryDirectory()
    }

    override func tearDownWithError() throws {
        pool.shutdown()
        try group.syncShutdownGracefully()
        directory = nil
    }

    private func makeStore(size: Int = 1 << 20, readOnly: Bool = false) throws -> (FileBackstore, String) {
        let path = try directory.makeFile("lun.img", size: size)
        return (try FileBackstore(path: path, readOnly: readOnly, ioPool: pool), path)
    }

    func testReportsSizeTypeAndPath() throws {
        let (store, path) = try makeStore(size: 3 * 4096 + 512)
        XCTAssertEqual(store.byteSize, 3 * 4096 + 512)
        XCTAssertEqual(store.typeName, "rdwr")
        XCTAssertEqual(store.path, path)
        XCTAssertTrue(store.hasVolatileWriteCache)
        XCTAssertFalse(store.isBlockDevice)
        try store.close()
    }

    func testRefreshSizeFollowsAFileResizedUnderneath() throws {
        let (store, path) = try makeStore(size: 1 << 20)
        XCTAssertFalse(store.refreshSize(), "nothing changed yet")
        XCTAssertEqual(truncate(path, 3 << 20), 0)
        XCTAssertTrue(store.refreshSize())
        XCTAssertEqual(store.byteSize, 3 << 20)
        XCTAssertFalse(store.refreshSize(), "the new size is known now")
        // IO reaches the grown part.
        let data = ByteBuffer.pattern(count: 4096, seed: 7)
        try store.write(data, offset: (3 << 20) - 4096, fua: false, on: group.next()).wait()
        XCTAssertEqual(try store.read(offset: (3 << 20) - 4096, length: 4096, allocator: allocator, on: group.next()).wait(), data)
        try store.close()
        XCTAssertFalse(store.refreshSize(), "a closed store keeps its last size")
    }

    func testRoundTripsAtAlignedAndUnalignedOffsets() throws {
        let (store, path) = try makeStore()
        let loop = group.next()
        for (offset, count) in [(0, 512), (4096, 65536), (4093, 7), (1_048_576 - 300, 300)] {
            let data = ByteBuffer.pattern(count: count, seed: UInt8(count % 251))
            try store.write(data, offset: UInt64(offset), fua: false, on: loop).wait()
            let read = try store.read(offset: UInt64(offset), length: count, allocator: allocator, on: loop).wait()
            XCTAssertEqual(read.readableBytes, count)
            XCTAssertEqual(read, data, "offset \(offset)")
            XCTAssertEqual(try fileBytes(path, offset: offset, count: count), Array(data.readableBytesView))
        }
        // Untouched areas still read back as zeros.
        let hole = try store.read(offset: 200_000, length: 100, allocator: allocator, on: loop).wait()
        XCTAssertEqual(Array(hole.readableBytesView), [UInt8](repeating: 0, count: 100))
        try store.close()
    }

    func testWritesOnlyTheReadableBytes() throws {
        let (store, path) = try makeStore()
        var data = ByteBuffer.pattern(count: 64, seed: 9)
        data.moveReaderIndex(forwardBy: 16)
        try store.write(data, offset: 0, fua: false, on: group.next()).wait()
        XCTAssertEqual(try fileBytes(path, offset: 0, count: 48), Array(data.readableBytesView))
        XCTAssertEqual(try fileBytes(path, offset: 48, count: 16), [UInt8](repeating: 0, count: 16))
        try store.close()
    }

    func testFuturesCompleteOnTheCallersEventLoop() throws {
        let (store, _) = try makeStore()
        let loop = group.next()
        let future = store.read(offset: 0, length: 512, allocator: allocator, on: loop)
        XCTAssertTrue(future.eventLoop === loop)
        let ranOnLoop = try future.map { _ in loop.inEventLoop }.wait()
        XCTAssertTrue(ranOnLoop)
        try store.close()
    }

    func testOutOfRangeIOFailsWithoutTouchingTheFile() throws {
        let (store, _) = try makeStore(size: 8192)
        let loop = group.next()
        assertBackstoreError(try store.read(offset: 8192, length: 1, allocator: allocator, on: loop).wait(), kind: .outOfRange)
        assertBackstoreError(try store.read(offset: 4096, length: 4097, allocator: allocator, on: loop).wait(), kind: .outOfRange)
        assertBackstoreError(try store.read(offset: .max, length: 2, allocator: allocator, on: loop).wait(), kind: .outOfRange)
        assertBackstoreError(try store.read(offset: 0, length: -1, allocator: allocator, on: loop).wait(), kind: .invalidArgument)
        let data = ByteBuffer.pattern(count: 2, seed: 1)
        assertBackstoreError(try store.write(data, offset: 8191, fua: false, on: loop).wait(), kind: .outOfRange)
        // The last byte itself is in range, and an empty read at the end is fine.
        let empty = try store.read(offset: 8192, length: 0, allocator: allocator, on: loop).wait()
        XCTAssertEqual(empty.readableBytes, 0)
        try store.close()
    }

    func testFUAWriteIsDurableThroughTheDsyncDescriptor() throws {
        let (store, path) = try makeStore()
        XCTAssertTrue(store.usesDsyncDescriptor)
        let data = ByteBuffer.pattern(count: 4096, seed: 3)
        try store.write(data, offset: 8192, fua: true, on: group.next()).wait()
        XCTAssertEqual(try fileBytes(path, offset: 8192, count: 4096), Array(data.readableBytesView))
        try store.flush(on: group.next()).wait()
        try store.close()
    }

    func testFUAWriteFallsBackToFdatasync() throws {
        let path = try directory.makeFile("fallback.img", size: 65536)
        let store = try FileBackstore(path: path, readOnly: false, ioPool: pool, typeName: "rdwr", useDsyncDescriptor: false)
        XCTAssertFalse(store.usesDsyncDescriptor)
        let data = ByteBuffer.pattern(count: 1000, seed: 4)
        try store.write(data, offset: 100, fua: true, on: group.next()).wait()
        XCTAssertEqual(try fileBytes(path, offset: 100, count: 1000), Array(data.readableBytesView))
        try store.close()
    }

    func testReadOnlyStoreReadsButRefusesWrites() throws {
        let path = try directory.makeFile("ro.img", size: 4096)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        let store = try FileBackstore(path: path, readOnly: true, ioPool: pool)
        XCTAssertFalse(store.usesDsyncDescriptor)
        let read = try store.read(offset: 0, length: 3, allocator: allocator, on: group.next()).wait()
        XCTAssertEqual(Array(read.readableBytesView), [1, 2, 3])
        XCTAssertThrowsError(try store.write(ByteBuffer.pattern(count: 1, seed: 0), offset: 0, fua: false, on: group.next()).wait()) {
            XCTAssertEqual(($0 as? BackstoreError)?.errno, EROFS)
        }
        try store.close()
    }

    func testMissingFileIsNotFoundWithThePathInTheMessage() {
        let path = directory.path + "/absent.img"
        XCTAssertThrowsError(try FileBackstore(path: path, ioPool: pool)) { error in
            let error = error as? BackstoreError
            XCTAssertEqual(error?.kind, .notFound)
            XCTAssertEqual(error?.errno, ENOENT)
            XCTAssertTrue(error?.message.contains(path) ?? false, error?.message ?? "")
        }
    }

    func testDirectoryIsRejected() {
        assertBackstoreError(try FileBackstore(path: directory.path, readOnly: true, ioPool: pool), kind: .invalidArgument)
    }

    func testIOAfterCloseFailsAndSecondCloseThrows() throws {
        let (store, _) = try makeStore()
        try store.close()
        let loop = group.next()
        assertBackstoreError(try store.read(offset: 0, length: 1, allocator: allocator, on: loop).wait(), kind: .closed)
        assertBackstoreError(try store.flush(on: loop).wait(), kind: .closed)
        assertBackstoreError(try store.close(), kind: .closed)
    }

    func testConcurrentWritesAndReadsOfDistinctBlocks() throws {
        let blockSize = 4096
        let blocks = 128
        let (store, _) = try makeStore(size: blockSize * blocks)
        let writes = (0..<blocks).map { block in
            store.write(
                ByteBuffer.pattern(count: blockSize, seed: UInt8(block)), offset: UInt64(block * blockSize),
                fua: block % 16 == 0, on: group.next())
        }
        try EventLoopFuture.andAllSucceed(writes, on: group.next()).wait()
        let reads = (0..<blocks).map { block in
            store.read(offset: UInt64(block * blockSize), length: blockSize, allocator: allocator, on: group.next())
        }
        for (block, read) in reads.enumerated() {
            XCTAssertEqual(try read.wait(), ByteBuffer.pattern(count: blockSize, seed: UInt8(block)), "block \(block)")
        }
        try store.close()
    }

    func testCloseWaitsForInFlightIO() throws {
        let (store, _) = try makeStore(size: 16 << 20)
        let loop = group.next()
        let reads = (0..<32).map { index in
            store.read(offset: UInt64(index) << 19, length: 1 << 19, allocator: allocator, on: loop)
        }
        try store.close()
        // Every read either ran to completion on a valid descriptor or was refused as closed.
        for read in reads {
            switch Result(catching: { try read.wait() }) {
            case .success(let buffer): XCTAssertEqual(buffer.readableBytes, 1 << 19)
            case .failure(let error): XCTAssertEqual((error as? BackstoreError)?.kind, .closed, "\(error)")
            }
        }
    }

    func testBlockDeviceSizeComesFromTheDevice() throws {
        let image = try directory.makeFile("loop.img", size: 4 << 20)
        guard let device = try attachLoopDevice(image) else {
            throw XCTSkip("no loop device could be attached here (needs root and /dev/loop-control)")
        }
        defer { _ = runTool("/usr/sbin/losetup", ["-d", device]) }
        let store = try FileBackstore(path: device, ioPool: pool)
        XCTAssertTrue(store.isBlockDevice)
        XCTAssertEqual(store.byteSize, 4 << 20)
        let data = ByteBuffer.pattern(count: 4096, seed: 7)
        try store.write(data, offset: 4096, fua: true, on: group.next()).wait()
        XCTAssertEqual(try store.read(offset: 4096, length: 4096, allocator: allocator, on: group.next()).wait(), data)
        try store.close()
    }

    private func attachLoopDevice(_ image: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: "/dev/loop-control"), getuid() == 0 else { return nil }
        guard let output = runTool("/usr/sbin/losetup", ["--find", "--show", image]) else { return nil }
        let device = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return device.hasPrefix("/dev/loop") ? device : nil
    }

    /// Runs a tool and returns its standard output, or nil if it is missing or fails.
    private func runTool(_ tool: String, _ arguments: [String]) -> String? {
        guard FileManager.default.isExecutableFile(atPath: tool) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: output, as: UTF8.self) : nil
    }
}
