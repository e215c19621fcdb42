#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import Synchronization

/// A Ceph RBD image as a logical unit ("rbd", path "pool/image"), on librbd's asynchronous API.
///
/// Each IO is one `rbd_aio_*` call whose completion librbd delivers on one of its own threads; the
/// callback (a nonisolated global function, see `rbdCompletionCallback`) hops to the caller's event
/// loop with `execute`, where the future is fulfilled. The event loop never waits on Ceph. Memory
/// handed to librbd is owned by the request object, which the completion keeps alive (retained
/// through librbd's `arg` pointer) until librbd is done with it.
///
/// Opening (connect, open the image) is synchronous and bounded by the location's `timeout`.
///
/// `discard` is `rbd_aio_discard`, which skips what does not cover whole discard granules
/// (64 KiB by default), so discarded data may stay (`discardReadsZeros` false: LBPRZ 0);
/// `writeZeroes` is `rbd_aio_write_zeroes` (reads back as zeros, deallocates whole objects).
/// `compareAndWrite` is `rbd_aio_compare_and_write`, atomic on the OSD. The size follows
/// `rbd resize` through librbd's header watch (`RBDSizeWatch`).
public final class RBDBackstore: DiscardingBackstore, ZeroingBackstore, CompareAndWriteBackstore,
    ResizeNotifyingBackstore, @unchecked Sendable
{
    /// The size IO is checked against; `refreshSize` adopts what the header watch saw.
    public var byteSize: UInt64 { size.load(ordering: .relaxed) }
    private let size: Atomic<UInt64>
    /// rbd_aio_discard may leave data on partial granules.
    public let discardReadsZeros = false
    /// librbd's default `rbd_discard_granularity_bytes`: reported to initiators as OPTIMAL UNMAP
    /// GRANULARITY so that their discards cover whole granules (a hint if a conf changes it).
    public let discardGranularity: UInt64 = 64 << 10
    /// True when librbd accepted the header watch: resizes are followed.
    public let followsResize: Bool
    /// librbd's cache (write-back once it has seen a flush): SYNCHRONIZE CACHE and FUA must flush.
    /// Off with the `cache=0` option (then every write is on the OSDs when acknowledged).
    public var hasVolatileWriteCache: Bool { location.cache ?? true }
    public let typeName = "rbd"
    public let path: String?

    let lib: LibRBD
    let image: LibRBD.ImageHandle
    let gate: IOGate
    private let sizeWatch: RBDSizeWatch
    /// Set once when several gateways serve the image (`enableLockOwnership`).
    let ownershipSlot = Mutex<RBDLockOwnership?>(nil)
    /// Blobs shared with the other gateways serving this image (RADOSSharedBlob.swift).
    let sharedBlobs: RADOSSharedBlobs

    /// Connects to the cluster of `location.conf` and opens the image.
    /// - Parameters:
    ///   - location: the image and how to reach its cluster (`location.timeout` bounds the
    ///     monitor connection and monitor operations).
    ///   - library: the loaded librbd/librados (tests pass their own); the shared one by default.
    /// - Throws: `BackstoreError` with one line naming what failed (library, conf, connection,
    ///   pool or image).
    public static func open(_ location: RBDLocation, library: LibRBD? = nil) throws -> RBDBackstore {
        try RBDBackstore(lib: library ?? LibRBD.shared(), location: location)
    }

    /// tgt-rbd's `--backing-store` ("[pool/[namespace/]]image") and `--bsopts` ("conf=...;id=...").
    public static func open(backingStore: String, options: String?) throws -> RBDBackstore {
        try open(RBDLocation(backingStore: backingStore, options: options))
    }

    /// The image's id (rbd_get_id): the same on every gateway, unlike its name after a rename.
    public let imageID: String
    public let location: RBDLocation

    private init(lib: LibRBD, location: RBDLocation) throws {
        self.lib = lib
        self.location = location
        self.path = location.path
        let pool = location.pool
        let imageName = location.image
        let conf = location.conf
        var cluster: UnsafeMutableRawPointer?
        var rc: Int32
        if let radosCreate2 = lib.radosCreate2, location.clusterName != nil {
            rc = radosCreate2(&cluster, location.clusterName, "client.\(location.clientID ?? "admin")", 0)
        } else {
            rc = lib.radosCreate(&cluster, location.clientID)
        }
        guard rc == 0, let cluster else {
            throw BackstoreError(.ioError, errno: -rc, "can't create a RADOS client: \(LibRBD.describe(Int(rc)))")
        }
        var ioctx: UnsafeMutableRawPointer?
        var opened: UnsafeMutableRawPointer?
        var failed = true
        defer {
            if failed {
                if let opened { _ = lib.rbdClose(opened) }
                if let ioctx { lib.radosIoctxDestroy(ioctx) }
                lib.radosShutdown(cluster)
            }
        }
        rc = lib.radosConfReadFile(cluster, conf)
        guard rc == 0 else {
            throw BackstoreError(
                rc == -ENOENT ? .notFound : .invalidArgument, errno: -rc,
                "can't read Ceph configuration \(conf): \(LibRBD.describe(Int(rc)))")
        }
        let timeout = String(max(1, location.timeout))
        var settings = [("client_mount_timeout", timeout), ("rados_mon_op_timeout", timeout)]
        if let keyring = location.keyring { settings.append(("keyring", keyring)) }
        if let cache = location.cache { settings.append(("rbd_cache", cache ? "true" : "false")) }
        if let seconds = location.osdOpTimeout { settings.append(("rados_osd_op_timeout", String(seconds))) }
        for (option, value) in settings {
            rc = lib.radosConfSet(cluster, option, value)
            guard rc == 0 else {
                throw BackstoreError(.invalidArgument, errno: -rc, "can't set \(option): \(LibRBD.describe(Int(rc)))")
            }
        }
        rc = lib.radosConnect(cluster)
        guard rc == 0 else {
            throw BackstoreError(
                .ioError, errno: -rc, "can't connect to the Ceph cluster of \(conf): \(LibRBD.describe(Int(rc)))")
        }
        rc = lib.radosIoctxCreate(cluster, pool, &ioctx)
        guard rc == 0, let ioctx else {
            throw BackstoreError(
                rc == -ENOENT ? .notFound : .ioError, errno: -rc, "can't open pool \(pool): \(LibRBD.describe(Int(rc)))")
        }
        if let namespace = location.namespace { lib.radosIoctxSetNamespace(ioctx, namespace) }
        rc = lib.rbdOpen(ioctx, imageName, &opened, nil)
        guard rc == 0, let opened else {
            throw BackstoreError(
                rc == -ENOENT ? .notFound : .ioError, errno: -rc,
                "can't open RBD image \(location.path): \(LibRBD.describe(Int(rc)))")
        }
        var idBytes = [CChar](repeating: 0, count: 64)
        rc = lib.rbdGetID(opened, &idBytes, idBytes.count)
        guard rc == 0 else {
            throw BackstoreError(.ioError, errno: -rc, "can't get the id of \(location.path): \(LibRBD.describe(Int(rc)))")
        }
        self.imageID = String(cString: idBytes)
        var size: UInt64 = 0
        rc = lib.rbdGetSize(opened, &size)
        guard rc == 0 else {
            throw BackstoreError(
                .ioError, errno: -rc, "can't get the size of \(location.path): \(LibRBD.describe(Int(rc)))")
        }
        failed = false
        self.image = opened
        self.size = Atomic(size)
        let watch = RBDSizeWatch(lib: lib, image: opened, size: size)
        self.sizeWatch = watch
        let sharedBlobs = RADOSSharedBlobs(ioctx: ioctx)
        self.sharedBlobs = sharedBlobs
        let gate = IOGate {
            let release = {
                watch.stop()
                sharedBlobs.closeAll()
                _ = lib.rbdClose(opened)
                lib.radosIoctxDestroy(ioctx)
                lib.radosShutdown(cluster)
            }
            // The last IO of a store closed under load leaves on an event loop: rbd_close flushes
            // and waits for librbd, so it runs on a thread of its own there.
            if MultiThreadedEventLoopGroup.currentEventLoop != nil {
                runDetached(release)
            } else {
                release()
            }
        }
        self.gate = gate
        watch.gate = gate
        followsResize = watch.start()
    }

    public func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        if let error = BackstoreError.checkRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        if length == 0 { return eventLoop.makeSucceededFuture(allocator.buffer(capacity: 0)) }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        let promise = eventLoop.makePromise(of: ByteBuffer.self)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 4096)
        let request = RBDRequest(
            store: self, eventLoop: eventLoop, operation: .read(promise, allocator), memory: memory, length: length,
            offset: offset)
        submit(request) { completion in
            self.lib.rbdAioRead(
                self.image, offset, length, memory.assumingMemoryBound(to: CChar.self), completion)
        }
        return promise.futureResult
    }

    func writeOnce(_ data: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        let length = data.readableBytes
        if let error = BackstoreError.checkRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        if length == 0 { return fua ? flush(on: eventLoop) : eventLoop.makeSucceededVoidFuture() }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        let promise = eventLoop.makePromise(of: Void.self)
        // librbd reads the buffer until the completion fires: a copy owned by the request.
        let memory = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 4096)
        data.withUnsafeReadableBytes { bytes in
            memory.copyMemory(from: bytes.baseAddress!, byteCount: length)
        }
        let request = RBDRequest(
            store: self, eventLoop: eventLoop, operation: .write(promise), memory: memory, length: length, offset: offset)
        submit(request) { completion in
            self.lib.rbdAioWrite(
                self.image, offset, length, UnsafePointer(memory.assumingMemoryBound(to: CChar.self)), completion)
        }
        guard fua else { return promise.futureResult }
        // An acknowledged FUA write is on the OSDs: write, then flush librbd's cache.
        return promise.futureResult.flatMap { self.flush(on: eventLoop) }
    }

    public func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        let promise = eventLoop.makePromise(of: Void.self)
        let request = RBDRequest(
            store: self, eventLoop: eventLoop, operation: .flush(promise), memory: nil, length: 0, offset: 0)
        submit(request) { completion in
            self.lib.rbdAioFlush(self.image, completion)
        }
        return promise.futureResult
    }

    /// Deallocates with `rbd_aio_discard`: whole objects are removed, whole discard granules
    /// inside objects are zeroed or truncated, the rest is left as it was.
    func discardOnce(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkDiscardRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        guard length > 0 else { return eventLoop.makeSucceededVoidFuture() }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        let promise = eventLoop.makePromise(of: Void.self)
        let request = RBDRequest(
            store: self, eventLoop: eventLoop, operation: .discard(promise), memory: nil, length: Int(clamping: length),
            offset: offset)
        submit(request) { completion in
            self.lib.rbdAioDiscard(self.image, offset, length, completion)
        }
        return promise.futureResult
    }

    /// Zeroes the range (`rbd_aio_write_zeroes`, which deallocates whole objects where it can).
    func writeZeroesOnce(offset: UInt64, length: UInt64, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if let error = BackstoreError.checkDiscardRange(offset: offset, length: length, size: byteSize) {
            return eventLoop.makeFailedFuture(error)
        }
        guard length > 0 else { return eventLoop.makeSucceededVoidFuture() }
        guard let count = Int(exactly: length) else {
            return eventLoop.makeFailedFuture(BackstoreError(.invalidArgument, errno: EINVAL, "zeroing too long"))
        }
        guard gate.enter() else { return eventLoop.makeFailedFuture(BackstoreError.closedStore) }
        let promise = eventLoop.makePromise(of: Void.self)
        let request = RBDRequest(
            store: self, eventLoop: eventLoop, operation: .zero(promise), memory: nil, length: count, offset: offset)
        submit(request) { completion in
            self.lib.rbdAioWriteZeroes(self.image, offset, count, completion, 0, 0)
        }
        return promise.futureResult
    }

    /// Adopts the size the header watch last read; never waits on the cluster.
    public func refreshSize() -> Bool {
        let observed = sizeWatch.observedSize.load(ordering: .relaxed)
        return size.exchange(observed, ordering: .relaxed) != observed
    }

    public func setResizeHandler(_ handler: (@Sendable () -> Void)?) {
        sizeWatch.setHandler(handler)
    }

    public func close() throws {
        lockOwnership?.stop()
        guard gate.close() else { throw BackstoreError.closedStore }
    }

    /// Creates the completion (with the request retained as its argument) and starts the IO; if
    /// librbd refuses it synchronously, the request fails on its event loop.
    func submit(_ request: RBDRequest, _ start: (LibRBD.CompletionHandle) -> Int32) {
        let argument = Unmanaged.passRetained(request).toOpaque()
        var completion: UnsafeMutableRawPointer?
        var rc = lib.rbdAioCreateCompletion(argument, rbdCompletionCallback, &completion)
        if rc == 0, let completion {
            rc = start(completion)
            if rc >= 0 { return }
            lib.rbdAioRelease(completion)
        } else if rc == 0 {
            rc = -ENOMEM
        }
        Unmanaged<RBDRequest>.fromOpaque(argument).release()
        request.finish(Int(rc))
    }
}

/// One IO in flight: what librbd reads or fills, and the promise to fulfil.
final class RBDRequest: @unchecked Sendable {
    enum Operation {
        case read(EventLoopPromise<ByteBuffer>, ByteBufferAllocator)
        case write(EventLoopPromise<Void>)
        case flush(EventLoopPromise<Void>)
        case zero(EventLoopPromise<Void>)
        case discard(EventLoopPromise<Void>)
        /// `mismatch` is where librbd writes the offset of the first differing byte.
        case compareAndWrite(EventLoopPromise<CompareAndWriteResult>, mismatch: UnsafeMutablePointer<UInt64>)
    }

    let store: RBDBackstore
    let eventLoop: EventLoop
    let operation: Operation
    let memory: UnsafeMutableRawPointer?
    let length: Int
    let offset: UInt64

    init(
        store: RBDBackstore, eventLoop: EventLoop, operation: Operation, memory: UnsafeMutableRawPointer?, length: Int,
        offset: UInt64
    ) {
        self.store = store
        self.eventLoop = eventLoop
        self.operation = operation
        self.memory = memory
        self.length = length
        self.offset = offset
    }

    /// Called on librbd's thread (or the submitter's on a synchronous failure): moves to the event loop.
    func finish(_ rc: Int) {
        eventLoop.execute { self.complete(rc) }
    }

    private func complete(_ rc: Int) {
        defer {
            memory?.deallocate()
            if case .compareAndWrite(_, let mismatch) = operation { mismatch.deallocate() }
            store.gate.leave()
        }
        func failure(_ what: String) -> BackstoreError {
            BackstoreError(
                .ioError, errno: Int32(truncatingIfNeeded: -rc),
                "RBD \(what) of \(length) bytes at \(offset) on \(store.path ?? "?") failed: \(LibRBD.describe(rc))")
        }
        switch operation {
        case .read(let promise, let allocator):
            if rc < 0 { return promise.fail(failure("read")) }
            guard rc == length, let memory else {
                return promise.fail(
                    BackstoreError(.ioError, errno: EIO, "RBD read of \(length) bytes at \(offset) returned \(rc)"))
            }
            var buffer = allocator.buffer(capacity: length)
            buffer.writeBytes(UnsafeRawBufferPointer(start: memory, count: length))
            promise.succeed(buffer)
        case .write(let promise):
            rc < 0 ? promise.fail(failure("write")) : promise.succeed(())
        case .flush(let promise):
            rc < 0 ? promise.fail(failure("flush")) : promise.succeed(())
        case .zero(let promise):
            rc < 0 ? promise.fail(failure("write zeroes")) : promise.succeed(())
        case .discard(let promise):
            rc < 0 ? promise.fail(failure("discard")) : promise.succeed(())
        case .compareAndWrite(let promise, let mismatch):
            switch rc {
            case 0...: promise.succeed(.written)
            case Int(-EILSEQ): promise.succeed(.mismatch(offset: RBDBackstore.mismatchIndex(mismatch.pointee, offset: offset)))
            // Refused before anything was written (a range librbd or the OSD will not compare).
            case Int(-EINVAL): promise.succeed(.unsupported)
            default: promise.fail(failure("compare and write"))
            }
        }
    }
}

/// librbd's completion callback, run on librbd's threads. A nonisolated global function (no
/// captures, no actor): a closure written in main-actor code and called from librbd's thread
/// kills the process with SIGILL.
private func rbdCompletionCallback(_ completion: UnsafeMutableRawPointer?, _ argument: UnsafeMutableRawPointer?) {
    guard let argument else { return }
    let request = Unmanaged<RBDRequest>.fromOpaque(argument).takeRetainedValue()
    let lib = request.store.lib
    let rc = lib.rbdAioGetReturnValue(completion)
    lib.rbdAioRelease(completion)
    request.finish(rc)
}
