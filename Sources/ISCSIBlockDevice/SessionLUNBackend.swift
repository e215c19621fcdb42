import BlockDevice
import ISCSIInitiator
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A LUN as the storage of a block device: file reads and writes from the FUSE layer become
/// READ(16)/WRITE(16), a flush becomes SYNCHRONIZE CACHE. Requests larger than the target's
/// transfer limit are split and run in parallel. Commands go through a runner: one session
/// (`SinglePathRunner`) or every path to the LU (`MultipathRunner`).
///
/// With one session, while it re-establishes its connection the library holds commands and
/// retries them within `replacement_timeout`; after that they fail and the kernel sees EIO, as it
/// does for a command the target leaves unanswered past the library's command timeout and error
/// handler.
public final class SessionLUNBackend: BlockDeviceBackend, @unchecked Sendable {
    public let runner: SCSICommandRunner
    public let blockSize: Int
    /// Bytes per command at most.
    public let maxTransferBytes: Int
    private let capacity: NIOLockedValueBox<UInt64>
    public let provisioning: Provisioning

    /// What the LUN offers for giving space back and writing zeros (READ CAPACITY(16), the
    /// Block Limits and Logical Block Provisioning VPD pages).
    public struct Provisioning: Sendable, Equatable {
        /// LBPME with LBPRZ and UNMAP supported: an unmapped block reads back as zeros.
        public var unmapReadsZeros = false
        /// MAXIMUM UNMAP LBA COUNT (blocks per UNMAP descriptor).
        public var maxUnmapBlocks: UInt32 = 0
        /// MAXIMUM WRITE SAME LENGTH; 0 when the LUN gives none.
        public var maxWriteSameBlocks: UInt64 = 0

        public init(unmapReadsZeros: Bool = false, maxUnmapBlocks: UInt32 = 0, maxWriteSameBlocks: UInt64 = 0) {
            self.unmapReadsZeros = unmapReadsZeros
            self.maxUnmapBlocks = maxUnmapBlocks
            self.maxWriteSameBlocks = maxWriteSameBlocks
        }
    }

    /// Retries of a command answered with UNIT ATTENTION (reported once per I_T nexus after a
    /// reset, a capacity change or a login), ABORTED COMMAND, BUSY or TASK SET FULL.
    static let retries = 5

    /// LUN `lun` of `session` alone.
    public convenience init(
        session: ISCSISession, lun: UInt64, blockSize: Int, byteCount: UInt64, maxTransferBytes: Int,
        provisioning: Provisioning = Provisioning()
    ) {
        self.init(
            runner: SinglePathRunner(path: SessionPath(session: session, lun: lun)), blockSize: blockSize,
            byteCount: byteCount, maxTransferBytes: maxTransferBytes, provisioning: provisioning)
    }

    public init(
        runner: SCSICommandRunner, blockSize: Int, byteCount: UInt64, maxTransferBytes: Int,
        provisioning: Provisioning = Provisioning()
    ) {
        self.runner = runner
        self.provisioning = provisioning
        self.blockSize = blockSize
        self.capacity = NIOLockedValueBox(byteCount)
        self.maxTransferBytes = max(blockSize, maxTransferBytes / blockSize * blockSize)
    }

    public var byteCount: UInt64 { capacity.withLockedValue { $0 } }

    /// Records a new capacity (after a rescan); the FUSE file and loop device follow once told.
    public func setByteCount(_ bytes: UInt64) { capacity.withLockedValue { $0 = bytes } }

    public func read(
        offset: UInt64, length: Int, completion: @escaping @Sendable (Result<ByteBuffer, BlockDeviceError>) -> Void
    ) {
        readSegments(offset: offset, length: length) { result in
            completion(result.map { segments in
                guard segments.count > 1 else { return segments.first ?? ByteBuffer() }
                var joined = ByteBufferAllocator().buffer(capacity: length)
                for segment in segments { joined.writeImmutableBuffer(segment) }
                return joined
            })
        }
    }

    /// The data as the session received it: slices of its receive buffers, in order. Requests
    /// larger than the transfer limit are split, run in parallel and their pieces put in order.
    public func readSegments(
        offset: UInt64, length: Int, completion: @escaping @Sendable (Result<[ByteBuffer], BlockDeviceError>) -> Void
    ) {
        guard length > maxTransferBytes else {
            return run(opcode: 0x88, offset: offset, bytes: length, dataOut: nil) { result in
                completion(result.map { $0.dataSegments })
            }
        }
        let count = (length + maxTransferBytes - 1) / maxTransferBytes
        let join = Join(pieces: count, reads: true) { (result: Result<[[ByteBuffer]], BlockDeviceError>) in
            completion(result.map { $0.flatMap { $0 } })
        }
        for index in 0..<count {
            let at = index * maxTransferBytes
            let piece = min(maxTransferBytes, length - at)
            run(opcode: 0x88, offset: offset + UInt64(at), bytes: piece, dataOut: nil) { result in
                switch result {
                case .success(let response): join.finish(.success(()), part: index, data: response.dataSegments)
                case .failure(let error): join.finish(.failure(error))
                }
            }
        }
    }

    public func write(
        offset: UInt64, data: ByteBuffer, completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void
    ) {
        let length = data.readableBytes
        guard length > maxTransferBytes else {
            return run(opcode: 0x8A, offset: offset, bytes: length, dataOut: data) { completion($0.map { _ in () }) }
        }
        let join = Join(pieces: (length + maxTransferBytes - 1) / maxTransferBytes) { (result: Result<[[ByteBuffer]], BlockDeviceError>) in
            completion(result.map { _ in () })
        }
        var done = 0
        while done < length {
            let piece = min(maxTransferBytes, length - done)
            let slice = data.getSlice(at: data.readerIndex + done, length: piece)!
            run(opcode: 0x8A, offset: offset + UInt64(done), bytes: piece, dataOut: slice) { join.finish($0.map { _ in () }) }
            done += piece
        }
    }

    public func flush(completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void) {
        var cdb = ByteBufferAllocator().buffer(capacity: 10)
        cdb.writeInteger(UInt8(0x35))  // SYNCHRONIZE CACHE(10): whole LUN
        cdb.writeRepeatingByte(0, count: 9)
        runner.run(cdb: cdb, dataOut: nil, expected: 0) { result in
            switch result {
            case .success: completion(.success(()))
            // A LUN without a cache to flush (INVALID COMMAND OPERATION CODE) has nothing to do.
            case .failure(let error) where error.kind == .notSupported: completion(.success(()))
            case .failure(let error): completion(.failure(error))
            }
        }
    }

    /// Deallocation is UNMAP, and only where unmapped blocks read back as zeros; zeroing is WRITE
    /// SAME(16) of a zero block. Requests beyond the LUN's limits are split.
    public func zero(
        offset: UInt64, length: UInt64, deallocate: Bool,
        completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void
    ) {
        let block = UInt64(blockSize)
        let first = offset / block
        let blocks = length / block
        guard blocks > 0 else { return completion(.success(())) }
        let limit: UInt64
        if deallocate {
            guard provisioning.unmapReadsZeros, provisioning.maxUnmapBlocks > 0 else {
                return completion(.failure(BlockDeviceError(.notSupported, "the LUN does not unmap to zeros")))
            }
            limit = UInt64(provisioning.maxUnmapBlocks)
        } else {
            // Without a stated limit, pieces of 32 MiB keep each command short.
            limit = min(provisioning.maxWriteSameBlocks > 0 ? provisioning.maxWriteSameBlocks : (32 << 20) / block, UInt64(UInt32.max))
        }
        let pieces = Int((blocks + limit - 1) / limit)
        let join = Join(pieces: pieces) { (result: Result<[[ByteBuffer]], BlockDeviceError>) in completion(result.map { _ in () }) }
        var done: UInt64 = 0
        while done < blocks {
            let count = min(limit, blocks - done)
            let (cdb, data) = deallocate ? Self.unmap(lba: first + done, blocks: count) : writeSameZeros(lba: first + done, blocks: count)
            runner.run(cdb: cdb, dataOut: data, expected: 0) { join.finish($0.map { _ in () }) }
            done += count
        }
    }

    /// UNMAP with one block descriptor (SBC-3 5.28).
    static func unmap(lba: UInt64, blocks: UInt64) -> (ByteBuffer, ByteBuffer) {
        var cdb = ByteBufferAllocator().buffer(capacity: 10)
        cdb.writeInteger(UInt8(0x42))
        cdb.writeRepeatingByte(0, count: 6)
        cdb.writeInteger(UInt16(24))  // PARAMETER LIST LENGTH
        cdb.writeInteger(UInt8(0))
        var list = ByteBufferAllocator().buffer(capacity: 24)
        list.writeInteger(UInt16(22))  // UNMAP DATA LENGTH
        list.writeInteger(UInt16(16))  // BLOCK DESCRIPTOR DATA LENGTH
        list.writeInteger(UInt32(0))
        list.writeInteger(lba)
        list.writeInteger(UInt32(blocks))
        list.writeInteger(UInt32(0))
        return (cdb, list)
    }

    /// WRITE SAME(16) of one zero block over `blocks` blocks, never unmapping (SBC-3 5.42).
    private func writeSameZeros(lba: UInt64, blocks: UInt64) -> (ByteBuffer, ByteBuffer) {
        var cdb = ByteBufferAllocator().buffer(capacity: 16)
        cdb.writeInteger(UInt8(0x93))
        cdb.writeInteger(UInt8(0))
        cdb.writeInteger(lba)
        cdb.writeInteger(UInt32(blocks))
        cdb.writeInteger(UInt16(0))
        var zeros = ByteBufferAllocator().buffer(capacity: blockSize)
        zeros.writeRepeatingByte(0, count: blockSize)
        return (cdb, zeros)
    }

    /// READ(16) or WRITE(16) of `bytes` at `offset`.
    private func run(
        opcode: UInt8, offset: UInt64, bytes: Int, dataOut: ByteBuffer?,
        completion: @escaping @Sendable (Result<SCSICommandResponse, BlockDeviceError>) -> Void
    ) {
        var cdb = ByteBufferAllocator().buffer(capacity: 16)
        cdb.writeInteger(opcode)
        cdb.writeInteger(UInt8(0))
        cdb.writeInteger(offset / UInt64(blockSize))
        cdb.writeInteger(UInt32(bytes / blockSize))
        cdb.writeInteger(UInt16(0))
        runner.run(cdb: cdb, dataOut: dataOut, expected: dataOut == nil ? bytes : 0) { result in
            if case .success(let response) = result, dataOut == nil, response.dataLength != bytes {
                return completion(.failure(BlockDeviceError(.io, "short read: \(response.dataLength) of \(bytes) bytes")))
            }
            completion(result)
        }
    }

    enum Verdict {
        case done(Result<SCSICommandResponse, BlockDeviceError>)
        case retry(after: TimeAmount?)
    }

    /// What a command's end means for the block layer, as Linux's sd driver reads status and sense.
    static func classify(_ result: Result<SCSICommandResponse, ISCSIInitiatorError>) -> Verdict {
        let response: SCSICommandResponse
        switch result {
        // Our own mistake, not the path's.
        case .failure(.invalidArgument(let why)): return .done(.failure(BlockDeviceError(.io, why)))
        // Session lost, connection failed, no answer, protocol error: the path failed (EIO here).
        case .failure(let error): return .done(.failure(BlockDeviceError(.unavailable, "\(error)")))
        case .success(let r): response = r
        }
        switch response.status {
        case SCSICommandResponse.good: return .done(.success(response))
        case 0x08, 0x28: return .retry(after: .milliseconds(10))  // BUSY, TASK SET FULL
        case 0x18: return .done(.failure(BlockDeviceError(.errno(EBADE), "reservation conflict")))
        case SCSICommandResponse.checkCondition: break
        default: return .done(.failure(BlockDeviceError(.io, "SCSI status 0x\(String(response.status, radix: 16))")))
        }
        guard let sense = response.sense else { return .done(.failure(BlockDeviceError(.io, "CHECK CONDITION without sense"))) }
        let why = "\(sense)"
        switch sense.key {
        case 0x06, 0x0B: return .retry(after: nil)  // UNIT ATTENTION, ABORTED COMMAND
        case 0x02:
            // Becoming ready: wait a little; anything else is a LUN that is not there for us.
            if sense.asc == 0x04 && sense.ascq == 0x01 { return .retry(after: .milliseconds(100)) }
            return .done(.failure(BlockDeviceError(.unavailable, why)))
        case 0x03: return .done(.failure(BlockDeviceError(.medium, why)))
        case 0x04: return .done(.failure(BlockDeviceError(.targetFailure, why)))
        case 0x05:
            if sense.asc == 0x20 { return .done(.failure(BlockDeviceError(.notSupported, why))) }
            if sense.asc == 0x21 { return .done(.failure(BlockDeviceError(.outOfRange, why))) }
            return .done(.failure(BlockDeviceError(.io, why)))
        case 0x07:
            if sense.asc == 0x27 && sense.ascq == 0x07 { return .done(.failure(BlockDeviceError(.noSpace, why))) }
            return .done(.failure(BlockDeviceError(.writeProtected, why)))
        default: return .done(.failure(BlockDeviceError(.io, why)))
        }
    }
}

/// Completes once every piece of a split request has; the first failure wins. Pieces may end
/// on different event loops (different paths): a lock orders them.
private final class Join: @unchecked Sendable {
    private let lock = NIOLock()
    private var remaining: Int
    private var failure: BlockDeviceError?
    /// Each piece's data, by position (reads only).
    private var parts: [[ByteBuffer]]?
    let completion: @Sendable (Result<[[ByteBuffer]], BlockDeviceError>) -> Void

    init(pieces: Int, reads: Bool = false, completion: @escaping @Sendable (Result<[[ByteBuffer]], BlockDeviceError>) -> Void) {
        self.remaining = pieces
        self.parts = reads ? Array(repeating: [], count: pieces) : nil
        self.completion = completion
    }

    func finish(_ result: Result<Void, BlockDeviceError>, part: Int = 0, data: [ByteBuffer]? = nil) {
        let outcome: Result<[[ByteBuffer]], BlockDeviceError>? = lock.withLock {
            if case .failure(let error) = result, failure == nil { failure = error }
            if let data { parts?[part] = data }
            remaining -= 1
            guard remaining == 0 else { return nil }
            defer { parts = nil }
            if let failure { return .failure(failure) }
            return .success(parts ?? [])
        }
        if let outcome { completion(outcome) }
    }
}
