#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// A zero-filled RAM logical unit ("ram").
///
/// The whole store is one anonymous, unreserved mapping, so the kernel hands out pages only when
/// they are first written: a 1 GiB RAM LUN costs nothing until used. IO is a memcpy done inline on
/// the caller's thread; operations on disjoint ranges may run concurrently from any thread.
/// Discarding gives whole pages back to the kernel (madvise DONTNEED: they read as zeros again
/// and cost nothing) and zeroes the partial pages at either end.
public final class MemoryBackstore: DiscardingBackstore, @unchecked Sendable {
    public let byteSize: UInt64
    public let hasVolatileWriteCache = false
    public let isSolidState = true
    public let typeName = "ram"
    public let path: String?

    private let base: UnsafeMutableRawPointer?
    private let gate: IOGate

    /// - Parameter path: only echoed as the backing store path (tgtadm shows it); nothing is opened.
    /// - Throws: `BackstoreError.invalidArgument` if the mapping cannot be created.
    public init(size: UInt64, path: String? = nil) throws {
        guard size > 0 else {
            self.base = nil
            self.byteSize = 0
            self.path = path
            self.gate = IOGate {}
            return
        }
        guard let length = Int(exactly: size) else {
            throw BackstoreError(.invalidArgument, errno: EINVAL, "RAM store size \(size) is too large")
        }
        let mapping = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapping, mapping != MAP_FAILED else {
            throw BackstoreError(
                .invalidArgument, errno: errno, "can't map \(size) bytes of RAM: \(PositionalIO.errorString(errno))")
        }
        self.base = mapping
        self.byteSize = size
        self.path = path
        self.gate = IOGate { munmap(mapping, length) }
    }

    public func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        if let error = BackstoreError.checkRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        defer { gate.leave() }
        var buffer = allocator.buffer(capacity: length)
        if length > 0, let base {
            buffer.writeBytes(UnsafeRawBufferPointer(start: base + Int(offset), count: length))
        }
        return eventLoop.makeSucceededFuture(buffer)
    }

    public func write(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkRange(offset: offset, length: data.readableBytes, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        defer { gate.leave() }
        if let base {
            data.withUnsafeReadableBytes { bytes in
                if let source = bytes.baseAddress {
                    (base + Int(offset)).copyMemory(from: source, byteCount: bytes.count)
                }
            }
        }
        return eventLoop.makeSucceededVoidFuture()
    }

    public func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        gate.leave()
        return eventLoop.makeSucceededVoidFuture()
    }

    public func discard(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkDiscardRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        defer { gate.leave() }
        guard length > 0, let base else { return eventLoop.makeSucceededVoidFuture() }
        let start = Int(offset)
        let end = start + Int(length)
        // The whole pages inside the range; the mapping itself is page aligned.
        let firstPage = (start + Self.pageSize - 1) / Self.pageSize * Self.pageSize
        let lastPage = end / Self.pageSize * Self.pageSize
        if firstPage < lastPage {
            (base + start).initializeMemory(as: UInt8.self, repeating: 0, count: firstPage - start)
            (base + lastPage).initializeMemory(as: UInt8.self, repeating: 0, count: end - lastPage)
            if madvise(base + firstPage, lastPage - firstPage, MADV_DONTNEED) != 0 {
                (base + firstPage).initializeMemory(as: UInt8.self, repeating: 0, count: lastPage - firstPage)
            }
        } else {
            (base + start).initializeMemory(as: UInt8.self, repeating: 0, count: end - start)
        }
        return eventLoop.makeSucceededVoidFuture()
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The mapping, for tests that ask the kernel which pages are resident.
    var baseAddressForTesting: UnsafeMutableRawPointer? { base }

    public func close() throws {
        guard gate.close() else { throw BackstoreError.closedStore }
    }
}
