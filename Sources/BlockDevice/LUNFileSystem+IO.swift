// FUSE and loop devices are Linux facilities; elsewhere the module keeps only its portable parts.
#if os(Linux)
import Glibc
import CFUSE
import NIOCore
import Synchronization

/// The data path: each callback plans the request, hands it to the backend and returns at once;
/// the backend's completion sends the reply from whatever thread it runs on.
extension LUNFileSystem {
    /// A pending FUSE request carried to the completion's thread. libfuse allows a reply from any
    /// thread, exactly once.
    struct PendingRequest: @unchecked Sendable {
        let raw: fuse_req_t
    }

    /// The aligned buffer of a read-modify-write, filled in by the block reads that complete it.
    final class AssembledWrite: @unchecked Sendable {
        var buffer: ByteBuffer
        init(_ buffer: ByteBuffer) { self.buffer = buffer }
    }

    func read(_ req: fuse_req_t, file: LUNFile, offset: off_t, length: Int) {
        readCount.wrappingAdd(1, ordering: .relaxed)
        Self.raise(largestRead, to: length)
        let backend = file.backend
        let plan = BlockAlignment.planRead(
            offset: UInt64(max(offset, 0)), length: length, blockSize: backend.blockSize,
            deviceSize: backend.byteCount)
        guard plan.backendLength > 0 else {
            fuse_reply_buf(req, nil, 0)  // at or past the end
            return
        }
        let pending = PendingRequest(raw: req)
        begin()
        backend.readSegments(offset: plan.backendOffset, length: plan.backendLength) { result in
            switch result {
            case .success(let segments)
            where segments.reduce(0, { $0 + $1.readableBytes }) >= plan.skip + plan.replyLength:
                Self.reply(pending.raw, segments, skip: plan.skip, length: plan.replyLength)
            case .success:
                self.fail(pending, EIO)  // a short buffer would hand stale memory to the kernel
            case .failure(let error):
                self.fail(pending, error.errno)
            }
            self.end()
        }
    }

    func write(
        _ req: fuse_req_t, file: LUNFile, data: UnsafePointer<CChar>, offset: off_t, length: Int
    ) {
        writeCount.wrappingAdd(1, ordering: .relaxed)
        Self.raise(largestWrite, to: length)
        let backend = file.backend
        let pending = PendingRequest(raw: req)
        let plan = BlockAlignment.planWrite(
            offset: UInt64(max(offset, 0)), length: length, blockSize: backend.blockSize,
            deviceSize: backend.byteCount)
        switch plan {
        case .rejected(let code):
            fail(pending, code)

        case .direct(let start, let count):
            guard count > 0 else {
                fuse_reply_write(req, 0)
                return
            }
            // The one copy: libfuse reuses this thread's request buffer as soon as we return.
            var buffer = allocator.buffer(capacity: count)
            buffer.writeBytes(UnsafeRawBufferPointer(start: data, count: count))
            begin()
            backend.write(offset: start, data: buffer) { result in
                self.replyWrite(pending, result, count: count)
                self.end()
            }

        case .readModifyWrite(let cycle):
            readModifyWriteCount.wrappingAdd(1, ordering: .relaxed)
            var buffer = allocator.buffer(capacity: cycle.alignedLength)
            buffer.writeRepeatingByte(0, count: cycle.alignedLength)
            buffer.setBytes(
                UnsafeRawBufferPointer(start: data, count: cycle.dataLength), at: cycle.dataOffset)
            let assembled = AssembledWrite(buffer)
            let blocks = [cycle.headBlock, cycle.tailBlock].compactMap { $0 }
            begin()
            file.readModifyWrites.submit { done in
                self.continueReadModifyWrite(
                    pending, backend: backend, cycle: cycle, assembled: assembled, blocks: blocks,
                    next: 0
                ) {
                    done()
                    self.end()
                }
            }
        }
    }

    /// Reads the partly covered blocks one by one, merges their uncovered bytes, then writes.
    private func continueReadModifyWrite(
        _ pending: PendingRequest, backend: any BlockDeviceBackend,
        cycle: BlockAlignment.ReadModifyWrite, assembled: AssembledWrite, blocks: [UInt64],
        next index: Int, finished: @escaping @Sendable () -> Void
    ) {
        guard index < blocks.count else {
            backend.write(offset: cycle.alignedOffset, data: assembled.buffer) { result in
                self.replyWrite(pending, result, count: cycle.dataLength)
                finished()
            }
            return
        }
        let blockOffset = blocks[index]
        let blockSize = backend.blockSize
        backend.read(offset: blockOffset, length: blockSize) { result in
            switch result {
            case .success(let block) where block.readableBytes >= blockSize:
                block.withUnsafeReadableBytes { bytes in
                    for fill in cycle.fills(forBlockAt: blockOffset, blockSize: blockSize) {
                        assembled.buffer.setBytes(
                            UnsafeRawBufferPointer(rebasing: bytes[fill.block]),
                            at: fill.buffer.lowerBound)
                    }
                }
                self.continueReadModifyWrite(
                    pending, backend: backend, cycle: cycle, assembled: assembled, blocks: blocks,
                    next: index + 1, finished: finished)
            case .success:
                self.fail(pending, EIO)
                finished()
            case .failure(let error):
                self.fail(pending, error.errno)
                finished()
            }
        }
    }

    func flush(_ req: fuse_req_t, file: LUNFile) {
        flushCount.wrappingAdd(1, ordering: .relaxed)
        let pending = PendingRequest(raw: req)
        begin()
        file.backend.flush { result in
            switch result {
            case .success: fuse_reply_err(pending.raw, 0)
            case .failure(let error): self.fail(pending, error.errno)
            }
            self.end()
        }
    }

    /// Answers a read with `length` bytes of `segments` after the first `skip`, straight from
    /// the buffers (one writev into the kernel).
    static func reply(_ req: fuse_req_t, _ segments: [ByteBuffer], skip: Int, length: Int) {
        if segments.count == 1 {
            segments[0].withUnsafeReadableBytes { _ = fuse_reply_buf(req, $0.baseAddress! + skip, length) }
            return
        }
        var vectors: [iovec] = []
        vectors.reserveCapacity(segments.count)
        // Nested so every buffer's memory stays pinned until the reply has been written.
        func collect(_ index: Int, skip: Int, left: Int) {
            guard index < segments.count, left > 0 else {
                _ = vectors.withUnsafeBufferPointer { fuse_reply_iov(req, $0.baseAddress, Int32($0.count)) }
                return
            }
            segments[index].withUnsafeReadableBytes { bytes in
                let start = min(skip, bytes.count)
                let count = min(bytes.count - start, left)
                if count > 0 {
                    vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + start), iov_len: count))
                }
                collect(index + 1, skip: skip - start, left: left - count)
            }
        }
        collect(0, skip: skip, left: length)
    }

    /// fallocate(2) modes the kernel's loop driver sends (linux/falloc.h).
    static let keepSize: Int32 = 0x01
    static let punchHole: Int32 = 0x02
    static let zeroRange: Int32 = 0x10

    /// PUNCH_HOLE (discard) and ZERO_RANGE (write zeroes) of whole blocks; anything else, or a
    /// range that does not start and end on block boundaries, is EOPNOTSUPP, and the kernel
    /// then writes zeros itself where it has to.
    func fallocate(_ req: fuse_req_t, file: LUNFile, mode: Int32, offset: off_t, length: off_t) {
        let pending = PendingRequest(raw: req)
        let backend = file.backend
        let block = UInt64(backend.blockSize)
        let punch = mode == Self.punchHole | Self.keepSize
        guard punch || mode == Self.zeroRange || mode == Self.zeroRange | Self.keepSize,
            offset >= 0, length > 0, UInt64(offset) % block == 0
        else { return fail(pending, EOPNOTSUPP) }
        let size = backend.byteCount / block * block
        let start = UInt64(offset)
        guard start < size else {  // nothing there to zero
            fuse_reply_err(req, 0)
            return
        }
        let end = min(start + UInt64(length), size)
        guard end % block == 0 else { return fail(pending, EOPNOTSUPP) }
        begin()
        backend.zero(offset: start, length: end - start, deallocate: punch) { result in
            switch result {
            case .success: fuse_reply_err(pending.raw, 0)
            case .failure(let error): self.fail(pending, error.errno)
            }
            self.end()
        }
    }

    private func replyWrite(
        _ pending: PendingRequest, _ result: Result<Void, BlockDeviceError>, count: Int
    ) {
        switch result {
        case .success: fuse_reply_write(pending.raw, count)
        case .failure(let error): fail(pending, error.errno)
        }
    }

    private func fail(_ pending: PendingRequest, _ code: Int32) {
        errorCount.wrappingAdd(1, ordering: .relaxed)
        fuse_reply_err(pending.raw, code)
    }

    /// Counts a request handed to a backend; `unmount` waits for the count to drop to zero.
    @inline(__always)
    private func begin() {
        let now = outstanding.wrappingAdd(1, ordering: .relaxed).newValue
        Self.raise(maxOutstanding, to: now)
    }

    /// Called after the reply: from here on the request no longer touches the session.
    @inline(__always)
    private func end() {
        outstanding.wrappingSubtract(1, ordering: .releasing)
    }

    @inline(__always)
    private static func raise(_ maximum: borrowing Atomic<Int>, to value: Int) {
        var seen = maximum.load(ordering: .relaxed)
        while value > seen {
            let (exchanged, original) = maximum.compareExchange(
                expected: seen, desired: value, ordering: .relaxed)
            if exchanged { return }
            seen = original
        }
    }
}
#endif
