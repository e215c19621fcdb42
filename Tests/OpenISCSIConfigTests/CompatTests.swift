import Foundation
import XCTest
@testable import OpenISCSIConfig

/// Where iscsiadm follows open-iscsi 2.1.8 (issue 11); the expected texts and codes were measured
/// with Debian's iscsiadm side by side (scripts/iscsiadm-compat.sh).
final class RecordValueTests: XCTestCase {
    func testStrtoulAsOpenISCSIStoresNumbers() {
        XCTAssertEqual(RecordValues.strtoulText("abc", bits: 32, signed: true), "0")
        XCTAssertEqual(RecordValues.strtoulText("12abc", bits: 32, signed: true), "12")
        XCTAssertEqual(RecordValues.strtoulText("-5", bits: 32, signed: true), "-5")
        XCTAssertEqual(RecordValues.strtoulText("4294967297", bits: 32, signed: true), "1")
        XCTAssertEqual(RecordValues.strtoulText(" +7", bits: 32, signed: true), "7")
        XCTAssertEqual(RecordValues.strtoulText("99999999999999999999", bits: 32, signed: true), "-1")
        XCTAssertEqual(RecordValues.strtoulText("70000", bits: 16, signed: false), "4464")
        XCTAssertEqual(RecordValues.strtoulText("-1", bits: 8, signed: false), "255")
    }

    func testChoicesAreExactAndListsKeepKnownNames() {
        XCTAssertEqual(RecordValues.take("node.startup", "automatic"), .stored("automatic", warnings: []))
        XCTAssertEqual(RecordValues.take("node.startup", "Automatic"),
                       .unknownFormat("unknown value format 'Automatic' for parameter name 'node.startup'"))
        XCTAssertEqual(RecordValues.take("node.session.auth.authmethod", "chap"),
                       .unknownFormat("unknown value format 'chap' for parameter name 'node.session.auth.authmethod'"))
        XCTAssertEqual(RecordValues.take("node.conn[0].iscsi.HeaderDigest", "CRC32C,None"), .stored("CRC32C,None", warnings: []))
        XCTAssertEqual(RecordValues.take("node.session.iscsi.InitialR2T", "yes"),
                       .unknownFormat("unknown value format 'yes' for parameter name 'node.session.iscsi.InitialR2T'"))
        XCTAssertEqual(RecordValues.take("node.session.queue_depth", "abc"), .stored("0", warnings: []))
        XCTAssertEqual(RecordValues.take("node.session.auth.username", "Yes no"), .stored("Yes no", warnings: []))
        XCTAssertEqual(RecordValues.take("node.session.auth.chap_algs", "SHA256,bogus"),
                       .stored("SHA256", warnings: ["Ignoring unknown value 'bogus' for 'node.session.auth.chap_algs'"]))
        XCTAssertEqual(RecordValues.take("iface.mtu", "abc"), .stored("0", warnings: []))
        XCTAssertEqual(RecordValues.take("iface.ipaddress", "10.0.0.1"), .stored("10.0.0.1", warnings: []))
        XCTAssertEqual(RecordValues.take("node.startup", ""), .stored("", warnings: []))
    }

    func testLenientPortalIsStrToIPPort() {
        XCTAssertEqual(Iscsiadm.lenientPortal("127.0.0.1:abc"), Portal(address: "127.0.0.1", port: 0))
        XCTAssertEqual(Iscsiadm.lenientPortal("127.0.0.1:99999"), Portal(address: "127.0.0.1", port: 99999))
        XCTAssertEqual(Iscsiadm.lenientPortal("host:x,2"), Portal(address: "host", port: 0, tpgt: 2))
        XCTAssertEqual(Iscsiadm.lenientPortal("10.0.0.1,x"), Portal(address: "10.0.0.1", tpgt: 0))
        XCTAssertEqual(Iscsiadm.lenientPortal("[fe80::1]:abc"), Portal(address: "fe80::1", port: 0))
        XCTAssertNil(Iscsiadm.lenientPortal("[fe80::1"))
    }
}

final class CompatTests: XCTestCase {
    var root = ""
    var requests: [ControlRequest] = []
    /// What the fake iscsid answers.
    var answer: (ControlRequest) throws -> ControlResponse = { _ in .ok }

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "oic-compat-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    struct Run { var status: Int32; var out: String; var err: String }

    func run(_ arguments: [String], pauses: UnsafeMutablePointer<[Double]>? = nil) -> Run {
        var out = "", err = ""
        let admin = Iscsiadm(store: ConfigStore(paths: ConfigPaths(root: root)),
                             send: { [unowned self] in requests.append($0); return try answer($0) },
                             out: { out += $0 + "\n" }, err: { err += $0 + "\n" })
        admin.pause = { pauses?.pointee.append($0) }
        let status = admin.run(arguments)
        return Run(status: status, out: out, err: err)
    }

    func node(_ iqn: String = "iqn.2026-12.test:a", _ portal: String = "127.0.0.1:4361,1") -> [String] {
        ["-m", "node", "-T", iqn, "-p", portal]
    }

    func testRecordValuesAreCheckedAsOpenISCSIDoes() {
        XCTAssertEqual(run(node() + ["-o", "new"]).status, 0)
        var r = run(node() + ["-o", "update", "-n", "node.startup", "-v", "sometimes"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, """
            iscsiadm: unknown value format 'sometimes' for parameter name 'node.startup'
            iscsiadm: Unknown parameter node.startup.
            iscsiadm: Could not execute operation on all records: invalid parameter

            """)
        r = run(node() + ["-o", "update", "-n", "node.name", "-v", "x"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, """
            iscsiadm: Cannot modify node.name. It is used to look up the record and cannot be changed.
            iscsiadm: Could not execute operation on all records: invalid parameter

            """)
        r = run(node() + ["-o", "update", "-n", "iface.vlan_id", "-v", "1"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, "iscsiadm: Cannot modify iface.vlan_id. Use iface mode to update this value.\n")
        r = run(node() + ["-o", "update", "-n", "node.startup"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, "iscsiadm: update requires name and value\n")
        XCTAssertEqual(run(node() + ["-o", "update", "-n", "node.session.queue_depth", "-v", "12abc"]).status, 0)
        XCTAssertTrue(run(node()).out.contains("node.session.queue_depth = 12\n"))
        XCTAssertEqual(run(node() + ["-o", "update", "-n", "node.startup", "-v", "onboot"]).status, 0)
        XCTAssertTrue(run(node()).out.contains("node.startup = onboot\n"))

        XCTAssertEqual(run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:4361", "-o", "new"]).status, 0)
        r = run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:4361", "-o", "update",
                 "-n", "discovery.sendtargets.auth.authmethod", "-v", "chap"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, "iscsiadm: unknown value format 'chap' for parameter name 'discovery.sendtargets.auth.authmethod'\n")
        r = run(["-m", "discovery", "-p", "127.0.0.1:4361", "-o", "update", "-n", "discovery.sendtargets.reopen_max", "-v", "1"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, "iscsiadm: Operations new and update for discovery mode is not supported. Use discoverydb mode.\n")
    }

    func testBadCommandLinesAsOpenISCSI() {
        var r = run(["-m", "bogus"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: mode -1 is not yet supported\n")
        r = run([])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "Try `iscsiadm --help' for more information.\n")
        r = run(["-m", "session", "-x", "1"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: session mode: option '-x' is not allowed/supported\n")
        r = run(["-m", "session", "-r", "abc"])
        XCTAssertEqual(r.status, 1); XCTAssertEqual(r.err, "iscsiadm: abc is an invalid session ID or path\n")
        r = run(["-k", "-1"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, "iscsiadm: Invalid killiscsid priority -1 Priority must be greater than or equal to zero.\n")
        r = run(["-m", "node", "-P", "9"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: Invalid info level 9. Try 0 or 1.\n")
        r = run(["-m", "iface", "-P", "2"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: Invalid info level 2. Try 0 - 1.\n")
        // The target name given without -T (seed 001): one line saying what to write instead.
        r = run(["-m", "node", "iqn.2026-12.test:a", "-u"])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.err, "iscsiadm: unexpected argument 'iqn.2026-12.test:a': name a target with -T iqn.2026-12.test:a\n")
        r = run(["-m", "iface", "-I", "iface0", "-C", "ping"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: Ping requires destination ipaddress.\n")
        r = run(["-m", "iface", "-I", "default", "-C", "ping", "-a", "127.0.0.1", "-b", "0"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: Invalid packet size: 0.\n")
        XCTAssertTrue(run(["-h"]).out.contains("iscsiadm -k priority\n"))
    }

    func testDiscoveryTreeAndLinks() throws {
        try FileManager.default.createDirectory(atPath: root + "/ifaces", withIntermediateDirectories: true)
        try "iface.iscsi_ifacename = iface0\niface.transport_name = tcp\n".write(toFile: root + "/ifaces/iface0", atomically: true, encoding: .utf8)
        let portal = try XCTUnwrap(Portal(argument: "127.0.0.1:4361,1"))
        answer = { request in
            guard case .discover = request else { return .ok }
            return .targets([DiscoveredTarget(name: "iqn.2026-12.test:t1", portal: portal),
                             DiscoveredTarget(name: "iqn.2026-12.test:t2", portal: portal)])
        }
        var r = run(["-m", "discovery", "-t", "st", "-p", "127.0.0.1:4361", "-I", "nosuch"])
        XCTAssertEqual(r.status, 21)
        XCTAssertEqual(r.err, "iscsiadm: Could not read iface info for nosuch. Make sure an iface config with the file name and iface.iscsi_ifacename nosuch is in \(root)/ifaces.\n")
        XCTAssertTrue(requests.isEmpty)
        // Two ifaces: discovery through each, records and links for each (as open-iscsi).
        r = run(["-m", "discovery", "-t", "st", "-p", "127.0.0.1:4361", "-I", "iface0", "-I", "default"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, String(repeating: "127.0.0.1:4361,1 iqn.2026-12.test:t1\n127.0.0.1:4361,1 iqn.2026-12.test:t2\n", count: 2))
        let link = root + "/send_targets/127.0.0.1,4361/iqn.2026-12.test:t1,127.0.0.1,4361,1,iface0"
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), root + "/nodes/iqn.2026-12.test:t1/127.0.0.1,4361,1")
        _ = run(node("iqn.2026-12.test:static", "10.0.0.1:3260,1") + ["-o", "new"])
        r = run(["-m", "discovery", "-P", "1"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, """
            SENDTARGETS:
            DiscoveryAddress: 127.0.0.1,4361
            Target: iqn.2026-12.test:t1
            \tPortal: 127.0.0.1:4361,1
            \t\tIface Name: default
            \t\tIface Name: iface0
            Target: iqn.2026-12.test:t2
            \tPortal: 127.0.0.1:4361,1
            \t\tIface Name: default
            \t\tIface Name: iface0
            iSNS:
            No targets found.
            STATIC:
            Target: iqn.2026-12.test:static
            \tPortal: 10.0.0.1:3260,1
            \t\tIface Name: default
            FIRMWARE:
            No targets found.

            """)
        XCTAssertEqual(run(["-m", "discovery"]).out, "127.0.0.1:4361 via sendtargets\n")
        // Deleting a node takes its link.
        XCTAssertEqual(run(node("iqn.2026-12.test:t1", "127.0.0.1:4361") + ["-I", "iface0", "-o", "delete"]).status, 0)
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: link))
        r = run(["-m", "iface", "-P", "1", "-I", "iface0"])
        XCTAssertEqual(r.out, "Iface: iface0\n\tTarget: iqn.2026-12.test:t2\n\t\tPortal: 127.0.0.1:4361,1\n")
    }

    func testEmptyDiscoveryTree() {
        let r = run(["-m", "discovery", "-P", "1"])
        XCTAssertEqual(r.status, 21)
        XCTAssertEqual(r.out, "SENDTARGETS:\nNo targets found.\niSNS:\nNo targets found.\nSTATIC:\nNo targets found.\nFIRMWARE:\nNo targets found.\n")
        XCTAssertEqual(run(["-m", "discovery"]).status, 21)
    }

    func testDiscoveryRetriesAreBounded() {
        answer = { _ in .failure(ISCSIError(.transport, "cannot make connection to 127.0.0.1: Connection refused")) }
        XCTAssertEqual(run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:1", "-o", "new"]).status, 0)
        var pauses: [Double] = []
        XCTAssertEqual(run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:1", "-o", "update",
                            "-n", "discovery.sendtargets.reopen_max", "-v", "1000"]).status, 0)
        let r = run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:1", "-D"], pauses: &pauses)
        XCTAssertEqual(r.status, 11)
        XCTAssertEqual(requests.count, Iscsiadm.maximumDiscoveryReopens + 1)
        XCTAssertEqual(pauses.reduce(0, +), 59)
        XCTAssertTrue(r.err.hasSuffix("iscsiadm: connection login retries (reopen_max) 25 exceeded\niscsiadm: Could not perform SendTargets discovery: iSCSI PDU timed out\n"))
        // A login that gets no answer is not tried again (open-iscsi, measured: exit 19).
        requests = []
        answer = { _ in .failure(ISCSIError(.transportTimeout, "timed out: login did not complete within 2 s")) }
        XCTAssertEqual(run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:1", "-o", "update",
                            "-n", "discovery.sendtargets.timeo.login_timeout", "-v", "2"]).status, 0)
        let silent = run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:1", "-D"])
        XCTAssertEqual(silent.status, 19)
        XCTAssertEqual(silent.err, """
            iscsiadm: Login response timeout. Waited 2 seconds and did not get response PDU.
            iscsiadm: discovery login to 127.0.0.1 failed, giving up 2
            iscsiadm: Could not perform SendTargets discovery: encountered non-retryable iSCSI login failure

            """)
        XCTAssertEqual(requests.count, 1)
        // -m discovery starts from iscsid.conf's settings, written over the stored record.
        XCTAssertEqual(run(["-m", "discovery", "-t", "st", "-p", "127.0.0.1:1"]).status, 19)
        XCTAssertTrue(run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:1"]).out
            .contains("discovery.sendtargets.timeo.login_timeout = 15\n"))
        // Garbage instead of a Login Response is retried, with open-iscsi's lines.
        requests = []
        answer = { _ in .failure(ISCSIError(.login, "protocol error: framing error: bad length")) }
        let garbage = run(["-m", "discoverydb", "-t", "st", "-p", "127.0.0.1:1", "-D"])
        XCTAssertEqual(garbage.status, 11)
        XCTAssertTrue(garbage.err.hasPrefix("""
            iscsiadm: protocol error: framing error: bad length
            iscsiadm: Login I/O error, failed to receive a PDU
            iscsiadm: retrying discovery login to 127.0.0.1

            """), garbage.err)
        // Nor is a login failure.
        requests = []
        answer = { _ in .failure(ISCSIError(.fatalLogin, "discovery login to 127.0.0.1 failed")) }
        XCTAssertEqual(run(["-m", "discovery", "-t", "st", "-p", "127.0.0.1:1"]).status, 19)
        XCTAssertEqual(requests.count, 1)
    }

    func testNewRecordsForAnIfaceOnEveryNode() throws {
        _ = run(node("iqn.2026-12.test:a", "127.0.0.1:4361,1") + ["-o", "new"])
        _ = run(node("iqn.2026-12.test:b", "10.0.0.2:3260,1") + ["-o", "new"])
        var r = run(["-m", "node", "-o", "new", "-I", "iface4"])
        XCTAssertEqual(r.status, 3); XCTAssertEqual(r.err, "iscsiadm: Could not read iface info for iface4.\n")
        XCTAssertEqual(run(["-m", "iface", "-I", "iface4", "-o", "new"]).status, 0)
        r = run(["-m", "node", "-o", "new", "-I", "iface4"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, """
            New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=iface4] 127.0.0.1,4361,1 iqn.2026-12.test:a] added
            New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=iface4] 10.0.0.2,3260,1 iqn.2026-12.test:b] added

            """)
        XCTAssertEqual(run(["-m", "node", "-I", "iface4"]).out, "127.0.0.1:4361,1 iqn.2026-12.test:a\n10.0.0.2:3260,1 iqn.2026-12.test:b\n")
        // Without -T (and without -I) open-iscsi rewrites every record: deliberately refused.
        XCTAssertEqual(run(["-m", "node", "-o", "new"]).status, 7)
        // Deleting the iface unbinds its records.
        XCTAssertEqual(run(["-m", "iface", "-I", "iface4", "-o", "delete"]).status, 0)
        XCTAssertEqual(run(["-m", "node", "-I", "iface4"]).status, 21)
    }

    func testKillIscsid() {
        var pinged = 0
        answer = { request in
            switch request {
            case .shutdown: return .ok
            case .ping:
                pinged += 1
                if pinged > 2 { throw ISCSIError(.iscsidNotConnected, "can not connect to iSCSI daemon (111)!") }
                return .ok
            default: return .ok
            }
        }
        XCTAssertEqual(run(["-k", "0"]).status, 0)
        XCTAssertEqual(requests.first, .shutdown)
        XCTAssertEqual(pinged, 3)
        let r = run(["-k", "1"])
        XCTAssertEqual(r.status, 7); XCTAssertEqual(r.err, "iscsiadm: Invalid iscsid priority 1. Priority must be 0.\n")
        answer = { _ in throw ISCSIError(.iscsidNotConnected, "can not connect to iSCSI daemon (111)!") }
        XCTAssertEqual(run(["-k", "0"]).err, """
            iscsiadm: can not connect to iSCSI daemon (111)!
            iscsiadm: initiator reported error (20 - could not connect to iscsid)
            iscsiadm: Could not stop iscsid. Trying sending iscsid SIGTERM or SIGKILL signals manually

            """)
    }

    func testDebugLinesGoToStderr() {
        answer = { _ in .sessions([]) }
        let quiet = run(["-m", "session"])
        XCTAssertEqual(quiet.err, "iscsiadm: No active sessions.\n")
        let loud = run(["-d", "8", "-m", "session"])
        XCTAssertTrue(loud.err.contains("iscsiadm: request to iscsid: sessions\n"), loud.err)
        XCTAssertTrue(loud.err.hasSuffix("iscsiadm: No active sessions.\n"))
    }
}

final class LoginRetryTests: XCTestCase {
    func testWindowAndDelaysFollowTheRecord() {
        var record = Record(kind: .node)
        var retry = LoginRetry(record: record)
        XCTAssertEqual(retry.window, 120, "4 x 30 s by default")
        XCTAssertEqual(retry.firstDelay, 2)
        let refused = ISCSIError(.transport, "cannot make connection to 127.0.0.1: Connection refused")
        XCTAssertEqual(retry.delay(after: refused, elapsed: 0, failures: 1), 2)
        XCTAssertEqual(retry.delay(after: refused, elapsed: 60, failures: 5), 3)
        XCTAssertNil(retry.delay(after: refused, elapsed: 120.5, failures: 40))
        XCTAssertNil(retry.delay(after: ISCSIError(.fatalLogin, "wrong CHAP response from target t"), elapsed: 0, failures: 1))
        XCTAssertNil(retry.delay(after: ISCSIError(.loginAuthFailed, "authentication failure"), elapsed: 0, failures: 1))
        XCTAssertEqual(retry.delay(after: ISCSIError(.transportTimeout, "timed out"), elapsed: 1, failures: 1), 2)
        // Bytes that are no Login Response count as a broken connection; a refusal does not.
        XCTAssertEqual(retry.delay(after: ISCSIError(.login, "protocol error: framing error: data segment of 7308116 bytes"),
                                   elapsed: 1, failures: 1), 2)
        XCTAssertNil(retry.delay(after: ISCSIError(.login, "login failed: target error"), elapsed: 1, failures: 1))
        record.set("node.session.initial_login_retry_max", "1000")
        record.set("node.conn[0].timeo.login_timeout", "1000")
        retry = LoginRetry(record: record)
        XCTAssertEqual(retry.window, LoginRetry.maximumWindow)
        record.set("node.session.initial_login_retry_max", "0")
        XCTAssertNil(LoginRetry(record: record).delay(after: refused, elapsed: 0.001, failures: 1))
    }
}
