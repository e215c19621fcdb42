import Backstore
import Foundation
import NIOCore

/// A store that behaves like RBD towards the logical unit, on a `TestMemoryStore`: its discard
/// deallocates nothing and leaves the data (the worst `rbd_aio_discard` may do, LBPRZ 0), it
/// zeroes with its own operation, compares and writes itself within one 512-byte sector (and
/// refuses other ranges, as librbd does), and announces resizes.
final class FakeRBDStore: DiscardingBackstore, ZeroingBackstore, CompareAndWriteBackstore, ResizeNotifyingBackstore,
    @unchecked Sendable
{
    let memory: TestMemoryStore
    private let lock = NSLock()
    private var handler: (@Sendable () -> Void)?
    private var discarded: [(offset: UInt64, length: UInt64)] = []
    private var zeroed: [(offset: UInt64, length: UInt64)] = []
    private var compareAndWrites = 0
    /// What IO is checked against, and what the "header watch" last saw.
    private var size: UInt64
    private var observedSize: UInt64

    init(size: UInt64) {
        memory = TestMemoryStore(size: size, path: "fake/rbd")
        self.size = size
        observedSize = size
    }

    var byteSize: UInt64 { lock.withLock { size } }
    var hasVolatileWriteCache: Bool { true }
    var typeName: String { "rbd" }
    var path: String? { "fake/rbd" }
    let discardReadsZeros = false
    let discardGranularity: UInt64 = 64 << 10

    var discards: [(offset: UInt64, length: UInt64)] { lock.withLock { discarded } }
    var zeroings: [(offset: UInt64, length: UInt64)] { lock.withLock { zeroed } }
    var nativeCompareAndWrites: Int { lock.withLock { compareAndWrites } }

    func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        memory.read(offset: offset, length: length, allocator: allocator, on: eventLoop)
    }

    func write(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        memory.write(data, offset: offset, fua: fua, on: eventLoop)
    }

    func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> { memory.flush(on: eventLoop) }
    func close() throws {}

    func discard(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        lock.withLock { discarded.append((offset, length)) }
        return eventLoop.makeSucceededVoidFuture()
    }

    func writeZeroes(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        lock.withLock { zeroed.append((offset, length)) }
        memory.fill(at: offset, with: [UInt8](repeating: 0, count: Int(length)))
        return eventLoop.makeSucceededVoidFuture()
    }

    func compareAndWrite(
        expected: ByteBuffer, replacement: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop
    ) -> EventLoopFuture<CompareAndWriteResult> {
        let length = expected.readableBytes
        guard offset % 512 + UInt64(length) <= 512 else { return eventLoop.makeSucceededFuture(.unsupported) }
        return lock.withLock {
            compareAndWrites += 1
            let medium = memory.bytes(at: offset, count: length)
            let wanted = Array(expected.readableBytesView)
            if let index = medium.indices.first(where: { medium[$0] != wanted[$0] }) {
                return eventLoop.makeSucceededFuture(.mismatch(offset: index))
            }
            memory.fill(at: offset, with: Array(replacement.readableBytesView))
            return eventLoop.makeSucceededFuture(.written)
        }
    }

    /// Grows or shrinks and tells the unit from another thread, as the header watch does.
    func resize(to newSize: UInt64) {
        memory.resize(to: newSize)
        let handler = lock.withLock {
            observedSize = newSize
            return self.handler
        }
        let thread = Thread { handler?() }
        thread.start()
    }

    func refreshSize() -> Bool {
        lock.withLock {
            defer { size = observedSize }
            return size != observedSize
        }
    }

    func setResizeHandler(_ handler: (@Sendable () -> Void)?) {
        lock.withLock { self.handler = handler }
    }
}
