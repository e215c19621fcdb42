#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// COMPARE AND WRITE on the OSD (`rbd_aio_compare_and_write`): one cmpext + write operation on
/// one object, so it is atomic against every other client of the image, other gateways too.
extension RBDBackstore {
    /// librbd (16.2 to at least 18.2) compares only within one 512-byte sector: a longer or
    /// straddling range is refused with EINVAL before anything is sent.
    static let compareAndWriteSector: UInt64 = 512

    /// Whether librbd takes this range: inside one 512-byte sector.
    static func canCompareAndWrite(offset: UInt64, length: Int) -> Bool {
        length > 0 && offset % compareAndWriteSector + UInt64(length) <= compareAndWriteSector
    }

    /// librbd's `mismatch_off` as an index into the compared range. Newer librbd reports the
    /// image offset of the differing byte; 16.2 reports the object's start plus the index. The
    /// range lies within one sector and objects start on sector boundaries, so the offset
    /// within the sector gives the index either way.
    static func mismatchIndex(_ reported: UInt64, offset: UInt64) -> Int {
        let inSector = Int(reported % compareAndWriteSector) - Int(offset % compareAndWriteSector)
        return max(0, inSector)
    }

    /// `.unsupported` for ranges librbd refuses (the logical unit then compares and writes
    /// itself); otherwise the OSD's answer. With `fua`, a write that took place is flushed.
    func compareAndWriteOnce(
        expected: ByteBuffer, replacement: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop
    ) -> EventLoopFuture<CompareAndWriteResult> {
        let length = expected.readableBytes
        guard replacement.readableBytes == length else {
            return eventLoop.makeFailedFuture(
                BackstoreError(.invalidArgument, errno: EINVAL, "compare and write buffers differ in length"))
        }
        if let error = BackstoreError.checkRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        guard Self.canCompareAndWrite(offset: offset, length: length) else {
            return eventLoop.makeSucceededFuture(.unsupported)
        }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        let promise = eventLoop.makePromise(of: CompareAndWriteResult.self)
        // Both buffers in one allocation owned by the request until librbd is done with them.
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 2 * length, alignment: 4096)
        expected.withUnsafeReadableBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: length) }
        replacement.withUnsafeReadableBytes { (memory + length).copyMemory(from: $0.baseAddress!, byteCount: length) }
        let mismatch = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        mismatch.initialize(to: 0)
        let request = RBDRequest(
            store: self, eventLoop: eventLoop, operation: .compareAndWrite(promise, mismatch: mismatch), memory: memory,
            length: length, offset: offset)
        submit(request) { completion in
            let compare = UnsafePointer(memory.assumingMemoryBound(to: CChar.self))
            let write = UnsafePointer((memory + length).assumingMemoryBound(to: CChar.self))
            return Int32(clamping: self.lib.rbdAioCompareAndWrite(
                self.image, offset, length, compare, write, completion, mismatch, 0))
        }
        guard fua else { return promise.futureResult }
        return promise.futureResult.flatMap { result in
            guard result == .written else { return eventLoop.makeSucceededFuture(result) }
            return self.flush(on: eventLoop).map { result }
        }
    }
}
