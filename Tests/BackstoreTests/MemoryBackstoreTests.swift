import Foundation
import NIOCore
import NIOPosix
import XCTest

@testable import Backstore

final class MemoryBackstoreTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private let allocator = ByteBufferAllocator()

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    }

    override func tearDownWithError() throws {
        try group.syncShutdownGracefully()
    }

    func testStartsZeroFilledAndRoundTrips() throws {
        let store = try MemoryBackstore(size: 1 << 20)
        let loop = group.next()
        XCTAssertEqual(store.typeName, "ram")
        XCTAssertNil(store.path)
        XCTAssertFalse(store.hasVolatileWriteCache)
        let fresh = try store.read(offset: 12345, length: 777, allocator: allocator, on: loop).wait()
        XCTAssertEqual(Array(fresh.readableBytesView), [UInt8](repeating: 0, count: 777))
        for (offset, count) in [(0, 512), (999, 3), ((1 << 20) - 4096, 4096)] {
            let data = ByteBuffer.pattern(count: count, seed: UInt8(count % 200))
            try store.write(data, offset: UInt64(offset), fua: offset == 0, on: loop).wait()
            XCTAssertEqual(try store.read(offset: UInt64(offset), length: count, allocator: allocator, on: loop).wait(), data)
        }
        try store.flush(on: loop).wait()
        try store.close()
    }

    func testOutOfRangeAndClosedErrors() throws {
        let store = try MemoryBackstore(size: 4096)
        let loop = group.next()
        assertBackstoreError(try store.read(offset: 4000, length: 97, allocator: allocator, on: loop).wait(), kind: .outOfRange)
        assertBackstoreError(try store.write(ByteBuffer.pattern(count: 1, seed: 0), offset: 4096, fua: false, on: loop).wait(), kind: .outOfRange)
        try store.close()
        assertBackstoreError(try store.read(offset: 0, length: 1, allocator: allocator, on: loop).wait(), kind: .closed)
        assertBackstoreError(try store.write(ByteBuffer.pattern(count: 1, seed: 0), offset: 0, fua: false, on: loop).wait(), kind: .closed)
        assertBackstoreError(try store.flush(on: loop).wait(), kind: .closed)
    }

    func testEmptyStoreAcceptsOnlyEmptyIO() throws {
        let store = try MemoryBackstore(size: 0)
        let loop = group.next()
        XCTAssertEqual(try store.read(offset: 0, length: 0, allocator: allocator, on: loop).wait().readableBytes, 0)
        assertBackstoreError(try store.read(offset: 0, length: 1, allocator: allocator, on: loop).wait(), kind: .outOfRange)
    }

    func testLargeStoreTouchesNoMemoryUntilWritten() throws {
        let before = try residentBytes()
        let store = try MemoryBackstore(size: 1 << 30)
        let loop = group.next()
        _ = try store.read(offset: (1 << 30) - 4096, length: 4096, allocator: allocator, on: loop).wait()
        XCTAssertLessThan(try residentBytes() - before, 64 << 20, "a 1 GiB RAM LUN must not be populated up front")
        try store.close()
    }

    func testConcurrentIOOnDisjointRangesFromManyThreads() throws {
        let blockSize = 8192
        let blocks = 64
        let store = try MemoryBackstore(size: UInt64(blockSize * blocks))
        let loops = group!
        let allocator = self.allocator
        DispatchQueue.concurrentPerform(iterations: blocks) { block in
            let data = ByteBuffer.pattern(count: blockSize, seed: UInt8(truncatingIfNeeded: block))
            let offset = UInt64(block * blockSize)
            let loop = loops.next()
            let read = store.write(data, offset: offset, fua: false, on: loop).flatMap {
                store.read(offset: offset, length: blockSize, allocator: allocator, on: loop)
            }
            XCTAssertEqual(try? read.wait(), data, "block \(block)")
        }
        try store.close()
    }

    /// VmRSS of this process, from /proc.
    private func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kilobytes = try XCTUnwrap(Int(line.split(separator: " ")[1]))
        return kilobytes * 1024
    }
}
