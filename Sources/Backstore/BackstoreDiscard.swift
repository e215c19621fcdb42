import NIOCore

/// A store that can deallocate ranges (punch holes, TRIM, RADOS object deletes) so that they
/// stop using space.
public protocol DiscardingBackstore: Backstore {
    /// Deallocates `length` bytes at `offset`. Afterwards they read as zeros if
    /// `discardReadsZeros`; otherwise each block reads as zeros or as what it held before.
    func discard(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void>
    /// True when every discarded byte reads back as zero (files, memory): the unit then reports
    /// LBPRZ. False for stores that skip parts of a range (RBD keeps data on ranges smaller
    /// than its discard granularity).
    var discardReadsZeros: Bool { get }
    /// Bytes: discards of whole, aligned multiples of this do the most (RBD skips partial 64 KiB
    /// granules). 0 (the default) when the store has no preference.
    var discardGranularity: UInt64 { get }
}

extension DiscardingBackstore {
    public var discardReadsZeros: Bool { true }
    public var discardGranularity: UInt64 { 0 }
}

/// A store with a zeroing operation cheaper than writing zero buffers (RBD's write_zeroes,
/// which also deallocates whole objects). Afterwards the range reads as zeros.
public protocol ZeroingBackstore: Backstore {
    func writeZeroes(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void>
}

extension Backstore {
    /// What a deallocated block (`deallocate`) reads as: zeros (LBPRZ 1) unless the store's
    /// discard may leave data behind.
    public var deallocatedBlocksReadAsZeros: Bool {
        (self as? DiscardingBackstore)?.discardReadsZeros ?? true
    }

    /// The store's `discardGranularity`, 0 for stores that do not discard.
    public var deallocationGranularity: UInt64 {
        (self as? DiscardingBackstore)?.discardGranularity ?? 0
    }

    /// UNMAP's backend: deallocates the range if the store can (`DiscardingBackstore`), else
    /// writes zeros over it. Reads back as zeros only if `deallocatedBlocksReadAsZeros`.
    public func deallocate(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkDiscardRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        if let discarding = self as? DiscardingBackstore {
            return discarding.discard(offset: offset, length: length, on: eventLoop)
        }
        return writeZeros(offset: offset, length: length, on: eventLoop)
    }

    /// Deallocates the range if the store's discard zeroes, else zeroes it (`zeroFill`): either
    /// way it reads back as zeros, which WRITE SAME with UNMAP on an LBPRZ unit promises.
    public func discardOrZero(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkDiscardRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        if let discarding = self as? DiscardingBackstore, discarding.discardReadsZeros {
            return discarding.discard(offset: offset, length: length, on: eventLoop)
        }
        return zeroFill(offset: offset, length: length, on: eventLoop)
    }

    /// Zeroes the range with the store's own operation (`ZeroingBackstore`), else by writing
    /// zero buffers. Nothing is deallocated unless the store's zeroing does so itself.
    public func zeroFill(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkDiscardRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        if let zeroing = self as? ZeroingBackstore {
            return zeroing.writeZeroes(offset: offset, length: length, on: eventLoop)
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
