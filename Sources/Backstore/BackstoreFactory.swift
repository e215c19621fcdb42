#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOPosix

/// Opens a backstore from tgtadm's `--backing-store` / `--bstype` arguments.
public enum BackstoreFactory {
    /// Store types accepted as `type` (tgt's `--bstype`); an empty type means "rdwr", as in tgt.
    public static let supportedTypes = ["rdwr", "aio", "null", "ram", "rbd"]

    /// - Parameters:
    ///   - path: the backing file or block device ("rdwr"/"aio"); for "null" and "ram" it is only
    ///     echoed back as the store's path.
    ///   - type: "rdwr" or "aio" (both served by `FileBackstore`, which keeps the name for display),
    ///     "null", "ram", or "rbd" (path "[pool/[namespace/]]image").
    ///   - size: required for "ram"; for "null" defaults to tgt's 1 TiB; ignored for files, whose
    ///     size comes from the file itself.
    ///   - options: tgt's `--bsopts`; only "rbd" takes them (see `RBDLocation`).
    ///   - ioPool: the daemon-wide pool that runs file IO; it must be started.
    public static func open(
        path: String?, type: String, size: UInt64?, readOnly: Bool, options: String? = nil, ioPool: BlockIOExecutor
    ) throws -> Backstore {
        if let options, !options.isEmpty, type != "rbd" {
            throw BackstoreError(.invalidArgument, errno: EINVAL, "only bstype rbd takes bsopts, not \(type.isEmpty ? "rdwr" : type)")
        }
        switch type {
        case "", "rdwr", "aio":
            guard let path, !path.isEmpty else {
                throw BackstoreError(.invalidArgument, errno: EINVAL, "a \(type.isEmpty ? "rdwr" : type) backing store needs a path")
            }
            return try FileBackstore(path: path, readOnly: readOnly, ioPool: ioPool, typeName: type.isEmpty ? "rdwr" : type)
        case "null":
            return NullBackstore(size: size ?? NullBackstore.defaultSize, path: path)
        case "ram":
            guard let size else {
                throw BackstoreError(.invalidArgument, errno: EINVAL, "a ram backing store needs a size")
            }
            return try MemoryBackstore(size: size, path: path)
        case "rbd":
            guard let path, !path.isEmpty else {
                throw BackstoreError(.invalidArgument, errno: EINVAL, "an rbd backing store needs pool/image")
            }
            return try RBDBackstore.open(backingStore: path, options: options)
        default:
            throw BackstoreError(.invalidArgument, errno: EINVAL, "unknown backing store type \(type)")
        }
    }
}

/// The thread pool that runs blocking file IO; one per daemon, shared by every LUN.
public enum BackstoreIOPool {
    /// Enough threads to keep a few devices busy on a small machine without oversubscribing it.
    public static let defaultThreadCount = 4

    /// Creates and starts a pool; the owner shuts it down (`shutdown()`) after closing every store
    /// that uses it.
    public static func makeStarted(numberOfThreads: Int = defaultThreadCount) -> BlockIOExecutor {
        let pool = BlockIOExecutor(numberOfThreads: max(1, numberOfThreads))
        pool.start()
        return pool
    }
}
