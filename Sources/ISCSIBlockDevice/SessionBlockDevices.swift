import BlockDevice
import Foundation
import ISCSIInitiator
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The block devices of iscsid's sessions: one FUSE mount for the daemon (mounted on first use),
/// and per direct-access LUN a file in it, a loop device on that file and open-iscsi's
/// `/dev/disk/by-path/ip-<ip>:<port>-iscsi-<iqn>-lun-<n>` link to the loop device.
///
/// Not thread-safe: iscsid calls it from its session actor. The blocking calls it makes (mount,
/// LOOP_CONFIGURE, opening the FUSE file) are served by the FUSE worker threads and the
/// sessions' event loops, never by the caller's thread.
public final class SessionBlockDevices: @unchecked Sendable {
    /// One attached LUN.
    public struct Device: Sendable {
        public var lun: UInt64
        public var fileName: String
        public var loop: LoopDevice
        public var backend: SessionLUNBackend
        public var link: String
        /// "loop0", as `Attached scsi disk` prints it.
        public var name: String { (loop.path as NSString).lastPathComponent }
    }

    /// What an attach or rescan did: device names by LUN, and one line per LUN left without one.
    public struct Report: Sendable {
        public var devices: [UInt64: String] = [:]
        public var notes: [String] = []
    }

    public let mountPoint: String
    public let byPathDirectory: String
    private var fileSystem: LUNFileSystem?
    private var sessions: [Int: [UInt64: Device]] = [:]

    /// Largest request sent as one SCSI command when the target sets no smaller limit.
    static let defaultMaxTransfer = 1 << 20

    public init(mountPoint: String, byPathDirectory: String) {
        self.mountPoint = mountPoint
        self.byPathDirectory = byPathDirectory
    }

    /// `$ISCSI_ROOT/dev/disk/by-path` when ISCSI_ROOT is set, else udev's `/dev/disk/by-path`.
    public static func byPathDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let root = environment["ISCSI_ROOT"], !root.isEmpty { return root + "/dev/disk/by-path" }
        return "/dev/disk/by-path"
    }

    /// udev's by-path name of an iSCSI LUN.
    public static func byPathName(address: String, port: Int, target: String, lun: UInt64) -> String {
        "ip-\(address):\(port)-iscsi-\(target)-lun-\(lun)"
    }

    public func devices(sid: Int) -> [UInt64: Device] { sessions[sid] ?? [:] }

    // MARK: Attach

    /// Gives every direct-access LUN in `luns` a block device. Failures leave the session
    /// working through the library and are reported, one line each, in `notes`.
    public func attach(
        sid: Int, session: ISCSISession, address: String, port: Int, target: String, luns: [UInt64]
    ) async -> Report {
        var report = Report()
        for lun in luns where sessions[sid]?[lun] == nil {
            do {
                guard let device = try await attachOne(sid: sid, session: session, address: address, port: port, target: target, lun: lun)
                else { continue }
                sessions[sid, default: [:]][lun] = device
                report.devices[lun] = device.name
            } catch {
                report.notes.append("no block device for lun \(lun): \(error)")
            }
        }
        for (lun, device) in sessions[sid] ?? [:] where report.devices[lun] == nil { report.devices[lun] = device.name }
        return report
    }

    /// nil for LUNs that are not disks (tgt's LUN 0 controller): open-iscsi attaches no disk there either.
    private func attachOne(
        sid: Int, session: ISCSISession, address: String, port: Int, target: String, lun: UInt64
    ) async throws -> Device? {
        let inquiry = try await session.executeChecked(lun: lun, cdb: [0x12, 0, 0, 0, 96, 0], expectedDataInLength: 96)
        guard let first = inquiry.data.getInteger(at: inquiry.data.readerIndex, as: UInt8.self), first == 0x00 else {
            return nil
        }
        let capacity = try await session.readCapacity16(lun: lun)
        let blockSize = Int(capacity.blockSize)
        guard blockSize >= 512, blockSize <= 65536, blockSize & (blockSize - 1) == 0 else {
            throw BlockDeviceSetupError("unsupported block size \(blockSize)")
        }
        let limits = await Self.limits(session: session, lun: lun, capacity: capacity)
        let backend = SessionLUNBackend(
            session: session, lun: lun, blockSize: blockSize, byteCount: capacity.bytes,
            maxTransferBytes: limits.transfer, provisioning: limits.provisioning)
        let fileSystem = try mountedFileSystem()
        let fileName = "session\(sid)-lun\(lun)"
        let file = try fileSystem.addFile(name: fileName, backend: backend)
        let loop: LoopDevice
        do {
            loop = try LoopDevice.attach(file: file, blockSize: blockSize)
        } catch {
            try? fileSystem.removeFile(name: fileName)
            throw error
        }
        let link = byPathDirectory + "/" + Self.byPathName(address: address, port: port, target: target, lun: lun)
        do {
            try FileManager.default.createDirectory(atPath: byPathDirectory, withIntermediateDirectories: true)
            unlink(link)
            guard symlink(loop.path, link) == 0 else {
                throw BlockDeviceSetupError("cannot create \(link): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? loop.detach()
            try? fileSystem.removeFile(name: fileName)
            throw error
        }
        return Device(lun: lun, fileName: fileName, loop: loop, backend: backend, link: link)
    }

    private func mountedFileSystem() throws -> LUNFileSystem {
        if let fileSystem { return fileSystem }
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try LUNFileSystem(mountPoint: mountPoint)
        fileSystem = mounted
        return mounted
    }

    /// The Block Limits VPD page's MAXIMUM TRANSFER LENGTH (capped at 1 MiB, FUSE's largest
    /// request), unmap and write-same limits; READ CAPACITY(16)'s LBPME/LBPRZ and the Logical
    /// Block Provisioning page's LBPU say whether UNMAP leaves zeros behind.
    static func limits(session: ISCSISession, lun: UInt64, capacity: ISCSISession.Capacity) async -> (
        transfer: Int, provisioning: SessionLUNBackend.Provisioning
    ) {
        let blockSize = Int(capacity.blockSize)
        var transfer = defaultMaxTransfer
        var provisioning = SessionLUNBackend.Provisioning()
        if let page = try? await session.executeChecked(lun: lun, cdb: [0x12, 1, 0xB0, 0, 64, 0], expectedDataInLength: 64) {
            let data = page.data
            let base = data.readerIndex
            if let blocks = data.getInteger(at: base + 8, as: UInt32.self), blocks > 0 {
                transfer = min(defaultMaxTransfer, Int(blocks) * blockSize)
            }
            provisioning.maxUnmapBlocks = data.getInteger(at: base + 20, as: UInt32.self) ?? 0
            provisioning.maxWriteSameBlocks = data.getInteger(at: base + 36, as: UInt64.self) ?? 0
        }
        if capacity.thinProvisioned, capacity.unmappedReadsZeros,
            let page = try? await session.executeChecked(lun: lun, cdb: [0x12, 1, 0xB2, 0, 64, 0], expectedDataInLength: 64),
            let bits = page.data.getInteger(at: page.data.readerIndex + 5, as: UInt8.self), bits & 0x80 != 0  // LBPU
        {
            provisioning.unmapReadsZeros = true
        }
        return (transfer, provisioning)
    }

    // MARK: Detach

    /// Lines naming the session's devices that are mounted or held open exclusively.
    public func busy(sid: Int) -> [String] {
        (sessions[sid] ?? [:]).values.sorted { $0.lun < $1.lun }.compactMap { device in
            guard device.loop.isInUse else { return nil }
            return "\(device.loop.path) (lun \(device.lun)) is in use" + (Self.mountPoint(of: device.loop.path).map { ": mounted on \($0)" } ?? "")
        }
    }

    /// Flushes and removes every device of the session: loop device, by-path link, FUSE file.
    /// Refuses, changing nothing, while any of them is in use.
    public func detach(sid: Int) async throws {
        let busy = busy(sid: sid)
        guard busy.isEmpty else { throw BlockDeviceSetupError(busy.joined(separator: "; "), errno: EBUSY) }
        for device in (sessions[sid] ?? [:]).values.sorted(by: { $0.lun < $1.lun }) {
            try await detach(device)
            sessions[sid]?[device.lun] = nil
        }
        sessions[sid] = nil
    }

    private func detach(_ device: Device) async throws {
        // Write back what the page cache of the loop device still holds, then the target's cache.
        let fd = open(device.loop.path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        try device.loop.detach()
        unlink(device.link)
        try? fileSystem?.removeFile(name: device.fileName)
        try? await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            device.backend.flush { continuation.resume(with: $0.mapError { $0 as Error }) }
        }
    }

    // MARK: Rescan

    /// After REPORT LUNS again: attaches new LUNs, makes grown or shrunk ones show their new
    /// size, and removes devices of LUNs that are gone (kept, with a note, while in use).
    public func rescan(
        sid: Int, session: ISCSISession, address: String, port: Int, target: String, luns: [UInt64]
    ) async -> Report {
        var notes: [String] = []
        for (lun, device) in sessions[sid] ?? [:] {
            if !luns.contains(lun) {
                if device.loop.isInUse {
                    notes.append("lun \(lun) is gone from the target but \(device.loop.path) is in use: IO to it fails")
                } else {
                    do {
                        try await detach(device)
                        sessions[sid]?[lun] = nil
                        notes.append("lun \(lun) is gone from the target: \(device.loop.path) detached")
                    } catch {
                        notes.append("lun \(lun) is gone from the target: \(error)")
                    }
                }
                continue
            }
            do {
                let capacity = try await session.readCapacity16(lun: lun)
                guard capacity.bytes != device.backend.byteCount else { continue }
                device.backend.setByteCount(capacity.bytes)
                try fileSystem?.resize(name: device.fileName)
                try device.loop.refreshCapacity()
            } catch {
                notes.append("lun \(lun): cannot update the size of \(device.loop.path): \(error)")
            }
        }
        var report = await attach(sid: sid, session: session, address: address, port: port, target: target, luns: luns)
        report.notes = notes + report.notes
        return report
    }

    /// Detaches what can be detached and unmounts (iscsid is stopping).
    public func shutdown() async {
        for sid in sessions.keys.sorted() {
            for device in (sessions[sid] ?? [:]).values where !device.loop.isInUse { try? await detach(device) }
        }
        sessions = [:]
        fileSystem?.unmount()
        fileSystem = nil
    }

    /// Where `device` is mounted, from /proc/self/mounts.
    static func mountPoint(of device: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 1, fields[0] == device { return String(fields[1]) }
        }
        return nil
    }
}
