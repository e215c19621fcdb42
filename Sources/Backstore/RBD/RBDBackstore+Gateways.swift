#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import Synchronization

/// Several gateways on one image: the writes of a gateway that does not hold the exclusive lock
/// fail with EROFS in librbd; such a gateway takes the lock over (`RBDLockOwnership.takeOver`)
/// and writes once more. Without lock ownership (one gateway, or tgt-rbd's way) librbd moves the
/// lock itself and no write sees EROFS.
extension RBDBackstore {
    public var lockOwnership: RBDLockOwnership? { ownershipSlot.withLock { $0 } }

    /// Takes part in lock ownership with this gateway's portal-group tags ("1,3", read whenever
    /// the lock is taken): takes the lock
    /// if it is free. Idempotent: a second call returns the first one's ownership.
    public func enableLockOwnership(
        tags: @escaping @Sendable () -> String, eventLoop: EventLoop, takeOverTimeout: TimeAmount? = nil,
        onChange: @escaping @Sendable (RBDLockOwnership.State) -> Void
    ) throws -> RBDLockOwnership {
        let lib = try LibRBDLock.shared()
        let (ownership, isNew): (RBDLockOwnership, Bool) = ownershipSlot.withLock { slot in
            if let slot { return (slot, false) }
            let made = RBDLockOwnership(
                lib: lib, image: image, imageName: location.path, tags: tags,
                timeout: takeOverTimeout ?? .seconds(Int64(location.timeout)), eventLoop: eventLoop, onChange: onChange)
            slot = made
            return (made, true)
        }
        if isNew { _ = ownership.start() }
        return ownership
    }

    public func write(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        owned(on: eventLoop) { self.writeOnce(data, offset: offset, fua: fua, on: eventLoop) }
    }

    public func discard(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        owned(on: eventLoop) { self.discardOnce(offset: offset, length: length, on: eventLoop) }
    }

    public func writeZeroes(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        owned(on: eventLoop) { self.writeZeroesOnce(offset: offset, length: length, on: eventLoop) }
    }

    public func compareAndWrite(
        expected: ByteBuffer, replacement: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop
    ) -> EventLoopFuture<CompareAndWriteResult> {
        owned(on: eventLoop) {
            self.compareAndWriteOnce(expected: expected, replacement: replacement, offset: offset, fua: fua, on: eventLoop)
        }
    }

    /// Runs a write; if librbd refused it because another gateway holds the lock, takes the lock
    /// over and runs it once more. A client the cluster blocklisted is fenced from then on.
    private func owned<T>(on eventLoop: EventLoop, _ attempt: @escaping () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        guard let ownership = lockOwnership else { return attempt() }
        return attempt().flatMapError { error in
            switch (error as? BackstoreError)?.errno {
            case EROFS:
                return ownership.takeOver(on: eventLoop).flatMap { attempt() }
            case ESHUTDOWN:
                ownership.refreshInBackground()
                return eventLoop.makeFailedFuture(error)
            default:
                return eventLoop.makeFailedFuture(error)
            }
        }
    }
}
