import Foundation
import NIOCore
import NIOPosix
import XCTest

@testable import Backstore

#if canImport(Glibc)
    import Glibc
#endif

/// Discard (UNMAP's backend) on file, block device and RAM stores, and file open flags.
final class DiscardTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var pool: BlockIOExecutor!
    private var directory: TemporaryDirectory!
    private let allocator = ByteBufferAllocator()

    override func setUpWithError() throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        pool = BackstoreIOPool.makeStarted(numberOfThreads: 2)
        directory = try TemporaryDirectory()
    }

    override func tearDownWithError() throws {
        pool.shutdown()
        try group.syncShutdownGracefully()
        directory = nil
    }

    private func allocatedBlocks(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
        return Int(info.st_blocks)
    }

    private func fill(_ store: Backstore, size: Int, seed: UInt8) throws {
        try store.write(ByteBuffer.quickPattern(count: size, seed: seed), offset: 0, fua: false, on: group.next()).wait()
        try store.flush(on: group.next()).wait()
    }

    private func read(_ store: Backstore, _ offset: Int, _ count: Int) throws -> [UInt8] {
        Array(try store.read(offset: UInt64(offset), length: count, allocator: allocator, on: group.next()).wait().readableBytesView)
    }

    // MARK: Files

    func testFileDiscardReadsBackZerosAndFreesBlocks() throws {
        let size = 4 << 20
        let path = try directory.makeFile("thin.img", size: size)
        let store = try FileBackstore(path: path, ioPool: pool)
        try fill(store, size: size, seed: 7)
        let original = ByteBuffer.quickPattern(count: size, seed: 7)
        let before = try allocatedBlocks(path)
        XCTAssertGreaterThanOrEqual(before, size / 512, "the pattern must be allocated first")

        // 1 MiB aligned, plus an unaligned range whose partial blocks are zeroed, not freed.
        try store.discard(offset: 1 << 20, length: 1 << 20, on: group.next()).wait()
        try store.discard(offset: 3 * (1 << 20) + 100, length: 5000, on: group.next()).wait()

        XCTAssertEqual(try read(store, 1 << 20, 1 << 20), [UInt8](repeating: 0, count: 1 << 20))
        XCTAssertEqual(try read(store, 3 * (1 << 20) + 100, 5000), [UInt8](repeating: 0, count: 5000))
        // The bytes on either side are untouched.
        XCTAssertEqual(try read(store, (1 << 20) - 512, 512), Array(original.getBytes(at: (1 << 20) - 512, length: 512)!))
        XCTAssertEqual(try read(store, 2 << 20, 512), Array(original.getBytes(at: 2 << 20, length: 512)!))
        XCTAssertEqual(try read(store, 3 * (1 << 20), 100), Array(original.getBytes(at: 3 * (1 << 20), length: 100)!))
        XCTAssertEqual(try read(store, 3 * (1 << 20) + 5100, 64), Array(original.getBytes(at: 3 * (1 << 20) + 5100, length: 64)!))
        // And what an independent reader sees agrees.
        XCTAssertEqual(try fileBytes(path, offset: (1 << 20) + 4096, count: 4096), [UInt8](repeating: 0, count: 4096))

        let after = try allocatedBlocks(path)
        XCTAssertLessThanOrEqual(after, before - (1 << 20) / 512, "st_blocks \(before) -> \(after)")
        XCTAssertEqual(store.byteSize, UInt64(size), "KEEP_SIZE: the file keeps its length")
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(Int(info.st_size), size)
        try store.close()
    }

    func testFileDiscardChecksRangeReadOnlyAndClose() throws {
        let path = try directory.makeFile("small.img", size: 8192)
        let loop = group.next()
        let store = try FileBackstore(path: path, ioPool: pool)
        assertBackstoreError(try store.discard(offset: 4096, length: 4097, on: loop).wait(), kind: .outOfRange)
        assertBackstoreError(try store.discard(offset: 8193, length: 0, on: loop).wait(), kind: .outOfRange)
        assertBackstoreError(try store.discard(offset: 1, length: UInt64.max, on: loop).wait(), kind: .outOfRange)
        try store.discard(offset: 8192, length: 0, on: loop).wait()
        try store.close()
        assertBackstoreError(try store.discard(offset: 0, length: 512, on: loop).wait(), kind: .closed)

        let readOnly = try FileBackstore(path: path, readOnly: true, ioPool: pool)
        XCTAssertThrowsError(try readOnly.discard(offset: 0, length: 512, on: loop).wait()) { error in
            XCTAssertEqual((error as? BackstoreError)?.errno, EROFS)
        }
        try readOnly.close()
    }

    func testDiscardOrZeroUsesTheStoresDiscard() throws {
        let path = try directory.makeFile("dz.img", size: 1 << 20)
        let store = try FileBackstore(path: path, ioPool: pool)
        try fill(store, size: 1 << 20, seed: 3)
        let before = try allocatedBlocks(path)
        try (store as Backstore).discardOrZero(offset: 0, length: 512 << 10, on: group.next()).wait()
        XCTAssertEqual(try read(store, 0, 512 << 10), [UInt8](repeating: 0, count: 512 << 10))
        XCTAssertLessThan(try allocatedBlocks(path), before, "discardOrZero must punch, not write zeros")
        try store.close()
    }

    func testZeroWritingFallbackOverwritesTheRange() throws {
        let path = try directory.makeFile("zeros.img", size: 3 << 20)
        let store = try FileBackstore(path: path, ioPool: pool)
        try fill(store, size: 3 << 20, seed: 11)
        let fd = open(path, O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        // Longer than the 1 MiB zero buffer, unaligned at both ends.
        try Discard.writeZeros(fd: fd, offset: 1000, length: (2 << 20) + 77)
        XCTAssertEqual(try fileBytes(path, offset: 1000, count: (2 << 20) + 77), [UInt8](repeating: 0, count: (2 << 20) + 77))
        let original = ByteBuffer.quickPattern(count: 3 << 20, seed: 11)
        XCTAssertEqual(try fileBytes(path, offset: 0, count: 1000), Array(original.getBytes(at: 0, length: 1000)!))
        XCTAssertEqual(
            try fileBytes(path, offset: (2 << 20) + 1077, count: 500), Array(original.getBytes(at: (2 << 20) + 1077, length: 500)!))
        try store.close()
    }

    /// A loop device over a tmpfs file: fallocate on the device becomes a hole in the file.
    func testBlockDeviceDiscardZeroesAndUnmaps() throws {
        guard geteuid() == 0, FileManager.default.fileExists(atPath: "/dev/loop-control") else {
            throw XCTSkip("needs root and loop devices")
        }
        let size = 8 << 20
        let backing = try directory.makeFile("loop.img", size: size)
        guard let device = try? run("/usr/sbin/losetup", ["-f", "--show", backing]), device.hasPrefix("/dev/loop") else {
            throw XCTSkip("losetup could not attach a loop device")
        }
        defer { _ = try? run("/usr/sbin/losetup", ["-d", device]) }

        let store = try FileBackstore(path: device, ioPool: pool)
        XCTAssertTrue(store.isBlockDevice)
        XCTAssertEqual(store.byteSize, UInt64(size))
        try fill(store, size: size, seed: 5)
        _ = try run("/usr/bin/sync", [])
        let before = try allocatedBlocks(backing)
        try store.discard(offset: 2 << 20, length: 4 << 20, on: group.next()).wait()
        try store.flush(on: group.next()).wait()
        XCTAssertEqual(try read(store, 2 << 20, 4 << 20), [UInt8](repeating: 0, count: 4 << 20))
        let original = ByteBuffer.quickPattern(count: size, seed: 5)
        XCTAssertEqual(try read(store, (6 << 20), 4096), Array(original.getBytes(at: 6 << 20, length: 4096)!))
        XCTAssertLessThan(try allocatedBlocks(backing), before, "the loop device's backing file got no hole")
        try store.close()
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw POSIXError(.EIO) }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: RAM

    func testMemoryDiscardZeroesAndReleasesPages() throws {
        let size = 1 << 20
        let page = MemoryBackstore.pageSize
        let store = try MemoryBackstore(size: UInt64(size))
        try fill(store, size: size, seed: 9)
        let original = ByteBuffer.quickPattern(count: size, seed: 9)
        XCTAssertEqual(try residentPages(store, from: 0, count: size / page), size / page)

        // Pages 4...11 whole, with partial pages on either side.
        let start = 4 * page - 100
        let length = 8 * page + 300
        try store.discard(offset: UInt64(start), length: UInt64(length), on: group.next()).wait()
        XCTAssertEqual(try residentPages(store, from: 4, count: 8), 0, "whole pages go back to the kernel")
        XCTAssertEqual(try residentPages(store, from: 3, count: 1), 1, "a partial page stays")
        XCTAssertEqual(try read(store, start, length), [UInt8](repeating: 0, count: length))
        XCTAssertEqual(try read(store, start - 200, 200), Array(original.getBytes(at: start - 200, length: 200)!))
        XCTAssertEqual(try read(store, start + length, 300), Array(original.getBytes(at: start + length, length: 300)!))

        // Within one page only.
        try store.discard(offset: 20 * UInt64(page) + 10, length: 20, on: group.next()).wait()
        XCTAssertEqual(try read(store, 20 * page + 10, 20), [UInt8](repeating: 0, count: 20))
        XCTAssertEqual(try read(store, 20 * page, 10), Array(original.getBytes(at: 20 * page, length: 10)!))

        // A released page can be written again.
        let data = ByteBuffer.quickPattern(count: page, seed: 1)
        try store.write(data, offset: UInt64(5 * page), fua: false, on: group.next()).wait()
        XCTAssertEqual(try read(store, 5 * page, page), Array(data.readableBytesView))

        assertBackstoreError(try store.discard(offset: UInt64(size - 1), length: 2, on: group.next()).wait(), kind: .outOfRange)
        try store.close()
        assertBackstoreError(try store.discard(offset: 0, length: 1, on: group.next()).wait(), kind: .closed)
    }

    /// Resident pages of the store's mapping (mincore), `count` pages from page `from`.
    private func residentPages(_ store: MemoryBackstore, from: Int, count: Int) throws -> Int {
        let base = try XCTUnwrap(store.baseAddressForTesting)
        var vector = [UInt8](repeating: 0, count: count)
        XCTAssertEqual(mincore(base + from * MemoryBackstore.pageSize, count * MemoryBackstore.pageSize, &vector), 0)
        return vector.filter { $0 & 1 != 0 }.count
    }

    // MARK: Open flags

    func testOpenFlagsParseAndPrintLikeTgt() {
        XCTAssertEqual(FileOpenFlags(tgtString: "sync"), .sync)
        XCTAssertEqual(FileOpenFlags(tgtString: "direct"), .direct)
        XCTAssertEqual(FileOpenFlags(tgtString: "sync:direct"), [.sync, .direct])
        XCTAssertEqual(FileOpenFlags(tgtString: " direct: sync"), [.sync, .direct])
        XCTAssertNil(FileOpenFlags(tgtString: "sync:bogus"))
        // tgt compares prefixes only.
        XCTAssertEqual(FileOpenFlags(tgtString: "sync|direct"), .sync)
        XCTAssertEqual(FileOpenFlags([.direct, .sync]).description, "sync:direct")
        XCTAssertEqual(FileOpenFlags.sync.description, "sync")
        XCTAssertEqual(FileOpenFlags().description, "")
    }

    func testSyncStoreNeedsNoSecondDescriptor() throws {
        let path = try directory.makeFile("sync.img", size: 1 << 20)
        let store = try FileBackstore(path: path, ioPool: pool, openFlags: .sync)
        XCTAssertEqual(store.openFlags, .sync)
        XCTAssertFalse(store.usesDsyncDescriptor)
        let data = ByteBuffer.quickPattern(count: 4096, seed: 2)
        try store.write(data, offset: 8192, fua: true, on: group.next()).wait()
        XCTAssertEqual(try fileBytes(path, offset: 8192, count: 4096), Array(data.readableBytesView))
        try store.close()
    }

    func testDirectStoreRoundTripsUnalignedMemory() throws {
        let path = try directory.makeFile("direct.img", size: 1 << 20)
        let store: FileBackstore
        do {
            store = try FileBackstore(path: path, ioPool: pool, openFlags: .direct)
        } catch let error as BackstoreError where error.kind == .invalidArgument {
            throw XCTSkip("the file system of \(path) refuses O_DIRECT")
        }
        // Memory one byte off any alignment forces the bounce buffer.
        var data = ByteBuffer.quickPattern(count: 8192 + 1, seed: 4)
        data.moveReaderIndex(forwardBy: 1)
        try store.write(data, offset: 4096, fua: false, on: group.next()).wait()
        try store.write(data, offset: 65536, fua: true, on: group.next()).wait()
        XCTAssertEqual(try read(store, 4096, 8192), Array(data.readableBytesView))
        XCTAssertEqual(try fileBytes(path, offset: 65536, count: 8192), Array(data.readableBytesView))
        try store.discard(offset: 4096, length: 4096, on: group.next()).wait()
        XCTAssertEqual(try read(store, 4096, 4096), [UInt8](repeating: 0, count: 4096))
        try store.close()
    }
}

extension ByteBuffer {
    /// `pattern`'s first 4093 bytes over and over: quick to build in debug builds, and with a
    /// period that is no power of two, so no two pages hold the same bytes.
    static func quickPattern(count: Int, seed: UInt8) -> ByteBuffer {
        let period = ByteBuffer.pattern(count: Swift.min(count, 4093), seed: seed)
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        while buffer.readableBytes < count {
            buffer.writeImmutableBuffer(period.getSlice(at: 0, length: Swift.min(period.readableBytes, count - buffer.readableBytes))!)
        }
        return buffer
    }
}
