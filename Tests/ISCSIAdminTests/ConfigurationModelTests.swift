import XCTest

@testable import ISCSIAdmin

/// The one configuration model: tgt's and LIO's names for the same things edit the same fields.
final class ConfigurationModelTests: XCTestCase {
    private func model() -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.targets = [TargetConfiguration(tid: 1, name: "iqn.2026-12.test:a"), TargetConfiguration(tid: 2, name: "iqn.2026-12.test:b")]
        return configuration
    }

    func testAllRuleIsGenerateNodeACLs() {
        var configuration = model()
        XCTAssertTrue(configuration.bind(.address("ALL"), tid: 1))
        XCTAssertTrue(configuration.targets[0].generateNodeACLs)
        XCTAssertFalse(configuration.bind(.address("all"), tid: 1), "ALL is bound once, whatever its case")
        configuration.targets[0].generateNodeACLs = false
        XCTAssertEqual(configuration.targets[0].addressRules, [])
        configuration.targets[0].generateNodeACLs = true
        XCTAssertEqual(configuration.targets[0].addressRules, ["ALL"])
    }

    func testACLKeepsBindOrder() {
        var configuration = model()
        configuration.bind(.initiatorName("iqn.2026-12.test:h1"), tid: 1)
        configuration.bind(.address("10.0.0.0/8"), tid: 1)
        configuration.bind(.initiatorName("iqn.2026-12.test:h2"), tid: 1)
        XCTAssertEqual(configuration.targets[0].access.map(\.value), ["iqn.2026-12.test:h1", "10.0.0.0/8", "iqn.2026-12.test:h2"])
        let binds = configuration.replayRequests().filter { $0.mode == .target && $0.op == .bind }
        XCTAssertEqual(binds.map { $0.initiatorName ?? $0.initiatorAddress ?? "" }, ["iqn.2026-12.test:h1", "10.0.0.0/8", "iqn.2026-12.test:h2"])
        XCTAssertTrue(configuration.unbind(kind: .initiatorName, value: "IQN.2026-12.TEST:H1", tid: 1))
        XCTAssertFalse(configuration.unbind(kind: .initiatorName, value: "iqn.2026-12.test:h1", tid: 1))
    }

    func testTPGCredentialsAreTheBoundAccounts() throws {
        var configuration = model()
        try configuration.updateTPGCredentials(tid: 1, CHAPCredentials(userID: "alice", password: "alicesecret1"))
        XCTAssertEqual(configuration.accounts, [AccountConfiguration(user: "alice", password: "alicesecret1")])
        XCTAssertEqual(configuration.targets[0].incomingUsers, ["alice"])
        // tgtadm sees the same thing LIO set, and the other way round.
        try configuration.addAccount(user: "bob", password: "bobsecret123")
        try configuration.bindAccount(user: "bob", tid: 1, outgoing: true)
        XCTAssertEqual(
            configuration.tpgCredentials(of: configuration.targets[0]),
            CHAPCredentials(userID: "alice", password: "alicesecret1", mutualUserID: "bob", mutualPassword: "bobsecret123"))
        // A new password for an account bound only here changes it; clearing unbinds.
        try configuration.updateTPGCredentials(tid: 1, CHAPCredentials(password: "alicesecret2"))
        XCTAssertEqual(configuration.account(user: "alice")?.password, "alicesecret2")
        try configuration.updateTPGCredentials(tid: 1, CHAPCredentials(mutualUserID: "", mutualPassword: ""))
        XCTAssertNil(configuration.targets[0].outgoingUser)
        XCTAssertNotNil(configuration.account(user: "bob"), "accounts outlive their bindings, as in tgt")
    }

    func testTPGCredentialsNeverChangeAnotherTargetsLogin() throws {
        var configuration = model()
        try configuration.addAccount(user: "shared", password: "sharedsecret1")
        try configuration.bindAccount(user: "shared", tid: 2, outgoing: false)
        XCTAssertThrowsError(try configuration.updateTPGCredentials(tid: 1, CHAPCredentials(userID: "shared", password: "other12345678"))) {
            XCTAssertTrue(($0 as? AdminRefusal)?.message.contains("bound to other targets") == true, "\($0)")
        }
        XCTAssertEqual(configuration.account(user: "shared")?.password, "sharedsecret1")
        // The same password is the same account: it is simply bound here too.
        try configuration.updateTPGCredentials(tid: 1, CHAPCredentials(userID: "shared", password: "sharedsecret1"))
        XCTAssertEqual(configuration.targets[0].incomingUsers, ["shared"])
    }

    func testHalfACredentialIsRefusedWithTheReason() {
        var configuration = model()
        XCTAssertThrowsError(try configuration.updateTPGCredentials(tid: 1, CHAPCredentials(userID: "alice"))) {
            XCTAssertEqual(
                ($0 as? AdminRefusal)?.message,
                "password is not set: the TPG's credentials are a tgt account, so give userid and its password together")
        }
        XCTAssertTrue(configuration.accounts.isEmpty)
    }

    func testRemovingAnAccountUnbindsItEverywhere() throws {
        var configuration = model()
        try configuration.addAccount(user: "u", password: "usecret123456")
        try configuration.bindAccount(user: "u", tid: 0, outgoing: false)
        try configuration.bindAccount(user: "u", tid: 2, outgoing: true)
        XCTAssertEqual(try configuration.removeAccount(user: "u"), [0, 2])
        XCTAssertTrue(configuration.discoveryIncomingUsers.isEmpty)
        XCTAssertNil(configuration.targets[1].outgoingUser)
    }

    /// A version-1 state file kept LIO's settings apart; they load as the one model's fields.
    func testVersionOneFileMigrates() throws {
        let old = #"""
            {"version":1,"portals":[],"discoveryIncomingUsers":[],"storageObjects":[],
             "accounts":[{"user":"tgtuser","password":"tgtsecret123"}],
             "targets":[{"tid":1,"name":"iqn.2026-12.test:a","luns":[],"addressRules":["10.0.0.0/8"],
               "nodeACLs":[{"initiatorName":"iqn.2026-12.test:h","auth":{"userID":"n","password":"npassword123"}}],
               "incomingUsers":["tgtuser"],"generateNodeACLs":true,
               "tpgAuth":{"userID":"lio","password":"liosecret123","mutualUserID":"back","mutualPassword":"backsecret12"},
               "state":"ready"}]}
            """#
        let configuration = try DaemonConfiguration(jsonText: old)
        XCTAssertEqual(configuration.version, DaemonConfiguration.currentVersion)
        let target = configuration.targets[0]
        XCTAssertEqual(target.addressRules, ["10.0.0.0/8", "ALL"])
        XCTAssertEqual(target.nodeACLs.first?.auth.userID, "n")
        XCTAssertEqual(target.incomingUsers, ["lio", "tgtuser"])
        XCTAssertEqual(target.outgoingUser, "back")
        XCTAssertEqual(configuration.account(user: "lio")?.password, "liosecret123")
        // And it saves in the new form, which reads back the same.
        XCTAssertEqual(try DaemonConfiguration(jsonText: try configuration.jsonText()), configuration)
    }

    // MARK: LIO's saveconfig.json

    private func tgtMadeModel() -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.accounts = [
            AccountConfiguration(user: "alice", password: "alicesecret1"), AccountConfiguration(user: "carol", password: "carolsecret1"),
        ]
        configuration.storageObjects = [
            StorageObjectConfiguration(name: "tgt_1_1", kind: .fileio, path: "/srv/a.img", size: 1 << 20, bsType: "rdwr", openFlags: "sync")
        ]
        var target = TargetConfiguration(tid: 3, name: "iqn.2026-12.test:a")
        target.luns = [LUNConfiguration(lun: 1, storageObject: "tgt_1_1", parameters: ["thin_provisioning=1", "scsi_sn=SN1,readonly=1"])]
        target.access = [.address("ALL"), .address("192.168.0.0/16")]
        target.incomingUsers = ["alice", "carol"]
        configuration.targets = [target]
        return configuration
    }

    func testSaveconfigSaysInLIOsWordsWhatLIOCanSay() throws {
        let saved = try LIOSaveConfig(jsonText: try LIOSaveConfig(tgtMadeModel()).jsonText())
        let object = try XCTUnwrap(saved.storage_objects?.first)
        XCTAssertEqual(object.write_back, false, "bsoflags sync is write-thru")
        XCTAssertEqual(object.wwn, "SN1")
        XCTAssertEqual(object.attributes?["emulate_tpu"], .int(1))
        let tpg = try XCTUnwrap(saved.targets?.first?.tpgs?.first)
        XCTAssertEqual(tpg.attributes?["generate_node_acls"], .int(1))
        XCTAssertEqual(tpg.attributes?["authentication"], .int(1))
        XCTAssertEqual(tpg.chap_userid, "alice")
        XCTAssertEqual(tpg.chap_password, "alicesecret1")
        // The rest rides along, and a file nobody edited restores exactly.
        XCTAssertEqual(saved.embeddedConfiguration, tgtMadeModel())
        let (steps, warnings) = saved.restoreSteps(existingPortals: [], exact: true)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(steps.map(\.request), tgtMadeModel().replayRequests())
    }

    func testHandEditedSaveconfigRestoresFromLIOsFields() throws {
        var saved = LIOSaveConfig(tgtMadeModel())
        saved.targets?[0].tpgs?[0].attributes?["generate_node_acls"] = .int(0)
        XCTAssertNil(saved.embeddedConfiguration, "the edit wins over the embedded model")
        let (steps, _) = saved.restoreSteps(existingPortals: [], exact: true)
        let requests = steps.map(\.request)
        XCTAssertTrue(requests.contains { $0.mode == .tpg && $0.name == "generate_node_acls" && $0.value == "0" })
        XCTAssertTrue(requests.contains { $0.mode == .tpg && $0.user == "alice" && $0.password == "alicesecret1" })
        // Thin provisioning is the object's emulate_tpu, as in LIO.
        let object = try XCTUnwrap(requests.first { $0.mode == .storageObject })
        XCTAssertEqual(object.params, "write_back=0,wwn=SN1,emulate_tpu=1")
    }

    func testTargetcliAndSaveconfigAgreeOnWriteBack() throws {
        var configuration = tgtMadeModel()
        configuration.storageObjects.append(StorageObjectConfiguration(name: "blk", kind: .block, path: "/dev/loop0", size: 1 << 20))
        let tree = TargetCLITree(configuration: configuration)
        let saved = LIOSaveConfig(configuration)
        for object in configuration.storageObjects {
            let group = try XCTUnwrap(TargetCLITree.group(of: object))
            let summary = tree.summary(.storageObject(group: group, name: object.name))
            let entry = try XCTUnwrap(saved.storage_objects?.first { $0.name == object.name })
            XCTAssertEqual(summary.contains("write-back"), entry.write_back, "\(object.name): \(summary)")
        }
    }
}
