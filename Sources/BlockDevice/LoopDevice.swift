// FUSE and loop devices are Linux facilities; elsewhere the module keeps only its portable parts.
#if os(Linux)
import NIOConcurrencyHelpers
import Glibc
import CFUSE
import SystemSupport

/// A loop device (/dev/loopN) bound to a file, normally a `LUNFileSystem` file.
///
/// The device is configured with LO_FLAGS_AUTOCLEAR while this object holds it open: if the
/// process dies, the kernel closes that descriptor and the device unbinds itself as soon as
/// nobody else uses it, so crashed runs leak no loop devices. All calls block; don't make them on
/// an event loop that the backend's completions need.
public final class LoopDevice: @unchecked Sendable {
    /// "/dev/loopN".
    public let path: String
    public let number: Int
    public let backingFile: String
    public let blockSize: Int
    /// Whether the loop driver reads and writes the backing file with direct IO (asynchronous,
    /// no page cache in between); when false, `directIONote` says why.
    public let directIO: Bool
    public let directIONote: String?

    private let lock = NIOLock()
    private var descriptor: Int32

    static let loopMajor: UInt32 = 7

    private init(
        number: Int, backingFile: String, blockSize: Int, descriptor: Int32, directIO: Bool,
        directIONote: String?
    ) {
        self.number = number
        self.path = "/dev/loop\(number)"
        self.backingFile = backingFile
        self.blockSize = blockSize
        self.descriptor = descriptor
        self.directIO = directIO
        self.directIONote = directIONote
    }

    deinit {
        // Dropping the descriptor lets AUTOCLEAR unbind the device once it is unused.
        if descriptor >= 0 { close(descriptor) }
    }

    /// Binds `file` to a free loop device with logical block size `blockSize`.
    ///
    /// Direct IO is requested and kept when the kernel accepts it for the file (it needs O_DIRECT
    /// support and aligned offsets, which FUSE files with 512/4096-byte blocks have); otherwise the
    /// device runs buffered and `directIONote` holds the kernel's reason.
    public static func attach(
        file: String, blockSize: Int, readOnly: Bool = false, directIO: Bool = true
    ) throws -> LoopDevice {
        let backing = open(file, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        if backing < 0 { throw BlockDeviceSetupError.system("cannot open \(file)", errno) }
        defer { close(backing) }  // the loop device keeps its own reference

        var flags = cfuse_lo_flags_autoclear()
        if readOnly { flags |= cfuse_lo_flags_read_only() }
        if directIO { flags |= cfuse_lo_flags_direct_io() }

        let candidates = try Candidates()
        while let number = try candidates.next() {
            let path = "/dev/loop\(number)"
            try ensureNode(path, number: number)
            let device = open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
            if device < 0 { throw BlockDeviceSetupError.system("cannot open \(path)", errno) }

            var rc = cfuse_loop_configure(device, backing, UInt32(blockSize), flags, file)
            if rc == -EINVAL && flags & cfuse_lo_flags_direct_io() != 0 {
                // Older kernels refuse the whole configuration when direct IO is impossible.
                rc = cfuse_loop_configure(
                    device, backing, UInt32(blockSize), flags & ~cfuse_lo_flags_direct_io(), file)
            }
            if rc == -EBUSY {  // bound meanwhile, or (scanning) already in use
                close(device)
                candidates.busy(path)
                continue
            }
            if rc < 0 {
                close(device)
                throw BlockDeviceSetupError.system("cannot bind \(file) to \(path)", -rc)
            }

            var (enabled, note) = currentDirectIO(device)
            if directIO && !enabled {
                // Newer kernels drop the flag silently; asking again names the reason.
                let retry = cfuse_loop_set_direct_io(device, 1)
                if retry == 0 {
                    (enabled, note) = currentDirectIO(device)
                } else {
                    note = "the kernel refused direct IO on \(file): \(String(cString: strerror(-retry)))"
                }
            } else if !directIO {
                note = "direct IO not requested"
            }
            return LoopDevice(
                number: Int(number), backingFile: file, blockSize: blockSize, descriptor: device,
                directIO: enabled, directIONote: enabled ? nil : note)
        }
        throw candidates.exhausted()
    }

    /// Loop device numbers to try: what LOOP_CTL_GET_FREE hands out (it creates devices as
    /// needed), or, where /dev/loop-control is missing (containers given a fixed set of
    /// /dev/loopN), each of those nodes in turn, as losetup does.
    private final class Candidates {
        private var control: Int32 = -1
        private var scan: [Int32] = []
        private var attempts = 0
        private var busyPaths: [String] = []

        init() throws {
            control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
            if control >= 0 { return }
            let code = errno
            guard code == ENOENT else { throw BlockDeviceSetupError.system("cannot open /dev/loop-control", code) }
            scan = LoopDevice.existingNodes()
            if scan.isEmpty {
                throw BlockDeviceSetupError(
                    "no loop devices: /dev/loop-control is missing and there is no /dev/loopN (is the loop module loaded?)",
                    errno: code)
            }
        }

        func next() throws -> Int32? {
            guard control >= 0 else { return scan.isEmpty ? nil : scan.removeFirst() }
            // Another process may take the number we were given before we configure it.
            attempts += 1
            guard attempts <= 16 else { return nil }
            let number = cfuse_loop_ctl_get_free(control)
            if number == -ENOTTY || number == -EINVAL {
                throw BlockDeviceSetupError(
                    "no loop devices: /dev/loop-control is not the loop control device (character device 10:237)",
                    errno: -number)
            }
            if number < 0 {
                throw BlockDeviceSetupError.system("no free loop device (all are in use or the limit is reached)", -number)
            }
            return number
        }

        func busy(_ path: String) { busyPaths.append(path) }

        func exhausted() -> BlockDeviceSetupError {
            if control >= 0 {
                return BlockDeviceSetupError("no free loop device: every free one was taken by another process", errno: EBUSY)
            }
            return BlockDeviceSetupError(
                "no free loop device: \(busyPaths.joined(separator: ", ")) \(busyPaths.count == 1 ? "is" : "are all") in use"
                    + " (and /dev/loop-control is missing)",
                errno: EBUSY)
        }

        deinit { if control >= 0 { Glibc.close(control) } }
    }

    /// Numbers of the /dev/loopN block devices present, in order.
    static func existingNodes() -> [Int32] {
        guard let directory = opendir("/dev") else { return [] }
        defer { closedir(directory) }
        var numbers: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("loop"), let number = Int32(name.dropFirst(4)) else { continue }
            var st = stat()
            if stat("/dev/\(name)", &st) == 0, st.st_mode & S_IFMT == S_IFBLK { numbers.append(number) }
        }
        return numbers.sorted()
    }

    /// Makes the device pick up the backing file's new size (after `LUNFileSystem.resize`).
    public func refreshCapacity() throws {
        try lock.withLock {
            guard descriptor >= 0 else { throw BlockDeviceSetupError("\(path) is detached") }
            let rc = cfuse_loop_set_capacity(descriptor)
            if rc < 0 { throw BlockDeviceSetupError.system("cannot refresh the size of \(path)", -rc) }
        }
    }

    /// Current size in bytes, as the block layer sees it.
    public var capacity: UInt64 {
        guard let text = SmallFile.contents(of: "/sys/block/loop\(number)/size"),
            let sectors = UInt64(text.trimmingWhitespace())
        else { return 0 }
        return sectors * 512
    }

    public var isInUse: Bool { Self.isInUse(path) }

    /// Unbinds the device and waits up to `waitSeconds` until the kernel has released it.
    ///
    /// Refuses while the device is mounted or held open exclusively, unless `deferIfBusy`: then
    /// the device unbinds itself when its last user closes it, and this throws if that does not
    /// happen within `waitSeconds`.
    public func detach(deferIfBusy: Bool = false, waitSeconds: Double = 5) throws {
        try lock.withLock {
            guard descriptor >= 0 else { return }
            if !deferIfBusy && Self.isInUse(path) {
                throw BlockDeviceSetupError("\(path) is in use (mounted or open exclusively)", errno: EBUSY)
            }
            // Kernels before 5.x answered EBUSY while another opener remained; newer ones defer.
            var rc = cfuse_loop_clr_fd(descriptor)
            var attempts = 0
            while rc == -EBUSY && attempts < 50 {
                usleep(20_000)
                attempts += 1
                rc = cfuse_loop_clr_fd(descriptor)
            }
            if rc < 0 && rc != -ENXIO {
                throw BlockDeviceSetupError.system("cannot detach \(path)", -rc)
            }
            close(descriptor)
            descriptor = -1
        }
        let bound = "/sys/block/loop\(number)/loop"
        if !waitUntil(seconds: waitSeconds, { access(bound, F_OK) != 0 }) {
            throw BlockDeviceSetupError(
                "\(path) is still bound: it detaches when its last user closes it", errno: EBUSY)
        }
    }

    /// True when `device` is mounted (its major:minor appears in /proc/self/mountinfo), held open
    /// exclusively (O_EXCL open fails with EBUSY: a mount, mkfs, swap, another driver), or has
    /// holders such as device-mapper.
    public static func isInUse(_ device: String) -> Bool {
        var st = stat()
        guard stat(device, &st) == 0, st.st_mode & S_IFMT == S_IFBLK else { return false }
        let major = cfuse_major(st.st_rdev)
        let minor = cfuse_minor(st.st_rdev)
        if let mountInfo = SmallFile.contents(of: "/proc/self/mountinfo"),
            mountInfo.split(separator: "\n").contains(where: { line in
                // Field 3 is the mounted device's "major:minor".
                line.split(separator: " ", maxSplits: 3).dropFirst(2).first == "\(major):\(minor)"
            })
        {
            return true
        }
        let fd = open(device, O_RDONLY | O_EXCL | O_CLOEXEC)
        if fd < 0 { return errno == EBUSY }
        close(fd)
        let holders = "/sys/dev/block/\(major):\(minor)/holders"
        if let dir = opendir(holders) {
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { return true }
            }
        }
        return false
    }

    // MARK: - Helpers

    private static func currentDirectIO(_ device: Int32) -> (Bool, String?) {
        var flags: UInt32 = 0
        let rc = cfuse_loop_get_status(device, &flags, nil, nil)
        if rc < 0 { return (false, "LOOP_GET_STATUS64 failed: \(String(cString: strerror(-rc)))") }
        return (flags & cfuse_lo_flags_direct_io() != 0, nil)
    }

    /// Creates /dev/loopN when the kernel made the device but no devtmpfs/udev node appeared
    /// (containers with a static /dev).
    private static func ensureNode(_ path: String, number: Int32) throws {
        var st = stat()
        if stat(path, &st) == 0 { return }
        guard errno == ENOENT else { throw BlockDeviceSetupError.system("cannot stat \(path)", errno) }
        let node = cfuse_makedev(loopMajor, UInt32(number))
        if mknod(path, S_IFBLK | 0o660, node) != 0 && errno != EEXIST {
            throw BlockDeviceSetupError.system("cannot create \(path)", errno)
        }
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return self[first...last]
    }
}
#endif
