#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// librados and librbd, loaded at run time with dlopen/dlsym.
///
/// The package links neither library, so it builds on hosts without Ceph's -dev packages; an RBD
/// logical unit on a host without librbd fails with one line ("librbd.so.1 not found: install
/// librbd1"). The signatures below are those of Ceph 16.2's <rados/librados.h> and
/// <rbd/librbd.h>. The libraries are never unloaded (librados does not support dlclose).
public final class LibRBD: @unchecked Sendable {
    /// `rados_t`, `rados_ioctx_t`, `rbd_image_t`, `rbd_completion_t`: all `void *` in C.
    public typealias RadosHandle = UnsafeMutableRawPointer
    public typealias IoctxHandle = UnsafeMutableRawPointer
    public typealias ImageHandle = UnsafeMutableRawPointer
    public typealias CompletionHandle = UnsafeMutableRawPointer

    /// `void (*rbd_callback_t)(rbd_completion_t cb, void *arg)`
    public typealias Callback = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void
    /// `void (*rbd_update_callback_t)(void *arg)`
    public typealias UpdateCallback = @convention(c) (UnsafeMutableRawPointer?) -> Void

    // librados
    typealias RadosCreate = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafePointer<CChar>?) -> Int32
    typealias RadosCreate2 = @convention(c) (
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UInt64
    ) -> Int32
    typealias RadosConfReadFile = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32
    typealias RadosConfSet = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32
    typealias RadosConnect = @convention(c) (UnsafeMutableRawPointer?) -> Int32
    typealias RadosShutdown = @convention(c) (UnsafeMutableRawPointer?) -> Void
    typealias RadosIoctxCreate = @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> Int32
    typealias RadosIoctxDestroy = @convention(c) (UnsafeMutableRawPointer?) -> Void
    typealias RadosIoctxSetNamespace = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void

    // librbd
    typealias RBDOpen = @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
        UnsafePointer<CChar>?
    ) -> Int32
    typealias RBDClose = @convention(c) (UnsafeMutableRawPointer?) -> Int32
    typealias RBDGetSize = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt64>?) -> Int32
    /// rbd_get_id(image, char *id, size_t id_len): -ERANGE when id_len is too small.
    typealias RBDGetID = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<CChar>?, Int) -> Int32
    typealias RBDAioCreateCompletion = @convention(c) (
        UnsafeMutableRawPointer?, Callback?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> Int32
    /// rbd_aio_read(image, off, len, char *buf, c)
    typealias RBDAioRead = @convention(c) (
        UnsafeMutableRawPointer?, UInt64, Int, UnsafeMutablePointer<CChar>?, UnsafeMutableRawPointer?
    ) -> Int32
    /// rbd_aio_write(image, off, len, const char *buf, c)
    typealias RBDAioWrite = @convention(c) (
        UnsafeMutableRawPointer?, UInt64, Int, UnsafePointer<CChar>?, UnsafeMutableRawPointer?
    ) -> Int32
    typealias RBDAioFlush = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    /// rbd_aio_discard(image, uint64_t off, uint64_t len, c)
    typealias RBDAioDiscard = @convention(c) (UnsafeMutableRawPointer?, UInt64, UInt64, UnsafeMutableRawPointer?) -> Int32
    /// rbd_aio_write_zeroes(image, uint64_t off, size_t len, c, int zero_flags, int op_flags)
    typealias RBDAioWriteZeroes = @convention(c) (
        UnsafeMutableRawPointer?, UInt64, Int, UnsafeMutableRawPointer?, Int32, Int32
    ) -> Int32
    /// rbd_aio_compare_and_write(image, off, size_t len, const char *cmp_buf, const char *buf, c,
    /// uint64_t *mismatch_off, int op_flags)
    typealias RBDAioCompareAndWrite = @convention(c) (
        UnsafeMutableRawPointer?, UInt64, Int, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?,
        UnsafeMutablePointer<UInt64>?, Int32
    ) -> Int
    /// rbd_update_watch(image, uint64_t *handle, rbd_update_callback_t watch_cb, void *arg)
    typealias RBDUpdateWatch = @convention(c) (
        UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt64>?, UpdateCallback?, UnsafeMutableRawPointer?
    ) -> Int32
    /// rbd_update_unwatch(image, uint64_t handle)
    typealias RBDUpdateUnwatch = @convention(c) (UnsafeMutableRawPointer?, UInt64) -> Int32
    typealias RBDAioGetReturnValue = @convention(c) (UnsafeMutableRawPointer?) -> Int
    typealias RBDAioRelease = @convention(c) (UnsafeMutableRawPointer?) -> Void

    let radosCreate: RadosCreate
    let radosCreate2: RadosCreate2?
    let radosConfReadFile: RadosConfReadFile
    let radosConfSet: RadosConfSet
    let radosConnect: RadosConnect
    let radosShutdown: RadosShutdown
    let radosIoctxCreate: RadosIoctxCreate
    let radosIoctxDestroy: RadosIoctxDestroy
    let radosIoctxSetNamespace: RadosIoctxSetNamespace
    let rbdOpen: RBDOpen
    let rbdClose: RBDClose
    let rbdGetSize: RBDGetSize
    let rbdGetID: RBDGetID
    let rbdAioCreateCompletion: RBDAioCreateCompletion
    let rbdAioRead: RBDAioRead
    let rbdAioWrite: RBDAioWrite
    let rbdAioFlush: RBDAioFlush
    let rbdAioDiscard: RBDAioDiscard
    let rbdAioWriteZeroes: RBDAioWriteZeroes
    let rbdAioCompareAndWrite: RBDAioCompareAndWrite
    let rbdUpdateWatch: RBDUpdateWatch
    let rbdUpdateUnwatch: RBDUpdateUnwatch
    let rbdAioGetReturnValue: RBDAioGetReturnValue
    let rbdAioRelease: RBDAioRelease

    public static let defaultRBDLibrary = "librbd.so.1"
    public static let defaultRadosLibrary = "librados.so.2"

    /// The process-wide libraries, loaded on first use; the error is kept so every later open
    /// reports the same line.
    public static func shared() throws -> LibRBD {
        try sharedResult.get()
    }

    private static let sharedResult = Result<LibRBD, BackstoreError>(loading: {
        try LibRBD(rbdLibrary: defaultRBDLibrary, radosLibrary: defaultRadosLibrary)
    })

    /// Loads the two libraries by name (tests pass names that do not exist).
    public init(rbdLibrary: String, radosLibrary: String) throws {
        // librbd first: it pulls in librados, and Debian's librbd1 depends on librados2, so
        // "install librbd1" is the right advice whichever of the two is missing.
        let rbd = try Self.openLibrary(rbdLibrary, package: "librbd1")
        let rados = try Self.openLibrary(radosLibrary, package: "librados2")
        radosCreate = try Self.symbol(rados, "rados_create", radosLibrary)
        radosCreate2 = try? Self.symbol(rados, "rados_create2", radosLibrary)
        radosConfReadFile = try Self.symbol(rados, "rados_conf_read_file", radosLibrary)
        radosConfSet = try Self.symbol(rados, "rados_conf_set", radosLibrary)
        radosConnect = try Self.symbol(rados, "rados_connect", radosLibrary)
        radosShutdown = try Self.symbol(rados, "rados_shutdown", radosLibrary)
        radosIoctxCreate = try Self.symbol(rados, "rados_ioctx_create", radosLibrary)
        radosIoctxDestroy = try Self.symbol(rados, "rados_ioctx_destroy", radosLibrary)
        radosIoctxSetNamespace = try Self.symbol(rados, "rados_ioctx_set_namespace", radosLibrary)
        rbdOpen = try Self.symbol(rbd, "rbd_open", rbdLibrary)
        rbdClose = try Self.symbol(rbd, "rbd_close", rbdLibrary)
        rbdGetSize = try Self.symbol(rbd, "rbd_get_size", rbdLibrary)
        rbdGetID = try Self.symbol(rbd, "rbd_get_id", rbdLibrary)
        rbdAioCreateCompletion = try Self.symbol(rbd, "rbd_aio_create_completion", rbdLibrary)
        rbdAioRead = try Self.symbol(rbd, "rbd_aio_read", rbdLibrary)
        rbdAioWrite = try Self.symbol(rbd, "rbd_aio_write", rbdLibrary)
        rbdAioFlush = try Self.symbol(rbd, "rbd_aio_flush", rbdLibrary)
        rbdAioDiscard = try Self.symbol(rbd, "rbd_aio_discard", rbdLibrary)
        rbdAioWriteZeroes = try Self.symbol(rbd, "rbd_aio_write_zeroes", rbdLibrary)
        rbdAioCompareAndWrite = try Self.symbol(rbd, "rbd_aio_compare_and_write", rbdLibrary)
        rbdUpdateWatch = try Self.symbol(rbd, "rbd_update_watch", rbdLibrary)
        rbdUpdateUnwatch = try Self.symbol(rbd, "rbd_update_unwatch", rbdLibrary)
        rbdAioGetReturnValue = try Self.symbol(rbd, "rbd_aio_get_return_value", rbdLibrary)
        rbdAioRelease = try Self.symbol(rbd, "rbd_aio_release", rbdLibrary)
    }

    static func openLibrary(_ name: String, package: String) throws -> UnsafeMutableRawPointer {
        guard let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) else {
            throw BackstoreError(.notFound, errno: ENOENT, "\(name) not found: install \(package)")
        }
        return handle
    }

    static func symbol<T>(_ library: UnsafeMutableRawPointer, _ name: String, _ libraryName: String) throws -> T {
        guard let address = dlsym(library, name) else {
            throw BackstoreError(.notFound, errno: ENOENT, "\(libraryName) has no \(name): librbd/librados too old?")
        }
        return unsafeBitCast(address, to: T.self)
    }

    /// strerror of a negative Ceph return code.
    static func describe(_ rc: Int) -> String {
        String(cString: strerror(Int32(truncatingIfNeeded: -rc)))
    }
}

extension Result where Failure == BackstoreError {
    /// A library loaded once per process: its error, whatever it was, kept as one line so every
    /// later open reports the same.
    init(loading body: () throws -> Success) {
        do {
            self = .success(try body())
        } catch let error as BackstoreError {
            self = .failure(error)
        } catch {
            self = .failure(BackstoreError(.ioError, "\(error)"))
        }
    }
}
