import NIOCore

/// The storage behind one FUSE file (and so behind one loop device): typically a LUN of an iSCSI
/// session, or a RAM store in tests.
///
/// The FUSE layer only ever asks for whole blocks: offsets and lengths are multiples of
/// `blockSize` and lie inside `byteCount` (rounded down to whole blocks). Unaligned file IO is
/// turned into block IO by `LUNFileSystem` (see `BlockAlignment`).
///
/// Completions may run on any thread (an event loop, say). They should run promptly: the FUSE
/// request stays pending in the kernel until its completion runs.
public protocol BlockDeviceBackend: AnyObject, Sendable {
    /// Logical block size in bytes (512 or 4096).
    var blockSize: Int { get }
    /// Capacity in bytes. May change (a LUN resize); call `LUNFileSystem.resize(name:)` afterwards
    /// so the kernel sees the new size.
    var byteCount: UInt64 { get }

    /// Reads `length` bytes at `offset`; the buffer must hold exactly `length` readable bytes.
    func read(
        offset: UInt64, length: Int,
        completion: @escaping @Sendable (Result<ByteBuffer, BlockDeviceError>) -> Void)
    /// Writes all readable bytes of `data` at `offset`.
    func write(
        offset: UInt64, data: ByteBuffer,
        completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void)
    /// Makes completed writes durable (SYNCHRONIZE CACHE).
    func flush(completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void)
}
