import ISCSIAdmin
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class ConfigurationStoreTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        var template = Array("/tmp/config-store-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw XCTSkip("mkdtemp failed") }
        directory = String(cString: made)
    }

    override func tearDown() {
        for name in ["config.json", "config.json.prev", "config.json.tmp"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    private func sample(_ name: String) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.portals = [PortalConfiguration(host: "127.0.0.1", port: 3260)]
        configuration.storageObjects = [StorageObjectConfiguration(name: "disk1", kind: .fileio, path: "/srv/disk1.img", size: 1 << 30)]
        configuration.accounts = [AccountConfiguration(user: "christina", password: "123456")]
        var target = TargetConfiguration(tid: 1, name: name)
        target.luns = [LUNConfiguration(lun: 1, storageObject: "disk1")]
        target.access = [
            .address("ALL"), .initiatorName("iqn.2026-11.test:host", auth: CHAPCredentials(userID: "u", password: "p")),
        ]
        target.incomingUsers = ["christina"]
        configuration.targets = [target]
        return configuration
    }

    private func writeRaw(_ text: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }

    func testNothingSavedLoadsEmpty() throws {
        let result = try ConfigurationStore(directory: directory).load()
        XCTAssertEqual(result.configuration, DaemonConfiguration())
        XCTAssertNil(result.warning)
    }

    func testRoundTrip() throws {
        let store = ConfigurationStore(directory: directory)
        try store.save(sample("iqn.2026-11.test:a"))
        XCTAssertEqual(try store.load().configuration, sample("iqn.2026-11.test:a"))
        XCTAssertEqual(access(store.path + ".tmp", F_OK), -1, "no temporary file is left behind")
    }

    func testCorruptFileFallsBackToPreviousGoodOne() throws {
        let store = ConfigurationStore(directory: directory)
        try store.save(sample("iqn.2026-11.test:a"))
        try store.save(sample("iqn.2026-11.test:b"))
        writeRaw("{\"version\": 1, \"targets\": [", to: store.path)  // half-written
        let result = try store.load()
        XCTAssertEqual(result.configuration, sample("iqn.2026-11.test:a"))
        XCTAssertNotNil(result.warning)
        XCTAssertTrue(result.warning!.contains(store.path))
    }

    func testCorruptFileWithoutPreviousFailsWithOneLine() throws {
        let store = ConfigurationStore(directory: directory)
        writeRaw("not json", to: store.path)
        XCTAssertThrowsError(try store.load()) { error in
            XCTAssertFalse("\(error)".contains("\n"))
            XCTAssertTrue("\(error)".contains("unusable"))
        }
    }

    func testUnreadableFileIsUnusableWithTheSystemsReason() throws {
        let store = ConfigurationStore(directory: directory)
        XCTAssertEqual(mkdir(store.path, 0o755), 0)  // opens, but read(2) fails with EISDIR
        XCTAssertThrowsError(try store.load()) { error in
            XCTAssertTrue("\(error)".contains("is unusable (Is a directory)"), "\(error)")
        }
    }

    func testNewerVersionIsRefused() throws {
        let store = ConfigurationStore(directory: directory)
        writeRaw("{\"version\": 99}", to: store.path)
        XCTAssertThrowsError(try store.load())
    }
}

final class ConfigurationReplayTests: XCTestCase {
    func testReplayCreatesEverythingBeforeItIsReferenced() {
        var configuration = DaemonConfiguration()
        configuration.portals = [PortalConfiguration(host: "::1", port: 3300)]
        configuration.accounts = [AccountConfiguration(user: "u1", password: "secret-one-12")]
        configuration.discoveryIncomingUsers = ["u1"]
        configuration.storageObjects = [
            StorageObjectConfiguration(name: "tgt_1_1", kind: .fileio, path: "/dev/shm/a.img", bsType: "rdwr", openFlags: "sync"),
            StorageObjectConfiguration(name: "tgt_1_2", kind: .null, size: 1 << 20, bsType: "null"),
        ]
        var target = TargetConfiguration(tid: 1, name: "iqn.2026-11.test:t")
        target.luns = [
            LUNConfiguration(lun: 1, storageObject: "tgt_1_1", blockSize: 4096, parameters: ["thin_provisioning=1", "readonly=1"]),
            LUNConfiguration(lun: 2, storageObject: "tgt_1_2"),
        ]
        target.access = [.address("ALL"), .address("10.0.0.0/8"), .initiatorName("iqn.2026-11.test:h")]
        target.incomingUsers = ["u1"]
        target.outgoingUser = "u1"
        target.state = "offline"
        configuration.targets = [target]

        let requests = configuration.replayRequests()
        let summary = requests.map { "\($0.mode.rawValue) \($0.op.rawValue)" }
        XCTAssertEqual(summary, [
            "portal new", "account new", "account bind", "target new", "logicalunit new", "logicalunit update",
            "logicalunit update", "logicalunit new", "target bind", "target bind", "target bind", "account bind",
            "account bind", "target update",
        ])
        XCTAssertEqual(requests[0].params, "portal=[::1]:3300")
        XCTAssertNil(requests[2].tid, "a discovery binding has no target")
        let lun1 = requests[4]
        XCTAssertEqual(lun1.backingStore, "/dev/shm/a.img")
        XCTAssertEqual(lun1.bsOFlags, "sync")
        XCTAssertEqual(lun1.blockSize, "4096")
        XCTAssertEqual(requests[5].params, "thin_provisioning=1")
        XCTAssertEqual(requests[6].params, "readonly=1")
        XCTAssertEqual(requests[7].bsType, "null")
        XCTAssertEqual(requests[10].initiatorName, "iqn.2026-11.test:h")
        XCTAssertTrue(requests[12].outgoing)
        XCTAssertEqual(requests[13].value, "offline")
    }
}
