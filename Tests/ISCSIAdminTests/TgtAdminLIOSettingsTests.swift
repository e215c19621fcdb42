import XCTest

@testable import ISCSIAdmin

/// What tgt-admin adds to tgt's targets.conf so that a configuration made with targetcli comes
/// back from `--dump` and `-e` with the same logins.
final class TgtAdminLIOSettingsTests: XCTestCase {
    private func pretend(_ conf: String) -> FakeTgtAdminEnvironment {
        let environment = TgtAdminFixtures.environment()
        environment.expectedPort = "7"
        environment.files["t.conf"] = conf
        XCTAssertEqual(environment.tgtAdmin(["-C", "7", "-p", "-e", "-c", "t.conf"]), 0, environment.stderr)
        return environment
    }

    func testInitiatorNameRulesAreNotOpenedToAll() {
        let environment = pretend("<target iqn.2026-12.test:a>\n\tinitiator-name iqn.2026-12.test:h\n</target>\n")
        XCTAssertTrue(environment.stdout.contains("--op bind --mode target --tid 1 -Q iqn.2026-12.test:h"))
        XCTAssertFalse(environment.stdout.contains("-I ALL"), environment.stdout)
    }

    func testEmptyACLStaysEmpty() {
        let environment = pretend("<target iqn.2026-12.test:a>\n\tallow-all no\n</target>\n")
        XCTAssertFalse(environment.stdout.contains("-I ALL"), environment.stdout)
        XCTAssertTrue(pretend("<target iqn.2026-12.test:a>\n</target>\n").stdout.contains("-I ALL"), "tgt-admin's default stays")
    }

    func testNodeACLCHAPAndAuthenticationBecomeTgtadmCommands() {
        let environment = pretend(
            """
            <target iqn.2026-12.test:a>
            \tinitiator-name iqn.2026-12.test:h
            \tinitiator-incominguser iqn.2026-12.test:h hostuser hostsecret12
            \tinitiator-outgoinguser iqn.2026-12.test:h targetuser targetsecret
            \tauthentication 1
            </target>

            """)
        let lines = environment.stdout.split(separator: "\n").map(String.init)
        let bind = lines.firstIndex { $0.contains("-Q iqn.2026-12.test:h") && $0.contains("--mode target") }
        let incoming = lines.firstIndex {
            $0.contains("--op update --mode nodeacl --tid 1 -Q iqn.2026-12.test:h --user=hostuser --password=hostsecret12")
                && !$0.contains("--outgoing")
        }
        let outgoing = lines.firstIndex { $0.hasSuffix("--user=targetuser --password=targetsecret --outgoing") }
        XCTAssertNotNil(bind)
        XCTAssertNotNil(incoming, environment.stdout)
        XCTAssertNotNil(outgoing, environment.stdout)
        XCTAssertLessThan(bind ?? 0, incoming ?? 0, "the ACL exists before its CHAP is set")
        XCTAssertTrue(lines.contains { $0.hasSuffix("--op update --mode tpg --tid 1 --name authentication --value 1") })
    }

    func testCredentialsForAMissingRuleAreRefused() {
        let environment = TgtAdminFixtures.environment()
        environment.expectedPort = "7"
        environment.files["t.conf"] = "<target iqn.2026-12.test:a>\n\tinitiator-incominguser iqn.2026-12.test:h u secret123456\n</target>\n"
        XCTAssertNotEqual(environment.tgtAdmin(["-C", "7", "-p", "-e", "-c", "t.conf"]), 0)
        XCTAssertTrue(environment.stdout.contains("no initiator-name rule"), environment.stdout)
    }

    func testTgtadmSpellsNodeACLsAndTPGAttributes() throws {
        let mutual = try TgtadmCommandLine.parse(
            ["--op", "update", "--mode", "nodeacl", "--tid", "1", "-Q", "iqn.2026-12.test:h", "--user", "u", "--password", "p", "--outgoing"])
        guard case .send(let request, _) = mutual else { return XCTFail() }
        XCTAssertEqual(request.mode, .nodeACL)
        XCTAssertEqual(request.mutualUser, "u")
        XCTAssertEqual(request.mutualPassword, "p")
        XCTAssertNil(request.user)
        XCTAssertThrowsError(try TgtadmCommandLine.parse(["--op", "update", "--mode", "nodeacl", "--tid", "1", "-Q", "iqn.2026-12.test:h"]))
        guard case .send(let tpg, _) = try TgtadmCommandLine.parse(
            ["--op", "update", "--mode", "tpg", "--tid", "1", "--name", "authentication", "--value", "0"])
        else { return XCTFail() }
        XCTAssertEqual(tpg.mode, .tpg)
        XCTAssertEqual(tpg.value, "0")
    }

    func testDumpWithTheModelCarriesSecretsAndLIOSettings() {
        var model = DaemonConfiguration()
        model.accounts = [AccountConfiguration(user: "alice", password: "alicesecret1"), AccountConfiguration(user: "disc", password: "discsecret12")]
        model.discoveryIncomingUsers = ["disc"]
        var target = TargetConfiguration(tid: 1, name: "iqn.2026-12.test:a")
        target.access = [.initiatorName("iqn.2026-12.test:h", auth: CHAPCredentials(userID: "hu", password: "hostsecret12"))]
        target.incomingUsers = ["alice"]
        target.authentication = false
        model.targets = [target]
        var empty = TargetConfiguration(tid: 2, name: "iqn.2026-12.test:b")
        empty.access = []
        model.targets.append(empty)
        let shown = TgtAdminShownTarget.parse(
                TargetShowFormatter.format([
                    TargetSnapshot(
                        tid: 1, name: "iqn.2026-12.test:a", luns: [], accounts: .init(incomingUsers: ["alice"]),
                        acl: .init(initiatorNames: ["iqn.2026-12.test:h"])),
                    TargetSnapshot(tid: 2, name: "iqn.2026-12.test:b", luns: []),
                ]))
        let text = TgtAdminDump.render(shown, model: model)
        XCTAssertTrue(text.contains("incomingdiscoveryuser disc discsecret12\n"), text)
        XCTAssertTrue(text.contains("\tincominguser alice alicesecret1\n"), text)
        XCTAssertTrue(text.contains("\tinitiator-incominguser iqn.2026-12.test:h hu hostsecret12\n"), text)
        XCTAssertTrue(text.contains("\tauthentication 0\n"), text)
        XCTAssertTrue(text.contains("<target iqn.2026-12.test:b>\n\tallow-all no\n"), text)
        XCTAssertFalse(text.contains(TgtAdminDump.passwordPlaceholder))
        // Without the model (Debian's tgtd), Debian's dump.
        XCTAssertTrue(TgtAdminDump.render(shown).contains("incominguser alice \(TgtAdminDump.passwordPlaceholder)"))
    }
}
