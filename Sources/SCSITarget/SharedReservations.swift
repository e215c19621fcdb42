import Backstore
import Dispatch
import NIOCore
import SCSIProtocol

/// The persistent reservations of a logical unit that several gateways serve, kept in a
/// `SharedBlob` of its store so that they agree everywhere (issue 14).
///
/// - PERSISTENT RESERVE OUT reads the latest state, applies the request to it
///   (`PersistentReservationState.apply`, pure), stores it if nobody stored in between
///   (compare-and-store on the blob's version), retries a lost race a bounded number of times
///   with backoff, then notifies the other gateways with the new state and the unit attentions
///   it raised and waits (bounded) for their acknowledgements before answering. So when it
///   answers GOOD, every gateway that acknowledged already enforces the change.
/// - Admission checks and PERSISTENT RESERVE IN use the unit's cached copy
///   (`LogicalUnit.persistent`), which peers' notifies (and reloads after a lost watch) refresh.
/// - The device lock is held only to read or install the cache, never across a wait.
///
/// Registrations live in the blob, so they survive gateway restarts whatever APTPL says: the
/// unit reports PTPL_C 1 and PTPL_A as the last APTPL received (see `reportCapabilities`).
final class SharedReservations: @unchecked Sendable {
    struct Timing {
        /// Each load, store or notify of the blob.
        var stepTimeout: TimeAmount = .seconds(4)
        /// A whole PERSISTENT RESERVE OUT: well inside an initiator's usual 30 s command timeout.
        var commandDeadline: TimeAmount = .seconds(15)
        /// How long peers have to acknowledge a notify (cut to what is left of the command's
        /// deadline). Long enough for a live gateway whose watch is reconnecting (after an OSD
        /// restart) to get it; a dead gateway's watch makes every PR OUT wait this long until
        /// RADOS drops the watch (30 s).
        var notifyTimeoutMilliseconds: UInt64 = 8000
        /// After a notify not every peer acknowledged: sent again this often, this many times
        /// (RADOS' watch timeout), in the background, so a peer that reconnects late still
        /// learns the change.
        var renotifyInterval: TimeAmount = .seconds(2)
        var renotifyAttempts = 15
        /// Compare-and-store attempts of one command.
        var maximumAttempts = 8
        /// Backoff before attempt n: random up to min(base << n, cap).
        var backoffBase: TimeAmount = .milliseconds(2)
        var backoffCap: TimeAmount = .milliseconds(200)
        /// The first load, when the unit is added.
        var openTimeout: TimeAmount = .seconds(10)
        /// Background reloads after a resync or an unreadable notify.
        var reloadAttempts = 5
    }

    static let blobName = "pr"

    let blob: SharedBlob
    let timing: Timing
    /// Tells this gateway's notifies from its peers'.
    let sender = UInt64.random(in: 1...UInt64.max)
    private let lock: DeviceLock
    private weak var unit: LogicalUnit?
    /// The blob version `unit.persistent` came from. Guarded by `lock`.
    private var version: UInt64 = 0
    /// The last PR OUT of this gateway: the next one starts when it ends, so that commands of
    /// one gateway do not race each other through compare-and-store (only other gateways'
    /// do). Guarded by `lock`.
    private var lastReserveOut: EventLoopFuture<SCSICommandResult>?

    /// Opens the unit's blob, starts following peers' changes and loads the state; blocks for
    /// at most `timing.openTimeout` (adding a unit blocks anyway: its store was just opened).
    init(provider: SharedBlobProvider, unit: LogicalUnit, lock: DeviceLock, timing: Timing) throws {
        do {
            blob = try provider.openSharedBlob(named: Self.blobName)
        } catch {
            throw SCSITargetError.sharedStateUnavailable("can't open the shared persistent reservation state: \(error)")
        }
        self.lock = lock
        self.unit = unit
        self.timing = timing
        // The handler first, so no change between the load and it goes unseen (an older state
        // never replaces a newer one).
        blob.setEventHandler { [weak self] event in self?.handle(event) }
        let result = Self.waitForLoad(blob, timeout: timing.openTimeout)
        do {
            let snapshot = try result.get()
            let state = try PersistentReservationCoding.decodeState(snapshot.bytes)
            lock.withLock { installLocked(state, version: snapshot.version) }
        } catch {
            blob.setEventHandler(nil)
            throw SCSITargetError.sharedStateUnavailable("can't load the shared persistent reservation state: \(error)")
        }
    }

    /// The unit is gone: stop following the blob (the store closes it).
    func detach() {
        blob.setEventHandler(nil)
    }

    private static func waitForLoad(_ blob: SharedBlob, timeout: TimeAmount) -> Result<SharedBlobSnapshot, Error> {
        let semaphore = DispatchSemaphore(value: 0)
        let box = LockedBox<Result<SharedBlobSnapshot, Error>?>(nil)
        blob.load { result in
            box.set(result.mapError { $0 })
            semaphore.signal()
        }
        let deadline = DispatchTime.now() + .nanoseconds(Int(max(0, timeout.nanoseconds)))
        guard semaphore.wait(timeout: deadline) == .success, let result = box.get() else {
            return .failure(SharedBlobError.timedOut)
        }
        return result
    }

    // MARK: Cache

    /// Caller holds the lock. Installs `state` unless the cache is already as new.
    private func installLocked(_ state: PersistentReservationState, version: UInt64) {
        guard let unit, version >= self.version else { return }
        self.version = version
        unit.persistent = state
    }

    var cachedVersion: UInt64 { lock.withLock { version } }

    // MARK: Peers

    private func handle(_ event: SharedBlobEvent) {
        switch event {
        case .resync:
            reload(attempt: 1)
        case .notified(let bytes):
            guard let notice = try? PersistentReservationCoding.decodeNotice(bytes) else { return reload(attempt: 1) }
            if notice.sender == sender { return }
            let state = try? PersistentReservationCoding.decodeState(notice.state)
            lock.withLock {
                guard let unit else { return }
                if let state { installLocked(state, version: notice.version) }
                for attention in notice.attentions { unit.postAttention(attention.code, to: attention.registration) }
            }
            if state == nil { reload(attempt: 1) }
        }
    }

    /// Reads the blob again; on failure retries a bounded number of times, backing off.
    private func reload(attempt: Int) {
        blob.load { [weak self] result in
            guard let self else { return }
            if case .success(let snapshot) = result,
                let state = try? PersistentReservationCoding.decodeState(snapshot.bytes)
            {
                self.lock.withLock { self.installLocked(state, version: snapshot.version) }
                return
            }
            guard attempt < self.timing.reloadAttempts else { return }
            let delay = self.backoff(attempt)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(delay.nanoseconds))) { [weak self] in
                self?.reload(attempt: attempt + 1)
            }
        }
    }

    // MARK: PERSISTENT RESERVE OUT

    func reserveOut(_ request: PersistentReserveOutRequest, from port: ITNexusName, on loop: EventLoop)
        -> EventLoopFuture<SCSICommandResult>
    {
        let promise = loop.makePromise(of: SCSICommandResult.self)
        // The deadline runs from arrival: time queued behind this gateway's earlier PR OUTs
        // counts, so a command never waits longer than `commandDeadline` in all.
        let deadline = NIODeadline.now() + timing.commandDeadline
        let previous: EventLoopFuture<SCSICommandResult>? = lock.withLock {
            defer { lastReserveOut = promise.futureResult }
            return lastReserveOut
        }
        guard let previous else {
            attempt(1, request, port, loop, deadline: deadline, promise)
            return promise.futureResult
        }
        previous.whenComplete { _ in
            loop.execute { self.attempt(1, request, port, loop, deadline: deadline, promise) }
        }
        return promise.futureResult
    }

    private func attempt(
        _ number: Int, _ request: PersistentReserveOutRequest, _ port: ITNexusName, _ loop: EventLoop,
        deadline: NIODeadline, _ promise: EventLoopPromise<SCSICommandResult>
    ) {
        let blob = self.blob
        step(on: loop, deadline: deadline) { blob.load($0) }.whenComplete { loaded in
            let snapshot: SharedBlobSnapshot
            let state: PersistentReservationState
            do {
                snapshot = try loaded.get()
                state = try PersistentReservationCoding.decodeState(snapshot.bytes)
            } catch {
                return promise.succeed(Self.failure(error))
            }
            let heardOf: UInt64 = self.lock.withLock {
                defer { self.installLocked(state, version: snapshot.version) }
                return self.version
            }
            var next = state
            let result = next.apply(request, from: port, persistenceSupported: true)
            guard result.status == .good, next != state else {
                self.postLocally(result.attentions)
                // A version nobody told us about (a store whose command gave up before its
                // notify, e.g. this command's own earlier attempt): the peers may not know it
                // either, so tell them before answering.
                guard snapshot.version > heardOf else { return promise.succeed(Self.answer(result)) }
                return self.notifyPeers(next: snapshot.bytes, version: snapshot.version, [], loop, deadline) {
                    promise.succeed(Self.answer(result))
                }
            }
            let bytes: [UInt8]
            do {
                bytes = try PersistentReservationCoding.encode(next)
                guard bytes.count <= blob.maximumSize else { throw SharedBlobError.tooLarge(bytes.count) }
            } catch {
                return promise.succeed(Self.insufficientRegistrationResources)
            }
            // A store that lands after its step timed out still reaches the peers (and this
            // gateway's cache), though the command has answered.
            let stored = next
            let late: @Sendable (Result<UInt64, SharedBlobError>) -> Void = { [weak self] outcome in
                guard let self, case .success(let newVersion) = outcome else { return }
                self.lock.withLock {
                    self.installLocked(stored, version: newVersion)
                    for (registration, code) in result.attentions { self.unit?.postAttention(code, to: registration) }
                }
                self.notifyPeers(next: bytes, version: newVersion, result.attentions, loop, .now() + self.timing.commandDeadline) {}
            }
            self.step(on: loop, deadline: deadline, late: late) { blob.store(bytes, ifVersion: snapshot.version, $0) }.whenComplete {
                stored in
                switch stored {
                case .success(let newVersion):
                    self.lock.withLock {
                        self.installLocked(next, version: newVersion)
                        for (registration, code) in result.attentions { self.unit?.postAttention(code, to: registration) }
                    }
                    self.notifyPeers(next: bytes, version: newVersion, result.attentions, loop, deadline) {
                        promise.succeed(Self.answer(result))
                    }
                case .failure(SharedBlobError.versionConflict) where number < self.timing.maximumAttempts:
                    let delay = self.backoff(number)
                    guard NIODeadline.now() + delay < deadline else {
                        return promise.succeed(Self.failure(SharedBlobError.timedOut))
                    }
                    loop.scheduleTask(in: delay) { self.attempt(number + 1, request, port, loop, deadline: deadline, promise) }
                case .failure(let error):
                    promise.succeed(Self.failure(error))
                }
            }
        }
    }

    /// Tells the peers; whatever they say, the change is stored, so `then` runs after the
    /// bounded wait. A peer that did not acknowledge in time (a gateway that died without
    /// unwatching, until RADOS drops its watch) reloads when its watch is set up again.
    private func notifyPeers(
        next state: [UInt8], version: UInt64, _ attentions: [(to: PersistentRegistration, code: AdditionalSenseCode)],
        _ loop: EventLoop, _ deadline: NIODeadline, then: @escaping () -> Void
    ) {
        let notice = PersistentReservationCoding.Notice(
            sender: sender, version: version, attentions: attentions.map { .init(code: $0.code, registration: $0.to) },
            state: state)
        guard let message = try? PersistentReservationCoding.encode(notice) else { return then() }
        let blob = self.blob
        // What is left of the command's deadline, less a margin for the answer to travel.
        let left = (deadline - .now() - .milliseconds(500)).nanoseconds / 1_000_000
        let timeout = UInt64(max(100, min(Int64(timing.notifyTimeoutMilliseconds), left)))
        step(on: loop, deadline: deadline, limit: .milliseconds(Int64(timeout)) + .milliseconds(500)) {
            blob.notifyPeers(message, timeoutMilliseconds: timeout, $0)
        }.whenComplete { outcome in
            if case .failure = outcome { self.renotify(message, version: version, attempt: 1, loop) }
            then()
        }
    }

    /// Sends a notify again, in the background, until every peer acknowledged it, a newer
    /// change superseded it, or `renotifyAttempts` ran out.
    private func renotify(_ message: [UInt8], version: UInt64, attempt: Int, _ loop: EventLoop) {
        guard attempt <= timing.renotifyAttempts else { return }
        loop.scheduleTask(in: timing.renotifyInterval) { [weak self] in
            guard let self, self.lock.withLock({ self.version }) == version else { return }
            let timeout = UInt64(max(100, self.timing.renotifyInterval.nanoseconds / 1_000_000))
            self.blob.notifyPeers(message, timeoutMilliseconds: timeout) { [weak self] outcome in
                if case .failure = outcome { self?.renotify(message, version: version, attempt: attempt + 1, loop) }
            }
        }
    }

    /// Runs one blob operation with a timer: whichever of the two comes first completes the
    /// future on `loop`; the other is dropped.
    private func step<T: Sendable>(
        on loop: EventLoop, deadline: NIODeadline, limit: TimeAmount? = nil,
        late: (@Sendable (Result<T, SharedBlobError>) -> Void)? = nil,
        _ start: (@escaping @Sendable (Result<T, SharedBlobError>) -> Void) -> Void
    ) -> EventLoopFuture<T> {
        let promise = loop.makePromise(of: T.self)
        let remaining = min(limit ?? timing.stepTimeout, deadline - .now())
        guard remaining > .zero else {
            promise.fail(SharedBlobError.timedOut)
            return promise.futureResult
        }
        let once = LockedBox(false)
        let timer = loop.scheduleTask(in: remaining) {
            if once.claim() { promise.fail(SharedBlobError.timedOut) }
        }
        start { result in
            guard once.claim() else { return late?(result) ?? () }
            timer.cancel()
            promise.completeWith(result.mapError { $0 as Error })
        }
        return promise.futureResult
    }

    private func postLocally(_ attentions: [(to: PersistentRegistration, code: AdditionalSenseCode)]) {
        guard !attentions.isEmpty else { return }
        lock.withLock {
            for (registration, code) in attentions { unit?.postAttention(code, to: registration) }
        }
    }

    /// Random in [0, min(base << n, cap)]: spreads gateways that lost the same race.
    private func backoff(_ attempt: Int) -> TimeAmount {
        let ceiling = min(timing.backoffBase.nanoseconds << Int64(min(attempt, 20)), timing.backoffCap.nanoseconds)
        return .nanoseconds(Int64.random(in: 0...max(0, ceiling)))
    }

    // MARK: Answers

    static func answer(_ result: PersistentReserveOutResult) -> SCSICommandResult {
        switch result.status {
        case .good: return SCSICommandResult(status: .good)
        case .reservationConflict: return SCSICommandResult(status: .reservationConflict)
        case .check(let code): return .checkCondition(.illegalRequest, code)
        }
    }

    /// SPC-4 5.13.7: no room for another registration.
    static let insufficientRegistrationResources = SCSICommandResult.checkCondition(
        .illegalRequest, .insufficientRegistrationResources)

    /// What a command ends with when the shared state could not be read or written. Timeouts
    /// and lost races are ABORTED COMMAND (worth retrying; a timed-out store may still have
    /// landed, as with any command whose status was lost), with LOGICAL UNIT COMMUNICATION
    /// TIME-OUT and INTERNAL TARGET FAILURE telling the two apart; a state this gateway cannot
    /// read (corrupt, newer format) is HARDWARE ERROR, as retrying will not help.
    static func failure(_ error: Error) -> SCSICommandResult {
        switch error {
        case SharedBlobError.timedOut:
            return .checkCondition(.abortedCommand, .logicalUnitCommunicationTimeout)
        case is PersistentReservationCodingError:
            return .checkCondition(.hardwareError, .internalTargetFailure)
        default:
            return .checkCondition(.abortedCommand, .internalTargetFailure)
        }
    }
}

/// A value behind a lock, for completions that may run on any thread.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = DeviceLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}

extension LockedBox where Value == Bool {
    /// True for the first caller only.
    func claim() -> Bool {
        lock.withLock {
            defer { value = true }
            return !value
        }
    }
}
