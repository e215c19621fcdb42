import Backstore
import Foundation
import NIOCore

/// A sparse RAM store for tests: 4 KiB pages appear when first written, so a "1 GiB" unit
/// costs nothing. Records flushes and writes so tests can check FUA and write-through.
final class TestMemoryStore: Backstore, @unchecked Sendable {
    private static let pageSize = 4096
    private let lock = NSLock()
    private var pages: [Int: [UInt8]] = [:]
    private var size: UInt64
    private var recordedWrites: [(offset: UInt64, length: Int, fua: Bool)] = []
    private var flushes = 0

    let hasVolatileWriteCache: Bool
    let typeName = "ram"
    let path: String?
    /// The next read or write fails with this error.
    var failNextIO: BackstoreError? {
        get { lock.withLock { pendingFailure } }
        set { lock.withLock { pendingFailure = newValue } }
    }
    private var pendingFailure: BackstoreError?

    init(size: UInt64, volatileCache: Bool = true, path: String? = nil) {
        self.size = size
        self.hasVolatileWriteCache = volatileCache
        self.path = path
    }

    var byteSize: UInt64 { lock.withLock { size } }
    var flushCount: Int { lock.withLock { flushes } }
    var writes: [(offset: UInt64, length: Int, fua: Bool)] { lock.withLock { recordedWrites } }

    func resize(to newSize: UInt64) { lock.withLock { size = newSize } }

    func bytes(at offset: UInt64, count: Int) -> [UInt8] {
        lock.withLock { copyOut(offset: Int(offset), count: count) }
    }

    func fill(at offset: UInt64, with bytes: [UInt8]) {
        lock.withLock { copyIn(bytes[...], offset: Int(offset)) }
    }

    func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        lock.lock()
        defer { lock.unlock() }
        if let failure = takeFailure(offset: offset, length: length) { return eventLoop.makeFailedFuture(failure) }
        var buffer = allocator.buffer(capacity: length)
        buffer.writeBytes(copyOut(offset: Int(offset), count: length))
        return eventLoop.makeSucceededFuture(buffer)
    }

    func write(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        lock.lock()
        defer { lock.unlock() }
        if let failure = takeFailure(offset: offset, length: data.readableBytes) {
            return eventLoop.makeFailedFuture(failure)
        }
        copyIn(data.readableBytesView[...], offset: Int(offset))
        recordedWrites.append((offset, data.readableBytes, fua))
        return eventLoop.makeSucceededVoidFuture()
    }

    func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        lock.withLock { flushes += 1 }
        return eventLoop.makeSucceededVoidFuture()
    }

    func close() throws {}

    /// Caller holds the lock.
    private func takeFailure(offset: UInt64, length: Int) -> BackstoreError? {
        if let failure = pendingFailure {
            pendingFailure = nil
            return failure
        }
        guard offset + UInt64(length) <= size else { return BackstoreError(.outOfRange, "beyond the end") }
        return nil
    }

    private func copyOut(offset: Int, count: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let position = offset + done
            let inPage = position % Self.pageSize
            let run = min(Self.pageSize - inPage, count - done)
            if let page = pages[position / Self.pageSize] {
                result.replaceSubrange(done..<done + run, with: page[inPage..<inPage + run])
            }
            done += run
        }
        return result
    }

    private func copyIn<C: Collection>(_ bytes: C, offset: Int) where C.Element == UInt8 {
        let bytes = Array(bytes)
        var done = 0
        while done < bytes.count {
            let position = offset + done
            let inPage = position % Self.pageSize
            let run = min(Self.pageSize - inPage, bytes.count - done)
            pages[position / Self.pageSize, default: [UInt8](repeating: 0, count: Self.pageSize)]
                .replaceSubrange(inPage..<inPage + run, with: bytes[done..<done + run])
            done += run
        }
    }
}
