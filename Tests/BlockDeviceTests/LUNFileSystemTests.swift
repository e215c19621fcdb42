#if os(Linux)
import BlockDevice
import CFUSE
import NIOCore
import Synchronization
import XCTest

import Glibc

/// Real FUSE mounts (and loop devices, ext4) over an in-memory backend that completes on NIO
/// event loops. Needs root, /dev/fuse and, for the loop tests, /dev/loop-control.
final class LUNFileSystemTests: XCTestCase {
    private let mib = 1 << 20
    private var directory = ""
    private var fileSystems: [LUNFileSystem] = []
    private var loops: [LoopDevice] = []
    private var mounts: [String] = []
    private var createdDirectories: [String] = []

    override func setUpWithError() throws {
        guard access("/dev/fuse", F_OK) == 0 else {
            throw XCTSkip("/dev/fuse is absent: FUSE is not available here")
        }
        var template = Array("/tmp/blockdevice-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(errno, "mkdtemp") }
        directory = String(cString: made)
    }

    override func tearDown() {
        // Undo in reverse order even when a test failed half-way.
        for mountPoint in mounts.reversed() { umount2(mountPoint, Int32(MNT_DETACH)) }
        for loop in loops { try? loop.detach(deferIfBusy: true, waitSeconds: 2) }
        for fileSystem in fileSystems { fileSystem.unmount() }
        for path in createdDirectories.reversed() { rmdir(path) }
        rmdir(directory + "/fuse")
        rmdir(directory)
        mounts = []
        loops = []
        fileSystems = []
        createdDirectories = []
    }

    // MARK: - Helpers

    private func makeFileSystem(
        blockSize: Int, byteCount: Int, capacity: Int? = nil, name: String = "session1-lun1",
        mountPoint: String? = nil
    ) throws -> (LUNFileSystem, MemoryBackend, String) {
        let backend = MemoryBackend(blockSize: blockSize, byteCount: UInt64(byteCount), capacity: capacity)
        let fileSystem = try LUNFileSystem(mountPoint: mountPoint ?? directory + "/fuse")
        fileSystems.append(fileSystem)
        let path = try fileSystem.addFile(name: name, backend: backend)
        return (fileSystem, backend, path)
    }

    private func requireLoopDevices() throws {
        guard access("/dev/loop-control", F_OK) == 0 else {
            throw XCTSkip("/dev/loop-control is absent: no loop devices here")
        }
    }

    private func attach(_ path: String, blockSize: Int) throws -> LoopDevice {
        let loop = try LoopDevice.attach(file: path, blockSize: blockSize)
        loops.append(loop)
        return loop
    }

    private func makeDirectory(_ path: String) -> String {
        mkdir(path, 0o700)
        createdDirectories.append(path)
        return path
    }

    private func openFile(_ path: String, _ flags: Int32 = O_RDWR) throws -> Int32 {
        let fd = open(path, flags | O_CLOEXEC)
        if fd < 0 { throw POSIXError(errno, "open \(path)") }
        return fd
    }

    /// pwrite; returns the byte count or -errno.
    private func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int) -> Int {
        let rc = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        return rc < 0 ? -Int(errno) : rc
    }

    /// pread; returns the bytes read, or nil with `error` set.
    private func preadBytes(_ fd: Int32, count: Int, at offset: Int, error: inout Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        let rc = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        if rc < 0 {
            error = errno
            return nil
        }
        return Array(buffer[0..<rc])
    }

    private func preadBytes(_ fd: Int32, count: Int, at offset: Int) -> [UInt8]? {
        var error: Int32 = 0
        return preadBytes(fd, count: count, at: offset, error: &error)
    }

    private func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : -1
    }

    private func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = generator.next()
            for _ in 0..<8 where index < count {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }

    private func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = try openFile(path, O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(fd) }
        XCTAssertEqual(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, bytes.count)
        XCTAssertEqual(fsync(fd), 0)
    }

    private func readFile(_ path: String) throws -> [UInt8] {
        let fd = try openFile(path, O_RDONLY)
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            result += chunk[0..<count]
        }
        return result
    }

    private func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    // MARK: - FUSE file

    func testAlignedAndUnalignedReadsAndWrites() throws {
        let size = 8 * mib
        let (fileSystem, backend, path) = try makeFileSystem(blockSize: 512, byteCount: size)
        XCTAssertEqual(fileSize(path), size)
        let fd = try openFile(path)
        defer { close(fd) }
        var model = [UInt8](repeating: 0, count: size)

        let writes: [(offset: Int, length: Int)] = [
            (mib, 64 * 1024),  // aligned
            (4096 * 3 + 100, 1000),  // inside one block... and the next
            (10_000, 5000),  // partial head and tail blocks
            (20_001, 7),  // one block holds both ends
            (mib - 3, 6),  // across the aligned region's start
            (0, 1),
            (600_001, 300_000),  // large, unaligned
            (2 * mib, 512),  // one aligned block
        ]
        for (index, write) in writes.enumerated() {
            let bytes = pattern(write.length, seed: UInt64(index + 1))
            XCTAssertEqual(pwriteAll(fd, bytes, at: write.offset), write.length, "write \(index)")
            model.replaceSubrange(write.offset..<(write.offset + write.length), with: bytes)
        }
        for (index, write) in writes.enumerated() {
            // Read back with a margin on both sides: unaligned reads, neighbours intact.
            let start = max(0, write.offset - 37)
            let end = min(size, write.offset + write.length + 41)
            XCTAssertEqual(preadBytes(fd, count: end - start, at: start), Array(model[start..<end]), "read \(index)")
        }
        XCTAssertEqual(backend.bytes(at: 0, count: size), model, "backend content")
        // Replies made of several pieces (an iSCSI read whose Data-In straddled socket reads).
        backend.splitReads.store(true, ordering: .relaxed)
        for (index, write) in writes.enumerated() {
            let start = max(0, write.offset - 1037)
            let end = min(size, write.offset + write.length + 2041)
            XCTAssertEqual(preadBytes(fd, count: end - start, at: start), Array(model[start..<end]), "split read \(index)")
        }
        backend.splitReads.store(false, ordering: .relaxed)

        // The end of the device.
        XCTAssertEqual(preadBytes(fd, count: 4096, at: size), [])
        XCTAssertEqual(preadBytes(fd, count: 4096, at: size - 100), Array(model[(size - 100)...]))
        XCTAssertEqual(pwriteAll(fd, [1, 2, 3], at: size), -Int(ENOSPC))
        XCTAssertEqual(pwriteAll(fd, pattern(1024, seed: 99), at: size - 512), 512)

        XCTAssertEqual(backend.misaligned.load(ordering: .relaxed), 0, "backend saw partial blocks")
        XCTAssertGreaterThanOrEqual(fileSystem.statistics.readModifyWrites, 6)
    }

    func testManyRequestsInFlightAndLargeRequests() throws {
        let size = 64 * mib
        let (fileSystem, backend, path) = try makeFileSystem(blockSize: 4096, byteCount: size)
        let negotiated = try XCTUnwrap(fileSystem.negotiated)
        XCTAssertEqual(negotiated.maxWrite, mib)
        XCTAssertTrue(negotiated.asyncDirectIO)
        XCTAssertTrue(negotiated.asyncRead)

        let fd = try openFile(path)
        defer { close(fd) }
        let content = pattern(16 * mib, seed: 5)
        for offset in stride(from: 0, to: content.count, by: mib) {
            // Page-aligned source: the kernel maps the caller's pages, and an unaligned 1 MiB
            // buffer spans 257 pages, one more than a request holds.
            let chunk = AlignedBuffer(count: mib) { content[offset + $0] }
            XCTAssertEqual(pwrite(fd, chunk.pointer, mib, off_t(offset)), mib)
        }
        // With direct_io and max_write of 1 MiB, each 1 MiB pwrite is one FUSE request.
        XCTAssertEqual(fileSystem.statistics.largestWrite, mib)
        XCTAssertEqual(backend.largestRequest.load(ordering: .relaxed), mib)

        let mismatches = Atomic<Int>(0)
        onThreads(8) { thread in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 65536)
            for round in 0..<32 {
                let offset = ((thread * 32 + round) * 65536) % content.count
                let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 65536, off_t(offset)) }
                if count != 65536 || buffer[...] != content[offset..<(offset + 65536)] {
                    mismatches.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(mismatches.load(ordering: .relaxed), 0)
        XCTAssertGreaterThan(backend.maxOutstanding.load(ordering: .relaxed), 1, "requests were serialised")
        XCTAssertGreaterThan(fileSystem.statistics.maxOutstanding, 1)
        XCTAssertEqual(backend.misaligned.load(ordering: .relaxed), 0)
    }

    func testFsyncAndCloseFlushTheBackend() throws {
        let (_, backend, path) = try makeFileSystem(blockSize: 4096, byteCount: 4 * mib)
        let fd = try openFile(path)
        XCTAssertEqual(pwriteAll(fd, pattern(8192, seed: 3), at: 0), 8192)
        let before = backend.flushes.load(ordering: .relaxed)
        XCTAssertEqual(fsync(fd), 0)
        let afterFsync = backend.flushes.load(ordering: .relaxed)
        XCTAssertEqual(afterFsync, before + 1)
        XCTAssertEqual(fdatasync(fd), 0)
        XCTAssertEqual(backend.flushes.load(ordering: .relaxed), afterFsync + 1)
        XCTAssertEqual(close(fd), 0)  // close sends FLUSH
        XCTAssertEqual(backend.flushes.load(ordering: .relaxed), afterFsync + 2)
    }

    func testPunchHoleAndZeroRangeReachTheBackend() throws {
        let (_, backend, path) = try makeFileSystem(blockSize: 4096, byteCount: 4 * mib)
        let fd = try openFile(path)
        defer { close(fd) }
        XCTAssertEqual(pwriteAll(fd, pattern(4 * 65536, seed: 5), at: 0), 4 * 65536)
        let punch = Int32(0x02 | 0x01)  // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        func fallocate(_ fd: Int32, _ mode: Int32, _ offset: Int64, _ length: Int64) -> Int32 {
            cfuse_fallocate(fd, mode, offset, length)
        }
        XCTAssertEqual(fallocate(fd, punch, 65536, 65536), 0)
        XCTAssertEqual(backend.bytes(at: 65536, count: 65536), [UInt8](repeating: 0, count: 65536))
        XCTAssertEqual(backend.bytes(at: 0, count: 16), Array(pattern(16, seed: 5)), "outside the hole untouched")
        XCTAssertEqual(fallocate(fd, 0x10, 3 * 65536, 4096), 0)  // FALLOC_FL_ZERO_RANGE
        XCTAssertEqual(backend.bytes(at: 3 * 65536, count: 4096), [UInt8](repeating: 0, count: 4096))
        // Partial blocks and plain allocation are left to the caller; so is a LUN that cannot
        // promise zeros after deallocating.
        XCTAssertEqual(fallocate(fd, punch, 100, 4096), -EOPNOTSUPP)
        XCTAssertEqual(fallocate(fd, 0, 0, 4096), -EOPNOTSUPP)
        backend.deallocates.store(false, ordering: .relaxed)
        XCTAssertEqual(fallocate(fd, punch, 0, 4096), -EOPNOTSUPP)
        XCTAssertEqual(fallocate(fd, 0x10, 0, 4096), 0, "zeroing still works")
        XCTAssertEqual(backend.misaligned.load(ordering: .relaxed), 0)
    }

    func testBackendErrorsReachTheCaller() throws {
        let (fileSystem, backend, path) = try makeFileSystem(blockSize: 512, byteCount: 4 * mib)
        let fd = try openFile(path)
        defer { close(fd) }
        backend.failRequests(with: BlockDeviceError(.noSpace, "thin pool exhausted"))
        XCTAssertEqual(pwriteAll(fd, pattern(4096, seed: 1), at: 0), -Int(ENOSPC))
        XCTAssertEqual(pwriteAll(fd, pattern(100, seed: 1), at: 10), -Int(ENOSPC), "read-modify-write")
        backend.failRequests(with: BlockDeviceError(.medium))
        var error: Int32 = 0
        XCTAssertNil(preadBytes(fd, count: 4096, at: 0, error: &error))
        XCTAssertEqual(error, EIO)
        backend.failRequests(with: BlockDeviceError(.writeProtected))
        XCTAssertEqual(pwriteAll(fd, pattern(512, seed: 1), at: 512), -Int(EROFS))
        backend.failRequests(with: BlockDeviceError(.targetFailure))
        XCTAssertEqual(fsync(fd), -1)
        XCTAssertEqual(errno, EIO)
        backend.failRequests(with: nil)
        XCTAssertEqual(pwriteAll(fd, pattern(512, seed: 1), at: 512), 512)
        XCTAssertGreaterThanOrEqual(fileSystem.statistics.errors, 5)
    }

    func testFilesComeAndGo() throws {
        let (fileSystem, _, _) = try makeFileSystem(blockSize: 512, byteCount: mib, name: "a")
        let other = MemoryBackend(blockSize: 4096, byteCount: UInt64(2 * mib))
        try fileSystem.addFile(name: "b", backend: other)
        XCTAssertEqual(listDirectory(fileSystem.mountPoint), ["a", "b"])
        XCTAssertEqual(fileSystem.fileNames, ["a", "b"])
        XCTAssertEqual(fileSize(fileSystem.path(of: "b")), 2 * mib)
        XCTAssertThrowsError(try fileSystem.addFile(name: "a", backend: other))
        XCTAssertThrowsError(try fileSystem.addFile(name: "x/y", backend: other))

        try fileSystem.removeFile(name: "a")
        var st = stat()
        XCTAssertEqual(stat(fileSystem.path(of: "a"), &st), -1)
        XCTAssertEqual(errno, ENOENT)
        XCTAssertEqual(listDirectory(fileSystem.mountPoint), ["b"])
        XCTAssertThrowsError(try fileSystem.removeFile(name: "a"))

        try fileSystem.addFile(name: "a", backend: other)
        XCTAssertEqual(fileSize(fileSystem.path(of: "a")), 2 * mib)
        // Size changes other than to the current size are refused, as for a block device.
        XCTAssertEqual(truncate(fileSystem.path(of: "a"), 4096), -1)
        XCTAssertEqual(truncate(fileSystem.path(of: "a"), off_t(2 * mib)), 0)
    }

    func testResizeIsVisibleToStatAndLoopDevice() throws {
        let (fileSystem, backend, path) = try makeFileSystem(
            blockSize: 4096, byteCount: 64 * mib, capacity: 80 * mib)
        XCTAssertEqual(fileSize(path), 64 * mib)
        var loop: LoopDevice?
        if access("/dev/loop-control", F_OK) == 0 {
            loop = try attach(path, blockSize: 4096)
            XCTAssertEqual(loop?.capacity, UInt64(64 * mib))
        }
        backend.resize(to: UInt64(80 * mib))
        try fileSystem.resize(name: "session1-lun1")
        XCTAssertEqual(fileSize(path), 80 * mib)
        if let loop {
            try loop.refreshCapacity()
            XCTAssertEqual(loop.capacity, UInt64(80 * mib))
        }
        let fd = try openFile(path)
        defer { close(fd) }
        XCTAssertEqual(pwriteAll(fd, pattern(4096, seed: 8), at: 70 * mib), 4096)
        XCTAssertEqual(preadBytes(fd, count: 4096, at: 70 * mib), pattern(4096, seed: 8))
        XCTAssertThrowsError(try fileSystem.resize(name: "nope"))
    }

    func testStaleMountPointIsReplaced() throws {
        // A crashed daemon leaves a FUSE mount whose device is closed: everything on it fails
        // with ENOTCONN. Make one by mounting with our own /dev/fuse fd and closing it.
        let mountPoint = directory + "/fuse"
        mkdir(mountPoint, 0o700)
        let fuse = try openFile("/dev/fuse")
        let options = "fd=\(fuse),rootmode=40000,user_id=0,group_id=0"
        XCTAssertEqual(mount("stale", mountPoint, "fuse.blockdev", 0, options), 0)
        close(fuse)
        var st = stat()
        XCTAssertEqual(stat(mountPoint, &st), -1)
        XCTAssertEqual(errno, ENOTCONN)

        let (_, _, path) = try makeFileSystem(blockSize: 512, byteCount: mib, mountPoint: mountPoint)
        XCTAssertEqual(fileSize(path), mib)
    }

    func testOtherFilesystemsAtTheMountPointAreKept() throws {
        // Only dead or FUSE mounts count as stale: a real filesystem there stays mounted.
        let mountPoint = directory + "/fuse"
        mkdir(mountPoint, 0o700)
        XCTAssertEqual(mount("tmpfs", mountPoint, "tmpfs", 0, "size=1m"), 0)
        mounts.append(mountPoint)
        try writeFile(mountPoint + "/marker", [42])
        let (fileSystem, _, path) = try makeFileSystem(blockSize: 512, byteCount: mib, mountPoint: mountPoint)
        XCTAssertEqual(fileSize(path), mib)
        XCTAssertNotEqual(access(mountPoint + "/marker", F_OK), 0, "FUSE is mounted on top")
        fileSystem.unmount()
        XCTAssertEqual(try readFile(mountPoint + "/marker"), [42], "tmpfs was detached")
        XCTAssertEqual(umount2(mountPoint, 0), 0)
        mounts.removeLast()
    }

    // MARK: - Loop devices

    func testConcurrentDirectWritesThroughLoopDevice() throws {
        try requireLoopDevices()
        let (_, backend, path) = try makeFileSystem(blockSize: 4096, byteCount: 64 * mib)
        let loop = try attach(path, blockSize: 4096)
        print("loop \(loop.path): direct IO \(loop.directIO) \(loop.directIONote ?? "")")
        XCTAssertEqual(
            readSysfs("/sys/block/loop\(loop.number)/queue/logical_block_size"), "4096")

        let chunk = 65536
        let device = loop.path
        let failures = Atomic<Int>(0)
        onThreads(8) { thread in
            let fd = open(device, O_RDWR | O_DIRECT | O_CLOEXEC)
            guard fd >= 0 else {
                failures.wrappingAdd(1, ordering: .relaxed)
                return
            }
            defer { close(fd) }
            for round in 0..<16 {
                let offset = (thread * 16 + round) * chunk
                let buffer = AlignedBuffer(count: chunk) { UInt8(truncatingIfNeeded: $0 &+ offset / chunk) }
                if pwrite(fd, buffer.pointer, chunk, off_t(offset)) != chunk {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
            }
            for round in 0..<16 {
                let offset = (thread * 16 + round) * chunk
                let buffer = AlignedBuffer(count: chunk)
                if pread(fd, buffer.pointer, chunk, off_t(offset)) != chunk
                    || buffer.bytes != (0..<chunk).map({ UInt8(truncatingIfNeeded: $0 &+ offset / chunk) })
                {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(failures.load(ordering: .relaxed), 0)
        XCTAssertGreaterThan(backend.maxOutstandingWrites.load(ordering: .relaxed), 1, "writes were serialised")
        XCTAssertEqual(backend.misaligned.load(ordering: .relaxed), 0)
        try loop.detach()
    }

    func testExt4OnLoopDeviceSurvivesReattach() throws {
        try requireLoopDevices()
        let (fileSystem, backend, path) = try makeFileSystem(blockSize: 4096, byteCount: 64 * mib)
        let target = makeDirectory(directory + "/ext4")
        var loop = try attach(path, blockSize: 4096)
        XCTAssertEqual(runCommand(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", loop.path]), 0, "mkfs.ext4")
        XCTAssertEqual(mount(loop.path, target, "ext4", 0, nil), 0, "mount: \(String(cString: strerror(errno)))")
        mounts.append(target)
        XCTAssertTrue(loop.isInUse)
        XCTAssertThrowsError(try loop.detach(), "detach must refuse a mounted device")

        let files: [(String, [UInt8])] = [
            ("big.bin", pattern(3 * mib + 123, seed: 11)),
            ("small.txt", Array("hello from the loop device\n".utf8)),
            ("dir/nested.bin", pattern(200_000, seed: 12)),
        ]
        mkdir(target + "/dir", 0o755)
        for (name, bytes) in files { try writeFile(target + "/" + name, bytes) }
        sync()
        XCTAssertEqual(umount2(target, 0), 0)
        mounts.removeLast()
        XCTAssertFalse(loop.isInUse)
        try loop.detach()
        XCTAssertNotEqual(access("/sys/block/loop\(loop.number)/loop", F_OK), 0, "still bound")

        loop = try attach(path, blockSize: 4096)
        XCTAssertEqual(mount(loop.path, target, "ext4", UInt(MS_RDONLY), nil), 0, "remount")
        mounts.append(target)
        for (name, bytes) in files {
            XCTAssertEqual(try readFile(target + "/" + name), bytes, name)
        }
        XCTAssertEqual(umount2(target, 0), 0)
        mounts.removeLast()
        XCTAssertEqual(runCommand(["fsck.ext4", "-n", "-f", loop.path]), 0, "fsck.ext4 -n")
        try loop.detach()

        XCTAssertEqual(backend.misaligned.load(ordering: .relaxed), 0)
        let stats = fileSystem.statistics
        print(
            "ext4 run: \(stats.reads) reads, \(stats.writes) writes, \(stats.flushes) flushes, largest read "
                + "\(stats.largestRead), largest write \(stats.largestWrite), max outstanding \(stats.maxOutstanding)")
    }

    func testUnmountWithLoopDeviceStillAttachedDoesNotHang() throws {
        try requireLoopDevices()
        let (fileSystem, _, path) = try makeFileSystem(blockSize: 512, byteCount: 8 * mib)
        let loop = try attach(path, blockSize: 512)
        let started = monotonicNow()
        fileSystem.unmount()
        XCTAssertLessThan(monotonicNow() - started, 15)
        // The connection is gone: IO on the loop device fails instead of hanging.
        let fd = try openFile(loop.path, O_RDONLY | O_DIRECT)
        let buffer = AlignedBuffer(count: 4096)
        XCTAssertEqual(pread(fd, buffer.pointer, 4096, 0), -1)
        close(fd)
        try loop.detach()
    }

    private func monotonicNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

extension POSIXError {
    init(_ code: Int32, _ what: String) {
        self.init(POSIXErrorCode(rawValue: code) ?? .EIO)
    }
}

/// A sysfs attribute without surrounding whitespace.
func readSysfs(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count >= 0 else { return nil }
    return String(decoding: buffer[0..<count], as: UTF8.self).filter { !$0.isWhitespace }
}

/// Glibc hides O_DIRECT behind _GNU_SOURCE; its value depends on the architecture.
#if arch(arm64) || arch(arm)
let O_DIRECT: Int32 = 0o200000
#else
let O_DIRECT: Int32 = 0o40000
#endif
#endif
