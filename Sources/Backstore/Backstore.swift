import NIOCore

/// A block store that a logical unit reads and writes.
///
/// Completion futures are fulfilled on the event loop passed in, so the caller (an iSCSI
/// connection) never hops threads to continue. Implementations must never block that event loop:
/// file IO runs on a dedicated thread pool; memory stores complete inline.
public protocol Backstore: AnyObject, Sendable {
    /// Size in bytes (a multiple of the logical unit's block size is the caller's concern).
    var byteSize: UInt64 { get }
    /// True when writes may sit in a volatile cache until `flush` (reported as WCE=1).
    var hasVolatileWriteCache: Bool { get }
    /// True when the medium does not rotate whatever the administrator says (memory): the unit
    /// then reports a medium rotation rate of 1 by default.
    var isSolidState: Bool { get }
    /// A short type name as tgtadm prints it ("rdwr", "null", "ram").
    var typeName: String { get }
    /// The path shown as the backing store, or nil for stores without one.
    var path: String? { get }

    /// Reads `length` bytes at `offset`. The returned buffer has exactly `length` readable bytes.
    func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    /// Writes the readable bytes of `data` at `offset`; with `fua` the data is on stable storage
    /// when the future succeeds.
    func write(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void>
    /// Makes every completed write durable (fdatasync for files).
    func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void>
    /// Releases the file descriptor or memory. Further IO fails.
    func close() throws
    /// Re-reads the size of what backs the store (a file or block device resized underneath);
    /// true when `byteSize` changed.
    func refreshSize() -> Bool
}

extension Backstore {
    /// Stores whose size is fixed at creation.
    public func refreshSize() -> Bool { false }
    /// Files and devices may rotate: nothing is reported unless the administrator says.
    public var isSolidState: Bool { false }
}

/// Errors from a backstore, mapped to SCSI sense by the logical unit.
public struct BackstoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case outOfRange, ioError, closed, notFound, invalidArgument }
    public var kind: Kind
    public var errno: Int32
    public var message: String
    public init(_ kind: Kind, errno: Int32 = 0, _ message: String) {
        self.kind = kind
        self.errno = errno
        self.message = message
    }
    public var description: String { message }
}
