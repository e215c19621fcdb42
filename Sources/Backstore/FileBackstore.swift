#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import Synchronization

/// A logical unit backed by a regular file or a block device (tgt's "rdwr").
///
/// Every pread/pwrite/fdatasync runs on the shared `ioPool`; futures complete on the caller's
/// event loop. Reads land directly in the returned buffer's storage and writes go straight from the
/// caller's buffer, so the only per-IO allocation is the read buffer itself (with `.direct`, IO
/// whose memory is not page aligned goes through an aligned bounce buffer).
///
/// Discarding punches holes (files) or zeroes with unmap allowed (block devices), both through
/// fallocate(PUNCH_HOLE | KEEP_SIZE): the range reads back as zeros and stops using space.
public final class FileBackstore: DiscardingBackstore, @unchecked Sendable {
    /// Grows (or shrinks) when the file or device is resized and `refreshSize` is called.
    public var byteSize: UInt64 { size.load(ordering: .relaxed) }
    private let size: Atomic<UInt64>
    public let hasVolatileWriteCache = true
    public let typeName: String
    public let path: String?
    public let isReadOnly: Bool
    public let isBlockDevice: Bool
    /// tgt's `--bsoflags`: O_SYNC and/or O_DIRECT on every descriptor of the store.
    public let openFlags: FileOpenFlags

    private let fd: Int32
    /// A second descriptor for the same file opened with O_DSYNC: FUA writes through it are durable
    /// on return without flushing unrelated dirty data, as pwritev2(RWF_DSYNC) would be (which Swift's
    /// Glibc module does not expose). Nil means FUA falls back to pwrite + fdatasync.
    private let dsyncFD: Int32?
    private let ioPool: BlockIOExecutor
    private let gate: IOGate

    /// Opens `path` read-write (or read-only), sizing it with fstat or, for block devices,
    /// BLKGETSIZE64.
    /// - Throws: `BackstoreError` `.notFound` if the path does not exist, `.invalidArgument` if it is
    ///   neither a regular file nor a block device, `.ioError` for any other open failure.
    ///   `openFlags` adds O_SYNC / O_DIRECT (`.direct` fails with `.invalidArgument` where the
    ///   file system refuses it).
    public convenience init(
        path: String, readOnly: Bool = false, ioPool: BlockIOExecutor, typeName: String = "rdwr",
        openFlags: FileOpenFlags = []
    ) throws {
        try self.init(
            path: path, readOnly: readOnly, ioPool: ioPool, typeName: typeName, openFlags: openFlags,
            useDsyncDescriptor: true)
    }

    /// `useDsyncDescriptor: false` forces the pwrite + fdatasync FUA path (tests cover both).
    init(
        path: String, readOnly: Bool, ioPool: BlockIOExecutor, typeName: String, openFlags: FileOpenFlags = [],
        useDsyncDescriptor: Bool
    ) throws {
        let fd = open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | openFlags.systemFlags)
        guard fd >= 0 else { throw Self.openError(path: path, errno: errno) }
        let geometry: (size: UInt64, isBlock: Bool)
        do {
            geometry = try Self.geometry(of: fd, path: path)
        } catch {
            closeDescriptor(fd)
            throw error
        }
        // With O_SYNC every write is durable already: FUA needs no second descriptor.
        let dsyncFD =
            readOnly || !useDsyncDescriptor || openFlags.contains(.sync)
            ? nil : Self.reopenWithDsync(fd, flags: openFlags.systemFlags)

        self.fd = fd
        self.dsyncFD = dsyncFD
        self.size = Atomic(geometry.size)
        self.isBlockDevice = geometry.isBlock
        self.isReadOnly = readOnly
        self.openFlags = openFlags
        self.path = path
        self.typeName = typeName
        self.ioPool = ioPool
        self.gate = IOGate {
            closeDescriptor(fd)
            if let dsyncFD { closeDescriptor(dsyncFD) }
        }
    }

    public func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        if let error = BackstoreError.checkRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        let direct = openFlags.contains(.direct)
        return runOnPool(eventLoop) { [fd] in
            var buffer = allocator.buffer(capacity: length)
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { storage in
                let target = UnsafeMutableRawBufferPointer(rebasing: storage.prefix(length))
                if direct {
                    try DirectIO.read(fd: fd, into: target, offset: offset)
                } else {
                    try PositionalIO.readFully(fd: fd, into: target, offset: offset)
                }
                return length
            }
            return buffer
        }
    }

    public func write(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkRange(offset: offset, length: data.readableBytes, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        if isReadOnly {
            return eventLoop.makeFailedFuture(BackstoreError(.ioError, errno: EROFS, "backing store \(path ?? "") is read-only"))
        }
        let direct = openFlags.contains(.direct)
        let synchronous = openFlags.contains(.sync)
        return runOnPool(eventLoop) { [fd, dsyncFD] in
            let target = fua ? (dsyncFD ?? fd) : fd
            try data.withUnsafeReadableBytes { bytes in
                if direct {
                    try DirectIO.write(fd: target, from: bytes, offset: offset)
                } else {
                    try PositionalIO.writeFully(fd: target, from: bytes, offset: offset)
                }
            }
            // O_SYNC writes are durable on return already.
            if fua && dsyncFD == nil && !synchronous {
                try PositionalIO.dataSync(fd: fd)
            }
        }
    }

    public func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        runOnPool(eventLoop) { [fd] in try PositionalIO.dataSync(fd: fd) }
    }

    /// Deallocates the range: fallocate(PUNCH_HOLE | KEEP_SIZE), which for a block device is a
    /// write-zeroes that may unmap (unlike BLKDISCARD, whose ranges need not read back as zeros);
    /// then BLKZEROOUT for a block device; then plain zeros where neither is supported.
    public func discard(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkDiscardRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        if isReadOnly {
            return eventLoop.makeFailedFuture(BackstoreError(.ioError, errno: EROFS, "backing store \(path ?? "") is read-only"))
        }
        guard length > 0 else { return eventLoop.makeSucceededVoidFuture() }
        let isBlockDevice = self.isBlockDevice
        return runOnPool(eventLoop) { [fd] in
            if try Discard.punchHole(fd: fd, offset: offset, length: length) { return }
            if isBlockDevice, try Discard.zeroOut(fd: fd, offset: offset, length: length) { return }
            try Discard.writeZeros(fd: fd, offset: offset, length: length)
        }
    }

    public func close() throws {
        guard gate.close() else { throw BackstoreError.closedStore }
    }

    /// Whether FUA writes go through the O_DSYNC descriptor (false: pwrite + fdatasync).
    var usesDsyncDescriptor: Bool { dsyncFD != nil }

    /// Runs blocking IO on the pool, holding the gate so `close()` cannot release the descriptor
    /// underneath it.
    private func runOnPool<T: Sendable>(_ eventLoop: EventLoop, _ body: @escaping @Sendable () throws -> T)
        -> EventLoopFuture<T>
    {
        let gate = self.gate
        return ioPool.run(on: eventLoop) {
            guard gate.enter() else { throw BackstoreError.closedStore }
            defer { gate.leave() }
            return try body()
        }
    }

    public func refreshSize() -> Bool {
        guard gate.enter() else { return false }
        defer { gate.leave() }
        guard let current = try? Self.geometry(of: fd, path: path ?? "").size else { return false }
        return size.exchange(current, ordering: .relaxed) != current
    }

    private static func geometry(of fd: Int32, path: String) throws -> (size: UInt64, isBlock: Bool) {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw BackstoreError(.ioError, errno: errno, "can't stat \(path): \(PositionalIO.errorString(errno))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return (UInt64(info.st_size), false)
        case S_IFBLK:
            var size: UInt64 = 0
            guard ioctl(fd, blockGetSize64, &size) == 0 else {
                throw BackstoreError(.ioError, errno: errno, "can't size block device \(path): \(PositionalIO.errorString(errno))")
            }
            return (size, true)
        default:
            throw BackstoreError(.invalidArgument, errno: EINVAL, "\(path) is neither a regular file nor a block device")
        }
    }

    /// BLKGETSIZE64 = _IOR(0x12, 114, size_t); the same encoding on x86_64 and arm64.
    private static let blockGetSize64 = UInt(0x8008_1272)

    /// Reopens the very same inode through /proc (immune to the path being renamed meanwhile).
    private static func reopenWithDsync(_ fd: Int32, flags: Int32) -> Int32? {
        let dsync = open("/proc/self/fd/\(fd)", O_RDWR | O_DSYNC | O_CLOEXEC | flags)
        return dsync >= 0 ? dsync : nil
    }

    private static func openError(path: String, errno code: Int32) -> BackstoreError {
        if code == ENOENT {
            return BackstoreError(.notFound, errno: code, "backing store \(path) does not exist")
        }
        if code == EINVAL {
            return BackstoreError(.invalidArgument, errno: code, "can't open backing store \(path) with these flags")
        }
        return BackstoreError(.ioError, errno: code, "can't open backing store \(path): \(PositionalIO.errorString(code))")
    }
}

/// The libc close, out of reach of `FileBackstore.close()`'s name inside the class.
private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
