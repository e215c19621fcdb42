import XCTest

@testable import ISCSIAdmin

/// `tgt-admin --dump` of one daemon, applied with `tgt-admin -e -c FILE` to a fresh one, gives the
/// same `tgtadm --op show --mode target`.
final class TgtAdminRoundTripTests: XCTestCase {
    /// Dumps `show`, applies the dump to an empty daemon and returns that daemon's show.
    private func roundTrip(_ show: String, file: StaticString = #filePath, line: UInt = #line) -> (dump: String, show: String, environment: FakeTgtAdminEnvironment) {
        let dump = TgtAdminDump.render(showTarget: show)
        let environment = TgtAdminFixtures.environment()
        environment.files["/etc/tgt/dump.conf"] = dump
        let status = environment.tgtAdmin(["-e", "-c", "/etc/tgt/dump.conf"])
        XCTAssertEqual(status, 0, environment.stderr, file: file, line: line)
        XCTAssertEqual(environment.stderr, "", file: file, line: line)
        return (dump, environment.daemon.showTarget, environment)
    }

    func testPlainConfigurationRoundTrips() {
        let result = roundTrip(TgtAdminGoldens.showPlain)
        XCTAssertEqual(result.dump, TgtAdminGoldens.dumpPlainDebian)
        XCTAssertEqual(result.show, TgtAdminGoldens.showPlain)
        // Accounts are created with the dump's placeholder password.
        XCTAssertEqual(
            result.environment.daemon.accounts.map(\.password),
            Array(repeating: TgtAdminDump.passwordPlaceholder, count: 3))
    }

    func testMixedConfigurationRoundTrips() {
        XCTAssertEqual(roundTrip(TgtAdminGoldens.showMixed).show, TgtAdminGoldens.showMixed)
    }

    func testExtendedConfigurationRoundTrips() {
        XCTAssertEqual(roundTrip(TgtAdminGoldens.showExtended).show, TgtAdminGoldens.showExtended)
    }

    /// Why the dump departs from Debian's there: Debian's own dump of the mixed configuration
    /// comes back with the CIDR range as an initiator name, the null LU lost, and gamma renumbered
    /// and online.
    func testDebiansDumpOfTheMixedConfigurationDoesNotRoundTrip() {
        let environment = TgtAdminFixtures.environment()
        environment.files["debian.conf"] = TgtAdminGoldens.dumpMixedDebian
        XCTAssertEqual(environment.tgtAdmin(["-e", "-c", "debian.conf"]), 0)
        let back = environment.daemon.targets
        XCTAssertEqual(back.keys.sorted(), [1, 2, 3])
        XCTAssertEqual(back[1]?.acl.initiatorNames, ["10.0.0.0/8", "iqn.1994-05.com.redhat:client1"])
        XCTAssertEqual(back[1]?.luns.map(\.lun), [0, 1, 2])
        XCTAssertEqual(back[3]?.state, "ready")
        XCTAssertNotEqual(environment.daemon.showTarget, TgtAdminGoldens.showMixed)
    }

    /// The parser and the dumper agree: a dump reads back as the configuration it describes.
    func testDumpParsesBackIntoTheSameTargets() throws {
        let conf = try TargetsConf.parse(TgtAdminDump.render(showTarget: TgtAdminGoldens.showExtended))
        XCTAssertEqual(conf.value("default-driver"), "iscsi")
        XCTAssertEqual(conf.targets.map(\.name), ["iqn.2026-11.test:x.one", "iqn.2026-11.test:x.two"])
        let one = conf.targets[0]
        guard case .blocks(let blocks)? = one.backingStores else { return XCTFail("expected blocks") }
        XCTAssertEqual(blocks.map(\.path), ["/dev/shm/h10-d.img", "/dev/shm/h10-e.img", "/dev/shm/h10-nullpath"])
        XCTAssertEqual(blocks[2].setting("bs-type")?.value, "null")
        XCTAssertEqual(one.values("initiator-address"), ["ALL", "10.0.0.0/8", "fe80::1"])
        XCTAssertEqual(one.value("state"), "offline")
        XCTAssertEqual(conf.targets[1].value("controller_tid"), "5")
    }
}
