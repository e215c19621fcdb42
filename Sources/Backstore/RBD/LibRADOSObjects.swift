#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The librados object calls shared blobs need (compound read/write ops, watch/notify), loaded
/// at run time from librados.so.2 like `LibRBD`, so the package still builds without Ceph's
/// -dev packages. Signatures are those of Ceph 16.2's <rados/librados.h>.
final class LibRADOSObjects: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    /// `void (*rados_callback_t)(rados_completion_t cb, void *arg)`
    typealias Callback = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void
    /// `void (*rados_watchcb2_t)(void *arg, uint64_t notify_id, uint64_t handle, uint64_t notifier_id,
    /// void *data, size_t data_len)`
    typealias WatchCallback = @convention(c) (UnsafeMutableRawPointer?, UInt64, UInt64, UInt64, UnsafeMutableRawPointer?, Int)
        -> Void
    /// `void (*rados_watcherrcb_t)(void *pre, uint64_t cookie, int err)`
    typealias WatchErrorCallback = @convention(c) (UnsafeMutableRawPointer?, UInt64, Int32) -> Void

    typealias CreateOp = @convention(c) () -> Handle?
    typealias ReleaseOp = @convention(c) (Handle?) -> Void
    /// rados_write_op_create(op, int exclusive, const char *category)
    typealias WriteOpCreate = @convention(c) (Handle?, Int32, UnsafePointer<CChar>?) -> Void
    /// rados_write_op_cmpext(op, const char *cmp_buf, size_t cmp_len, uint64_t off, int *prval)
    typealias WriteOpCmpext = @convention(c) (Handle?, UnsafePointer<CChar>?, Int, UInt64, UnsafeMutablePointer<Int32>?) -> Void
    /// rados_write_op_write_full(op, const char *buffer, size_t len)
    typealias WriteOpWriteFull = @convention(c) (Handle?, UnsafePointer<CChar>?, Int) -> Void
    /// rados_aio_write_op_operate(op, io, completion, const char *oid, time_t *mtime, int flags)
    typealias AioWriteOpOperate = @convention(c) (Handle?, Handle?, Handle?, UnsafePointer<CChar>?, UnsafeMutablePointer<time_t>?, Int32)
        -> Int32
    /// rados_read_op_stat(op, uint64_t *psize, time_t *pmtime, int *prval)
    typealias ReadOpStat = @convention(c) (Handle?, UnsafeMutablePointer<UInt64>?, UnsafeMutablePointer<time_t>?, UnsafeMutablePointer<Int32>?)
        -> Void
    /// rados_read_op_read(op, uint64_t offset, size_t len, char *buffer, size_t *bytes_read, int *prval)
    typealias ReadOpRead = @convention(c) (
        Handle?, UInt64, Int, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int32>?
    ) -> Void
    /// rados_aio_read_op_operate(op, io, completion, const char *oid, int flags)
    typealias AioReadOpOperate = @convention(c) (Handle?, Handle?, Handle?, UnsafePointer<CChar>?, Int32) -> Int32
    /// rados_aio_create_completion2(void *arg, rados_callback_t complete, rados_completion_t *pc)
    typealias AioCreateCompletion2 = @convention(c) (UnsafeMutableRawPointer?, Callback?, UnsafeMutablePointer<Handle?>?) -> Int32
    typealias AioGetReturnValue = @convention(c) (Handle?) -> Int32
    typealias AioRelease = @convention(c) (Handle?) -> Void
    /// rados_aio_watch(io, const char *o, completion, uint64_t *handle, watchcb2, watcherrcb, void *arg)
    typealias AioWatch = @convention(c) (
        Handle?, UnsafePointer<CChar>?, Handle?, UnsafeMutablePointer<UInt64>?, WatchCallback?, WatchErrorCallback?,
        UnsafeMutableRawPointer?
    ) -> Int32
    /// rados_aio_unwatch(io, uint64_t cookie, completion)
    typealias AioUnwatch = @convention(c) (Handle?, UInt64, Handle?) -> Int32
    /// rados_aio_watch_flush(rados_t cluster, completion)
    typealias AioWatchFlush = @convention(c) (Handle?, Handle?) -> Int32
    typealias IoctxGetCluster = @convention(c) (Handle?) -> Handle?
    /// rados_aio_notify(io, const char *o, completion, const char *buf, int buf_len, uint64_t timeout_ms,
    /// char **reply_buffer, size_t *reply_buffer_len)
    typealias AioNotify = @convention(c) (
        Handle?, UnsafePointer<CChar>?, Handle?, UnsafePointer<CChar>?, Int32, UInt64,
        UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, UnsafeMutablePointer<Int>?
    ) -> Int32
    /// rados_notify_ack(io, const char *o, uint64_t notify_id, uint64_t cookie, const char *buf, int buf_len)
    typealias NotifyAck = @convention(c) (Handle?, UnsafePointer<CChar>?, UInt64, UInt64, UnsafePointer<CChar>?, Int32) -> Int32
    typealias BufferFree = @convention(c) (UnsafeMutablePointer<CChar>?) -> Void

    let createWriteOp: CreateOp
    let releaseWriteOp: ReleaseOp
    let writeOpCreate: WriteOpCreate
    let writeOpCmpext: WriteOpCmpext
    let writeOpWriteFull: WriteOpWriteFull
    let aioWriteOpOperate: AioWriteOpOperate
    let createReadOp: CreateOp
    let releaseReadOp: ReleaseOp
    let readOpStat: ReadOpStat
    let readOpRead: ReadOpRead
    let aioReadOpOperate: AioReadOpOperate
    let aioCreateCompletion2: AioCreateCompletion2
    let aioGetReturnValue: AioGetReturnValue
    let aioRelease: AioRelease
    let aioWatch: AioWatch
    let aioUnwatch: AioUnwatch
    let aioWatchFlush: AioWatchFlush
    let ioctxGetCluster: IoctxGetCluster
    let aioNotify: AioNotify
    let notifyAck: NotifyAck
    let bufferFree: BufferFree

    /// The process-wide symbols, loaded on first use (after `LibRBD`, which already loaded the
    /// library, so this only resolves names).
    static func shared() throws -> LibRADOSObjects { try sharedResult.get() }

    private static let sharedResult = Result<LibRADOSObjects, BackstoreError>(loading: {
        try LibRADOSObjects(library: LibRBD.defaultRadosLibrary)
    })

    init(library name: String) throws {
        guard let library = dlopen(name, RTLD_NOW | RTLD_GLOBAL) else {
            throw BackstoreError(.notFound, errno: ENOENT, "\(name) not found: install librados2")
        }
        func symbol<T>(_ symbolName: String) throws -> T {
            guard let address = dlsym(library, symbolName) else {
                throw BackstoreError(.notFound, errno: ENOENT, "\(name) has no \(symbolName): librados too old?")
            }
            return unsafeBitCast(address, to: T.self)
        }
        createWriteOp = try symbol("rados_create_write_op")
        releaseWriteOp = try symbol("rados_release_write_op")
        writeOpCreate = try symbol("rados_write_op_create")
        writeOpCmpext = try symbol("rados_write_op_cmpext")
        writeOpWriteFull = try symbol("rados_write_op_write_full")
        aioWriteOpOperate = try symbol("rados_aio_write_op_operate")
        createReadOp = try symbol("rados_create_read_op")
        releaseReadOp = try symbol("rados_release_read_op")
        readOpStat = try symbol("rados_read_op_stat")
        readOpRead = try symbol("rados_read_op_read")
        aioReadOpOperate = try symbol("rados_aio_read_op_operate")
        aioCreateCompletion2 = try symbol("rados_aio_create_completion2")
        aioGetReturnValue = try symbol("rados_aio_get_return_value")
        aioRelease = try symbol("rados_aio_release")
        aioWatch = try symbol("rados_aio_watch")
        aioUnwatch = try symbol("rados_aio_unwatch")
        aioWatchFlush = try symbol("rados_aio_watch_flush")
        ioctxGetCluster = try symbol("rados_ioctx_get_cluster")
        aioNotify = try symbol("rados_aio_notify")
        notifyAck = try symbol("rados_notify_ack")
        bufferFree = try symbol("rados_buffer_free")
    }

    static let createExclusive: Int32 = 1
    static let createIdempotent: Int32 = 0
    /// cmpext reports a mismatch at byte n as -MAX_ERRNO - n.
    static let cmpextMismatchCeiling: Int32 = -4095
}
