// FUSE and loop devices are Linux facilities; elsewhere the module keeps only its portable parts.
#if os(Linux)
import NIOConcurrencyHelpers
import Glibc
import CFUSE
import SystemSupport
import NIOCore
import Synchronization

/// A FUSE filesystem exposing block backends (iSCSI LUNs) as files, so that a loop device can turn
/// each into a Linux block device.
///
/// Data path: an application or filesystem does IO on `/dev/loopN`; the loop driver (with direct
/// IO when the kernel allows it) issues reads and writes on the FUSE file `<mountPoint>/<name>`;
/// the FUSE kernel module queues them on /dev/fuse; a libfuse worker thread here takes each
/// request, aligns it to whole blocks (`BlockAlignment`) and submits it to the backend, then goes
/// back for the next request without waiting. The backend's completion (on any thread, e.g. a
/// NIO event loop) answers the kernel with fuse_reply_buf / fuse_reply_write / fuse_reply_err. So
/// many requests are in flight at once, each up to 1 MiB; write data is copied once (out of
/// libfuse's per-thread buffer), read data is written to /dev/fuse straight from the backend's
/// buffer. Files are opened with direct_io: the page cache sits above the loop device, not here.
///
/// The root directory is flat: `addFile`/`removeFile` change it at runtime, `resize` makes the
/// kernel see a backend's new size. Call `unmount()` when done: the session (and this object) stay
/// alive until then. Linux only; needs root (or CAP_SYS_ADMIN) and /dev/fuse.
public final class LUNFileSystem: @unchecked Sendable {
    public struct Options: Sendable {
        /// Upper bound on libfuse worker threads. A worker only reads a request, copies write data
        /// and submits it (replies come from the backend's completions), so few are needed: on a
        /// 2-core machine 2 gave the best large-request throughput through a loop device, 1 the
        /// best 4 KiB IOPS, and 4 or 8 less of both (more wake-ups for the same work).
        public var workerThreads = 2
        /// Largest request the kernel may send (max_write, and reads through max_pages). libfuse
        /// 3.14's buffers cap it at 1 MiB.
        public var maxRequestBytes = 1 << 20
        /// Asynchronous (loop direct IO) requests the kernel keeps in flight; its default is 12.
        public var maxBackground = 128
        /// How long the kernel may cache names and attributes; `resize` and `removeFile`
        /// invalidate them explicitly.
        public var attributeTimeout = 1.0
        /// How long `unmount` waits for outstanding backend completions before it gives up and
        /// leaks the session rather than free it under them.
        public var drainTimeout = 30.0
        /// Shown as the source in /proc/mounts.
        public var fsName = "swift-iscsi"

        public init() {}
    }

    /// What the kernel and libfuse agreed in FUSE_INIT.
    public struct Negotiated: Sendable, Equatable {
        public var protocolMinor: Int
        public var maxWrite: Int
        public var maxBackground: Int
        public var asyncRead: Bool
        public var asyncDirectIO: Bool
    }

    public struct Statistics: Sendable, Equatable {
        public var reads = 0
        public var writes = 0
        public var flushes = 0
        public var readModifyWrites = 0
        public var errors = 0
        /// Largest read and write the kernel sent, in bytes.
        public var largestRead = 0
        public var largestWrite = 0
        /// Most backend requests outstanding at once.
        public var maxOutstanding = 0
    }

    public let mountPoint: String
    public let options: Options

    let lock = NIOLock()
    var filesByName: [String: LUNFile] = [:]
    var filesByInode: [UInt64: LUNFile] = [:]
    private var nextInode: UInt64 = 2
    private var session: OpaquePointer?
    private var loopThread: JoinableThread?
    private var connectionID: UInt32 = 0
    private var negotiatedValue: Negotiated?
    private var loopDone = false
    private var cleanupHandedOff = false

    let allocator = ByteBufferAllocator()
    let creationTime: timespec
    // Counters for `statistics` and unmount's drain; relaxed atomics, a few per request.
    let outstanding = Synchronization.Atomic<Int>(0)
    let maxOutstanding = Synchronization.Atomic<Int>(0)
    let readCount = Synchronization.Atomic<Int>(0)
    let writeCount = Synchronization.Atomic<Int>(0)
    let flushCount = Synchronization.Atomic<Int>(0)
    let readModifyWriteCount = Synchronization.Atomic<Int>(0)
    let errorCount = Synchronization.Atomic<Int>(0)
    let largestRead = Synchronization.Atomic<Int>(0)
    let largestWrite = Synchronization.Atomic<Int>(0)

    /// Mounts an empty filesystem at `mountPoint` (created if missing). A stale mount left there by
    /// a crashed run is detached first.
    public init(mountPoint: String, options: Options = Options()) throws {
        self.mountPoint = mountPoint
        self.options = options
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.creationTime = now
        try mount()
    }

    // MARK: - Files

    /// Adds `<mountPoint>/<name>` backed by `backend`; returns its path.
    @discardableResult
    public func addFile(name: String, backend: any BlockDeviceBackend) throws -> String {
        try Self.validate(name: name)
        let block = backend.blockSize
        guard block >= 512, block <= 65536, block & (block - 1) == 0 else {
            throw BlockDeviceSetupError("\(name): unsupported block size \(block)")
        }
        try lock.withLock {
            guard session != nil else { throw BlockDeviceSetupError("\(mountPoint) is not mounted") }
            guard filesByName[name] == nil else { throw BlockDeviceSetupError("\(name) already exists") }
            let file = LUNFile(inode: nextInode, name: name, backend: backend)
            nextInode += 1
            filesByName[name] = file
            filesByInode[file.inode] = file
        }
        return path(of: name)
    }

    /// Removes a file from the directory. Handles already open (a loop device still attached)
    /// keep working until closed; detach the loop device first.
    public func removeFile(name: String) throws {
        let session = try lock.withLock { () -> OpaquePointer? in
            guard let file = filesByName.removeValue(forKey: name) else {
                throw BlockDeviceSetupError("\(name): no such file in \(mountPoint)")
            }
            file.removed = true
            if file.lookups == 0 { filesByInode[file.inode] = nil }
            return self.session
        }
        // Drop the kernel's cached name now rather than after attributeTimeout.
        if let session {
            _ = name.withCString { fuse_lowlevel_notify_inval_entry(session, 1, $0, strlen($0)) }
        }
    }

    /// Makes the kernel see the backend's current `byteCount`: invalidates the cached attributes and
    /// stats the file, so the kernel's inode size is fresh before a LOOP_SET_CAPACITY.
    public func resize(name: String) throws {
        let (session, file) = try lock.withLock { () -> (OpaquePointer?, LUNFile) in
            guard let file = filesByName[name] else {
                throw BlockDeviceSetupError("\(name): no such file in \(mountPoint)")
            }
            return (self.session, file)
        }
        guard let session else { throw BlockDeviceSetupError("\(mountPoint) is not mounted") }
        let rc = fuse_lowlevel_notify_inval_inode(session, file.inode, 0, 0)
        // -ENOENT: the kernel does not know the inode yet, so it has nothing cached.
        if rc != 0 && rc != -ENOENT {
            throw BlockDeviceSetupError.system("cannot invalidate \(name)", -rc)
        }
        var st = stat()
        if stat(path(of: name), &st) != 0 {
            throw BlockDeviceSetupError.system("cannot stat \(path(of: name))", errno)
        }
    }

    public func path(of name: String) -> String {
        mountPoint.hasSuffix("/") ? mountPoint + name : mountPoint + "/" + name
    }

    public var fileNames: [String] {
        lock.withLock { filesByName.keys.sorted() }
    }

    public var negotiated: Negotiated? {
        lock.withLock { negotiatedValue }
    }

    public var statistics: Statistics {
        Statistics(
            reads: readCount.load(ordering: .relaxed),
            writes: writeCount.load(ordering: .relaxed),
            flushes: flushCount.load(ordering: .relaxed),
            readModifyWrites: readModifyWriteCount.load(ordering: .relaxed),
            errors: errorCount.load(ordering: .relaxed),
            largestRead: largestRead.load(ordering: .relaxed),
            largestWrite: largestWrite.load(ordering: .relaxed),
            maxOutstanding: maxOutstanding.load(ordering: .relaxed))
    }

    /// A clear line when the kernel's FUSE device is not there (containers often lack it),
    /// rather than libfuse's failure to mount.
    static func checkFUSEDevice(_ path: String = "/dev/fuse") throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw BlockDeviceSetupError("no FUSE: \(path) is missing (is the fuse module loaded?)", errno: ENOENT)
        }
        guard st.st_mode & S_IFMT == S_IFCHR, cfuse_major(st.st_rdev) == 10, cfuse_minor(st.st_rdev) == 229 else {
            throw BlockDeviceSetupError("no FUSE: \(path) is not the FUSE device (character device 10:229)", errno: ENODEV)
        }
    }

    static func validate(name: String) throws {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 255, name != ".", name != "..",
            !bytes.contains(UInt8(ascii: "/")), !bytes.contains(0)
        else {
            throw BlockDeviceSetupError("invalid file name \"\(name)\"")
        }
    }

    // MARK: - Lifecycle

    private func mount() throws {
        try Self.checkFUSEDevice()
        Self.detachStaleMounts(at: mountPoint)
        try makeDirectories(mountPoint)

        // allow_other lets the loop driver and udev reach the file; default_permissions with mode
        // 0600 and owner root keeps LUN data away from everyone else.
        let fsName = options.fsName.filter { $0 != "," && $0 != "\\" }  // option-list syntax
        let mountOptions = "fsname=\(fsName),subtype=blockdev,allow_other,default_permissions"
        var operations = Self.makeOperations()
        let userdata = Unmanaged.passUnretained(self).toOpaque()
        guard let session = cfuse_session_new(&operations, mountOptions, userdata) else {
            throw BlockDeviceSetupError("cannot create a FUSE session (is libfuse3 usable?)")
        }
        guard fuse_session_mount(session, mountPoint) == 0 else {
            fuse_session_destroy(session)
            throw BlockDeviceSetupError("cannot mount FUSE at \(mountPoint) (see libfuse's message above)")
        }
        lock.withLock { self.session = session }

        let config = fuse_loop_cfg_create()
        fuse_loop_cfg_set_max_threads(config, UInt32(max(1, options.workerThreads)))
        do {
            // The thread holds `self` strongly: the callbacks' userdata is unretained, so the
            // filesystem must live as long as the session loop runs.
            loopThread = try JoinableThread {
                _ = fuse_session_loop_mt(session, config)
                fuse_loop_cfg_destroy(config)
                let finishHere = self.lock.withLock { () -> Bool in
                    self.loopDone = true
                    return self.cleanupHandedOff
                }
                if finishHere { self.finishSession(session) }
            }
        } catch {
            fuse_loop_cfg_destroy(config)
            fuse_session_unmount(session)
            lock.withLock { self.session = nil }
            fuse_session_destroy(session)
            throw error
        }

        // The first operation waits for FUSE_INIT, so this stat returns once the session is up;
        // its device number names the connection under /sys/fs/fuse/connections.
        var st = stat()
        if stat(mountPoint, &st) != 0 {
            let code = errno
            unmount()
            throw BlockDeviceSetupError.system("FUSE mount at \(mountPoint) does not answer", code)
        }
        connectionID = (cfuse_major(st.st_dev) << 20) | cfuse_minor(st.st_dev)
    }

    /// Unmounts and stops the session threads. Idempotent.
    ///
    /// The lazy unmount ends the FUSE connection as soon as no file is open; a loop device still
    /// attached keeps it open, so after a grace period the connection is aborted through fusectl
    /// (IO on such a loop device then fails with EIO).
    public func unmount() {
        guard let session = lock.withLock({ () -> OpaquePointer? in
            defer { self.session = nil }
            return self.session
        }) else { return }

        fuse_session_exit(session)
        umount2(mountPoint, Int32(MNT_DETACH))
        let loopEnded = { self.lock.withLock { self.loopDone } }
        if !waitUntil(seconds: 2, loopEnded) {
            abortConnection()
            _ = waitUntil(seconds: 10, loopEnded)
        }
        // If the loop still runs (fusectl unavailable and a file still open), don't block the
        // caller forever: the loop thread cleans up when the last file closes.
        let handOff = lock.withLock { () -> Bool in
            if loopDone { return false }
            cleanupHandedOff = true
            return true
        }
        if handOff {
            loopThread?.detach()
        } else {
            loopThread?.join()
            finishSession(session)
        }
        loopThread = nil
    }

    /// Frees the session once every outstanding reply has been sent: replies write to its fd
    /// and free requests it owns. If a backend never answers, the session is leaked rather than
    /// freed under it.
    private func finishSession(_ session: OpaquePointer) {
        if waitUntil(seconds: options.drainTimeout, { outstanding.load(ordering: .acquiring) == 0 }) {
            fuse_session_unmount(session)  // closes the fd; the mount is already gone
            fuse_session_destroy(session)
        }
    }

    /// Writes to the connection's fusectl abort file, mounting fusectl first if needed.
    private func abortConnection() {
        let directory = "/sys/fs/fuse/connections"
        let abortFile = "\(directory)/\(connectionID)/abort"
        if access(abortFile, W_OK) != 0 {
            _ = Glibc.mount("fusectl", directory, "fusectl", 0, nil)
        }
        let fd = Glibc.open(abortFile, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Glibc.write(fd, "1", 1)
        close(fd)
    }

    /// Lazily unmounts FUSE mounts left at `path` by a crashed run (they answer ENOTCONN to
    /// everything, so nothing could be mounted over them). Other filesystems are left alone, in
    /// case `path` is mistakenly a real mount point. Repeats for stacked mounts.
    static func detachStaleMounts(at path: String) {
        for _ in 0..<8 {
            var st = stat()
            let dead = stat(path, &st) != 0 && errno == ENOTCONN
            guard dead || isFUSEMountPoint(path) else { return }
            if umount2(path, Int32(MNT_DETACH)) != 0 { return }
        }
    }

    /// Whether /proc/self/mountinfo lists a fuse or fuse.* mount at exactly `path`.
    static func isFUSEMountPoint(_ path: String) -> Bool {
        var wanted = path
        while wanted.count > 1 && wanted.hasSuffix("/") { wanted.removeLast() }
        guard let info = SmallFile.contents(of: "/proc/self/mountinfo") else { return false }
        for line in info.split(separator: "\n") {
            // "id parent major:minor root mountpoint options [optional...] - fstype source ..."
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count
            else { continue }
            let mountPoint = String(fields[4]).replacing("\\040", with: " ")
            let type = fields[dash + 1]
            if mountPoint == wanted && (type == "fuse" || type.hasPrefix("fuse.")) { return true }
        }
        return false
    }

    func recordNegotiated(_ value: Negotiated) {
        lock.withLock { negotiatedValue = value }
    }

    func file(inode: UInt64) -> LUNFile? {
        lock.withLock { filesByInode[inode] }
    }
}
#endif
