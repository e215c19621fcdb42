import XCTest

@testable import ISCSIAdmin

/// A stand-in for tgtd that applies tgtadm requests to `TargetSnapshot`s and answers `show` with
/// the real formatter, enough to replay what tgt-admin sends.
final class FakeTgtDaemon {
    var targets: [Int32: TargetSnapshot] = [:]
    /// Most recent first, as tgt lists them.
    var accounts: [(user: String, password: String)] = []
    var discoveryUsers: [String] = []
    /// Sizes of the backing files.
    var fileSizes: [String: UInt64]
    /// Every request received, in order.
    var requests: [AdminRequest] = []

    init(fileSizes: [String: UInt64] = [:]) {
        self.fileSizes = fileSizes
    }

    var showTarget: String {
        TargetShowFormatter.format(targets.keys.sorted().map { targets[$0]! })
    }

    func handle(_ request: AdminRequest) -> AdminResponse {
        requests.append(request)
        do {
            return try apply(request)
        } catch let error as TgtadmError {
            return .failure(error)
        } catch {
            return .failure(.unknownError)
        }
    }

    private func target(_ tid: Int32?) throws -> TargetSnapshot {
        guard let tid, let target = targets[tid] else { throw TgtadmError.noTarget }
        return target
    }

    private func apply(_ request: AdminRequest) throws -> AdminResponse {
        switch (request.mode, request.op) {
        case (.system, .show):
            return .success("System:\n    State: ready\n    debug: off\n")
        case (.target, .show):
            return .success(showTarget)
        case (.target, .new):
            guard let tid = request.tid, let name = request.targetName else { throw TgtadmError.invalidRequest }
            guard targets[tid] == nil else { throw TgtadmError.targetExists }
            let controller = TargetSnapshot.LogicalUnit(
                lun: 0, type: "controller", scsiID: TgtAdminDump.defaultSCSIID(tid: Int(tid), lun: 0),
                scsiSN: TgtAdminDump.defaultSCSISN(tid: Int(tid), lun: 0), sizeBytes: 0, blockSize: 1, bsType: "null",
                bsPath: nil)
            targets[tid] = TargetSnapshot(tid: tid, name: name, luns: [controller])
        case (.target, .delete):
            _ = try target(request.tid)
            targets[request.tid!] = nil
        case (.target, .bind), (.target, .unbind):
            var target = try target(request.tid)
            if let address = request.initiatorAddress {
                if request.op == .bind {
                    guard !target.acl.addresses.contains(address) else { throw TgtadmError.aclExists }
                    target.acl.addresses.append(address)
                } else {
                    guard let index = target.acl.addresses.firstIndex(of: address) else { throw TgtadmError.aclNotFound }
                    target.acl.addresses.remove(at: index)
                }
            } else if let name = request.initiatorName {
                if request.op == .bind {
                    target.acl.initiatorNames.append(name)
                } else {
                    guard let index = target.acl.initiatorNames.firstIndex(of: name) else { throw TgtadmError.aclNotFound }
                    target.acl.initiatorNames.remove(at: index)
                }
            } else {
                throw TgtadmError.invalidRequest
            }
            targets[target.tid] = target
        case (.target, .update):
            var target = try target(request.tid)
            if request.name == "state" { target.state = request.value ?? target.state }
            targets[target.tid] = target
        case (.logicalUnit, .new):
            var target = try target(request.tid)
            guard let lun = request.lun, let path = request.backingStore else { throw TgtadmError.invalidRequest }
            guard !target.luns.contains(where: { $0.lun == lun }) else { throw TgtadmError.logicalUnitExists }
            let bsType = request.bsType ?? "rdwr"
            guard ["rdwr", "aio", "null", "ssc", "sg", "bsg", "mmap", "rbd", "glfs"].contains(bsType) else {
                throw TgtadmError.invalidRequest
            }
            let size: UInt64 = bsType == "null" ? 1 << 40 : (fileSizes[path] ?? 0)
            let types = ["cd": "cd/dvd", "tape": "tape", "changer": "changer", "osd": "osd", "pt": "passthrough"]
            let unit = TargetSnapshot.LogicalUnit(
                lun: lun, type: request.deviceType.flatMap { types[$0] } ?? "disk",
                scsiID: TgtAdminDump.defaultSCSIID(tid: Int(target.tid), lun: lun),
                scsiSN: TgtAdminDump.defaultSCSISN(tid: Int(target.tid), lun: lun), sizeBytes: size,
                blockSize: UInt32(request.blockSize ?? "512") ?? 512, bsType: bsType, bsPath: path,
                bsFlags: request.bsOFlags ?? "")
            target.luns.append(unit)
            target.luns.sort { $0.lun < $1.lun }
            targets[target.tid] = target
        case (.logicalUnit, .update):
            var target = try target(request.tid)
            guard let index = target.luns.firstIndex(where: { $0.lun == request.lun }) else { throw TgtadmError.noLogicalUnit }
            for pair in (request.params ?? "").split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw TgtadmError.invalidRequest }
                switch parts[0] {
                case "readonly": target.luns[index].readonly = parts[1] == "1"
                case "removable": target.luns[index].removable = parts[1] == "1"
                case "online": target.luns[index].online = parts[1] == "1"
                case "thin_provisioning": target.luns[index].thinProvisioning = parts[1] == "1"
                case "scsi_id": target.luns[index].scsiID = parts[1]
                case "scsi_sn": target.luns[index].scsiSN = parts[1]
                default: break
                }
            }
            targets[target.tid] = target
        case (.account, .new):
            guard let user = request.user, let password = request.password else { throw TgtadmError.invalidRequest }
            guard !accounts.contains(where: { $0.user == user }) else { throw TgtadmError.accountExists }
            accounts.insert((user, password), at: 0)
        case (.account, .show):
            return .success(AdminTextFormatter.accountList(accounts.map(\.user)))
        case (.account, .bind):
            guard let user = request.user, accounts.contains(where: { $0.user == user }) else { throw TgtadmError.noAccount }
            guard request.tid != nil else {
                discoveryUsers.append(user)
                return .success()
            }
            var target = try target(request.tid)
            if request.outgoing {
                guard target.accounts.outgoingUser == nil else { throw TgtadmError.outgoingAccountExists }
                target.accounts.outgoingUser = user
            } else {
                target.accounts.incomingUsers.append(user)
            }
            targets[target.tid] = target
        default:
            throw TgtadmError.unsupportedOperation
        }
        return .success()
    }
}

/// tgt-admin's outside world for tests: stdout/stderr captured, tgtadm command lines recorded and
/// answered by a `FakeTgtDaemon`, an in-memory file system.
final class FakeTgtAdminEnvironment: TgtAdminEnvironment {
    var stdout = ""
    var stderr = ""
    /// Command lines given to system(), in order.
    var commands: [String] = []
    let daemon: FakeTgtDaemon
    var files: [String: String] = [:]
    /// Paths that exist as devices or image files.
    var devices: Set<String> = []
    var inUse: [String: TgtAdminDeviceUse] = [:]
    var isRoot = true
    /// Control port the commands must name.
    var expectedPort = "0"

    init(daemon: FakeTgtDaemon = FakeTgtDaemon()) {
        self.daemon = daemon
    }

    func output(_ text: String) { stdout += text }
    func errorOutput(_ text: String) { stderr += text }

    private func run(_ commandLine: String) -> (Int32, String, String) {
        let words = TgtAdminShellWords.split(commandLine)
        guard words.first == "tgtadm" else { return (127, "", "not tgtadm: \(commandLine)\n") }
        do {
            guard case .send(let request, let port) = try TgtadmCommandLine.parse(Array(words.dropFirst())) else {
                return (0, "", "")
            }
            guard String(port) == expectedPort else { return (107, "", "tgtadm: wrong control port \(port)\n") }
            let response = daemon.handle(request)
            return (response.exitCode, response.output, response.message.map { "tgtadm: \($0)\n" } ?? "")
        } catch let error as TgtadmUsageError {
            return (error.exitCode, "", error.message)
        } catch {
            return (1, "", "\(error)\n")
        }
    }

    func system(_ commandLine: String) -> Int32 {
        commands.append(commandLine)
        let (status, out, err) = run(commandLine)
        stdout += out
        stderr += err
        return status
    }

    func capture(_ commandLine: String) -> String {
        let (_, out, err) = run(commandLine)
        stderr += err
        return out
    }

    var fileSystem: TargetsConfFileSystem {
        let files = self.files
        let devices = self.devices
        return TargetsConfFileSystem(
            kind: { path in
                if files[path] != nil || devices.contains(path) { return .file }
                let prefix = path.hasSuffix("/") ? path : path + "/"
                return files.keys.contains { $0.hasPrefix(prefix) } ? .directory : nil
            },
            read: { files[$0] },
            list: { directory in
                let prefix = directory.hasSuffix("/") ? directory : directory + "/"
                return files.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
                    .filter { !$0.contains("/") }
            },
            glob: { pattern in
                // Enough for "DIR/*.conf".
                guard let star = pattern.lastIndex(of: "*") else { return [] }
                let head = String(pattern[..<star])
                let tail = String(pattern[pattern.index(after: star)...])
                return files.keys.filter { $0.hasPrefix(head) && $0.hasSuffix(tail) && !$0.dropFirst(head.count).contains("/") }
                    .sorted()
            })
    }

    func deviceUse(_ path: String) -> TgtAdminDeviceUse { inUse[path] ?? .free }
    func commandExists(_ command: String) -> Bool { false }
    func shellOutput(_ command: String) -> String { "" }

    /// Runs tgt-admin with `arguments`; returns its exit status.
    @discardableResult
    func tgtAdmin(_ arguments: [String]) -> Int32 {
        TgtAdmin.main(arguments, environment: self)
    }
}

/// The image files of the captures, with their sizes.
enum TgtAdminFixtures {
    static let mib: UInt64 = 1 << 20
    static let fileSizes: [String: UInt64] = [
        "/dev/shm/h10-a.img": 64 * mib, "/dev/shm/h10-b.img": 32 * mib, "/dev/shm/h10-c.img": 16 * mib,
        "/dev/shm/h10-d.img": 8 * mib, "/dev/shm/h10-e.img": 8 * mib, "/dev/shm/h10-f.img": 8 * mib,
        "/dev/shm/h10-g.img": 8 * mib, "/dev/shm/h10-h.img": 8 * mib, "/dev/shm/h10-i.img": 8 * mib,
    ]

    static func environment(daemon: FakeTgtDaemon = FakeTgtDaemon(fileSizes: fileSizes)) -> FakeTgtAdminEnvironment {
        let environment = FakeTgtAdminEnvironment(daemon: daemon)
        environment.devices = Set(fileSizes.keys)
        return environment
    }
}

final class TgtAdminFakeDaemonTests: XCTestCase {
    /// The fake reproduces Debian tgtd's show for the commands that built `showPlain`.
    func testFakeDaemonRendersDebianShowFromTgtadmCommands() {
        let environment = TgtAdminFixtures.environment()
        environment.expectedPort = "103"
        let commands = [
            "--op new --mode target --tid 1 -T iqn.2026-11.test:rt.alpha",
            "--op new --mode logicalunit --tid 1 --lun 1 -b /dev/shm/h10-a.img",
            "--op new --mode logicalunit --tid 1 --lun 2 -b /dev/shm/h10-b.img",
            "--op bind --mode target --tid 1 -I 192.168.1.10",
            "--op bind --mode target --tid 1 -Q iqn.1994-05.com.redhat:client1",
            "--op new --mode account --user alice --password alicepass1",
            "--op new --mode account --user bob --password bobpass12345",
            "--op new --mode account --user carol --password carolpass123",
            "--op bind --mode account --tid 1 --user alice", "--op bind --mode account --tid 1 --user bob",
            "--op bind --mode account --tid 1 --user carol --outgoing",
            "--op new --mode target --tid 2 -T iqn.2026-11.test:rt.beta",
            "--op new --mode logicalunit --tid 2 --lun 1 -b /dev/shm/h10-c.img",
            "--op bind --mode target --tid 2 -I ALL", "--op new --mode target --tid 3 -T iqn.2026-11.test:rt.gamma",
            "--op bind --mode target --tid 3 -I 10.1.1.1",
        ]
        for command in commands {
            XCTAssertEqual(environment.system("tgtadm -C 103 --lld iscsi " + command), 0, command)
        }
        XCTAssertEqual(environment.daemon.showTarget, TgtAdminGoldens.showPlain)
        XCTAssertEqual(environment.capture("tgtadm -C 103 --op show --mode account"), "Account list:\n    carol\n    bob\n    alice\n")
    }
}
