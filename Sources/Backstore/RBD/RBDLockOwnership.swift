#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Which gateway writes an RBD image when several serve it as one logical unit: the one holding
/// the image's exclusive lock, taken explicitly (`rbd_lock_acquire`), so librbd never hands it
/// over on its own and another gateway's writes fail with EROFS instead of pulling the lock
/// back and forth.
///
/// - At start the gateway takes the lock if nobody holds it.
/// - `takeOver` (a write reached a gateway that is not the owner: the initiators failed over to
///   it) breaks the owner's lock, which blocklists the owner's client in the cluster, so no
///   write of the old owner lands afterwards, then takes the lock. It takes about a second (one
///   monitor command), bounded by `timeout`.
/// - The owner writes its portal-group tags into the image's metadata, which every gateway
///   watches (`rbd_update_watch`) and re-reads every `pollInterval`: each one can report which
///   port group is active/optimized.
/// - A gateway whose client was blocklisted is `fenced`: it must not write until reopened.
///
/// Every librbd call here blocks, so they run on one thread of their own, never on an event loop.
public final class RBDLockOwnership: @unchecked Sendable {
    public enum State: Equatable, Sendable {
        /// This gateway holds the lock.
        case owner
        /// Another client holds the lock (or nobody does); `tags` is what the last owner wrote
        /// ("1" or "1,3"), nil when unknown.
        case other(tags: String?)
        /// This gateway's client was blocklisted (its lock broken by another gateway).
        case fenced
    }

    /// The image-metadata key of the owner's portal-group tags.
    public static let ownerKey = "swift_iscsi.owner_tags"

    private let lib: LibRBDLock
    private let image: LibRBD.ImageHandle
    private let imageName: String
    private let tags: @Sendable () -> String
    private let timeout: TimeAmount
    private let pollInterval: TimeAmount
    private let thread: NIOThreadPool
    private let eventLoop: EventLoop
    private let lock = NIOLock()
    private var current: State = .other(tags: nil)
    private var takeOverWaiters: [EventLoopPromise<Void>]?
    private var watchHandle: UInt64?
    private var poll: RepeatedTask?
    private var stopped = false
    /// The tags last written to the image's metadata.
    private var published: String?
    private let onChange: @Sendable (State) -> Void

    /// - Parameters:
    ///   - tags: this gateway's portal-group tags, as the owner writes them ("1,3"); read each
    ///     time the lock is taken (portals may come after the image was opened).
    ///   - eventLoop: runs the poll timer and the timeouts (never a librbd call).
    ///   - onChange: called (on the lock thread) whenever `state` changes.
    init(
        lib: LibRBDLock, image: LibRBD.ImageHandle, imageName: String, tags: @escaping @Sendable () -> String,
        timeout: TimeAmount,
        pollInterval: TimeAmount = .seconds(5), eventLoop: EventLoop, onChange: @escaping @Sendable (State) -> Void
    ) {
        self.lib = lib
        self.image = image
        self.imageName = imageName
        self.tags = tags
        self.timeout = timeout
        self.pollInterval = pollInterval
        self.eventLoop = eventLoop
        self.onChange = onChange
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
    }

    public var state: State { lock.withLock { current } }

    /// Takes the lock if it is free, watches the image for the owner's changes and starts the poll.
    func start() -> EventLoopFuture<State> {
        let started = thread.runIfActive(eventLoop: eventLoop) { () -> State in
            if self.acquire() == 0 { self.publishOwnership() }
            self.registerWatch()
            return self.refresh()
        }
        poll = eventLoop.scheduleRepeatedTask(initialDelay: pollInterval, delay: pollInterval) { [weak self] _ in
            self?.refreshInBackground()
        }
        return started
    }

    /// Breaks the current owner's lock and takes it; concurrent calls share one attempt. Fails
    /// after `timeout` with a `BackstoreError` saying why.
    public func takeOver(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        enum Step { case done, fenced, wait, start }
        let promise = eventLoop.makePromise(of: Void.self)
        let step: Step = lock.withLock {
            if current == .owner { return .done }
            if current == .fenced { return .fenced }
            if takeOverWaiters != nil {
                takeOverWaiters!.append(promise)
                return .wait
            }
            takeOverWaiters = [promise]
            return .start
        }
        switch step {
        case .done:
            promise.succeed(())
        case .fenced:
            promise.fail(BackstoreError(.ioError, errno: ESHUTDOWN, "RBD image \(imageName): this gateway was fenced (blocklisted) by another"))
        case .wait:
            break
        case .start:
            let seconds = timeout.nanoseconds / 1_000_000_000
            let deadline = self.eventLoop.scheduleTask(in: timeout) {
                self.finishTakeOver(.failure(
                    BackstoreError(.ioError, errno: ETIMEDOUT, "taking the lock of RBD image \(self.imageName) took over \(seconds) s")))
            }
            thread.submit { _ in
                let result = self.breakAndAcquire()
                deadline.cancel()
                self.finishTakeOver(result)
            }
        }
        return promise.futureResult
    }

    /// Stops the watch and the poll; the lock itself goes with the image (rbd_close releases it).
    func stop() {
        let (handle, task): (UInt64?, RepeatedTask?) = lock.withLock {
            stopped = true
            defer { watchHandle = nil; poll = nil }
            return (watchHandle, poll)
        }
        task?.cancel()
        if let handle {
            _ = lib.updateUnwatch(image, handle)
            Unmanaged.passUnretained(self).release()  // the watch's reference (registerWatch)
        }
        try? thread.syncShutdownGracefully()
    }

    /// Re-reads ownership on the lock thread (an update notification, the poll, a failed write).
    func refreshInBackground() {
        guard !lock.withLock({ stopped }) else { return }
        thread.submit { _ in _ = self.refresh() }
    }

    // MARK: on the lock thread

    private func acquire() -> Int32 { lib.acquire(image, LibRBDLock.exclusive) }

    /// Breaks first: asking a dead owner to release (what `rbd_lock_acquire` does while the lock
    /// is held) waits until the cluster notices the owner is gone, about 30 s.
    private func breakAndAcquire() -> Result<Void, BackstoreError> {
        for owner in owners() {
            let rc = lib.breakLock(image, LibRBDLock.exclusive, owner)
            if rc < 0 && rc != -ENOENT { return .failure(failure("break the lock of", rc)) }
        }
        let rc = acquire()
        guard rc == 0 else {
            _ = refresh()
            return .failure(failure("take the lock of", rc))
        }
        publishOwnership()
        _ = refresh()
        return .success(())
    }

    /// The lock owners' addresses ("IP:0/NONCE"); empty when nobody holds it.
    private func owners() -> [String] {
        var mode: Int32 = 0
        var capacity = 4
        var names = [UnsafeMutablePointer<CChar>?](repeating: nil, count: capacity)
        let rc = lib.getOwners(image, &mode, &names, &capacity)
        guard rc >= 0 else { return [] }
        let count = min(capacity, names.count)
        let result = names.prefix(count).compactMap { $0.map { String(cString: $0) } }
        lib.getOwnersCleanup(&names, count)
        return result
    }

    /// Tells the other gateways which port groups now lead (they watch the image header).
    private func publishOwnership() {
        let current = tags()
        if lib.metadataSet(image, Self.ownerKey, current) == 0 { lock.withLock { published = current } }
    }

    /// The holder writes its tags again if they changed since (a portal added after the lock was
    /// taken at start-up).
    public func republishIfNeeded() {
        guard !lock.withLock({ stopped }) else { return }
        thread.submit { _ in
            guard self.state == .owner, self.lock.withLock({ self.published }) != self.tags() else { return }
            self.publishOwnership()
        }
    }

    @discardableResult
    private func refresh() -> State {
        var owner: Int32 = 0
        let rc = lib.isOwner(image, &owner)
        let state: State
        if rc == -ESHUTDOWN {  // Ceph's EBLOCKLISTED
            state = .fenced
        } else if rc == 0 && owner != 0 {
            state = .owner
        } else {
            state = .other(tags: ownerTags())
        }
        let changed: Bool = lock.withLock {
            // A blocklisted client stays fenced until reopened.
            if current == .fenced { return false }
            defer { current = state }
            return current != state
        }
        if changed { onChange(state) }
        return self.state
    }

    private func ownerTags() -> String? {
        var value = [CChar](repeating: 0, count: 64)
        var length = value.count
        guard lib.metadataGet(image, Self.ownerKey, &value, &length) == 0 else { return nil }
        return String(cString: value)
    }

    private func registerWatch() {
        var handle: UInt64 = 0
        // The watch holds a reference until `stop` unwatches.
        let argument = Unmanaged.passRetained(self).toOpaque()
        guard lib.updateWatch(image, &handle, rbdOwnershipUpdated, argument) == 0 else {
            Unmanaged<RBDLockOwnership>.fromOpaque(argument).release()
            return
        }
        lock.withLock { watchHandle = handle }
    }

    private func finishTakeOver(_ result: Result<Void, BackstoreError>) {
        let waiters: [EventLoopPromise<Void>] = lock.withLock {
            defer { takeOverWaiters = nil }
            return takeOverWaiters ?? []
        }
        for waiter in waiters { waiter.completeWith(result.mapError { $0 as Error }) }
    }

    private func failure(_ what: String, _ rc: Int32) -> BackstoreError {
        BackstoreError(.ioError, errno: -rc, "can't \(what) RBD image \(imageName): \(LibRBD.describe(Int(rc)))")
    }
}

/// librbd's header-update callback (its own thread): re-read ownership on the lock thread. A
/// capture-less global function, as librbd's threads require (see `rbdCompletionCallback`).
private func rbdOwnershipUpdated(_ argument: UnsafeMutableRawPointer?) {
    guard let argument else { return }
    Unmanaged<RBDLockOwnership>.fromOpaque(argument).takeUnretainedValue().refreshInBackground()
}
