import NIOCore

/// What a store's own compare-and-write did.
public enum CompareAndWriteResult: Sendable, Equatable {
    /// The medium matched and now holds the new data.
    case written
    /// The medium differs from the expected data at this byte offset from the start of the
    /// range; nothing was written.
    case mismatch(offset: Int)
    /// The store cannot do this range atomically (librbd's alignment rules); nothing was done,
    /// the caller compares and writes itself.
    case unsupported
}

/// A store that compares and writes in one atomic operation (RBD: on the OSD, so atomic across
/// every gateway of the image, not only this process).
public protocol CompareAndWriteBackstore: Backstore {
    /// Compares `expected` with the medium at `offset` and, if equal, writes `replacement`
    /// (same length) there; with `fua` the write is durable when the future succeeds.
    func compareAndWrite(
        expected: ByteBuffer, replacement: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop
    ) -> EventLoopFuture<CompareAndWriteResult>
}
