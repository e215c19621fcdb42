#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// tgt's `--bsoflags` for file stores: "sync", "direct" or both ("sync:direct").
public struct FileOpenFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// O_SYNC: every write is on stable storage when it completes.
    public static let sync = FileOpenFlags(rawValue: 1)
    /// O_DIRECT: IO bypasses the page cache.
    public static let direct = FileOpenFlags(rawValue: 2)

    /// Parses tgt's syntax: flags separated by ':', leading blanks ignored; nil for an unknown flag.
    public init?(tgtString text: String) {
        var flags: FileOpenFlags = []
        for token in text.split(separator: ":") {
            let word = token.drop { $0 == " " }
            // tgt compares prefixes (strncmp), so "syncx" is still "sync".
            if word.hasPrefix("sync") {
                flags.insert(.sync)
            } else if word.hasPrefix("direct") {
                flags.insert(.direct)
            } else {
                return nil
            }
        }
        self = flags
    }

    /// As tgtadm shows them: "", "sync", "direct" or "sync:direct".
    public var description: String {
        var words: [String] = []
        if contains(.sync) { words.append("sync") }
        if contains(.direct) { words.append("direct") }
        return words.joined(separator: ":")
    }

    var systemFlags: Int32 {
        (contains(.sync) ? O_SYNC : 0) | (contains(.direct) ? Self.oDirect : 0)
    }

    /// O_DIRECT is not exported by the Glibc module; its value depends on the architecture.
    #if arch(arm64) || arch(arm)
        static let oDirect: Int32 = 0o200000
    #else
        static let oDirect: Int32 = 0o40000
    #endif
}

/// O_DIRECT IO: the memory must be aligned, so unaligned buffers go through an aligned copy.
enum DirectIO {
    static let alignment = 4096

    static func read(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: UInt64) throws {
        guard buffer.count > 0 else { return }
        if isAligned(buffer.baseAddress) {
            return try PositionalIO.readFully(fd: fd, into: buffer, offset: offset)
        }
        let bounce = try AlignedBuffer(count: buffer.count)
        defer { bounce.deallocate() }
        try PositionalIO.readFully(fd: fd, into: bounce.bytes, offset: offset)
        buffer.copyMemory(from: UnsafeRawBufferPointer(bounce.bytes))
    }

    static func write(fd: Int32, from bytes: UnsafeRawBufferPointer, offset: UInt64) throws {
        guard bytes.count > 0 else { return }
        if isAligned(bytes.baseAddress) {
            return try PositionalIO.writeFully(fd: fd, from: bytes, offset: offset)
        }
        let bounce = try AlignedBuffer(count: bytes.count)
        defer { bounce.deallocate() }
        bounce.bytes.copyMemory(from: bytes)
        try PositionalIO.writeFully(fd: fd, from: UnsafeRawBufferPointer(bounce.bytes), offset: offset)
    }

    private static func isAligned(_ pointer: UnsafeRawPointer?) -> Bool {
        guard let pointer else { return false }
        return Int(bitPattern: pointer) % alignment == 0
    }
}

/// Page-aligned heap memory, freed by the owner.
struct AlignedBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int) throws {
        var memory: UnsafeMutableRawPointer?
        let result = posix_memalign(&memory, DirectIO.alignment, max(count, 1))
        guard result == 0, let memory else {
            throw BackstoreError(.ioError, errno: result, "can't allocate \(count) aligned bytes")
        }
        bytes = UnsafeMutableRawBufferPointer(start: memory, count: count)
    }

    func deallocate() {
        free(bytes.baseAddress)
    }
}

/// Deallocating file ranges on the IO pool.
enum Discard {
    private typealias FallocateFunction = @convention(c) (Int32, Int32, off_t, off_t) -> Int32

    /// fallocate(2) is not exported by the Glibc module (it needs _GNU_SOURCE); glibc has it.
    private static let fallocate: FallocateFunction? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fallocate") else { return nil }
        return unsafeBitCast(symbol, to: FallocateFunction.self)
    }()

    private static let punchHoleKeepSize: Int32 = 0x02 | 0x01  // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    /// BLKZEROOUT = _IO(0x12, 127).
    private static let blockZeroOut = UInt(0x127F)

    /// Errors that mean "this file system or device cannot do it": try the next way.
    private static func isUnsupported(_ code: Int32) -> Bool {
        code == EOPNOTSUPP || code == ENOSYS || code == ENOTTY || code == EINVAL
    }

    /// True once the range is a hole; false if the file system or device cannot punch one.
    static func punchHole(fd: Int32, offset: UInt64, length: UInt64) throws -> Bool {
        guard let fallocate else { return false }
        while fallocate(fd, punchHoleKeepSize, off_t(offset), off_t(length)) != 0 {
            let code = errno
            if code == EINTR { continue }
            if isUnsupported(code) { return false }
            throw BackstoreError(
                .ioError, errno: code,
                "punching a hole of \(length) bytes at \(offset) failed: \(PositionalIO.errorString(code))")
        }
        return true
    }

    /// BLKZEROOUT on a block device; false if the device cannot do it.
    static func zeroOut(fd: Int32, offset: UInt64, length: UInt64) throws -> Bool {
        var range: (UInt64, UInt64) = (offset, length)
        while ioctl(fd, blockZeroOut, &range) != 0 {
            let code = errno
            if code == EINTR { continue }
            if isUnsupported(code) { return false }
            throw BackstoreError(
                .ioError, errno: code,
                "zeroing \(length) bytes at \(offset) failed: \(PositionalIO.errorString(code))")
        }
        return true
    }

    /// The last resort: zeros written over the range, 1 MiB at a time from one shared aligned
    /// (so O_DIRECT-safe) zero buffer.
    static func writeZeros(fd: Int32, offset: UInt64, length: UInt64) throws {
        var position = offset
        let end = offset + length
        while position < end {
            let count = Int(min(UInt64(zeros.count), end - position))
            try PositionalIO.writeFully(
                fd: fd, from: UnsafeRawBufferPointer(rebasing: zeros.bytes[0..<count]), offset: position)
            position += UInt64(count)
        }
    }

    private static let zeros: SharedZeros = SharedZeros(count: 1 << 20)
}

/// Never written after creation, so it may be shared by every thread.
private struct SharedZeros: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    var count: Int { bytes.count }

    init(count: Int) {
        // Allocation failure at this size means the process is out of memory anyway.
        let buffer = try! AlignedBuffer(count: count)
        buffer.bytes.initializeMemory(as: UInt8.self, repeating: 0)
        bytes = UnsafeRawBufferPointer(buffer.bytes)
    }
}
