import NIOCore

/// tgt's "null" store: reads return zeros, writes are discarded. Useful to measure the transport
/// without any storage cost.
public final class NullBackstore: Backstore, @unchecked Sendable {
    /// The size tgt gives a null LUN when none is requested (1 TiB).
    public static let defaultSize: UInt64 = 1 << 40
    /// Reads up to this length are served as slices of one shared zero buffer.
    public static let sharedZeroLength = 1 << 20

    public let byteSize: UInt64
    public let hasVolatileWriteCache = false
    public let typeName = "null"
    public let path: String?

    private let gate = IOGate {}

    /// One zero-filled buffer shared by every null store; slicing it costs no allocation, and any
    /// caller that writes to its slice gets a private copy (ByteBuffer is copy-on-write).
    private static let zeros: ByteBuffer = {
        var buffer = ByteBufferAllocator().buffer(capacity: sharedZeroLength)
        buffer.writeRepeatingByte(0, count: sharedZeroLength)
        return buffer
    }()

    /// - Parameter path: only echoed as the backing store path; nothing is opened.
    public init(size: UInt64 = NullBackstore.defaultSize, path: String? = nil) {
        self.byteSize = size
        self.path = path
    }

    public func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        if let error = BackstoreError.checkRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        gate.leave()
        if length <= Self.sharedZeroLength {
            return eventLoop.makeSucceededFuture(Self.zeros.getSlice(at: 0, length: length)!)
        }
        var buffer = allocator.buffer(capacity: length)
        buffer.writeRepeatingByte(0, count: length)
        return eventLoop.makeSucceededFuture(buffer)
    }

    public func write(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkRange(offset: offset, length: data.readableBytes, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        gate.leave()
        return eventLoop.makeSucceededVoidFuture()
    }

    public func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        gate.leave()
        return eventLoop.makeSucceededVoidFuture()
    }

    public func close() throws {
        guard gate.close() else { throw BackstoreError.closedStore }
    }
}
