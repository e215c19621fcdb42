import NIOCore

/// A store that can deallocate ranges (punch holes, TRIM) so that they read back as zeros
/// afterwards and stop using space.
public protocol DiscardingBackstore: Backstore {
    /// Deallocates `length` bytes at `offset`; afterwards they read as zeros.
    func discard(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void>
}

extension Backstore {
    /// Deallocates the range if the store can (`DiscardingBackstore`), else writes zeros over
    /// it: either way it reads back as zeros, which is what a logical unit reporting LBPRZ
    /// promises.
    public func discardOrZero(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkDiscardRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        if let discarding = self as? DiscardingBackstore {
            return discarding.discard(offset: offset, length: length, on: eventLoop)
        }
        return writeZeros(offset: offset, length: length, on: eventLoop)
    }

    /// Writes zeros over the range, 1 MiB at a time, one write after the other.
    public func writeZeros(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        guard length > 0 else { return eventLoop.makeSucceededVoidFuture() }
        let chunk = UInt64(BackstoreZeros.chunkLength)
        let zeros = BackstoreZeros.buffer
        @Sendable func writeFrom(_ start: UInt64) -> EventLoopFuture<Void> {
            let count = min(chunk, offset + length - start)
            let slice = zeros.getSlice(at: zeros.readerIndex, length: Int(count))!
            return write(slice, offset: start, fua: false, on: eventLoop).flatMap {
                let next = start + count
                guard next < offset + length else { return eventLoop.makeSucceededVoidFuture() }
                // Hop through the loop so long ranges do not deepen the stack.
                return eventLoop.flatSubmit { writeFrom(next) }
            }
        }
        return writeFrom(offset)
    }
}

enum BackstoreZeros {
    static let chunkLength = 1 << 20
    /// One shared zero-filled buffer; slices of it are never written to.
    static let buffer: ByteBuffer = {
        var buffer = ByteBufferAllocator().buffer(capacity: chunkLength)
        buffer.writeRepeatingByte(0, count: chunkLength)
        return buffer
    }()
}

extension BackstoreError {
    /// OUT OF RANGE for a 64-bit length.
    static func checkDiscardRange(offset: UInt64, length: UInt64, size: UInt64) -> BackstoreError? {
        guard offset <= size, length <= size - offset else {
            return BackstoreError(.outOfRange, "range \(offset)+\(length) is beyond \(size) bytes")
        }
        return nil
    }
}
