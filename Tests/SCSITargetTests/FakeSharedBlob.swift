import Backstore
import Foundation
import NIOCore

/// What RADOS is to the RBD gateways, in memory: one blob with a version, compare-and-store,
/// and notifies delivered to every gateway's handler. Knobs make it slow, hostile or corrupt.
final class FakeBlobCluster: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var version: UInt64 = 0
    private var blobs: [FakeSharedBlob] = []
    private var knobs = Knobs()
    private var counters = Counters()

    struct Knobs {
        /// Completions arrive this long later on another thread (0: inline).
        var latency: TimeInterval = 0
        /// The next this many stores lose a race they never ran.
        var injectedConflicts = 0
        /// Loads, stores or notifies never complete.
        var hangLoads = false
        var hangStores = false
        /// Stores land (and complete) this long after they were asked for.
        var storeDelay: TimeInterval = 0
        /// Notifies reach nobody and end in `.timedOut`.
        var notifiesTimeOut = false
    }

    struct Counters {
        var stores = 0
        var conflicts = 0
        var notifies = 0
    }

    var stats: Counters { lock.withLock { counters } }

    func tune(_ change: (inout Knobs) -> Void) { lock.withLock { change(&knobs) } }

    /// A gateway's handle on the blob.
    func blob() -> FakeSharedBlob {
        let blob = FakeSharedBlob(cluster: self)
        lock.withLock { blobs.append(blob) }
        return blob
    }

    /// Overwrites the contents behind every gateway's back, as a broken peer or tool would.
    func overwrite(_ newBytes: [UInt8]) {
        lock.withLock {
            bytes = newBytes
            version += 1
        }
    }

    var snapshot: SharedBlobSnapshot { lock.withLock { SharedBlobSnapshot(bytes: bytes, version: version) } }

    fileprivate func later(_ body: @escaping @Sendable () -> Void) {
        let latency = lock.withLock { knobs.latency }
        if latency == 0 { return body() }
        DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int.random(in: 0...Int(latency * 1e6))), execute: body)
    }

    fileprivate func load(_ done: @escaping @Sendable (Result<SharedBlobSnapshot, SharedBlobError>) -> Void) {
        if lock.withLock({ knobs.hangLoads }) { return }
        later { done(.success(self.snapshot)) }
    }

    fileprivate func store(
        _ newBytes: [UInt8], ifVersion expected: UInt64, _ done: @escaping @Sendable (Result<UInt64, SharedBlobError>) -> Void
    ) {
        let (hang, delay) = lock.withLock { (knobs.hangStores, knobs.storeDelay) }
        if hang { return }
        if delay > 0 {
            return DispatchQueue.global().asyncAfter(deadline: .now() + delay) {
                self.tune { $0.storeDelay = 0 }
                self.store(newBytes, ifVersion: expected, done)
            }
        }
        later {
            let result: Result<UInt64, SharedBlobError> = self.lock.withLock {
                self.counters.stores += 1
                if self.knobs.injectedConflicts > 0 || self.version != expected {
                    self.knobs.injectedConflicts = max(0, self.knobs.injectedConflicts - 1)
                    self.counters.conflicts += 1
                    return .failure(.versionConflict)
                }
                self.bytes = newBytes
                self.version += 1
                return .success(self.version)
            }
            done(result)
        }
    }

    fileprivate func notify(_ message: [UInt8], _ done: @escaping @Sendable (Result<Void, SharedBlobError>) -> Void) {
        let (everyone, timesOut) = lock.withLock { () -> ([FakeSharedBlob], Bool) in
            counters.notifies += 1
            return (blobs, knobs.notifiesTimeOut)
        }
        if timesOut { return later { done(.failure(.timedOut)) } }
        later {
            for blob in everyone { blob.deliver(.notified(message)) }
            done(.success(()))
        }
    }
}

final class FakeSharedBlob: SharedBlob, @unchecked Sendable {
    let maximumSize = 64 << 10
    private let cluster: FakeBlobCluster
    private let lock = NSLock()
    private var handler: (@Sendable (SharedBlobEvent) -> Void)?

    fileprivate init(cluster: FakeBlobCluster) { self.cluster = cluster }

    func load(_ done: @escaping @Sendable (Result<SharedBlobSnapshot, SharedBlobError>) -> Void) { cluster.load(done) }

    func store(_ bytes: [UInt8], ifVersion expected: UInt64, _ done: @escaping @Sendable (Result<UInt64, SharedBlobError>) -> Void) {
        guard bytes.count <= maximumSize else { return done(.failure(.tooLarge(bytes.count))) }
        cluster.store(bytes, ifVersion: expected, done)
    }

    func notifyPeers(
        _ message: [UInt8], timeoutMilliseconds: UInt64, _ done: @escaping @Sendable (Result<Void, SharedBlobError>) -> Void
    ) {
        cluster.notify(message, done)
    }

    func setEventHandler(_ handler: (@Sendable (SharedBlobEvent) -> Void)?) { lock.withLock { self.handler = handler } }

    var hasHandler: Bool { lock.withLock { handler != nil } }

    /// As a watch would: the handler runs, then the notify counts as acknowledged.
    func deliver(_ event: SharedBlobEvent) {
        let handler = lock.withLock { self.handler }
        handler?(event)
    }
}

/// A RAM store whose persistent reservations live in a `FakeBlobCluster`, as an RBD image's do
/// in RADOS.
final class SharedTestStore: Backstore, SharedBlobProvider, @unchecked Sendable {
    let memory: TestMemoryStore
    let blob: FakeSharedBlob

    init(cluster: FakeBlobCluster, size: UInt64 = 64 << 20) {
        memory = TestMemoryStore(size: size)
        blob = cluster.blob()
    }

    func openSharedBlob(named name: String) throws -> SharedBlob { blob }

    var byteSize: UInt64 { memory.byteSize }
    var hasVolatileWriteCache: Bool { memory.hasVolatileWriteCache }
    var typeName: String { "rbd" }
    var path: String? { "rbd/shared" }

    func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        memory.read(offset: offset, length: length, allocator: allocator, on: eventLoop)
    }

    func write(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        memory.write(data, offset: offset, fua: fua, on: eventLoop)
    }

    func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> { memory.flush(on: eventLoop) }
    func close() throws {}
}
