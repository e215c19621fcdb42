#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// A logical unit backed by a regular file or a block device (tgt's "rdwr").
///
/// Every pread/pwrite/fdatasync runs on the shared `ioPool`; futures complete on the caller's
/// event loop. Reads land directly in the returned buffer's storage and writes go straight from the
/// caller's buffer, so the only per-IO allocation is the read buffer itself.
public final class FileBackstore: Backstore, @unchecked Sendable {
    public let byteSize: UInt64
    public let hasVolatileWriteCache = true
    public let typeName: String
    public let path: String?
    public let isReadOnly: Bool
    public let isBlockDevice: Bool

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
    public convenience init(path: String, readOnly: Bool = false, ioPool: BlockIOExecutor, typeName: String = "rdwr") throws {
        try self.init(path: path, readOnly: readOnly, ioPool: ioPool, typeName: typeName, useDsyncDescriptor: true)
    }

    /// `useDsyncDescriptor: false` forces the pwrite + fdatasync FUA path (tests cover both).
    init(path: String, readOnly: Bool, ioPool: BlockIOExecutor, typeName: String, useDsyncDescriptor: Bool) throws {
        let fd = open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard fd >= 0 else { throw Self.openError(path: path, errno: errno) }
        let geometry: (size: UInt64, isBlock: Bool)
        do {
            geometry = try Self.geometry(of: fd, path: path)
        } catch {
            closeDescriptor(fd)
            throw error
        }
        let dsyncFD = readOnly || !useDsyncDescriptor ? nil : Self.reopenWithDsync(fd)

        self.fd = fd
        self.dsyncFD = dsyncFD
        self.byteSize = geometry.size
        self.isBlockDevice = geometry.isBlock
        self.isReadOnly = readOnly
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
        return runOnPool(eventLoop) { [fd] in
            var buffer = allocator.buffer(capacity: length)
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { storage in
                try PositionalIO.readFully(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: storage.prefix(length)), offset: offset)
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
        return runOnPool(eventLoop) { [fd, dsyncFD] in
            let target = fua ? (dsyncFD ?? fd) : fd
            try data.withUnsafeReadableBytes { bytes in
                try PositionalIO.writeFully(fd: target, from: bytes, offset: offset)
            }
            if fua && dsyncFD == nil {
                try PositionalIO.dataSync(fd: fd)
            }
        }
    }

    public func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        runOnPool(eventLoop) { [fd] in try PositionalIO.dataSync(fd: fd) }
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
    private static func reopenWithDsync(_ fd: Int32) -> Int32? {
        let dsync = open("/proc/self/fd/\(fd)", O_RDWR | O_DSYNC | O_CLOEXEC)
        return dsync >= 0 ? dsync : nil
    }

    private static func openError(path: String, errno code: Int32) -> BackstoreError {
        if code == ENOENT {
            return BackstoreError(.notFound, errno: code, "backing store \(path) does not exist")
        }
        return BackstoreError(.ioError, errno: code, "can't open backing store \(path): \(PositionalIO.errorString(code))")
    }
}

/// The libc close, out of reach of `FileBackstore.close()`'s name inside the class.
private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
