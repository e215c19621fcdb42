import XCTest

@testable import ISCSIAdmin

/// Golden tests against text captured from Debian's tgtd 1.0.85:
///   tgtd -f -C 9 --iscsi portal=127.0.0.1:3269
///   tgtadm -C 9 --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.test:h4
///   ... LUNs on /dev/shm files, --bstype null, --bsoflags sync, --params readonly=1,removable=1,...
///   ... bind -I ALL / -I <address> / -Q <name>, accounts bound incoming and --outgoing
///   iscsi-perf -t 6 iscsi://127.0.0.1:3269/iqn.2026-11.test:h4/1 (twice) while showing
final class TargetShowFormatterTests: XCTestCase {
    func testMatchesTgtForLUNsAccountsAndACLs() {
        let target1 = TargetSnapshot(
            tid: 1, name: "iqn.2026-11.test:h4",
            luns: [
                controller(tid: 1),
                disk(tid: 1, lun: 1, size: 1 << 30, path: "/dev/shm/h4-lun1.img"),
                disk(tid: 1, lun: 2, size: 100_000_000, blockSize: 4096, path: "/dev/shm/h4-lun2.img"),
                disk(tid: 1, lun: 3, size: 1 << 40, bsType: "null", path: "/dev/null"),
                TargetSnapshot.LogicalUnit(
                    lun: 4, scsiID: "IET     00010004", scsiSN: "beaf14", sizeBytes: 100_000_000, removable: true,
                    readonly: true, thinProvisioning: true, bsType: "rdwr", bsPath: "/dev/shm/h4-lun2.img",
                    bsFlags: "sync"),
            ],
            accounts: .init(incomingUsers: ["alice"], outgoingUser: "bob"),
            acl: .init(addresses: ["ALL", "192.168.1.0/24"], initiatorNames: ["iqn.1994-05.com.redhat:client"]))
        let target2 = TargetSnapshot(tid: 2, name: "iqn.2026-11.test:h4-two", luns: [controller(tid: 2)])

        assertLinesEqual(TargetShowFormatter.format([target1, target2]), TgtGoldens.targetsWithLUNsAndAccounts)
    }

    func testMatchesTgtWithLoggedInInitiators() {
        let target1 = TargetSnapshot(
            tid: 1, name: "iqn.2026-11.test:h4",
            nexuses: [
                .init(id: 1, initiatorName: "iqn.2010-11.libiscsi:iscsi-perf", connections: [.init(cid: 0, address: "127.0.0.1")]),
                .init(id: 2, initiatorName: "iqn.2026-11.test:second", connections: [.init(cid: 0, address: "127.0.0.1")]),
            ],
            luns: [controller(tid: 1), disk(tid: 1, lun: 1, size: 1 << 30, path: "/dev/shm/h4-lun1.img")],
            acl: .init(
                addresses: ["ALL", "127.0.0.1"], initiatorNames: ["iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-perf"]))
        let target2 = TargetSnapshot(
            tid: 2, name: "iqn.2026-11.test:h4-two", luns: [controller(tid: 2)],
            accounts: .init(incomingUsers: ["alice", "bob"], outgoingUser: "bob"))

        assertLinesEqual(TargetShowFormatter.format([target1, target2]), TgtGoldens.targetsWithSessions)
    }

    func testNopSettingsStateAndAliasLines() {
        let target = TargetSnapshot(
            tid: 2, name: "iqn.2026-11.test:h4-two", state: "offline", nopInterval: 5, nopCount: 3,
            nexuses: [.init(id: 7, initiatorName: "iqn.x", alias: "host7", connections: [.init(cid: 1, address: "::1")])])
        let expected = """
            Target 2: iqn.2026-11.test:h4-two
                System information:
                    Driver: iscsi
                    State: offline
                    Nop interval: 5
                    Nop count: 3
                I_T nexus information:
                    I_T nexus: 7
                        Initiator: iqn.x alias: host7
                        Connection: 1
                            IP Address: ::1
                LUN information:
                Account information:
                ACL information:

            """
        assertLinesEqual(TargetShowFormatter.format([target]), expected)
    }

    func testNoTargetsPrintsNothing() {
        XCTAssertEqual(TargetShowFormatter.format([]), "")
    }

    func testMegabytesFollowTgtsRounding() {
        // Values seen from tgt: 0 for LUN 0, 1074 for 1 GiB, 100 for 10^8 bytes, 1099512 for 1 TiB.
        XCTAssertEqual(TargetShowFormatter.megabytes(0), 0)
        XCTAssertEqual(TargetShowFormatter.megabytes(1 << 30), 1074)
        XCTAssertEqual(TargetShowFormatter.megabytes(100_000_000), 100)
        XCTAssertEqual(TargetShowFormatter.megabytes(1 << 40), 1_099_512)
        // Tiny sizes go through the C unsigned wrap-around without trapping.
        XCTAssertEqual(TargetShowFormatter.megabytes(512), 0)
        XCTAssertEqual(TargetShowFormatter.megabytes(1_000_000), 1)
        XCTAssertEqual(TargetShowFormatter.megabytes(.max), (UInt64.max / 512 - (UInt64.max / 512 / 625 - 974)) / 1950)
    }

    func testAccountListMatchesTgt() {
        XCTAssertEqual(AdminTextFormatter.accountList(["bob", "alice"]), TgtGoldens.accountList)
        XCTAssertEqual(AdminTextFormatter.accountList([]), "")
    }

    func testTargetParametersMatchTgt() {
        let pairs = TgtGoldens.targetParameters.split(separator: "\n").map { line in
            let parts = line.split(separator: "=", maxSplits: 1)
            return (key: String(parts[0]), value: String(parts[1]))
        }
        XCTAssertEqual(pairs.count, 26)
        XCTAssertEqual(AdminTextFormatter.parameters(pairs), TgtGoldens.targetParameters)
    }

    func testConnectionsAndPortalsMatchTgtsLayout() {
        // From `tgtadm --op show --mode conn --tid 1` with the two iscsi-perf sessions.
        let sessions: [TargetSnapshot.Nexus] = [
            .init(id: 2, initiatorName: "iqn.2026-11.test:second", connections: [.init(cid: 0, address: "127.0.0.1")]),
            .init(id: 1, initiatorName: "iqn.2010-11.libiscsi:iscsi-perf", connections: [.init(cid: 0, address: "127.0.0.1")]),
        ]
        XCTAssertEqual(
            AdminTextFormatter.connections(sessions),
            """
            Session: 2
                Connection: 0
                    Initiator: iqn.2026-11.test:second
                    IP Address: 127.0.0.1
            Session: 1
                Connection: 0
                    Initiator: iqn.2010-11.libiscsi:iscsi-perf
                    IP Address: 127.0.0.1

            """)
        XCTAssertEqual(
            AdminTextFormatter.portals([("127.0.0.1", 3269, 1), ("::1", 3260, 1)]),
            "Portal: 127.0.0.1:3269,1\nPortal: [::1]:3260,1\n")
    }

    private func controller(tid: Int32) -> TargetSnapshot.LogicalUnit {
        .init(
            lun: 0, type: "controller", scsiID: scsiID(tid: tid, lun: 0), scsiSN: "beaf\(tid)0", sizeBytes: 0,
            blockSize: 1, bsType: "null", bsPath: nil)
    }

    private func disk(
        tid: Int32, lun: UInt64, size: UInt64, blockSize: UInt32 = 512, bsType: String = "rdwr", path: String
    ) -> TargetSnapshot.LogicalUnit {
        .init(
            lun: lun, scsiID: scsiID(tid: tid, lun: lun), scsiSN: "beaf\(tid)\(lun)", sizeBytes: size,
            blockSize: blockSize, bsType: bsType, bsPath: path)
    }

    /// Compares line by line first, so a mismatch names the line rather than dumping both texts.
    private func assertLinesEqual(_ actual: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, (got, want)) in zip(actualLines, expectedLines).enumerated() where got != want {
            XCTFail("line \(index + 1): got \"\(got)\", want \"\(want)\"", file: file, line: line)
            return
        }
        XCTAssertEqual(actual, expected, file: file, line: line)
    }
}

/// tgt's default SCSI ID: "IET", blank-padded to 8 characters, then tid and LUN as 4 hex digits each.
private func scsiID(tid: Int32, lun: UInt64) -> String {
    func hex4<T: BinaryInteger>(_ value: T) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
    return "IET     " + hex4(tid) + hex4(lun)
}
