import XCTest

@testable import ISCSIAdmin

final class TgtAdminTests: XCTestCase {
    /// A daemon holding `TgtAdminGoldens.showPlain`, built with the commands that built it.
    private func plainDaemon(port: String = "103") -> FakeTgtAdminEnvironment {
        let environment = TgtAdminFixtures.environment()
        environment.expectedPort = port
        environment.files["plain.conf"] = TgtAdminGoldens.dumpPlainDebian
        XCTAssertEqual(environment.tgtAdmin(["-C", port, "-e", "-c", "plain.conf"]), 0)
        // Debian created the accounts with their own passwords, and in this order.
        environment.daemon.accounts = [("carol", "carolpass123"), ("bob", "bobpass12345"), ("alice", "alicepass1")]
        XCTAssertEqual(environment.daemon.showTarget, TgtAdminGoldens.showPlain)
        environment.stdout = ""
        environment.commands = []
        return environment
    }

    /// A daemon where an initiator is logged in to zeta (tid 2), as when the golden was captured.
    private func zetaInUse() -> FakeTgtAdminEnvironment {
        let daemon = FakeTgtDaemon(fileSizes: TgtAdminFixtures.fileSizes)
        daemon.targets[2] = TargetSnapshot(
            tid: 2, name: "iqn.2026-11.test:zeta",
            nexuses: [.init(id: 1, initiatorName: "iqn.x:y", connections: [.init(cid: 0, address: "127.0.0.1")])],
            luns: [], accounts: .init(incomingUsers: ["alice", "bob"], outgoingUser: "carol"),
            acl: .init(addresses: ["192.168.1.10", "10.0.0.0/8"], initiatorNames: ["iqn.x:y"]))
        daemon.accounts = [("carol", "c"), ("bob", "b"), ("alice", "a")]
        let environment = TgtAdminFixtures.environment(daemon: daemon)
        environment.expectedPort = "102"
        environment.files["conf3.conf"] = TgtAdminGoldens.confZeta
        environment.inUse = ["/dev/shm/h10-d.img": .byProcess, "/dev/shm/h10-e.img": .byProcess]
        return environment
    }

    // MARK: -e

    func testPretendExecuteMatchesDebianOnAnEmptyDaemon() {
        let environment = TgtAdminFixtures.environment()
        environment.expectedPort = "105"
        environment.files["confA.conf"] = TgtAdminGoldens.confA
        for path in ["/dev/shm/h10-d.img", "/dev/shm/h10-e.img", "/dev/shm/h10-f.img"] {
            environment.inUse[path] = .byProcess
        }
        XCTAssertEqual(environment.tgtAdmin(["-C", "105", "-p", "-e", "-c", "confA.conf"]), 0)
        XCTAssertEqual(environment.stdout, TgtAdminGoldens.confAPretend)
        XCTAssertEqual(environment.stderr, "")
        XCTAssertEqual(environment.commands, [], "-p changes nothing")
        XCTAssertTrue(environment.daemon.targets.isEmpty)
    }

    func testPretendExecuteMatchesDebianOnAConfiguredDaemon() {
        let environment = plainDaemon()
        environment.files["confB.conf"] = TgtAdminGoldens.confB
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "-p", "-e", "-c", "confB.conf"]), 0)
        XCTAssertEqual(environment.stdout, TgtAdminGoldens.confBPretend)
        XCTAssertEqual(environment.commands, [])
    }

    /// The same run for real: the commands printed by -p are the ones run, the target missing from
    /// the file is deleted, an existing account is bound, not created again.
    func testExecuteRunsThePretendCommandsAndRemovesTargetsNotInTheFile() {
        let environment = plainDaemon()
        environment.files["confB.conf"] = TgtAdminGoldens.confB
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "-e", "-c", "confB.conf"]), 0)
        XCTAssertEqual(environment.stdout, "", "quiet without -v")
        let printed = TgtAdminGoldens.confBPretend.split(separator: "\n").filter { $0.hasPrefix("tgtadm") }.map(String.init)
        XCTAssertEqual(environment.commands, printed)
        let daemon = environment.daemon
        XCTAssertEqual(daemon.targets.keys.sorted(), [2, 3, 4])
        XCTAssertEqual(daemon.targets[4]?.name, "iqn.2026-11.test:rt.new")
        XCTAssertEqual(daemon.targets[4]?.luns.map(\.bsPath), [nil, "/dev/shm/h10-i.img"])
        XCTAssertEqual(daemon.targets[4]?.accounts.incomingUsers, ["alice", "dave"])
        XCTAssertEqual(daemon.targets[4]?.acl.addresses, ["ALL"])
        XCTAssertEqual(daemon.accounts.first { $0.user == "alice" }?.password, "alicepass1")
        XCTAssertEqual(daemon.accounts.first { $0.user == "dave" }?.password, "davepass")
    }

    func testVerbosePrintsEachLineBeforeRunningIt() {
        let environment = TgtAdminFixtures.environment()
        environment.files["t.conf"] = "<target iqn.2026-11.test:v>\n    backing-store /dev/shm/h10-a.img\n</target>\n"
        XCTAssertEqual(environment.tgtAdmin(["-v", "-e", "-c", "t.conf"]), 0)
        XCTAssertEqual(
            environment.stdout,
            """
            # Using t.conf as configuration file

            # default-driver not defined, defaulting to iscsi.

            # Adding target: iqn.2026-11.test:v
            tgtadm -C 0 --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.test:v
            tgtadm -C 0 --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "/dev/shm/h10-a.img"\u{20}\u{20}\u{20}\u{20}\u{20}
            # Write cache is enabled (default) for lun 1.
            tgtadm -C 0 --lld iscsi --op bind --mode target --tid 1 -I ALL


            """)
        XCTAssertEqual(environment.commands.count, 3)
        XCTAssertEqual(environment.daemon.targets[1]?.luns.last?.sizeBytes, 64 << 20)
    }

    /// tgt-admin stops at the first failing command, printing it and exiting with its status
    /// (output as captured from Debian's tgt-admin with the same file).
    func testFailingCommandStopsWithItsExitStatus() {
        let environment = TgtAdminFixtures.environment()
        environment.files["f.conf"] = Self.failingConf
        XCTAssertEqual(environment.tgtAdmin(["-e", "-c", "f.conf"]), 22)
        XCTAssertEqual(
            environment.stdout,
            "Command:\n\ttgtadm -C 0 --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b \"/dev/shm/h10-a.img\"  --bstype bogus   \nexited with code: 22.\n"
        )
        XCTAssertEqual(environment.stderr, "tgtadm: invalid request\n")
        XCTAssertEqual(environment.daemon.targets.values.map(\.name), ["iqn.2026-11.test:fail"])
    }

    func testIgnoreErrorsGoesOn() {
        let environment = TgtAdminFixtures.environment()
        environment.files["f.conf"] = Self.failingConf
        XCTAssertEqual(environment.tgtAdmin(["--ignore-errors", "-e", "-c", "f.conf"]), 0)
        XCTAssertEqual(environment.daemon.targets[1]?.luns.count, 1)
        XCTAssertEqual(environment.daemon.targets[1]?.acl.addresses, ["ALL"])
        XCTAssertEqual(environment.daemon.targets[2]?.name, "iqn.2026-11.test:zeta")
        // "ignore-errors yes" in the file does the same.
        let fromFile = TgtAdminFixtures.environment()
        fromFile.files["f.conf"] = "ignore-errors yes\n" + Self.failingConf
        XCTAssertEqual(fromFile.tgtAdmin(["-e", "-c", "f.conf"]), 0)
        XCTAssertEqual(fromFile.daemon.targets.count, 2)
    }

    private static let failingConf = """
        <target iqn.2026-11.test:fail>
         backing-store /dev/shm/h10-a.img
         bs-type bogus
        </target>
        <target iqn.2026-11.test:zeta>
        </target>

        """

    // MARK: The configuration is checked before anything changes

    func testUnknownDirectiveIsOneErrorLineAndNothingRuns() {
        let environment = plainDaemon()
        environment.files["bad.conf"] = "<target iqn.2026-11.test:ok>\n  backing-store /dev/shm/h10-a.img\n</target>\n<target iqn.2026-11.test:bad>\n  initiator-adress 10.0.0.1\n</target>\n"
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "-e", "-c", "bad.conf"]), 1)
        XCTAssertEqual(
            environment.stderr,
            "tgt-admin: bad.conf:5: unknown directive \"initiator-adress\" in <target iqn.2026-11.test:bad>\n")
        XCTAssertEqual(environment.commands, [])
        XCTAssertEqual(environment.daemon.showTarget, TgtAdminGoldens.showPlain)
    }

    func testMissingConfigurationFile() {
        let environment = TgtAdminFixtures.environment()
        XCTAssertEqual(environment.tgtAdmin(["-e", "-c", "/nonexistent.conf"]), 2)
        XCTAssertEqual(environment.stderr, "Config file /nonexistent.conf not found. Exiting...\n")
        XCTAssertEqual(environment.tgtAdmin(["-e"]), 2)
        XCTAssertTrue(environment.stderr.hasSuffix("Config file /etc/tgt/targets.conf not found. Exiting...\n"))
    }

    func testControlPortFromTheFile() {
        let environment = TgtAdminFixtures.environment()
        environment.expectedPort = "7"
        environment.files["p.conf"] = "control-port 7\n<target iqn.2026-11.test:p>\n</target>\n"
        XCTAssertEqual(environment.tgtAdmin(["-e", "-c", "p.conf"]), 0, environment.stderr)
        XCTAssertEqual(environment.daemon.targets[1]?.name, "iqn.2026-11.test:p")
        XCTAssertEqual(environment.tgtAdmin(["-C", "9", "-e", "-c", "p.conf"]), 1)
        XCTAssertTrue(environment.stdout.hasSuffix("Multiple control-port definitions are not allowed!\nCheck your config file for errors.\n"))
    }

    // MARK: --delete, --update, --offline, --ready

    func testDeleteLeavesTargetsInUseAlone() {
        let environment = zetaInUse()
        XCTAssertEqual(environment.tgtAdmin(["-C", "102", "-p", "--delete", "ALL"]), 0)
        XCTAssertEqual(environment.stdout, "# Target with tid 2 (iqn.2026-11.test:zeta) is in use, it won't be deleted.\n")
        environment.stdout = ""
        environment.tgtAdmin(["-C", "102", "-p", "--delete", "tid=7"])
        environment.tgtAdmin(["-C", "102", "-p", "--delete", "iqn.nonexist"])
        XCTAssertEqual(
            environment.stdout,
            "# Target with tid 7 does not exist!\n# Target with name iqn.nonexist does not exist!\n")
        XCTAssertEqual(environment.tgtAdmin(["-C", "102", "--delete", "ALL"]), 0)
        XCTAssertNotNil(environment.daemon.targets[2])
    }

    /// Debian's output, except that the initiator-name rule is unbound with -Q (Debian's -I
    /// fails with "this access control rule does not exist", exit 22).
    func testForcedUpdateOfATargetInUseMatchesDebian() {
        let environment = zetaInUse()
        XCTAssertEqual(environment.tgtAdmin(["-C", "102", "-p", "--update", "tid=2", "-f", "-c", "conf3.conf"]), 0)
        let expected = TgtAdminGoldens.updateZetaForcePretend.replacing(
            "--tid 2 -I iqn.x:y\n", with: "--tid 2 -Q iqn.x:y\n")
        XCTAssertEqual(environment.stdout, expected)
    }

    func testUpdateOfATargetInUseWithoutForceDoesNothing() {
        let environment = zetaInUse()
        XCTAssertEqual(environment.tgtAdmin(["-C", "102", "--update", "ALL", "-v", "-c", "conf3.conf"]), 0)
        XCTAssertEqual(
            environment.stdout,
            "# Using conf3.conf as configuration file\n\n# default-driver not defined, defaulting to iscsi.\n\n"
                + "# Target with tid 2 (iqn.2026-11.test:zeta) is in use, it won't be updated.\n\n")
        XCTAssertEqual(environment.commands, [])
    }

    /// Without sessions --update deletes the target and creates it again from the file, same tid.
    func testUpdateRecreatesAnIdleTarget() {
        let environment = zetaInUse()
        environment.daemon.targets[2]?.nexuses = []
        environment.inUse = [:]
        XCTAssertEqual(environment.tgtAdmin(["-C", "102", "--update", "iqn.2026-11.test:zeta", "-c", "conf3.conf"]), 0)
        let zeta = environment.daemon.targets[2]
        XCTAssertEqual(zeta?.luns.map(\.lun), [0, 1, 5])
        XCTAssertEqual(zeta?.luns.last?.blockSize, 4096)
        XCTAssertEqual(zeta?.luns.map(\.readonly), [false, true, true])
        XCTAssertEqual(zeta?.acl.initiatorNames, ["iqn.x:y"])
        XCTAssertEqual(environment.commands.first, "tgtadm -C 102 --mode target --op delete --tid=2")

        XCTAssertEqual(environment.tgtAdmin(["-C", "102", "--update", "iqn.other", "-c", "conf3.conf"]), 1)
        XCTAssertTrue(
            environment.stdout.hasSuffix(
                "Target iqn.other is currently not configured\nand does not exist in the config file - can't continue!\n"))
        XCTAssertEqual(environment.tgtAdmin(["-C", "102", "--update", "tid=9", "-c", "conf3.conf"]), 1)
        XCTAssertTrue(environment.stdout.hasSuffix("There is no target with tid 9, can't continue!\n"))
    }

    func testOfflineAndReady() {
        let environment = plainDaemon()
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "-p", "--offline", "iqn.2026-11.test:rt.beta"]), 0)
        XCTAssertEqual(
            environment.stdout,
            "tgtadm -C 103 --op update --mode target --tid=2 --name=\"iqn.2026-11.test:rt.beta\" -n state -v offline\n")
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "--offline", "iqn.2026-11.test:rt.beta"]), 0)
        XCTAssertEqual(environment.daemon.targets[2]?.state, "offline")
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "--offline", "ALL"]), 0)
        XCTAssertEqual(environment.daemon.targets.values.map(\.state), ["offline", "offline", "offline"])
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "--ready", "tid=3"]), 0)
        XCTAssertEqual(environment.daemon.targets[3]?.state, "ready")
        environment.stdout = ""
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "--ready", "iqn.none"]), 1)
        XCTAssertEqual(environment.stdout, "There is no target with name \"iqn.none\", can't ready it!\n")
        XCTAssertEqual(environment.tgtAdmin(["--ready", "ALL", "--offline", "ALL"]), 1)
    }

    // MARK: --dump, --show, command line

    func testDumpAndShowGoThroughTheControlPort() {
        let environment = plainDaemon(port: "101")
        XCTAssertEqual(environment.tgtAdmin(["-C", "101", "--dump"]), 0)
        XCTAssertEqual(environment.stdout, TgtAdminGoldens.dumpPlainDebian)
        environment.stdout = ""
        XCTAssertEqual(environment.tgtAdmin(["--control-port=101", "-s"]), 0)
        XCTAssertEqual(environment.stdout, TgtAdminGoldens.showPlain)
        environment.stdout = ""
        environment.stderr = ""
        XCTAssertEqual(environment.tgtAdmin(["--dump"]), 0, "port 0: tgtadm's error, empty dump")
        XCTAssertEqual(environment.stdout, "")
        XCTAssertEqual(environment.stderr, "tgtadm: wrong control port 0\n")
        XCTAssertEqual(environment.tgtAdmin(["-s"]), 107)
        XCTAssertTrue(environment.stdout.hasSuffix("Command:\n\ttgtadm -C 0 --op show --mode target\nexited with code: 107.\n"))
    }

    func testNotRoot() {
        let environment = plainDaemon()
        environment.isRoot = false
        XCTAssertEqual(environment.tgtAdmin(["-C", "103", "--dump"]), 255)
        XCTAssertEqual(environment.stderr, "You must be root to run this program.\n")
    }

    func testUsageAndNoAction() {
        let environment = TgtAdminFixtures.environment()
        XCTAssertEqual(environment.tgtAdmin([]), 0)
        XCTAssertTrue(environment.stdout.hasPrefix("Usage:\ntgt-admin [OPTION]...\n"))
        XCTAssertTrue(environment.stdout.contains("read /etc/tgt/targets.conf and execute tgtadm commands\n"))
        environment.stdout = ""
        XCTAssertEqual(environment.tgtAdmin(["-d"]), 0)
        XCTAssertEqual(environment.stdout, "No action specified.\n")
        XCTAssertEqual(environment.stderr, "Option d is ambiguous (delete, dump)\n")
    }

    func testCommandLineFollowsGetoptLong() {
        func parse(_ arguments: [String]) -> (TgtAdminOptions, String) { TgtAdminCommandLine.parse(arguments) }
        var (options, diagnostics) = parse(["--exec", "-conf=/x.conf", "-C", "12", "--pre", "--ignore"])
        XCTAssertTrue(options.execute && options.pretend && options.ignoreErrors)
        XCTAssertEqual(options.conf, "/x.conf")
        XCTAssertEqual(options.controlPort, "12")
        XCTAssertEqual(diagnostics, "")
        (options, diagnostics) = parse(["--delete", "--force", "-pe", "-C102", "--co", "x", "--dump=1", "--update"])
        XCTAssertEqual(options.delete, "--force", "a mandatory value is the next argument, whatever it is")
        XCTAssertFalse(options.force || options.pretend || options.dump)
        XCTAssertEqual(options.update, "0")
        XCTAssertEqual(
            diagnostics,
            "Unknown option: pe\nUnknown option: C102\nOption co is ambiguous (conf, control-port)\n"
                + "Option dump does not take an argument\nOption update requires an argument\n")
        (options, _) = parse(["--", "--dump"])
        XCTAssertFalse(options.dump)
        XCTAssertFalse(options.noArguments)
        XCTAssertTrue(parse([""]).0.noArguments)
    }

    func testShellWords() {
        XCTAssertEqual(
            TgtAdminShellWords.split(#"tgtadm -C 0 --lun=5 --params vendor_id="MyCompany Inc." -b "/a b"  --bstype rdwr   "#),
            ["tgtadm", "-C", "0", "--lun=5", "--params", "vendor_id=MyCompany Inc.", "-b", "/a b", "--bstype", "rdwr"])
        XCTAssertEqual(TgtAdminShellWords.split(#"a 'b c' d\ e "f\"g""#), ["a", "b c", "d e", "f\"g"])
    }
}
