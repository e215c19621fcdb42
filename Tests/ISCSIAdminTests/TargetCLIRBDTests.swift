import XCTest

@testable import ISCSIAdmin

/// ceph-iscsi's way of making an RBD LU through targetcli, and LIO's saveconfig of it.
final class TargetCLIRBDTests: XCTestCase {
    func testCreateSendsPathAndOptionsOfTheConfigString() throws {
        let daemon = TargetCLITests.FakeDaemon()
        let (shell, output) = TargetCLITests.makeShell(daemon)
        try shell.execute("/backstores/user:rbd create name=disk_1 size=1G cfgstring=rbd/disk_1;conf=/c/ceph.conf;id=iscsi")
        let request = try XCTUnwrap(daemon.requests.first)
        XCTAssertEqual(request.mode, .storageObject)
        XCTAssertEqual(request.bsType, "rbd")
        XCTAssertEqual(request.storageObject, "disk_1")
        XCTAssertEqual(request.backingStore, "rbd/disk_1")
        XCTAssertEqual(request.bsOpts, "conf=/c/ceph.conf;id=iscsi")
        XCTAssertEqual(daemon.requests.last?.name, "alua_create")
        XCTAssertEqual(output(), "Created user-backed storage object disk_1 size 1073741824.\n")
        XCTAssertThrowsError(try shell.execute("/backstores/user:rbd create name=d2 size=1G")) { error in
            XCTAssertEqual((error as? TargetCLIError)?.message, "Missing required parameters name, size, cfgstring")
        }
    }

    func testSaveconfigWritesATCMUObjectAndRestoresIt() throws {
        var configuration = DaemonConfiguration()
        var object = StorageObjectConfiguration(name: "disk_1", kind: .rbd, path: "rbd/disk_1", size: 1 << 30)
        object.bsOptions = "conf=/c/ceph.conf"
        configuration.storageObjects = [object]
        var target = TargetConfiguration(tid: 1, name: TargetCLITests.iqn)
        target.luns = [LUNConfiguration(lun: 1, storageObject: "disk_1")]
        configuration.targets = [target]
        XCTAssertEqual(TargetCLITree(configuration: configuration).summary(.storageObject(group: "user:rbd", name: "disk_1")),
            "rbd/rbd/disk_1;conf=/c/ceph.conf (1.0GiB) activated")

        let saved = LIOSaveConfig(configuration)
        let entry = try XCTUnwrap(saved.storage_objects?.first)
        XCTAssertEqual([entry.plugin, entry.config], ["user", "rbd/rbd/disk_1;conf=/c/ceph.conf"])
        let text = try saved.jsonText()
        XCTAssertTrue(text.contains("\"storage_object\" : \"/backstores/user:rbd/disk_1\""), text)

        let (steps, warnings) = try LIOSaveConfig(jsonText: text).restoreSteps(existingPortals: [])
        XCTAssertEqual(warnings, [])
        let create = try XCTUnwrap(steps.first { $0.request.mode == .storageObject && $0.request.op == .new }?.request)
        XCTAssertEqual([create.bsType, create.backingStore, create.bsOpts], ["rbd", "rbd/disk_1", "conf=/c/ceph.conf"])
        XCTAssertEqual(steps.first { $0.request.mode == .logicalUnit }?.request.storageObject, "disk_1")
    }

    func testTgtMadeRBDUnitReplaysWithItsOptions() {
        var configuration = DaemonConfiguration()
        configuration.storageObjects = [
            StorageObjectConfiguration(
                name: "t1l1", kind: .rbd, path: "rbd/img", size: 1 << 30, bsType: "rbd", bsOptions: "conf=/c/ceph.conf;id=admin")
        ]
        var target = TargetConfiguration(tid: 1, name: "iqn.2026-12.test:rbd")
        target.luns = [LUNConfiguration(lun: 1, storageObject: "t1l1")]
        configuration.targets = [target]
        let lun = configuration.replayRequests().first { $0.mode == .logicalUnit && $0.op == .new }
        XCTAssertEqual([lun?.bsType, lun?.backingStore, lun?.bsOpts], ["rbd", "rbd/img", "conf=/c/ceph.conf;id=admin"])
    }
}
