/// A small blob shared by every gateway that serves the same storage, with a version for
/// compare-and-store and a watch that tells each holder when a peer changed it.
///
/// It carries state that must agree across gateways (SPC-4 persistent reservations), so that
/// the SCSI layer need not know where it lives (a RADOS object for RBD, memory in tests).
///
/// Completion handlers run exactly once, on any thread (a library's or the caller's own), and
/// must not block. None of the operations waits for ever on its own account: callers bound
/// each one with their own timer as well, and a late completion is simply dropped.
public protocol SharedBlob: AnyObject, Sendable {
    /// The largest `bytes` that `store` accepts (and `load` returns).
    var maximumSize: Int { get }

    /// The current contents and their version.
    func load(_ done: @escaping @Sendable (Result<SharedBlobSnapshot, SharedBlobError>) -> Void)

    /// Replaces the contents if they are still at version `expected`: the new version, or
    /// `.versionConflict` when a peer stored first (nothing was written).
    func store(
        _ bytes: [UInt8], ifVersion expected: UInt64,
        _ done: @escaping @Sendable (Result<UInt64, SharedBlobError>) -> Void)

    /// Sends `message` to every holder of the blob (this one may get it too) and completes when
    /// all of them handled it, or with `.timedOut` once `timeoutMilliseconds` passed.
    func notifyPeers(
        _ message: [UInt8], timeoutMilliseconds: UInt64,
        _ done: @escaping @Sendable (Result<Void, SharedBlobError>) -> Void)

    /// Installs the handler of peers' notifies and resyncs (nil removes it). Called on any
    /// thread; a notify is acknowledged when the handler returns, so it must be quick.
    func setEventHandler(_ handler: (@Sendable (SharedBlobEvent) -> Void)?)
}

/// What `SharedBlob.load` returns. Version 0 is a blob nobody stored yet (empty).
public struct SharedBlobSnapshot: Sendable, Equatable {
    public var bytes: [UInt8]
    public var version: UInt64
    public init(bytes: [UInt8], version: UInt64) {
        self.bytes = bytes
        self.version = version
    }
}

/// What a blob tells its holder, on any thread.
public enum SharedBlobEvent: Sendable, Equatable {
    /// A peer's `notifyPeers` message.
    case notified([UInt8])
    /// Notifies may have been missed (the watch was lost and set up again): reload.
    case resync
}

public enum SharedBlobError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `store` lost the race: the blob is no longer at the expected version.
    case versionConflict
    /// No answer in time (or not every peer acknowledged a notify in time).
    case timedOut
    /// More than `maximumSize` bytes.
    case tooLarge(Int)
    /// The blob's store is closed.
    case closed
    /// Anything else, in one line.
    case failed(String)

    public var description: String {
        switch self {
        case .versionConflict: return "shared state changed underneath (version conflict)"
        case .timedOut: return "shared state store did not answer in time"
        case .tooLarge(let size): return "shared state of \(size) bytes is too large"
        case .closed: return "shared state store is closed"
        case .failed(let message): return message
        }
    }
}

/// A backstore whose storage other gateways may serve too, and which keeps blobs all of them
/// share (RBD: a RADOS object next to the image).
public protocol SharedBlobProvider: AnyObject {
    /// Opens (creating if needed) the blob `name` of this store and starts watching it. Blocks
    /// like opening a store does, for a bounded time; not to be called on an event loop. The
    /// blob lives until the store is closed; opening the same name again gives the same blob.
    func openSharedBlob(named name: String) throws -> SharedBlob
}
