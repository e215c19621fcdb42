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
    /// `read`, with the data in the pieces it arrived in (their readable bytes add up to
    /// `length`): the FUSE layer replies with them as they are, without joining them.
    func readSegments(
        offset: UInt64, length: Int,
        completion: @escaping @Sendable (Result<[ByteBuffer], BlockDeviceError>) -> Void)
    /// Writes all readable bytes of `data` at `offset`.
    func write(
        offset: UInt64, data: ByteBuffer,
        completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void)
    /// Makes completed writes durable (SYNCHRONIZE CACHE).
    func flush(completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void)
    /// Makes whole blocks read back as zeros. `deallocate`: the space may also be given back (a
    /// hole, UNMAP), and a backend that cannot promise zeros that way answers `.notSupported`;
    /// without it the zeros must be written (WRITE SAME). The FUSE layer calls this for
    /// fallocate(PUNCH_HOLE) and fallocate(ZERO_RANGE): the loop driver's discard and
    /// write-zeroes requests.
    func zero(
        offset: UInt64, length: UInt64, deallocate: Bool,
        completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void)
}

extension BlockDeviceBackend {
    /// Backends that produce one buffer.
    public func readSegments(
        offset: UInt64, length: Int,
        completion: @escaping @Sendable (Result<[ByteBuffer], BlockDeviceError>) -> Void
    ) {
        read(offset: offset, length: length) { completion($0.map { [$0] }) }
    }

    /// Backends without a way to zero or deallocate: the kernel falls back to writing zeros.
    public func zero(
        offset: UInt64, length: UInt64, deallocate: Bool,
        completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void
    ) {
        completion(.failure(BlockDeviceError(.notSupported)))
    }
}
