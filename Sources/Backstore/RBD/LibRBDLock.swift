/// librbd's exclusive-lock and image-metadata calls, loaded like `LibRBD` (dlopen at run time).
/// All of them block (they talk to the OSDs or the monitor): never call them on an event loop.
public struct LibRBDLock: Sendable {
    static let exclusive: Int32 = 0  // RBD_LOCK_MODE_EXCLUSIVE

    /// `void (*rbd_update_callback_t)(void *arg)`
    public typealias UpdateCallback = @convention(c) (UnsafeMutableRawPointer?) -> Void

    typealias IsOwner = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?) -> Int32
    typealias Acquire = @convention(c) (UnsafeMutableRawPointer?, Int32) -> Int32
    typealias Release = @convention(c) (UnsafeMutableRawPointer?) -> Int32
    /// rbd_lock_get_owners(image, rbd_lock_mode_t *mode, char **owners, size_t *max_owners)
    typealias GetOwners = @convention(c) (
        UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        UnsafeMutablePointer<Int>?
    ) -> Int32
    typealias GetOwnersCleanup = @convention(c) (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, Int) -> Void
    typealias Break = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?) -> Int32
    /// rbd_metadata_get(image, key, char *value, size_t *val_len): -ERANGE and the length needed
    /// when value is too small, -ENOENT when the key is absent.
    typealias MetadataGet = @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<Int>?
    ) -> Int32
    typealias MetadataSet = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32
    typealias UpdateWatch = @convention(c) (
        UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt64>?, UpdateCallback?, UnsafeMutableRawPointer?
    ) -> Int32
    typealias UpdateUnwatch = @convention(c) (UnsafeMutableRawPointer?, UInt64) -> Int32

    let isOwner: IsOwner
    let acquire: Acquire
    let release: Release
    let getOwners: GetOwners
    let getOwnersCleanup: GetOwnersCleanup
    let breakLock: Break
    let metadataGet: MetadataGet
    let metadataSet: MetadataSet
    let updateWatch: UpdateWatch
    let updateUnwatch: UpdateUnwatch

    public static func shared() throws -> LibRBDLock { try sharedResult.get() }

    private static let sharedResult = Result<LibRBDLock, BackstoreError>(loading: {
        try LibRBDLock(library: LibRBD.defaultRBDLibrary)
    })

    init(library name: String) throws {
        let rbd = try LibRBD.openLibrary(name, package: "librbd1")
        isOwner = try LibRBD.symbol(rbd, "rbd_is_exclusive_lock_owner", name)
        acquire = try LibRBD.symbol(rbd, "rbd_lock_acquire", name)
        release = try LibRBD.symbol(rbd, "rbd_lock_release", name)
        getOwners = try LibRBD.symbol(rbd, "rbd_lock_get_owners", name)
        getOwnersCleanup = try LibRBD.symbol(rbd, "rbd_lock_get_owners_cleanup", name)
        breakLock = try LibRBD.symbol(rbd, "rbd_lock_break", name)
        metadataGet = try LibRBD.symbol(rbd, "rbd_metadata_get", name)
        metadataSet = try LibRBD.symbol(rbd, "rbd_metadata_set", name)
        updateWatch = try LibRBD.symbol(rbd, "rbd_update_watch", name)
        updateUnwatch = try LibRBD.symbol(rbd, "rbd_update_unwatch", name)
    }
}
