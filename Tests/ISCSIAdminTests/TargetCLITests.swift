import XCTest

@testable import ISCSIAdmin

final class TargetCLITests: XCTestCase {
    static let iqn = "iqn.2003-01.org.linux-iscsi.localhost.x8664:sn.037746bdcf2d"
    static let initiator = "iqn.1994-05.com.redhat:client1"

    static func sample() -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.portals = [PortalConfiguration(host: "0.0.0.0", port: 3260)]
        configuration.storageObjects = [
            StorageObjectConfiguration(name: "disk0", kind: .block, path: "/dev/sda", size: 10 << 30),
            StorageObjectConfiguration(name: "disk1", kind: .fileio, path: "/srv/disk1.img", size: 1 << 30),
            StorageObjectConfiguration(name: "rd", kind: .ramdisk, size: 64 << 20),
        ]
        var target = TargetConfiguration(tid: 1, name: iqn)
        target.luns = [LUNConfiguration(lun: 1, storageObject: "disk0")]
        target.access = [
            .initiatorName(initiator, auth: CHAPCredentials(userID: "u", password: "p", mutualUserID: "mu", mutualPassword: "mp"))
        ]
        target.authentication = true
        configuration.targets = [target]
        return configuration
    }

    // MARK: Paths

    func testResolvesAbsoluteRelativeAndParentPaths() throws {
        let tree = TargetCLITree(configuration: Self.sample())
        XCTAssertEqual(try tree.resolve("/backstores/block", from: .root), .backstoreGroup("block"))
        XCTAssertEqual(try tree.resolve("/backstores/block/disk0", from: .root), .storageObject(group: "block", name: "disk0"))
        let luns = try tree.resolve("/iscsi/\(Self.iqn)/tpg1/luns", from: .root)
        XCTAssertEqual(luns, .luns(TPGPath(Self.iqn)))
        XCTAssertEqual(try tree.resolve("../acls/", from: luns), .acls(TPGPath(Self.iqn)))
        XCTAssertEqual(try tree.resolve("lun1", from: luns), .lun(TPGPath(Self.iqn), 1))
        XCTAssertEqual(try tree.resolve("..", from: .root), .root)
        XCTAssertEqual(try tree.resolve("../../..", from: luns), .iscsi)
        XCTAssertEqual(
            try tree.resolve("/iscsi/\(Self.iqn)/tpg1/acls/\(Self.initiator)/mapped_lun1", from: .root),
            .mappedLUN(TPGPath(Self.iqn), Self.initiator, 1))
        XCTAssertEqual(try tree.resolve("/iscsi/\(Self.iqn)/tpg1/portals/0.0.0.0:3260", from: .root).name, "0.0.0.0:3260")
        XCTAssertThrowsError(try tree.resolve("/iscsi/iqn.2000-01.x:none", from: .root)) { error in
            XCTAssertEqual((error as? TargetCLIError)?.message, "No such path /iscsi/iqn.2000-01.x:none")
        }
        XCTAssertEqual(TargetCLINode.lun(TPGPath(Self.iqn), 1).path, "/iscsi/\(Self.iqn)/tpg1/luns/lun1")
    }

    func testRendersLIOTree() {
        let tree = TargetCLITree(configuration: Self.sample())
        let text = tree.render(.root, width: 80)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "o- / " + String(repeating: ".", count: 69) + " [...]")
        XCTAssertTrue(lines.allSatisfy { $0.count == 80 || $0.hasSuffix("]") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  | | o- disk0 ") && $0.hasSuffix("[/dev/sda (10.0GiB) write-back activated]") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("    o- iqn.2003-01") && $0.hasSuffix("[TPGs: 1]") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("      o- tpg1 ") && $0.hasSuffix("[no-gen-acls, auth per-acl]") }, text)
        XCTAssertTrue(lines.contains { $0.hasSuffix("[mutual auth, Mapped LUNs: 1]") }, text)
        XCTAssertTrue(lines.contains { $0.hasSuffix("[lun1 block/disk0 (rw)]") }, text)
        XCTAssertTrue(lines.contains { $0.hasSuffix("[(64.0MiB) deactivated]") }, text)
        XCTAssertEqual(tree.render(.iscsi, depth: 0, width: 80).split(separator: "\n").count, 1)
    }

    // MARK: Parsing

    func testTokenizesAndBindsParameters() throws {
        XCTAssertEqual(try TargetCLIShell.tokenize("create  disk1 '/srv/my disk.img' 1G"), ["create", "disk1", "/srv/my disk.img", "1G"])
        XCTAssertThrowsError(try TargetCLIShell.tokenize("create 'oops"))
        let values = try TargetCLIShell.bind(["disk1", "size=2G", "file_or_dev=/x"], to: ["name", "file_or_dev", "size"], command: "create")
        XCTAssertEqual(values, ["name": "disk1", "file_or_dev": "/x", "size": "2G"])
        XCTAssertThrowsError(try TargetCLIShell.bind(["a", "b"], to: ["name"], command: "create"))
        XCTAssertThrowsError(try TargetCLIShell.bind(["bogus=1"], to: ["name"], command: "create"))
        XCTAssertEqual(TargetCLISize.parse("1G"), 1 << 30)
        XCTAssertEqual(TargetCLISize.parse("512M"), 512 << 20)
        XCTAssertEqual(TargetCLISize.parse("1GiB"), 1 << 30)
        XCTAssertEqual(TargetCLISize.parse("4096"), 4096)
        XCTAssertNil(TargetCLISize.parse("lots"))
        XCTAssertEqual(TargetCLISize.human(1 << 30), "1.0GiB")
        XCTAssertEqual(TargetCLISize.human(100), "100 bytes")
    }

    /// A shell over a fake daemon that answers `configuration show` and records the rest.
    final class FakeDaemon {
        var configuration = TargetCLITests.sample()
        var requests: [AdminRequest] = []
        var refuse = false

        func handle(_ request: AdminRequest) throws -> AdminResponse {
            if request.mode == .configuration { return .success(try configuration.jsonText()) }
            requests.append(request)
            if refuse { return AdminResponse(exitCode: 22, message: "refused") }
            if request.mode == .target, request.op == .new { return .success("7\n") }
            if request.mode == .logicalUnit, request.op == .new { return .success("2\n") }
            return .success()
        }
    }

    static func makeShell(_ daemon: FakeDaemon) -> (TargetCLIShell, () -> String) {
        var text = ""
        let shell = TargetCLIShell(backend: daemon.handle, output: { text += $0 })
        shell.hostName = { "localhost.localdomain" }
        shell.machine = { "x86_64" }
        shell.serial = { "037746bdcf2d" }
        return (shell, { defer { text = "" }; return text })
    }

    func testSeedSequenceSendsTheRightRequests() throws {
        let daemon = FakeDaemon()
        daemon.configuration.targets = []
        let (shell, output) = Self.makeShell(daemon)
        try shell.execute("cd /backstores/block")
        XCTAssertEqual(shell.prompt, "/backstores/block> ")
        try shell.execute("create disk9 /dev/sdb")
        let made = daemon.requests.suffix(2).map { $0 }
        XCTAssertEqual(made.first?.mode, .storageObject)
        XCTAssertEqual(made.first?.bsType, "block")
        XCTAssertEqual(made.first?.backingStore, "/dev/sdb")
        // As in LIO, the new object has its default ALUA group.
        XCTAssertEqual([made.last?.name, made.last?.value], ["alua_create", "default_tg_pt_gp:0"])
        try shell.execute("cd /iscsi")
        try shell.execute("create")
        let created = daemon.requests.suffix(2).map { $0 }
        XCTAssertEqual(created.first?.targetName, Self.iqn)
        XCTAssertEqual(created.first?.allocateTID, true)
        // Served through its tpg1 only, as LIO makes it.
        XCTAssertEqual(created.last?.tid, 7)
        XCTAssertEqual([created.last?.name, created.last?.value], ["portal_groups", "1"])
        XCTAssertTrue(output().contains("Created target \(Self.iqn)."))
        daemon.configuration = Self.sample()
        try shell.execute("cd /iscsi/\(Self.iqn)/tpg1/luns")
        try shell.execute("create /backstores/fileio/disk1")
        XCTAssertEqual(daemon.requests.last?.storageObject, "disk1")
        XCTAssertEqual(daemon.requests.last?.tid, 1)
        XCTAssertNil(daemon.requests.last?.lun)
        XCTAssertTrue(output().hasPrefix("Created LUN 2."))
        try shell.execute("cd /iscsi/\(Self.iqn)/tpg1/acls/")
        XCTAssertEqual(shell.current, .acls(TPGPath(Self.iqn)))
        try shell.execute("create \(Self.iqn):xsk")
        XCTAssertEqual(daemon.requests.last?.mode, .nodeACL)
        XCTAssertEqual(daemon.requests.last?.initiatorName, "\(Self.iqn):xsk")
        try shell.execute("\(Self.initiator) set auth userid=U password=P mutual_userid=MU mutual_password=MP")
        let auth = try XCTUnwrap(daemon.requests.last)
        XCTAssertEqual([auth.user, auth.password, auth.mutualUser, auth.mutualPassword], ["U", "P", "MU", "MP"])
        XCTAssertEqual(auth.mode, .nodeACL)
        try shell.execute("cd ..")
        try shell.execute("set attribute authentication=1 generate_node_acls=1")
        XCTAssertEqual(daemon.requests.suffix(2).map(\.name), ["authentication", "generate_node_acls"])
        try shell.execute("pwd")
        XCTAssertEqual(output().split(separator: "\n").last.map(String.init), "/iscsi/\(Self.iqn)/tpg1")
        XCTAssertFalse(try shell.execute("exit"))
    }

    func testErrorsChangeNothing() throws {
        let daemon = FakeDaemon()
        let (shell, _) = Self.makeShell(daemon)
        XCTAssertThrowsError(try shell.execute("/backstores/block create disk0 /dev/sdc"))  // exists
        XCTAssertThrowsError(try shell.execute("/iscsi/\(Self.iqn)/tpg1 set attribute authentication=1 bogus=1"))
        XCTAssertThrowsError(try shell.execute("/iscsi/\(Self.iqn)/tpg1/luns create /backstores/block/none"))
        XCTAssertThrowsError(try shell.execute("/nowhere ls"))
        XCTAssertThrowsError(try shell.execute("clearconfig"))
        XCTAssertEqual(daemon.requests, [])
        daemon.refuse = true
        XCTAssertThrowsError(try shell.execute("/backstores/ramdisk create rd2 1G")) { error in
            XCTAssertEqual((error as? TargetCLIError)?.message, "refused")
        }
    }

    // MARK: saveconfig

    func testSaveConfigRoundTrip() throws {
        let saved = LIOSaveConfig(Self.sample())
        let text = try saved.jsonText()
        XCTAssertTrue(text.contains("\"storage_object\" : \"/backstores/block/disk0\""), text)
        let reread = try LIOSaveConfig(jsonText: text)
        XCTAssertEqual(reread, saved)
        let tpg = try XCTUnwrap(reread.targets?.first?.tpgs?.first)
        XCTAssertEqual(tpg.attributes?["authentication"], .int(1))
        XCTAssertEqual(tpg.node_acls?.first?.chap_mutual_userid, "mu")
        XCTAssertEqual(tpg.portals?.first?.ip_address, "0.0.0.0")

        let (steps, warnings) = reread.restoreSteps(existingPortals: [PortalConfiguration(host: "0.0.0.0", port: 3260)])
        XCTAssertEqual(warnings, [])
        let requests = steps.map(\.request)
        XCTAssertEqual(requests.filter { $0.mode == .storageObject }.map(\.storageObject), ["disk0", "disk1", "rd"])
        XCTAssertEqual(requests.first { $0.mode == .storageObject && $0.storageObject == "rd" }?.size, 64 << 20)
        XCTAssertEqual(requests.first { $0.mode == .logicalUnit }?.lun, 1)
        let acl = try XCTUnwrap(requests.first { $0.mode == .nodeACL })
        XCTAssertEqual([acl.user, acl.password, acl.mutualUser, acl.mutualPassword], ["u", "p", "mu", "mp"])
        XCTAssertTrue(requests.contains { $0.mode == .tpg && $0.name == "authentication" && $0.value == "1" })
        XCTAssertFalse(requests.contains { $0.mode == .portal }, "portals the daemon has are not added again")
        XCTAssertTrue(steps.filter { $0.request.mode != .storageObject && $0.request.mode != .target }.allSatisfy { $0.tidOf == Self.iqn })
    }

    func testRestoresAFileWrittenByLIO() throws {
        let text = """
            {"fabric_modules": [], "storage_objects": [
              {"alua_tpgs": [{"name": "default_tg_pt_gp", "tg_pt_gp_id": 0}], "attributes": {"block_size": 512, "wwn_vpd": "x"},
               "dev": "/dev/sda", "name": "disk0", "plugin": "block", "readonly": false, "write_back": false, "wwn": "5f2c"},
              {"name": "p0", "plugin": "pscsi", "dev": "/dev/sg0"}],
             "targets": [{"fabric": "iscsi", "wwn": "\(Self.iqn)", "tpgs": [{"tag": 1, "enable": true,
               "attributes": {"authentication": 0, "generate_node_acls": 1, "netif_timeout": 2},
               "parameters": {"AuthMethod": "CHAP,None"},
               "luns": [{"index": 0, "storage_object": "/backstores/block/disk0", "alias": "a"}],
               "node_acls": [{"node_wwn": "\(Self.initiator)", "chap_userid": "u", "chap_password": "p",
                 "mapped_luns": [{"index": 0, "tpg_lun": 0, "write_protect": false}]}],
               "portals": [{"ip_address": "[::0]", "port": 3260, "iser": false}]}]},
              {"fabric": "loopback", "wwn": "naa.5001405", "tpgs": []}]}
            """
        let saved = try LIOSaveConfig(jsonText: text)
        let (steps, warnings) = saved.restoreSteps(existingPortals: [])
        XCTAssertEqual(warnings.count, 2, "\(warnings)")
        let requests = steps.map(\.request)
        XCTAssertEqual(requests.first { $0.mode == .logicalUnit }?.lun, 1, "LIO's lun0 moves past the controller")
        XCTAssertTrue(requests.contains { $0.mode == .tpg && $0.name == "generate_node_acls" && $0.value == "1" })
        XCTAssertTrue(requests.contains { $0.mode == .tpg && $0.name == "authentication" && $0.value == "0" })
        let portal = try XCTUnwrap(steps.first { $0.request.mode == .portal })
        XCTAssertTrue(portal.optional)
        XCTAssertEqual(portal.request.params, "portal=[::0]:3260")
    }

    // MARK: Persistence of the LIO fields

    func testReplayCarriesLIOState() {
        var configuration = Self.sample()
        configuration.targets[0].generateNodeACLs = true
        configuration.accounts.append(AccountConfiguration(user: "tu", password: "tp"))
        configuration.targets[0].incomingUsers = ["tu"]
        configuration.storageObjects.append(
            StorageObjectConfiguration(name: "tgt_1_2", kind: .fileio, path: "/srv/x", bsType: "rdwr"))
        configuration.targets[0].luns.append(LUNConfiguration(lun: 2, storageObject: "tgt_1_2"))
        let requests = configuration.replayRequests()
        XCTAssertEqual(requests.filter { $0.mode == .storageObject }.map(\.storageObject), ["disk0", "disk1", "rd"])
        let mapped = requests.filter { $0.mode == .logicalUnit }
        XCTAssertEqual(mapped.map(\.storageObject), ["disk0", nil])
        XCTAssertEqual(mapped.last?.backingStore, "/srv/x")
        XCTAssertTrue(requests.contains { $0.mode == .nodeACL && $0.user == "u" && $0.mutualPassword == "mp" })
        // generate_node_acls is tgt's ALL rule, the TPG's credentials a bound account.
        XCTAssertTrue(requests.contains { $0.mode == .target && $0.op == .bind && $0.initiatorAddress == "ALL" })
        XCTAssertTrue(requests.contains { $0.mode == .account && $0.op == .bind && $0.tid == 1 && $0.user == "tu" })
        XCTAssertTrue(requests.contains { $0.mode == .tpg && $0.name == "authentication" && $0.value == "1" })
        // Order: objects before targets, targets before their LUNs.
        let firstTarget = requests.firstIndex { $0.mode == .target }!
        XCTAssertLessThan(requests.lastIndex { $0.mode == .storageObject }!, firstTarget)
    }

    func testOldRequestsDecodeWithoutNewFields() throws {
        let old = #"{"mode":"target","op":"new","tid":1,"targetName":"iqn.2026-11.a:b","outgoing":false,"force":false}"#
        let request = try AdminWire.decode(AdminRequest.self, from: Array(old.utf8))
        XCTAssertNil(request.storageObject)
        XCTAssertNil(request.allocateTID)
        XCTAssertEqual(request.tid, 1)
    }

    func testGeneratedIQNHasLIOForm() {
        let (shell, _) = Self.makeShell(FakeDaemon())
        XCTAssertEqual(shell.generatedIQN(), Self.iqn)
    }
}
