#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// RBD images keep their shared blobs (persistent reservations) in RADOS objects next to the
/// image: "iscsi.<name>.<image id>" in the image's pool and namespace, the same on every gateway.
extension RBDBackstore: SharedBlobProvider {
    public func openSharedBlob(named name: String) throws -> SharedBlob {
        try sharedBlobs.open(objectName: "iscsi.\(name).\(imageID)", gate: gate, timeoutSeconds: location.timeout)
    }
}

/// The blobs of one RBD image handle. Closed (unwatched) by the image's release, before its
/// RADOS context goes.
final class RADOSSharedBlobs: @unchecked Sendable {
    private let ioctx: LibRADOSObjects.Handle
    private let mutex = PThreadMutex()
    private var blobs: [String: RADOSSharedBlob] = [:]
    private var closed = false

    init(ioctx: LibRADOSObjects.Handle) {
        self.ioctx = ioctx
    }

    func open(objectName: String, gate: IOGate, timeoutSeconds: Int) throws -> RADOSSharedBlob {
        let lib = try LibRADOSObjects.shared()
        // Under the registry's lock, so two opens of one name set up one watch between them.
        return try mutex.withLock {
            guard !closed else { throw BackstoreError.closedStore }
            let blob = blobs[objectName] ?? RADOSSharedBlob(lib: lib, ioctx: ioctx, objectName: objectName, gate: gate)
            // Kept even if the watch fails: closeAll still ends a watch that comes up late.
            blobs[objectName] = blob
            if !blob.isWatching { try blob.startWatching(timeoutSeconds: Double(max(1, timeoutSeconds))) }
            return blob
        }
    }

    /// Ends every watch and waits (bounded) for watch callbacks in progress; the blobs refuse
    /// further calls. Blocks: run by the image's release, off the event loops.
    func closeAll() {
        let all: [RADOSSharedBlob] = mutex.withLock {
            closed = true
            defer { blobs = [:] }
            return Array(blobs.values)
        }
        for blob in all { blob.close() }
        guard let lib = all.first?.lib, let cluster = lib.ioctxGetCluster(ioctx) else { return }
        _ = RADOSObjectCall.wait(lib: lib, timeoutSeconds: 10) { lib.aioWatchFlush(cluster, $0) }
    }
}

/// A shared blob in one RADOS object: an 8-byte big-endian version, then the contents.
///
/// - `load` is one read op (stat + read), so version and contents come from the same instant;
///   a blob larger than the first read is read again at its size (bounded).
/// - `store` is one write op: compare the version bytes (cmpext) and write the whole object; a
///   mismatch writes nothing and reports `.versionConflict`. Version 0 (never stored) also
///   matches an empty or absent object, which the op creates.
/// - Every gateway watches the object; `notifyPeers` is a RADOS notify whose completion waits
///   for every watcher's acknowledgement (or the timeout). A watch callback hands the message
///   to the handler and acknowledges when it returns. A broken watch is set up again off
///   librados' threads, then the handler hears `.resync`.
/// Every call enters the image's IO gate, so the RADOS context outlives it.
final class RADOSSharedBlob: SharedBlob, @unchecked Sendable {
    static let headerSize = 8
    /// Far above what persistent reservations need (a few KiB), far below RADOS' limits.
    static let maximumContentSize = 512 << 10
    let maximumSize = RADOSSharedBlob.maximumContentSize

    let lib: LibRADOSObjects
    let objectName: String
    private let ioctx: LibRADOSObjects.Handle
    private let gate: IOGate
    private let mutex = PThreadMutex()
    /// Guarded by `mutex`.
    private var handler: (@Sendable (SharedBlobEvent) -> Void)?
    private var cookie: UInt64?
    private var closed = false
    /// Watch re-establishment blocks (bounded) on this queue, never on librados' threads.
    private let rewatchQueue = DispatchQueue(label: "RADOSSharedBlob.rewatch")

    init(lib: LibRADOSObjects, ioctx: LibRADOSObjects.Handle, objectName: String, gate: IOGate) {
        self.lib = lib
        self.ioctx = ioctx
        self.objectName = objectName
        self.gate = gate
    }

    var isWatching: Bool { mutex.withLock { cookie != nil } }
    /// The watch's cookie (tests).
    var watchCookie: UInt64? { mutex.withLock { cookie } }

    func setEventHandler(_ handler: (@Sendable (SharedBlobEvent) -> Void)?) {
        mutex.withLock { self.handler = handler }
    }

    // MARK: Load

    func load(_ done: @escaping @Sendable (Result<SharedBlobSnapshot, SharedBlobError>) -> Void) {
        load(bufferSize: 4096, attempt: 1, done)
    }

    private func load(
        bufferSize: Int, attempt: Int, _ done: @escaping @Sendable (Result<SharedBlobSnapshot, SharedBlobError>) -> Void
    ) {
        guard gate.enter() else { return done(.failure(.closed)) }
        guard let op = lib.createReadOp() else {
            leaveGate()
            return done(.failure(.failed("can't create a RADOS read op")))
        }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
        let size = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        let bytesRead = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        let results = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
        size.initialize(to: 0)
        bytesRead.initialize(to: 0)
        results.initialize(repeating: 0, count: 2)
        lib.readOpStat(op, size, nil, results)
        lib.readOpRead(op, 0, bufferSize, memory.assumingMemoryBound(to: CChar.self), bytesRead, results + 1)
        let lib = self.lib
        let name = objectName
        let call = RADOSObjectCall(lib: lib) { [self] rc in
            let objectSize = size.pointee
            let count = min(bytesRead.pointee, bufferSize)
            let bytes = [UInt8](UnsafeRawBufferPointer(start: memory, count: count))
            memory.deallocate()
            size.deallocate()
            bytesRead.deallocate()
            results.deallocate()
            lib.releaseReadOp(op)
            leaveGate()
            if rc == -ENOENT { return done(.success(SharedBlobSnapshot(bytes: [], version: 0))) }
            guard rc >= 0 else { return done(.failure(.failed("RADOS read of \(name) failed: \(describe(rc))"))) }
            if objectSize > UInt64(count) {
                guard objectSize <= UInt64(Self.headerSize + maximumSize) else {
                    return done(.failure(.tooLarge(Int(clamping: objectSize))))
                }
                guard attempt < 3 else { return done(.failure(.failed("RADOS object \(name) keeps changing size"))) }
                return load(bufferSize: Int(objectSize), attempt: attempt + 1, done)
            }
            if bytes.isEmpty { return done(.success(SharedBlobSnapshot(bytes: [], version: 0))) }
            guard bytes.count >= Self.headerSize else {
                return done(.failure(.failed("RADOS object \(name) is shorter than its version (\(bytes.count) bytes)")))
            }
            let version = bytes[0..<Self.headerSize].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            done(.success(SharedBlobSnapshot(bytes: Array(bytes[Self.headerSize...]), version: version)))
        }
        call.start { lib.aioReadOpOperate(op, ioctx, $0, name, 0) }
    }

    // MARK: Store

    func store(
        _ bytes: [UInt8], ifVersion expected: UInt64, _ done: @escaping @Sendable (Result<UInt64, SharedBlobError>) -> Void
    ) {
        guard bytes.count <= maximumSize else { return done(.failure(.tooLarge(bytes.count))) }
        guard expected < UInt64.max else { return done(.failure(.failed("version \(expected) cannot grow"))) }
        guard gate.enter() else { return done(.failure(.closed)) }
        guard let op = lib.createWriteOp() else {
            leaveGate()
            return done(.failure(.failed("can't create a RADOS write op")))
        }
        let next = expected + 1
        let compare = UnsafeMutablePointer<CChar>.allocate(capacity: Self.headerSize)
        let data = UnsafeMutablePointer<CChar>.allocate(capacity: Self.headerSize + bytes.count)
        let compareResult = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        compareResult.initialize(to: 0)
        for index in 0..<Self.headerSize {
            let shift = UInt64(8 * (Self.headerSize - 1 - index))
            compare[index] = CChar(bitPattern: UInt8(truncatingIfNeeded: expected >> shift))
            data[index] = CChar(bitPattern: UInt8(truncatingIfNeeded: next >> shift))
        }
        for (index, byte) in bytes.enumerated() { data[Self.headerSize + index] = CChar(bitPattern: byte) }
        // Version 0: the object may be absent (or empty); create it, then the comparison sees
        // zeros, as it does past the end of a shorter object.
        if expected == 0 { lib.writeOpCreate(op, LibRADOSObjects.createIdempotent, nil) }
        lib.writeOpCmpext(op, compare, Self.headerSize, 0, compareResult)
        lib.writeOpWriteFull(op, data, Self.headerSize + bytes.count)
        let lib = self.lib
        let name = objectName
        let call = RADOSObjectCall(lib: lib) { [self] rc in
            compare.deallocate()
            data.deallocate()
            compareResult.deallocate()
            lib.releaseWriteOp(op)
            leaveGate()
            if rc >= 0 { return done(.success(next)) }
            // A different version (cmpext), or the object removed underneath.
            if rc <= LibRADOSObjects.cmpextMismatchCeiling || rc == -ECANCELED || rc == -ENOENT {
                return done(.failure(.versionConflict))
            }
            done(.failure(.failed("RADOS write of \(name) failed: \(describe(rc))")))
        }
        call.start { lib.aioWriteOpOperate(op, ioctx, $0, name, nil, 0) }
    }

    // MARK: Notify

    func notifyPeers(
        _ message: [UInt8], timeoutMilliseconds: UInt64, _ done: @escaping @Sendable (Result<Void, SharedBlobError>) -> Void
    ) {
        guard message.count <= Self.headerSize + 2 * maximumSize else { return done(.failure(.tooLarge(message.count))) }
        guard gate.enter() else { return done(.failure(.closed)) }
        let memory = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, message.count))
        for (index, byte) in message.enumerated() { memory[index] = CChar(bitPattern: byte) }
        let reply = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 1)
        let replyLength = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        reply.initialize(to: nil)
        replyLength.initialize(to: 0)
        let lib = self.lib
        let name = objectName
        let call = RADOSObjectCall(lib: lib) { [self] rc in
            if let buffer = reply.pointee { lib.bufferFree(buffer) }
            memory.deallocate()
            reply.deallocate()
            replyLength.deallocate()
            leaveGate()
            if rc >= 0 { return done(.success(())) }
            if rc == -ETIMEDOUT { return done(.failure(.timedOut)) }
            done(.failure(.failed("RADOS notify on \(name) failed: \(describe(rc))")))
        }
        call.start {
            lib.aioNotify(ioctx, name, $0, memory, Int32(message.count), timeoutMilliseconds, reply, replyLength)
        }
    }

    // MARK: Watch

    /// Creates the object if needed (a watch needs one) and watches it; bounded.
    func startWatching(timeoutSeconds: Double) throws {
        let lib = self.lib
        let name = objectName
        guard let op = lib.createWriteOp() else { throw BackstoreError(.ioError, "can't create a RADOS write op") }
        lib.writeOpCreate(op, LibRADOSObjects.createIdempotent, nil)
        // Released when librados is done with it, even after the wait gave up.
        var rc = RADOSObjectCall.wait(lib: lib, timeoutSeconds: timeoutSeconds, finish: { _ in lib.releaseWriteOp(op) }) {
            lib.aioWriteOpOperate(op, self.ioctx, $0, name, nil, 0)
        }
        guard let created = rc else {
            throw BackstoreError(.ioError, errno: ETIMEDOUT, "can't create RADOS object \(name): timed out")
        }
        guard created >= 0 else {
            throw BackstoreError(.ioError, errno: -created, "can't create RADOS object \(name): \(describe(created))")
        }
        rc = watch(timeoutSeconds: timeoutSeconds)
        guard let watched = rc, watched >= 0 else {
            let code = rc ?? -ETIMEDOUT
            throw BackstoreError(.ioError, errno: -code, "can't watch RADOS object \(name): \(describe(code))")
        }
    }

    /// Starts a watch; the code, or nil on timeout (a late success still records its cookie,
    /// so closing ends it).
    private func watch(timeoutSeconds: Double) -> Int32? {
        let handle = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        handle.initialize(to: 0)
        let argument = Unmanaged.passUnretained(self).toOpaque()
        return RADOSObjectCall.wait(
            lib: lib, timeoutSeconds: timeoutSeconds,
            finish: { [self] rc in
                let cookie = handle.pointee
                handle.deallocate()
                guard rc >= 0 else { return }
                // One watch per blob: a surplus one (closed meanwhile, or a late success after
                // a retry) is ended at once, not left behind pointing at this blob.
                let surplus: Bool = mutex.withLock {
                    guard self.cookie == nil, !closed else { return true }
                    self.cookie = cookie
                    return false
                }
                if surplus { RADOSObjectCall(lib: lib) { _ in }.start { lib.aioUnwatch(ioctx, cookie, $0) } }
            },
            { lib.aioWatch(self.ioctx, self.objectName, $0, handle, radosWatchCallback, radosWatchErrorCallback, argument) })
    }

    /// On a librados thread: a peer's notify. Handled, then acknowledged.
    fileprivate func notified(_ message: [UInt8]?, notifyID: UInt64, cookie: UInt64) {
        let handler = mutex.withLock { self.handler }
        handler?(message.map { .notified($0) } ?? .resync)
        _ = lib.notifyAck(ioctx, objectName, notifyID, cookie, nil, 0)
    }

    /// On a librados thread: the watch broke (e.g. the OSD session was lost). Set it up again
    /// off this thread, a bounded number of times with backoff, then ask for a reload.
    func watchFailed(cookie failed: UInt64, error: Int32) {
        if getenv("SWIFT_ISCSI_DEBUG_RADOS_WATCH") != nil {
            fputs("RADOS watch on \(objectName) failed: \(describe(error)); setting it up again\n", stderr)
        }
        rewatchQueue.async { [self] in rewatch(failed, attempt: 1) }
    }

    private func rewatch(_ failed: UInt64, attempt: Int) {
        // Inside the IO gate, so the image's release (which destroys the RADOS context) waits.
        guard gate.enter() else { return }
        defer { leaveGate() }
        let old: UInt64? = mutex.withLock {
            guard !closed, cookie == failed || cookie == nil else { return nil }
            defer { cookie = nil }
            return cookie ?? 0
        }
        guard let old else { return }
        if old != 0 { _ = RADOSObjectCall.wait(lib: lib, timeoutSeconds: 10) { self.lib.aioUnwatch(self.ioctx, old, $0) } }
        // startWatching creates the object first, in case it was removed (which also breaks a watch).
        if (try? startWatching(timeoutSeconds: 10)) != nil {
            let handler = mutex.withLock { self.handler }
            handler?(.resync)
            return
        }
        guard attempt < 60 else { return }
        let delay = min(0.1 * Double(1 << min(attempt, 6)), 5)
        rewatchQueue.asyncAfter(deadline: .now() + delay) { [self] in rewatch(0, attempt: attempt + 1) }
    }

    /// No more events or calls; ends the watch (bounded wait).
    func close() {
        let cookie: UInt64? = mutex.withLock {
            closed = true
            handler = nil
            defer { self.cookie = nil }
            return self.cookie
        }
        if let cookie { _ = RADOSObjectCall.wait(lib: lib, timeoutSeconds: 10) { self.lib.aioUnwatch(self.ioctx, cookie, $0) } }
    }

    /// Leaving may release the image (rbd_close, which waits for librados): never on one of
    /// librados' own threads, where that could deadlock.
    private func leaveGate() {
        let gate = self.gate
        DispatchQueue.global().async { gate.leave() }
    }
}

private func describe(_ rc: Int32) -> String { LibRBD.describe(Int(rc)) }

// librados' watch callbacks: nonisolated global functions without captures (a closure written
// in main-actor code and called on a librados thread kills the process with SIGILL).

/// Notifies larger than this are not copied; the holder reloads instead.
private let maximumNotifyCopy = 4 << 20

private func radosWatchCallback(
    _ argument: UnsafeMutableRawPointer?, _ notifyID: UInt64, _ cookie: UInt64, _ notifierID: UInt64,
    _ data: UnsafeMutableRawPointer?, _ length: Int
) {
    guard let argument else { return }
    let blob = Unmanaged<RADOSSharedBlob>.fromOpaque(argument).takeUnretainedValue()
    var message: [UInt8]? = []
    if length > 0 {
        message = length <= maximumNotifyCopy && data != nil ? [UInt8](UnsafeRawBufferPointer(start: data, count: length)) : nil
    }
    blob.notified(message, notifyID: notifyID, cookie: cookie)
}

private func radosWatchErrorCallback(_ argument: UnsafeMutableRawPointer?, _ cookie: UInt64, _ error: Int32) {
    guard let argument else { return }
    Unmanaged<RADOSSharedBlob>.fromOpaque(argument).takeUnretainedValue().watchFailed(cookie: cookie, error: error)
}
