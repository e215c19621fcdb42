import NIOCore
import NIOPosix
import XCTest

@testable import Backstore

final class NullBackstoreTests: XCTestCase {
    private let loop = MultiThreadedEventLoopGroup.singleton.next()
    private let allocator = ByteBufferAllocator()

    func testReadsZerosAndDiscardsWrites() throws {
        let store = NullBackstore(size: 1 << 30, path: "/dev/null")
        XCTAssertEqual(store.typeName, "null")
        XCTAssertEqual(store.path, "/dev/null")
        try store.write(ByteBuffer.pattern(count: 4096, seed: 5), offset: 0, fua: true, on: loop).wait()
        let read = try store.read(offset: 0, length: 4096, allocator: allocator, on: loop).wait()
        XCTAssertEqual(Array(read.readableBytesView), [UInt8](repeating: 0, count: 4096))
        try store.flush(on: loop).wait()
    }

    func testDefaultSizeIsTgts1TiB() {
        XCTAssertEqual(NullBackstore().byteSize, 1 << 40)
    }

    func testSmallReadsShareOneZeroBuffer() throws {
        let store = NullBackstore()
        let first = try store.read(offset: 0, length: 512, allocator: allocator, on: loop).wait()
        let second = try store.read(offset: 1 << 30, length: NullBackstore.sharedZeroLength, allocator: allocator, on: loop).wait()
        XCTAssertEqual(second.readableBytes, NullBackstore.sharedZeroLength)
        let firstAddress = first.withUnsafeReadableBytes { $0.baseAddress }
        let secondAddress = second.withUnsafeReadableBytes { $0.baseAddress }
        XCTAssertEqual(firstAddress, secondAddress, "reads up to 1 MiB must reuse the shared zero buffer")
    }

    func testMutatingAReturnedBufferLeavesLaterReadsZero() throws {
        let store = NullBackstore()
        var first = try store.read(offset: 0, length: 16, allocator: allocator, on: loop).wait()
        first.setInteger(UInt8(0xFF), at: first.readerIndex)
        let second = try store.read(offset: 0, length: 16, allocator: allocator, on: loop).wait()
        XCTAssertEqual(Array(second.readableBytesView), [UInt8](repeating: 0, count: 16))
    }

    func testLargeReadsAreZeroFilled() throws {
        let length = NullBackstore.sharedZeroLength + 4096
        let read = try NullBackstore().read(offset: 0, length: length, allocator: allocator, on: loop).wait()
        XCTAssertEqual(read.readableBytes, length)
        XCTAssertTrue(read.readableBytesView.allSatisfy { $0 == 0 })
    }

    func testOutOfRangeAndClosed() throws {
        let store = NullBackstore(size: 1024)
        assertBackstoreError(try store.read(offset: 1000, length: 25, allocator: allocator, on: loop).wait(), kind: .outOfRange)
        assertBackstoreError(try store.write(ByteBuffer.pattern(count: 2, seed: 0), offset: 1023, fua: false, on: loop).wait(), kind: .outOfRange)
        try store.close()
        assertBackstoreError(try store.read(offset: 0, length: 1, allocator: allocator, on: loop).wait(), kind: .closed)
        assertBackstoreError(try store.close(), kind: .closed)
    }
}
