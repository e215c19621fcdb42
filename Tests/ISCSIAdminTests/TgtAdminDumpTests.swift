import XCTest

@testable import ISCSIAdmin

final class TgtAdminDumpTests: XCTestCase {
    /// Byte for byte Debian's dump where Debian's dump is right.
    func testPlainConfigurationDumpsExactlyAsDebian() {
        XCTAssertEqual(TgtAdminDump.render(showTarget: TgtAdminGoldens.showPlain), TgtAdminGoldens.dumpPlainDebian)
    }

    /// Debian's dump, with the lines it gets wrong corrected: the null LU keeps its type (so every
    /// LUN of that target becomes a block), CIDR/IPv6/ALL rules stay address rules, the offline
    /// target stays offline, and gamma keeps tid 4.
    func testMixedConfigurationDiffersFromDebianOnlyWhereDebianLosesInformation() {
        var expected = TgtAdminGoldens.dumpMixedDebian
        expected = expected.replacing(
            "\tbacking-store /dev/shm/h10-a.img\n\tbacking-store /dev/shm/h10-b.img\n\tbacking-store /dev/shm/h10-nullpath\n",
            with: "\t<backing-store /dev/shm/h10-a.img>\n\t\tlun 1\n\t</backing-store>\n"
                + "\t<backing-store /dev/shm/h10-b.img>\n\t\tlun 2\n\t</backing-store>\n"
                + "\t<backing-store /dev/shm/h10-nullpath>\n\t\tlun 3\n\t\tbs-type null\n\t</backing-store>\n")
        expected = expected.replacing("\tinitiator-name 10.0.0.0/8\n", with: "\tinitiator-address 10.0.0.0/8\n")
        expected = expected.replacing(
            "<target iqn.2026-11.test:h10.gamma>\n\tinitiator-name ALL\n\tinitiator-name fe80::1\n\tinitiator-name 2001:db8::/32\n",
            with: "<target iqn.2026-11.test:h10.gamma>\n\tcontroller_tid 4\n\tinitiator-address ALL\n"
                + "\tinitiator-address fe80::1\n\tinitiator-address 2001:db8::/32\n")
        expected = expected.replacing(
            "\tinitiator-name iqn.2026-11.test:client9\n</target>",
            with: "\tinitiator-name iqn.2026-11.test:client9\n\tstate offline\n</target>")
        XCTAssertNotEqual(expected, TgtAdminGoldens.dumpMixedDebian)
        XCTAssertEqual(TgtAdminDump.render(showTarget: TgtAdminGoldens.showMixed), expected)
    }

    func testExtendedSettingsBecomeBackingStoreBlocks() {
        let expected = """
            default-driver iscsi

            <target iqn.2026-11.test:x.one>
            \t<backing-store /dev/shm/h10-d.img>
            \t\tlun 1
            \t\tblock-size 4096
            \t</backing-store>
            \t<backing-store /dev/shm/h10-e.img>
            \t\tlun 2
            \t\treadonly 1
            \t\tremovable 1
            \t\tparams thin_provisioning=1
            \t</backing-store>
            \t<backing-store /dev/shm/h10-nullpath>
            \t\tlun 3
            \t\tbs-type null
            \t</backing-store>
            \tinitiator-address ALL
            \tinitiator-address 10.0.0.0/8
            \tinitiator-address fe80::1
            \tinitiator-name iqn.2026-11.test:client9
            \tstate offline
            </target>

            <target iqn.2026-11.test:x.two>
            \tcontroller_tid 5
            \t<backing-store /dev/shm/h10-f.img>
            \t\tlun 1
            \t\tbsoflags sync
            \t\tscsi_id MYID5
            \t\tscsi_sn SERIAL5
            \t</backing-store>
            \tinitiator-address 172.16.0.0/12
            </target>


            """
        XCTAssertEqual(TgtAdminDump.render(showTarget: TgtAdminGoldens.showExtended), expected)
        // Debian's dump of the same keeps only the paths.
        XCTAssertTrue(TgtAdminGoldens.dumpExtendedDebian.contains("\tbacking-store /dev/shm/h10-nullpath\n"))
    }

    func testNoTargetsDumpsNothing() {
        XCTAssertEqual(TgtAdminDump.render(showTarget: ""), "")
    }

    /// Plain lines come back only if `-e` numbers the paths (in byte order) as they are now.
    func testLUNsOutOfPathOrderAreWrittenAsBlocks() {
        let show = TargetShowFormatter.format([
            TargetSnapshot(
                tid: 1, name: "iqn.2026-11.test:order",
                luns: [
                    .init(lun: 1, scsiID: "IET     00010001", scsiSN: "beaf11", sizeBytes: 1 << 20, bsType: "rdwr", bsPath: "/b"),
                    .init(lun: 2, scsiID: "IET     00010002", scsiSN: "beaf12", sizeBytes: 1 << 20, bsType: "rdwr", bsPath: "/a"),
                ], acl: .init(addresses: ["ALL"]))
        ])
        XCTAssertEqual(
            TgtAdminDump.render(showTarget: show),
            "default-driver iscsi\n\n<target iqn.2026-11.test:order>\n"
                + "\t<backing-store /b>\n\t\tlun 1\n\t</backing-store>\n\t<backing-store /a>\n\t\tlun 2\n\t</backing-store>\n"
                + "</target>\n\n")
    }

    func testShowParserReadsTargetsSessionsUnitsAccountsAndRules() {
        let text = TargetShowFormatter.format([
            TargetSnapshot(
                tid: 2, name: "iqn.2026-11.test:zeta",
                nexuses: [
                    .init(id: 1, initiatorName: "iqn.x:y", connections: [.init(cid: 0, address: "127.0.0.1")]),
                    .init(id: 3, initiatorName: "iqn.x:z", connections: [.init(cid: 0, address: "::1"), .init(cid: 1, address: "::1")]),
                ],
                luns: [.init(lun: 5, scsiID: "ID", scsiSN: "SN", sizeBytes: 8 << 20, blockSize: 4096, readonly: true, bsType: "rdwr", bsPath: "/dev/shm/x")],
                accounts: .init(incomingUsers: ["alice"], outgoingUser: "carol"),
                acl: .init(addresses: ["10.0.0.0/8"], initiatorNames: ["iqn.x:y"]))
        ])
        let targets = TgtAdminShownTarget.parse(text)
        XCTAssertEqual(targets.count, 1)
        let target = targets[0]
        XCTAssertEqual(target.tid, "2")
        XCTAssertEqual(target.name, "iqn.2026-11.test:zeta")
        XCTAssertEqual(target.text, text)
        XCTAssertTrue(target.hasConnection)
        XCTAssertEqual(target.sessions, [.init(sid: "1", cids: ["0"]), .init(sid: "3", cids: ["0", "1"])])
        XCTAssertEqual(target.backingStores, ["/dev/shm/x"])
        XCTAssertEqual(target.logicalUnits.first?.blockSize, "4096")
        XCTAssertEqual(target.logicalUnits.first?.readonly, true)
        XCTAssertEqual(target.accounts, ["alice", "carol (outgoing)"])
        XCTAssertEqual(target.acl, ["10.0.0.0/8", "iqn.x:y"])

        let mixed = TgtAdminShownTarget.parse(TgtAdminGoldens.showMixed)
        XCTAssertEqual(mixed.map(\.tid), ["1", "2", "4"])
        XCTAssertEqual(mixed.map(\.hasConnection), [false, false, false])
        XCTAssertEqual(mixed.map(\.state), ["ready", "ready", "offline"])
        XCTAssertEqual(mixed[1].acl, ["ALL"])
        XCTAssertEqual(mixed.map(\.text).joined(), TgtAdminGoldens.showMixed)
    }

    func testAddressRulesAreToldApartFromInitiatorNames() {
        for rule in ["ALL", "192.168.1.10", "10.0.0.0/8", "fe80::1", "2001:db8::/32", "[fe80::1]", "::1"] {
            XCTAssertTrue(TgtAdminAddress.isAddressRule(rule), rule)
        }
        for rule in ["iqn.1994-05.com.redhat:client1", "eui.0123456789ABCDEF", "all", "10.0.0.0/x", "1.2.3", "E"] {
            XCTAssertFalse(TgtAdminAddress.isAddressRule(rule), rule)
        }
    }
}
