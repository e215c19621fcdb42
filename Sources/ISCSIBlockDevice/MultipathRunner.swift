import SCSIProtocol
import BlockDevice
import Foundation
import ISCSIInitiator
import NIOConcurrencyHelpers
import NIOCore

/// multipath's knobs (iscsid.conf `multipath.*`, see iscsid(8)).
public struct MultipathSettings: Sendable, Equatable {
    public var policy: PathSelector.Policy = .queueLength
    /// How often failed paths are checked, port groups re-read and waiting commands expired
    /// (multipath.conf's polling_interval).
    public var pollingInterval: TimeAmount = .seconds(1)
    /// Polling intervals commands wait when no path is left before they fail; nil: fail at once
    /// (multipath.conf's no_path_retry). The default waits as long as one session's
    /// replacement_timeout would.
    public var noPathRetry: Int? = 120
    /// Commands that may wait for a path at most.
    public var queueCapacity = 4096

    public init() {}

    var noPathLimit: TimeAmount? { noPathRetry.map { .nanoseconds(pollingInterval.nanoseconds * Int64($0)) } }
}

/// Every path to one LU as one command runner (dm-multipath's map): each command goes down the
/// path the `PathSelector` picks; a path error sends it down another path at once (only commands
/// not yet acknowledged are ever sent again, so acknowledged writes keep their order); with no
/// path left commands wait in a `NoPathQueue`. Paths learn of their session's state from the
/// session (`observeState`), so a dropped connection moves IO at once rather than after a timeout.
///
/// Thread-safe: paths complete on their sessions' event loops; one lock guards the state.
public final class MultipathRunner: SCSICommandRunner, @unchecked Sendable {
    /// Standard INQUIRY said TPGS != 0: port group states come from REPORT TARGET PORT GROUPS.
    public let alua: Bool
    public let settings: MultipathSettings
    private let timerLoop: EventLoop
    private let lock = NIOLock()
    private var selector: PathSelector
    private var queue: NoPathQueue<Pending>
    private var paths: [Int: any LUPath] = [:]
    private var probing: Set<Int> = []
    private var readingGroups = false
    private var groupsStale = true
    private var ticks = 0
    private var timer: RepeatedTask?

    /// A command on its way; `attempts` counts the paths it was sent down.
    struct Pending: @unchecked Sendable {
        var cdb: ByteBuffer
        var dataOut: ByteBuffer?
        var expected: Int
        var attempts = 0
        var completion: @Sendable (Result<SCSICommandResponse, BlockDeviceError>) -> Void
    }

    /// A command is sent down this many paths at most before its last error stands (a path that
    /// keeps coming back and failing must not spin).
    static let maxAttempts = 32

    public init(alua: Bool, settings: MultipathSettings = MultipathSettings(), timerLoop: EventLoop) {
        self.alua = alua
        self.settings = settings
        self.timerLoop = timerLoop
        self.selector = PathSelector(policy: settings.policy)
        self.queue = NoPathQueue(limit: settings.noPathLimit, capacity: settings.queueCapacity)
    }

    deinit { timer?.cancel() }

    /// Starts the checker (idempotent).
    public func start() {
        lock.withLock {
            guard timer == nil else { return }
            let interval = settings.pollingInterval
            timer = timerLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in self?.tick() }
        }
    }

    public func stop() {
        lock.withLock {
            timer?.cancel()
            timer = nil
        }
    }

    // MARK: Paths

    /// Adds LUN `lun` of `session` as path `id` (the session id); `group` and `relativePort`
    /// from its VPD 0x83 page.
    public func addPath(id: Int, session: ISCSISession, lun: UInt64, group: UInt16?, relativePort: UInt16?) {
        let path = SessionPath(session: session, lun: lun) { [weak self] in self?.accessStateChanged() }
        addPath(id: id, path: path, group: group, relativePort: relativePort)
    }

    /// Adds `path` as path `id`; its connection changes reach the selector from now on.
    public func addPath(id: Int, path: any LUPath, group: UInt16?, relativePort: UInt16?) {
        lock.withLock {
            paths[id] = path
            selector.add(id: id, connected: false, group: group, relativePort: relativePort)
            groupsStale = true
        }
        path.observeConnection { [weak self, weak path] up in
            guard let self, let path, self.owns(id: id, path: path) else { return }
            self.connectionChanged(id: id, up: up)
        }
    }

    /// Removes path `id` (its session logged out); commands in flight on it end on their own.
    public func removePath(id: Int) {
        let ready = lock.withLock { () -> [Pending] in
            paths[id] = nil
            selector.remove(id: id)
            return takeQueueIfRoutable()
        }
        ready.forEach(dispatch)
    }

    public var pathIDs: [Int] { lock.withLock { Array(paths.keys).sorted() } }

    private func owns(id: Int, path: any LUPath) -> Bool {
        lock.withLock { paths[id] === path }
    }

    private func connectionChanged(id: Int, up: Bool) {
        let ready = lock.withLock { () -> [Pending] in
            guard paths[id] != nil else { return [] }
            selector.connectionChanged(id: id, up: up)
            if up { groupsStale = true }
            return afterChange()
        }
        ready.forEach(dispatch)
        if up && alua { readGroups() }
    }

    /// With the lock held, after a path changed: the waiting commands when a path is usable now;
    /// starts the no-path clock when none is.
    private func afterChange() -> [Pending] {
        if !selector.hasUsablePath && selector.isMultipath { queue.lost(now: .now()) }
        return takeQueueIfRoutable()
    }

    private func takeQueueIfRoutable() -> [Pending] {
        guard queue.count > 0 || queue.since != nil else { return [] }
        let routable = selector.hasUsablePath || (!selector.isMultipath && !paths.isEmpty)
        return routable ? queue.pathAvailable() : []
    }

    // MARK: Commands

    public func run(
        cdb: ByteBuffer, dataOut: ByteBuffer?, expected: Int,
        completion: @escaping @Sendable (Result<SCSICommandResponse, BlockDeviceError>) -> Void
    ) {
        dispatch(Pending(cdb: cdb, dataOut: dataOut, expected: expected, completion: completion))
    }

    private func dispatch(_ command: Pending) {
        var command = command
        lock.lock()
        guard let id = selector.take(), let path = paths[id] else {
            let decision = queue.add(command, now: .now())
            lock.unlock()
            if case .fail(let why) = decision { command.completion(.failure(BlockDeviceError(.unavailable, why))) }
            return
        }
        let failFast = selector.isMultipath
        lock.unlock()
        command.attempts += 1
        let sent = command
        path.execute(cdb: sent.cdb, dataOut: sent.dataOut, expected: sent.expected, failFast: failFast) { outcome in
            self.ended(sent, on: id, failFast: failFast, outcome)
        }
    }

    private func ended(_ command: Pending, on id: Int, failFast: Bool, _ outcome: PathOutcome) {
        let error: BlockDeviceError
        var state: ALUAState?
        switch outcome {
        case .done(let result):
            lock.withLock { selector.finished(id: id) }
            return command.completion(result)
        case .pathError(let e): error = e
        case .accessState(let s, let e):
            error = e
            state = s
        }
        // Sent without fail-fast (one path): the session already waited; the error stands.
        guard failFast, command.attempts < Self.maxAttempts else {
            lock.withLock { selector.finished(id: id) }
            return command.completion(.failure(error))
        }
        let ready = lock.withLock { () -> [Pending] in
            selector.finished(id: id)
            if let state {
                selector.stateReported(id: id, state)
                groupsStale = true
            } else {
                selector.pathFailed(id: id)
            }
            return afterChange()
        }
        if state != nil && alua { readGroups() }
        dispatch(command)
        ready.forEach(dispatch)
    }

    // MARK: Checker

    /// Every polling interval: fail commands that waited too long, test failed paths whose
    /// session is up (TEST UNIT READY), re-read port groups when they may have changed.
    private func tick() {
        let (expired, reason, probes, readNow) = lock.withLock { () -> ([Pending], String, [(Int, any LUPath)], Bool) in
            ticks += 1
            let expired = queue.expire(now: .now())
            var probes: [(Int, any LUPath)] = []
            for path in selector.paths where path.connected && path.failed && !probing.contains(path.id) {
                guard let session = paths[path.id] else { continue }
                probing.insert(path.id)
                probes.append((path.id, session))
            }
            let notAllUsable = selector.paths.contains { $0.connected && !$0.usable }
            let readNow = alua && (groupsStale || notAllUsable || ticks % 10 == 0)
            return (expired.items, expired.reason, probes, readNow)
        }
        for command in expired { command.completion(.failure(BlockDeviceError(.unavailable, reason))) }
        for (id, path) in probes { probe(id, path) }
        if readNow { readGroups() }
    }

    private func probe(_ id: Int, _ path: any LUPath) {
        var cdb = ByteBufferAllocator().buffer(capacity: 6)
        cdb.writeRepeatingByte(0, count: 6)  // TEST UNIT READY
        path.execute(cdb: cdb, dataOut: nil, expected: 0, failFast: true) { outcome in
            let ready = self.lock.withLock { () -> [Pending] in
                self.probing.remove(id)
                switch outcome {
                case .done:
                    self.selector.reinstate(id: id)
                    return self.afterChange()
                case .accessState(let state, _):
                    self.selector.reinstate(id: id)
                    self.selector.stateReported(id: id, state)
                    self.groupsStale = true
                    return []
                case .pathError:
                    return []
                }
            }
            ready.forEach(self.dispatch)
        }
    }

    /// The target said port states changed (06/2A/06): read them at the next chance.
    func accessStateChanged() {
        lock.withLock { groupsStale = true }
        readGroups()
    }

    /// REPORT TARGET PORT GROUPS down a connected path (any state answers it); one at a time.
    private func readGroups() {
        guard alua else { return }
        let chosen = lock.withLock { () -> (any LUPath)? in
            guard !readingGroups else { return nil }
            let candidates = selector.paths.filter { $0.connected }
            guard let pick = candidates.first(where: { $0.usable }) ?? candidates.first, let path = paths[pick.id] else { return nil }
            readingGroups = true
            groupsStale = false
            return path
        }
        guard let path = chosen else { return }
        let length: UInt32 = 4096
        var cdb = ByteBufferAllocator().buffer(capacity: 12)
        cdb.writeBytes(TargetPortGroup.reportCDB(allocationLength: length))
        path.execute(cdb: cdb, dataOut: nil, expected: Int(length), failFast: true) { outcome in
            let groups: [TargetPortGroup]?
            if case .done(.success(let response)) = outcome { groups = TargetPortGroup.parse(response.data) } else { groups = nil }
            let ready = self.lock.withLock { () -> [Pending] in
                self.readingGroups = false
                guard let groups else {
                    self.groupsStale = true
                    return []
                }
                self.selector.portGroups(groups)
                return self.afterChange()
            }
            ready.forEach(self.dispatch)
        }
    }

    // MARK: Status

    /// The paths and their states, for `iscsiadm -m multipath`.
    public struct Status: Sendable {
        public var paths: [PathSelector.Path]
        public var policy: PathSelector.Policy
        public var waiting: Int
        /// No path since then (the no_path_retry clock), nil while there is one.
        public var noPathSince: NIODeadline?
    }

    public var status: Status {
        lock.withLock {
            Status(paths: selector.paths, policy: selector.policy, waiting: queue.count, noPathSince: queue.since)
        }
    }
}

extension MultipathSettings {
    /// The `multipath.*` keys of iscsid.conf: `polling_interval` (seconds), `no_path_retry`
    /// (polling intervals, or `fail`), `path_selector` (`round-robin` or `queue-length`, a
    /// trailing ` 0` as dm writes it allowed). Returns the settings and one line per value it
    /// could not use (that key keeps its default).
    public static func parse(_ value: (String) -> String?) -> (MultipathSettings, [String]) {
        var settings = MultipathSettings()
        var problems: [String] = []
        if let text = value("multipath.polling_interval") {
            if let seconds = Int64(text.trimmingCharacters(in: .whitespaces)), seconds > 0, seconds <= 3600 {
                settings.pollingInterval = .seconds(seconds)
            } else {
                problems.append("multipath.polling_interval = \(text): not a number of seconds from 1 to 3600")
            }
        }
        if let text = value("multipath.no_path_retry")?.trimmingCharacters(in: .whitespaces) {
            if text == "fail" {
                settings.noPathRetry = nil
            } else if let count = Int(text), count >= 0, count <= 86_400 {
                settings.noPathRetry = count == 0 ? nil : count
            } else {
                problems.append("multipath.no_path_retry = \(text): use a number of polling intervals or \"fail\" (\"queue\", waiting for ever, is not offered)")
            }
        }
        if let text = value("multipath.path_selector") {
            let name = text.split(separator: " ").first.map(String.init) ?? ""
            if let policy = PathSelector.Policy(rawValue: name) {
                settings.policy = policy
            } else {
                problems.append("multipath.path_selector = \(text): use round-robin or queue-length")
            }
        }
        return (settings, problems)
    }
}
