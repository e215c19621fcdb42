import BlockDevice
import Foundation
import ISCSIInitiator
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The block devices of iscsid's sessions: one FUSE mount for the daemon (mounted on first use),
/// and per direct-access logical unit a file in it, a loop device on that file, a
/// `/dev/disk/by-id/wwn-0x<naa>` link and, per path, open-iscsi's
/// `/dev/disk/by-path/ip-<ip>:<port>-iscsi-<iqn>-lun-<n>` link to the loop device.
///
/// A LU reached through several sessions (several portals or gateways, `nr_sessions`) is known by
/// its VPD 0x83 identity and gets ONE device, whose commands a `MultipathRunner` spreads over the
/// sessions, as dm-multipath builds one map over several sd devices. LUs without a usable
/// identity get a device per session.
///
/// Unlike dm-multipath, which goes by the WWID alone, paths are merged only under the same target
/// name: tgt derives its default scsi_id from the target id and LUN ("IET     00010001"), so the
/// first LU of every tgtd anywhere has the same WWID, and merging those would write one LU's data
/// to another. Portals and port groups of one target, and gateways exporting one IQN, all match.
///
/// Not thread-safe: iscsid calls it from its session actor. The blocking calls it makes (mount,
/// LOOP_CONFIGURE, opening the FUSE file) are served by the FUSE worker threads and the
/// sessions' event loops, never by the caller's thread.
public final class SessionBlockDevices: @unchecked Sendable {
    /// One LU's block device, shared by every path to it.
    public final class Device: @unchecked Sendable {
        /// "<wwid> <target>", or "session<sid>-lun<n>" for a LU without an identity.
        public let key: String
        /// multipath's name for the map: the WWID, else the key.
        public var wwid: String { identity?.wwid ?? key }
        public let identity: LUIdentity?
        public let inquiry: StandardInquiry
        public let fileName: String
        public let loop: LoopDevice
        public let backend: SessionLUNBackend
        public let runner: MultipathRunner
        /// The by-id link, when the LU has an identity.
        public let byIDLink: String?
        /// Session id to the path through it.
        public internal(set) var paths: [Int: Path] = [:]
        /// "loop0", as `Attached scsi disk` prints it.
        public var name: String { (loop.path as NSString).lastPathComponent }

        init(
            key: String, identity: LUIdentity?, inquiry: StandardInquiry, fileName: String, loop: LoopDevice,
            backend: SessionLUNBackend, runner: MultipathRunner, byIDLink: String?
        ) {
            self.key = key
            self.identity = identity
            self.inquiry = inquiry
            self.fileName = fileName
            self.loop = loop
            self.backend = backend
            self.runner = runner
            self.byIDLink = byIDLink
        }
    }

    /// One session's way to a device.
    public struct Path: Sendable {
        public var lun: UInt64
        public var link: String
        public var address: String
        public var port: Int
        public var target: String
    }

    /// What an attach or rescan did: device names by LUN, and one line per LUN left without one.
    public struct Report: Sendable {
        public var devices: [UInt64: String] = [:]
        public var notes: [String] = []
    }

    public let mountPoint: String
    public let byPathDirectory: String
    public let byIDDirectory: String
    public let multipath: MultipathSettings
    private var fileSystem: LUNFileSystem?
    /// Session id, then LUN, to the key of its device.
    private var sessions: [Int: [UInt64: String]] = [:]
    private var devicesByKey: [String: Device] = [:]

    /// Largest request sent as one SCSI command when the target sets no smaller limit.
    static let defaultMaxTransfer = 1 << 20

    public init(
        mountPoint: String, byPathDirectory: String, byIDDirectory: String? = nil,
        multipath: MultipathSettings = MultipathSettings()
    ) {
        self.mountPoint = mountPoint
        self.byPathDirectory = byPathDirectory
        self.byIDDirectory = byIDDirectory ?? (byPathDirectory as NSString).deletingLastPathComponent + "/by-id"
        self.multipath = multipath
    }

    /// `$ISCSI_ROOT/dev/disk/by-path` when ISCSI_ROOT is set, else udev's `/dev/disk/by-path`.
    public static func byPathDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let root = environment["ISCSI_ROOT"], !root.isEmpty { return root + "/dev/disk/by-path" }
        return "/dev/disk/by-path"
    }

    /// `$ISCSI_ROOT/dev/disk/by-id` when ISCSI_ROOT is set, else udev's `/dev/disk/by-id`.
    public static func byIDDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let root = environment["ISCSI_ROOT"], !root.isEmpty { return root + "/dev/disk/by-id" }
        return "/dev/disk/by-id"
    }

    /// udev's by-path name of an iSCSI LUN.
    public static func byPathName(address: String, port: Int, target: String, lun: UInt64) -> String {
        "ip-\(address):\(port)-iscsi-\(target)-lun-\(lun)"
    }

    /// The session's devices by LUN.
    public func devices(sid: Int) -> [UInt64: Device] {
        (sessions[sid] ?? [:]).compactMapValues { devicesByKey[$0] }
    }

    /// Every device, by key.
    public var allDevices: [Device] { devicesByKey.keys.sorted().compactMap { devicesByKey[$0] } }

    // MARK: Attach

    /// Gives every direct-access LUN in `luns` a block device, or makes the session a further path
    /// to the device its LU already has. Failures leave the session working through the library
    /// and are reported, one line each, in `notes`.
    public func attach(
        sid: Int, session: ISCSISession, address: String, port: Int, target: String, luns: [UInt64]
    ) async -> Report {
        var report = Report()
        for lun in luns where sessions[sid]?[lun] == nil {
            do {
                guard let device = try await attachOne(sid: sid, session: session, address: address, port: port, target: target, lun: lun)
                else { continue }
                sessions[sid, default: [:]][lun] = device.key
                report.devices[lun] = device.name
            } catch {
                report.notes.append("no block device for lun \(lun): \(error)")
            }
        }
        for (lun, device) in devices(sid: sid) where report.devices[lun] == nil { report.devices[lun] = device.name }
        return report
    }

    /// nil for LUNs that are not disks (tgt's LUN 0 controller): open-iscsi attaches no disk there either.
    private func attachOne(
        sid: Int, session: ISCSISession, address: String, port: Int, target: String, lun: UInt64
    ) async throws -> Device? {
        let standard = try await session.executeChecked(lun: lun, cdb: [0x12, 0, 0, 0, 96, 0], expectedDataInLength: 96)
        guard let inquiry = StandardInquiry(standard.data), inquiry.peripheralDeviceType == 0,
            standard.data.getInteger(at: standard.data.readerIndex, as: UInt8.self) == 0x00
        else { return nil }
        // A LU without the page (or without a designator we use) is a device of its own.
        let page = try? await session.inquiry(lun: lun, page: 0x83, allocationLength: 1024)
        let identity = page.flatMap { LUIdentity.choose(page: $0.data) }
        let ports = page.map { Designation.portNumbers(page: $0.data) } ?? (relativePort: nil, group: nil)
        let capacity = try await session.readCapacity16(lun: lun)
        let link = byPathDirectory + "/" + Self.byPathName(address: address, port: port, target: target, lun: lun)
        let path = Path(lun: lun, link: link, address: address, port: port, target: target)
        let key = identity.map { "\($0.wwid) \(target)" } ?? "session\(sid)-lun\(lun)"

        if let device = devicesByKey[key] {
            // Another path to a LU we already have a device for.
            guard capacity.bytes == device.backend.byteCount, Int(capacity.blockSize) == device.backend.blockSize else {
                throw BlockDeviceSetupError(
                    "lun \(lun) has the identity of \(device.loop.path) (\(device.wwid)) but another size or block size: not used as a path")
            }
            try makeLink(link, to: device.loop.path)
            device.runner.addPath(id: sid, session: session, lun: lun, group: ports.group, relativePort: ports.relativePort)
            device.paths[sid] = path
            return device
        }

        let blockSize = Int(capacity.blockSize)
        guard blockSize >= 512, blockSize <= 65536, blockSize & (blockSize - 1) == 0 else {
            throw BlockDeviceSetupError("unsupported block size \(blockSize)")
        }
        let limits = await Self.limits(session: session, lun: lun, capacity: capacity)
        let runner = MultipathRunner(alua: inquiry.tpgs != 0, settings: multipath, timerLoop: session.eventLoop)
        runner.addPath(id: sid, session: session, lun: lun, group: ports.group, relativePort: ports.relativePort)
        let backend = SessionLUNBackend(
            runner: runner, blockSize: blockSize, byteCount: capacity.bytes, maxTransferBytes: limits.transfer,
            provisioning: limits.provisioning)
        let fileSystem = try mountedFileSystem()
        var fileName = identity.map { "lu-" + Self.safeName($0.wwid) } ?? key
        // The same WWID under another target name (tgt's defaults) needs a file of its own.
        if devicesByKey.values.contains(where: { $0.fileName == fileName }) { fileName += "-session\(sid)-lun\(lun)" }
        let file = try fileSystem.addFile(name: fileName, backend: backend)
        let loop: LoopDevice
        do {
            loop = try LoopDevice.attach(file: file, blockSize: blockSize)
        } catch {
            try? fileSystem.removeFile(name: fileName)
            throw error
        }
        let byID = identity.map { byIDDirectory + "/" + $0.byIDName }
        do {
            try makeLink(link, to: loop.path)
            if let byID { try makeLink(byID, to: loop.path) }
        } catch {
            unlink(link)
            try? loop.detach()
            try? fileSystem.removeFile(name: fileName)
            throw error
        }
        runner.start()
        let device = Device(
            key: key, identity: identity, inquiry: inquiry, fileName: fileName, loop: loop, backend: backend, runner: runner,
            byIDLink: byID)
        device.paths[sid] = path
        devicesByKey[key] = device
        return device
    }

    private func makeLink(_ link: String, to target: String) throws {
        try FileManager.default.createDirectory(atPath: (link as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        unlink(link)
        guard symlink(target, link) == 0 else {
            throw BlockDeviceSetupError("cannot create \(link): \(String(cString: strerror(errno)))")
        }
    }

    /// A FUSE file name from a WWID (T10 vendor IDs may hold anything).
    static func safeName(_ text: String) -> String {
        String(text.prefix(200).map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) ? $0 : "_" })
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

    /// Lines naming the session's devices that are mounted or held open exclusively and that
    /// have no other path: a device another session still reaches may lose this path.
    public func busy(sid: Int) -> [String] {
        devices(sid: sid).sorted { $0.key < $1.key }.compactMap { lun, device in
            guard device.paths.count == 1, device.loop.isInUse else { return nil }
            return "\(device.loop.path) (lun \(lun)) is in use" + (Self.mountPoint(of: device.loop.path).map { ": mounted on \($0)" } ?? "")
        }
    }

    /// Takes the session off its devices: its by-path links go; a device whose last path it was
    /// is flushed and removed (loop device, by-id link, FUSE file). Refuses, changing nothing,
    /// while such a device is in use.
    public func detach(sid: Int) async throws {
        let busy = busy(sid: sid)
        guard busy.isEmpty else { throw BlockDeviceSetupError(busy.joined(separator: "; "), errno: EBUSY) }
        for (lun, device) in devices(sid: sid).sorted(by: { $0.key < $1.key }) {
            try await removePath(sid: sid, lun: lun, device: device)
        }
        sessions[sid] = nil
    }

    /// Removes one path; the device too when it was the last one.
    private func removePath(sid: Int, lun: UInt64, device: Device) async throws {
        if device.paths.count <= 1 {
            try await detach(device)
            devicesByKey[device.key] = nil
        } else {
            if let path = device.paths[sid] { unlink(path.link) }
            device.paths[sid] = nil
            device.runner.removePath(id: sid)
        }
        sessions[sid]?[lun] = nil
    }

    private func detach(_ device: Device) async throws {
        // Write back what the page cache of the loop device still holds, then the target's cache.
        let fd = open(device.loop.path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        try device.loop.detach()
        for path in device.paths.values { unlink(path.link) }
        if let link = device.byIDLink { unlink(link) }
        try? fileSystem?.removeFile(name: device.fileName)
        try? await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            device.backend.flush { continuation.resume(with: $0.mapError { $0 as Error }) }
        }
        device.runner.stop()
    }

    // MARK: Rescan

    /// After REPORT LUNS again: attaches new LUNs, makes grown or shrunk ones show their new
    /// size, and removes the session's paths to LUNs that are gone (the device too when it was
    /// the last path; kept, with a note, while in use).
    public func rescan(
        sid: Int, session: ISCSISession, address: String, port: Int, target: String, luns: [UInt64]
    ) async -> Report {
        var notes: [String] = []
        for (lun, device) in devices(sid: sid) {
            if !luns.contains(lun) {
                if device.paths.count == 1 && device.loop.isInUse {
                    notes.append("lun \(lun) is gone from the target but \(device.loop.path) is in use: IO to it fails")
                } else {
                    do {
                        let last = device.paths.count == 1
                        try await removePath(sid: sid, lun: lun, device: device)
                        notes.append("lun \(lun) is gone from the target: " + (last ? "\(device.loop.path) detached" : "one path less to \(device.loop.path)"))
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
        for device in devicesByKey.values where !device.loop.isInUse { try? await detach(device) }
        for device in devicesByKey.values { device.runner.stop() }
        devicesByKey = [:]
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
