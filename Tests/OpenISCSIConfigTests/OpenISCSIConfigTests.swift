import Foundation
import SystemSupport
import XCTest
@testable import OpenISCSIConfig

final class RecordTests: XCTestCase {
    func tempRoot() throws -> String {
        let path = NSTemporaryDirectory() + "oic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testNewRecordMatchesDebianGoldens() throws {
        let store = ConfigStore(paths: ConfigPaths(root: try tempRoot()))
        let portal = try XCTUnwrap(Portal(argument: "127.0.0.1:3431"))
        let record = store.newNodeRecord(target: "iqn.2026-11.test:h13a", portal: portal)
        XCTAssertEqual(record.fileText(), DebianGoldens.nodeFile + "\n")
        XCTAssertEqual(record.showText(), DebianGoldens.nodeShow + "\n")
        XCTAssertEqual(Record.parse(DebianGoldens.nodeShow, kind: .node), record)
        XCTAssertEqual(Record.parse(record.fileText(), kind: .node), record)
    }

    func testPasswordsMaskedUnlessShow() {
        var record = Record(kind: .node)
        XCTAssertTrue(record.set("node.session.auth.password", "secret1"))
        XCTAssertFalse(record.set("node.bogus", "1"))
        XCTAssertTrue(record.showText().contains("node.session.auth.password = ********\n"))
        XCTAssertTrue(record.showText().contains("node.session.auth.password_in = <empty>\n"))
        XCTAssertTrue(record.showText(showPasswords: true).contains("node.session.auth.password = secret1\n"))
        XCTAssertTrue(record.fileText().contains("node.session.auth.password = secret1\n"))
    }

    func testIscsidConfDefaultsApplyToNewRecords() throws {
        let root = try tempRoot()
        try """
            # comment
            node.startup = automatic
            node.session.auth.authmethod = CHAP
            node.session.timeo.replacement_timeout = 5
            node.conn[0].iscsi.HeaderDigest = CRC32C
            discovery.sendtargets.auth.authmethod = CHAP
            iscsid.startup = /bin/true
            """.write(toFile: root + "/iscsid.conf", atomically: true, encoding: .utf8)
        let store = ConfigStore(paths: ConfigPaths(root: root))
        let record = store.newNodeRecord(target: "iqn.x:y", portal: Portal(address: "10.0.0.1"))
        XCTAssertEqual(record["node.startup"], "automatic")
        XCTAssertEqual(record["node.session.auth.authmethod"], "CHAP")
        XCTAssertEqual(record["node.session.timeo.replacement_timeout"], "5")
        XCTAssertEqual(record["node.conn[0].iscsi.HeaderDigest"], "CRC32C")
        XCTAssertEqual(record["node.conn[0].port"], "3260")
        XCTAssertEqual(store.newSendTargetsRecord(Portal(address: "10.0.0.1"))["discovery.sendtargets.auth.authmethod"], "CHAP")
    }

    func testCommandTimeoutKeyAppearsOnlyWhenSet() throws {
        let root = try tempRoot()
        try "node.session.timeo.command_timeout = 45\n".write(toFile: root + "/iscsid.conf", atomically: true, encoding: .utf8)
        let fromConf = ConfigStore(paths: ConfigPaths(root: root)).newNodeRecord(target: "iqn.x:y", portal: Portal(address: "10.0.0.1"))
        XCTAssertEqual(fromConf["node.session.timeo.command_timeout"], "45", "iscsid.conf sets it for new records")
        XCTAssertTrue(fromConf.showText().hasSuffix("node.session.timeo.command_timeout = 45\n# END RECORD\n"))
        XCTAssertEqual(Record.parse(fromConf.fileText(), kind: .node), fromConf, "kept in the record file")

        var record = Record(kind: .node)
        XCTAssertEqual(record["node.session.timeo.command_timeout"], "30")
        XCTAssertFalse(record.showText().contains("command_timeout"), "at its default, records stay open-iscsi's")
        XCTAssertFalse(record.fileText().contains("command_timeout"))
        XCTAssertTrue(record.set("node.session.timeo.command_timeout", "0"))
        XCTAssertTrue(record.fileText().contains("node.session.timeo.command_timeout = 0\n"))
    }

    func testLayoutAndAtomicWrite() throws {
        let root = try tempRoot()
        let store = ConfigStore(paths: ConfigPaths(root: root))
        let portal = Portal(address: "127.0.0.2", port: 3432, tpgt: 5)
        let entry = NodeEntry(target: "iqn.a:b", portal: portal, iface: "default",
                              record: store.newNodeRecord(target: "iqn.a:b", portal: portal))
        try store.writeNode(entry)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/nodes/iqn.a:b/127.0.0.2,3432,5/default"))
        XCTAssertEqual(store.nodes(), [entry])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root + "/nodes/iqn.a:b/127.0.0.2,3432,5")
        XCTAssertEqual(leftovers, ["default"])
        try store.deleteNode(entry)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/nodes/iqn.a:b"))
        try store.writeSendTargets(store.newSendTargetsRecord(Portal(address: "1.2.3.4")), portal: Portal(address: "1.2.3.4"))
        XCTAssertEqual(store.sendTargetsPortals(), [Portal(address: "1.2.3.4")])
    }

    func testConcurrentReaderNeverSeesPartialRecord() throws {
        let path = try tempRoot() + "/rec"
        let big = String(repeating: "x = y\n", count: 20000)
        try AtomicFile.write("# BEGIN RECORD\n" + big + "# END RECORD\n", to: path)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for _ in 0..<50 { try? AtomicFile.write("# BEGIN RECORD\n" + big + "# END RECORD\n", to: path) }
            done.signal()
        }
        for _ in 0..<200 {
            let text = try XCTUnwrap(AtomicFile.read(path))
            XCTAssertTrue(text.hasSuffix("# END RECORD\n"))
        }
        done.wait()
    }

    func testInitiatorNameGeneratedOnce() throws {
        let paths = ConfigPaths(root: try tempRoot())
        let name = try InitiatorName.loadOrCreate(paths)
        XCTAssertTrue(name.range(of: #"^iqn\.2016-04\.com\.open-iscsi:[0-9a-f]{12}$"#, options: .regularExpression) != nil)
        XCTAssertEqual(try InitiatorName.loadOrCreate(paths), name)
    }

    func testPortalParsing() {
        XCTAssertEqual(Portal(argument: "10.0.0.1"), Portal(address: "10.0.0.1", port: 3260))
        XCTAssertEqual(Portal(argument: "10.0.0.1:3261,2"), Portal(address: "10.0.0.1", port: 3261, tpgt: 2))
        XCTAssertEqual(Portal(argument: "[::1]:3262"), Portal(address: "::1", port: 3262))
        XCTAssertNil(Portal(argument: "10.0.0.1:abc"))
        XCTAssertEqual(ConfigPaths.fromEnvironment(["ISCSI_ROOT": "/x"]).root, "/x")
        XCTAssertEqual(ConfigPaths.fromEnvironment([:]).root, "/etc/iscsi")
    }
}

final class CommandLineTests: XCTestCase {
    func testForms() throws {
        var line = try AdminCommandLine.parse(["-m", "discovery", "-t", "sendtargets", "-p", "192.168.10.1:3260"])
        XCTAssertEqual(line.mode, "discovery"); XCTAssertEqual(line.discoveryType, "sendtargets"); XCTAssertEqual(line.portal, "192.168.10.1:3260")
        line = try AdminCommandLine.parse(["-m", "node", "-T", "LUN_NAME", "-o", "update", "--name", "node.session.auth.authmethod", "--value=CHAP"])
        XCTAssertEqual(line.ops, ["update"]); XCTAssertEqual(line.names, ["node.session.auth.authmethod"]); XCTAssertEqual(line.values, ["CHAP"])
        line = try AdminCommandLine.parse(["-m", "node", "--op=update", "-nnode.startup", "-v", "automatic", "--targetname=iqn.a:b"])
        XCTAssertEqual(line.ops, ["update"]); XCTAssertEqual(line.names, ["node.startup"]); XCTAssertEqual(line.target, "iqn.a:b")
        line = try AdminCommandLine.parse(["-m", "node", "--logoutall=all"])
        XCTAssertEqual(line.logoutAll, "all")
        line = try AdminCommandLine.parse(["-m", "node", "-L", "automatic"])
        XCTAssertEqual(line.loginAll, "automatic")
        line = try AdminCommandLine.parse(["-m", "session", "-r", "3", "-u"])
        XCTAssertEqual(line.sid, "3"); XCTAssertTrue(line.logout)
        line = try AdminCommandLine.parse(["-m", "session", "-P", "3"])
        XCTAssertEqual(line.printLevel, 3)
        line = try AdminCommandLine.parse(["-m", "node", "-T", "t", "-p", "1.2.3.4", "--login"])
        XCTAssertTrue(line.login)
        line = try AdminCommandLine.parse(["-m", "iface", "-I", "foo", "-o", "new"])
        XCTAssertEqual(line.iface, "foo")
        line = try AdminCommandLine.parse(["-m", "discoverydb", "-t", "st", "-p", "1.2.3.4", "--discover", "-o", "nonpersistent", "-l"])
        XCTAssertTrue(line.discover); XCTAssertTrue(line.login); XCTAssertEqual(line.ops, ["nonpersistent"])
        XCTAssertThrowsError(try AdminCommandLine.parse(["-m", "node", "iqn.x:y", "-u"])) { error in
            XCTAssertEqual((error as? ISCSIError)?.code, .invalid)
        }
    }
}

/// A backend that pretends every login works.
final class FakeBackend: SessionBackend, @unchecked Sendable {
    let lock = NSLock()
    var live: [SessionInfo] = []
    let targets: [DiscoveredTarget]

    init(targets: [DiscoveredTarget]) { self.targets = targets }

    func discover(portal: Portal, record: Record, initiatorName: String) async throws -> [DiscoveredTarget] { targets }
    func login(node: NodeEntry, sid: Int, initiatorName: String) async throws -> SessionInfo {
        var portal = node.portal
        if portal.tpgt < 0 { portal.tpgt = 1 }
        let session = SessionInfo(sid: sid, target: node.target, portal: portal, initiatorName: initiatorName,
                                  localAddress: "127.0.0.1", record: node.record,
                                  negotiated: ["HeaderDigest": "None", "MaxRecvDataSegmentLength": "262144"],
                                  luns: [SessionLUN(lun: 0), SessionLUN(lun: 1, device: "sdb")])
        lock.withLock { live.append(session) }
        return session
    }
    func logout(sid: Int) async throws { lock.withLock { live.removeAll { $0.sid == sid } } }
    func sessions() async -> [SessionInfo] { lock.withLock { live } }
    func rescan(sid: Int) async throws -> SessionInfo {
        guard let info = lock.withLock({ live.first { $0.sid == sid } }) else {
            throw ISCSIError(.sessionNotFound, "session \(sid) not found")
        }
        return info
    }
}

final class IscsiadmTests: XCTestCase {
    struct Run { var status: Int32; var out: String; var err: String }

    var root = ""
    var runDir = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "oic-\(UUID().uuidString.prefix(8))"
        runDir = "/tmp/oic-run-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: runDir)
    }

    var socketPath: String { ISCSIDSocket.socketPath(runDirectory: runDir, root: root) }

    func run(_ arguments: [String]) -> Run {
        var out = "", err = ""
        let path = socketPath
        let admin = Iscsiadm(store: ConfigStore(paths: ConfigPaths(root: root)),
                             send: { try ISCSIDSocket.exchange($0, socketPath: path) },
                             out: { out += $0 + "\n" }, err: { err += $0 + "\n" })
        let status = admin.run(arguments)
        return Run(status: status, out: out, err: err)
    }

    func testNodeRecordOperationsAndExitCodes() {
        var r = run(["-m", "node", "-T", "iqn.2026-11.test:h13a", "-p", "127.0.0.1:3431", "-o", "new"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=default] 127.0.0.1,3431,-1 iqn.2026-11.test:h13a] added\n")
        r = run(["-m", "node", "-T", "iqn.2026-11.test:h13a", "-p", "127.0.0.1:3431", "-o", "show"])
        XCTAssertEqual(r.out, DebianGoldens.nodeShow + "\n")
        _ = run(["-m", "node", "-T", "iqn.2026-11.test:h13c", "-p", "127.0.0.2:3432,5", "-o", "new"])
        r = run(["-m", "node"])
        XCTAssertEqual(r.out, "127.0.0.1:3431,4294967295 iqn.2026-11.test:h13a\n127.0.0.2:3432,5 iqn.2026-11.test:h13c\n")
        r = run(["-m", "node", "-P", "1"])
        XCTAssertEqual(r.out, "Target: iqn.2026-11.test:h13a\n\tPortal: 127.0.0.1:3431,-1\n\t\tIface Name: default\nTarget: iqn.2026-11.test:h13c\n\tPortal: 127.0.0.2:3432,5\n\t\tIface Name: default\n")
        r = run(["-m", "node", "-T", "iqn.2026-11.test:h13a", "--op=update", "--name", "node.session.auth.password", "--value=secret1"])
        XCTAssertEqual(r.status, 0)
        r = run(["-m", "node", "-T", "iqn.2026-11.test:h13a", "-p", "127.0.0.1:3431"])
        XCTAssertTrue(r.out.contains("node.session.auth.password = ********\n"))
        r = run(["-m", "node", "-T", "iqn.2026-11.test:h13a", "-p", "127.0.0.1:3431", "-o", "update", "-n", "node.bogus", "-v", "1"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, "iscsiadm: Cannot modify node.bogus. Invalid param name.\niscsiadm: Could not execute operation on all records: invalid parameter\n")
        r = run(["-m", "node", "-T", "iqn.x:none", "-o", "delete"])
        XCTAssertEqual(r.status, 21); XCTAssertEqual(r.err, "iscsiadm: No records found\n")
        r = run(["-m", "node", "-o", "bogus"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: can not recognize operation: 'bogus'\n")
        r = run(["-m", "node", "-T", "iqn.2026-11.test:h13c", "-p", "127.0.0.2:3432", "-o", "delete"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(run(["-m", "node"]).out, "127.0.0.1:3431,4294967295 iqn.2026-11.test:h13a\n")
    }

    func testIfaceAndDiscoveryRecords() {
        XCTAssertEqual(run(["-m", "iface"]).out, "default tcp,<empty>,<empty>,<empty>,<empty>\niser iser,<empty>,<empty>,<empty>,<empty>\n")
        XCTAssertEqual(run(["-m", "iface", "-I", "foo", "-o", "new"]).out, "foo updated.\nNew interface foo added\n")
        XCTAssertEqual(run(["-m", "iface", "-I", "foo", "-o", "update", "-n", "iface.net_ifacename", "-v", "eth0"]).status, 0)
        XCTAssertTrue(run(["-m", "iface", "-I", "foo"]).out.contains("iface.net_ifacename = eth0\n"))
        XCTAssertEqual(run(["-m", "iface", "-I", "foo", "-o", "delete"]).out, "foo unbound and deleted.\n")
        XCTAssertEqual(run(["-m", "iface", "-I", "foo", "-o", "show"]).status, 6)
        let r = run(["-m", "discovery", "-p", "127.0.0.9", "-o", "delete"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: Discovery record [127.0.0.9,3260] not found!\n")
    }

    func testDiscoveryFailuresInOpenISCSIWords() {
        var out = "", err = ""
        let admin = Iscsiadm(
            store: ConfigStore(paths: ConfigPaths(root: root)),
            send: { _ in .failure(ISCSIError(.transport, "cannot make connection to 127.0.0.1: Connection refused")) },
            out: { out += $0 + "\n" }, err: { err += $0 + "\n" })
        var pauses: [Double] = []
        admin.pause = { pauses.append($0) }
        // open-iscsi 2.1.8: 1 + reopen_max (5) attempts a second apart, then "PDU timed out" (11).
        XCTAssertEqual(admin.run(["-m", "discovery", "-t", "st", "-p", "127.0.0.1:1"]), 11)
        XCTAssertEqual(out, "")
        XCTAssertEqual(err, String(repeating: "iscsiadm: cannot make connection to 127.0.0.1: Connection refused\n", count: 6) + """
            iscsiadm: connection login retries (reopen_max) 5 exceeded
            iscsiadm: Could not perform SendTargets discovery: iSCSI PDU timed out

            """)
        XCTAssertEqual(pauses, [1, 1, 1, 1, 1])
        err = ""
        XCTAssertEqual(admin.run(["-m", "discovery", "-t", "st"]), 7)
        XCTAssertEqual(err, "iscsiadm: Please specify portal as <ipaddr>[:<ipport>]\n")
    }

    func testWithoutDaemon() {
        _ = run(["-m", "node", "-T", "iqn.a:b", "-p", "127.0.0.1", "-o", "new"])
        var r = run(["-m", "node", "-T", "iqn.a:b", "-p", "127.0.0.1", "-l"])
        XCTAssertEqual(r.status, 20)
        XCTAssertEqual(r.out, "Logging in to [iface: default, target: iqn.a:b, portal: 127.0.0.1,3260]\n")
        XCTAssertEqual(r.err, """
            iscsiadm: can not connect to iSCSI daemon (111)!
            iscsiadm: Could not login to [iface: default, target: iqn.a:b, portal: 127.0.0.1,3260].
            iscsiadm: initiator reported error (20 - could not connect to iscsid)
            iscsiadm: Could not log into all portals

            """)
        r = run(["-m", "session"])
        XCTAssertEqual(r.status, 21); XCTAssertEqual(r.err, "iscsiadm: No active sessions.\n")
        r = run(["-m", "discovery", "-t", "st", "-p", "127.0.0.1:3431"])
        XCTAssertEqual(r.status, 20)
    }

    /// A caller iscsid does not admit is answered from its credentials alone: the refusal comes
    /// though the request (announcing 16 MiB) is never sent, and the handler never runs.
    func testCallersOutsideTheAllowedUIDsAreRefusedBeforeTheirRequestIsRead() throws {
        let calls = CallCount()
        let server = ISCSIDControlServer(socketPath: socketPath, allowedUIDs: [getuid() &+ 4242]) { _ in
            calls.increment()
            return .ok
        }
        try server.start(root: root)
        defer { server.stop() }
        let fd = try UnixSocket.connect(to: socketPath)
        defer { close(fd) }
        UnixSocket.setTimeouts(on: fd, receiveSeconds: 5, sendSeconds: 5)
        _ = send(fd, [0x01, 0, 0, 0], 4, Int32(MSG_NOSIGNAL))  // EPIPE when iscsid has already closed
        let reply = try JSONDecoder().decode(ControlResponse.self, from: Data(try UnixSocket.receiveFrame(on: fd, limit: 1 << 20)))
        XCTAssertEqual(reply, .failure(ISCSIError(.access, "daemon access denied")))

        let r = run(["-m", "session"])
        XCTAssertEqual(r.status, 13)
        XCTAssertEqual(r.err, "iscsiadm: daemon access denied\n")
        XCTAssertEqual(calls.value, 0)
    }

    /// node.session.nr_sessions sessions per node, each a path of its own; a second login only
    /// adds what is missing.
    func testNrSessionsLogsInSeveralSessions() async throws {
        let backend = FakeBackend(targets: [])
        let store = ConfigStore(paths: ConfigPaths(root: root))
        let daemon = SessionDaemon(store: store, backend: backend, initiatorName: "iqn.2016-04.com.open-iscsi:000000000001")
        let server = ISCSIDControlServer(socketPath: socketPath, allowedUIDs: [0, getuid()]) { await daemon.handle($0) }
        try server.start(root: root)
        defer { server.stop() }
        let node = ["-m", "node", "-T", "iqn.2026-11.test:mp", "-p", "127.0.0.1:3431"]
        XCTAssertEqual(run(node + ["-o", "new"]).status, 0)
        XCTAssertEqual(run(node + ["-o", "update", "-n", "node.session.nr_sessions", "-v", "3"]).status, 0)
        var r = run(node + ["-l"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(run(["-m", "session"]).out.split(separator: "\n").count, 3)
        var sids = Set(await backend.sessions().map(\.sid))
        XCTAssertEqual(sids, [1, 2, 3])
        r = run(node + ["-l"])
        XCTAssertEqual(r.status, 15)
        XCTAssertEqual(r.err, "iscsiadm: default: 3 sessions requested, but 3 already present.\n")
        _ = run(["-m", "session", "-r", "2", "-u"])
        XCTAssertEqual(run(node + ["-l"]).status, 0, "the missing one is made again")
        sids = Set(await backend.sessions().map(\.sid))
        XCTAssertEqual(sids, [1, 3, 4])
        XCTAssertEqual(run(["-m", "multipath"]).status, 0)
    }

    func testRoundTripThroughDaemonSocket() async throws {
        let portal = Portal(address: "127.0.0.1", port: 3431, tpgt: 1)
        let backend = FakeBackend(targets: [DiscoveredTarget(name: "iqn.2026-11.test:h13a", portal: portal)])
        let store = ConfigStore(paths: ConfigPaths(root: root))
        let daemon = SessionDaemon(store: store, backend: backend, initiatorName: "iqn.2016-04.com.open-iscsi:000000000001")
        let server = ISCSIDControlServer(socketPath: socketPath, allowedUIDs: [0, getuid()]) { await daemon.handle($0) }
        try server.start(root: root)
        defer { server.stop() }
        let second = ISCSIDControlServer(socketPath: socketPath, allowedUIDs: [0]) { _ in .ok }
        XCTAssertThrowsError(try second.start(root: root)) { error in
            XCTAssertTrue("\(error)".hasPrefix("iscsid is already running for \(self.root)"))
        }

        var r = run(["-m", "discovery", "-t", "st", "-p", "127.0.0.1:3431"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "127.0.0.1:3431,1 iqn.2026-11.test:h13a\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/nodes/iqn.2026-11.test:h13a/127.0.0.1,3431,1/default"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/send_targets/127.0.0.1,3431/st_config"))
        XCTAssertEqual(run(["-m", "discovery"]).out, "127.0.0.1:3431 via sendtargets\n")

        r = run(["-m", "node", "-T", "iqn.2026-11.test:h13a", "-p", "127.0.0.1:3431", "-l"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "Logging in to [iface: default, target: iqn.2026-11.test:h13a, portal: 127.0.0.1,3431]\nLogin to [iface: default, target: iqn.2026-11.test:h13a, portal: 127.0.0.1,3431] successful.\n")
        r = run(["-m", "node", "-T", "iqn.2026-11.test:h13a", "-p", "127.0.0.1:3431", "-l"])
        XCTAssertEqual(r.status, 15)
        r = run(["-m", "session"])
        XCTAssertEqual(r.out, "tcp: [1] 127.0.0.1:3431,1 iqn.2026-11.test:h13a (non-flash)\n")
        r = run(["-m", "session", "-P", "3"])
        XCTAssertTrue(r.out.hasPrefix("iSCSI Transport Class version 2.0-870\nversion 2.1.8\nTarget: iqn.2026-11.test:h13a (non-flash)\n\tCurrent Portal: 127.0.0.1:3431,1\n"))
        XCTAssertTrue(r.out.contains("\t\tSID: 1\n"))
        XCTAssertTrue(r.out.contains("\t\t\tAttached scsi disk sdb\t\tState: running\n"))
        // Software iSCSI: one SCSI host per session, numbered like it.
        XCTAssertEqual(run(["-m", "host"]).out, "tcp: [1] 127.0.0.1,[<empty>],<empty> <empty>\n")
        XCTAssertEqual(
            run(["-m", "host", "-P", "1", "-H", "1"]).out,
            "Host Number: 1\n\tState: running\n\tTransport: tcp\n\tInitiatorname: <empty>\n\tIPaddress: 127.0.0.1\n"
                + "\tHWaddress: <empty>\n\tNetdev: <empty>\n")
        r = run(["-m", "host", "-P", "4"])
        XCTAssertTrue(r.out.hasPrefix("iSCSI Transport Class version 2.0-870\nversion 2.1.8\nHost Number: 1\n"), r.out)
        XCTAssertTrue(r.out.contains("\t*********\n\tSessions:\n\t*********\n\tTarget: iqn.2026-11.test:h13a (non-flash)\n"), r.out)
        XCTAssertTrue(r.out.contains("\t\t\t\tAttached scsi disk sdb\t\tState: running\n"), r.out)
        r = run(["-m", "host", "-H", "9"])
        XCTAssertEqual(r.status, 21); XCTAssertEqual(r.err, "iscsiadm: No iSCSI hosts.\n")
        r = run(["-m", "host", "-H", "1", "-C", "flashnode"])
        XCTAssertEqual(r.status, 27)
        XCTAssertEqual(run(["-m", "session", "-r", "1", "-R"]).out, "Rescanning session [sid: 1, target: iqn.2026-11.test:h13a, portal: 127.0.0.1,3431]\n")
        XCTAssertEqual(run(["-m", "session", "-r", "9", "-u"]).status, 22)
        r = run(["-m", "node", "-U", "all"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "Logging out of session [sid: 1, target: iqn.2026-11.test:h13a, portal: 127.0.0.1,3431]\nLogout of [sid: 1, target: iqn.2026-11.test:h13a, portal: 127.0.0.1,3431] successful.\n")
        XCTAssertEqual(run(["-m", "node", "-U", "all"]).status, 21)

        // node.startup = automatic records are logged in at daemon start-up.
        XCTAssertEqual(run(["-m", "node", "-T", "iqn.2026-11.test:h13a", "-o", "update", "-n", "node.startup", "-v", "automatic"]).status, 0)
        let failures = await daemon.loginAutomatic()
        XCTAssertEqual(failures, [])
        XCTAssertEqual(run(["-m", "session"]).out, "tcp: [2] 127.0.0.1:3431,1 iqn.2026-11.test:h13a (non-flash)\n")
        XCTAssertEqual(run(["-m", "discovery", "-p", "127.0.0.1:3431", "-o", "delete"]).status, 0)
        XCTAssertEqual(run(["-m", "node"]).status, 21)
    }
}

private final class CallCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
