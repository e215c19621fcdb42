import SCSIProtocol
import XCTest

@testable import ISCSIAdmin

/// Target portal groups and ALUA in the one model: the pure edits, the tree, the save formats.
final class PortalGroupsALUATests: XCTestCase {
    static let iqn = "iqn.2026-12.org.swift-iscsi:tpgs"

    /// One tgtadm unit (tgt_1_1) on target 1, portals of groups 1 and 2.
    static func sample() -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.portals = [
            PortalConfiguration(host: "127.0.0.1", port: 3260), PortalConfiguration(host: "127.0.0.1", port: 3261, tag: 2),
        ]
        configuration.storageObjects = [
            StorageObjectConfiguration(name: "tgt_1_1", kind: .fileio, path: "/srv/a.img", size: 1 << 30, bsType: "rdwr")
        ]
        var target = TargetConfiguration(tid: 1, name: iqn)
        target.luns = [LUNConfiguration(lun: 1, storageObject: "tgt_1_1")]
        configuration.targets = [target]
        return configuration
    }

    func testTgtadmParametersGiveEachPortalGroupItsOwnGroup() throws {
        var model = Self.sample()
        try model.applyALUAParameter(tid: 1, lun: 1, key: "alua_state", value: "1:active")
        try model.applyALUAParameter(tid: 1, lun: 1, key: "alua_state", value: "2:standby")
        try model.applyALUAParameter(tid: 1, lun: 1, key: "alua_preferred", value: "1:1")
        let groups = try XCTUnwrap(model.storageObject(named: "tgt_1_1")?.aluaGroups)
        XCTAssertEqual(groups.map(\.name), ["default_tg_pt_gp", "tpg1", "tpg2"])
        XCTAssertEqual(groups.map(\.id), [0, 1, 2])
        XCTAssertEqual(groups.map(\.state), [.activeOptimized, .activeOptimized, .standby])
        XCTAssertEqual(groups.map(\.preferred), [false, true, false])
        let lun = try XCTUnwrap(model.target(tid: 1)?.luns.first)
        XCTAssertEqual(lun.aluaGroup(inPortalGroup: 1), "tpg1")
        XCTAssertEqual(lun.aluaGroup(inPortalGroup: 2), "tpg2")
        XCTAssertNil(lun.aluaGroup(inPortalGroup: 3))

        XCTAssertThrowsError(try model.applyALUAParameter(tid: 1, lun: 1, key: "alua_state", value: "2:sleepy"))
        XCTAssertThrowsError(try model.applyALUAParameter(tid: 1, lun: 1, key: "alua_state", value: "standby"))
        XCTAssertThrowsError(try model.applyALUAParameter(tid: 1, lun: 1, key: "alua_tg_pt_gp", value: "1:nowhere"))
        try model.applyALUAParameter(tid: 1, lun: 1, key: "alua", value: "0")
        XCTAssertNil(model.storageObject(named: "tgt_1_1")?.aluaGroups)
        XCTAssertNil(model.target(tid: 1)?.luns.first?.aluaMembership)
    }

    func testLIOGroupsAreNamedUniqueAndDeletingOneMovesItsLUNsBack() throws {
        var model = Self.sample()
        try model.applyALUAParameter(tid: 1, lun: 1, key: "alua", value: "1")
        try model.createALUAGroup(object: "tgt_1_1", name: "secondary", id: 2)
        XCTAssertThrowsError(try model.createALUAGroup(object: "tgt_1_1", name: "secondary", id: 3))
        XCTAssertThrowsError(try model.createALUAGroup(object: "tgt_1_1", name: "other", id: 2))
        XCTAssertThrowsError(try model.createALUAGroup(object: "tgt_1_1", name: "bad name", id: 4))
        try model.setLUNALUAGroup(tid: 1, lun: 1, portalGroup: 2, group: "secondary")
        try model.setALUAGroupAttribute(object: "tgt_1_1", group: "secondary", key: "alua_access_state", value: "1")
        try model.setALUAGroupAttribute(object: "tgt_1_1", group: "secondary", key: "alua_access_type", value: "1")
        XCTAssertThrowsError(try model.setALUAGroupAttribute(object: "tgt_1_1", group: "secondary", key: "tg_pt_gp_id", value: "0"))
        XCTAssertThrowsError(try model.deleteALUAGroup(object: "tgt_1_1", name: "default_tg_pt_gp"))
        let group = try XCTUnwrap(model.storageObject(named: "tgt_1_1")?.aluaGroups?.last)
        XCTAssertEqual(group.state, .activeNonOptimized)
        XCTAssertEqual(group.accessType, .implicit)
        try model.deleteALUAGroup(object: "tgt_1_1", name: "secondary")
        XCTAssertNil(model.target(tid: 1)?.luns.first?.aluaMembership)
    }

    func testTreeShowsEachTPGWithItsOwnPortalsAndTheObjectsGroups() throws {
        var model = Self.sample()
        model.targets[0].portalGroups = [1, 2]
        try model.applyALUAParameter(tid: 1, lun: 1, key: "alua_state", value: "2:standby")
        let tree = TargetCLITree(configuration: model)
        XCTAssertEqual(tree.children(of: .target(Self.iqn)).map(\.name), ["tpg1", "tpg2"])
        XCTAssertEqual(tree.children(of: .portals(TPGPath(Self.iqn, 2))).map(\.name), ["127.0.0.1:3261"])
        XCTAssertEqual(tree.summary(.target(Self.iqn)), "TPGs: 2")
        XCTAssertEqual(tree.summary(.lun(TPGPath(Self.iqn, 2), 1)), "fileio/tgt_1_1 (/srv/a.img) (tpg2)")
        XCTAssertEqual(tree.summary(.lun(TPGPath(Self.iqn, 1), 1)), "fileio/tgt_1_1 (/srv/a.img) (default_tg_pt_gp)")
        let alua = TargetCLINode.aluaGroups(group: "fileio", name: "tgt_1_1")
        XCTAssertEqual(tree.children(of: .storageObject(group: "fileio", name: "tgt_1_1")), [alua])
        XCTAssertEqual(tree.summary(.aluaGroup(group: "fileio", name: "tgt_1_1", alua: "tpg2")), "ALUA state: Standby")
        XCTAssertEqual(try tree.resolve("/iscsi/\(Self.iqn)/tpg2/luns/lun1", from: .root), .lun(TPGPath(Self.iqn, 2), 1))
        // A tgtadm target with no list of its own is served through every group with a portal.
        model.targets[0].portalGroups = nil
        XCTAssertEqual(model.portalGroups(of: model.targets[0]), [1, 2])
    }

    func testSaveconfigCarriesTPGsAndGroupsInLIOsFields() throws {
        var model = Self.sample()
        model.targets[0].portalGroups = [1, 2]
        model.storageObjects[0].bsType = nil  // a LIO object, restored by name
        try model.applyALUAParameter(tid: 1, lun: 1, key: "alua_state", value: "2:standby")
        var lio = LIOSaveConfig(model)
        lio.swift_iscsi = nil
        let reread = try LIOSaveConfig(jsonText: try lio.jsonText())
        let tpgs = try XCTUnwrap(reread.targets?.first?.tpgs)
        XCTAssertEqual(tpgs.map(\.tag), [1, 2])
        XCTAssertEqual(tpgs.map { $0.portals?.map(\.port) ?? [] }, [[3260], [3261]])
        XCTAssertEqual(tpgs.map { $0.luns?.first?.alua_tg_pt_gp_name }, ["default_tg_pt_gp", "tpg2"])
        XCTAssertEqual(reread.storage_objects?.first?.alua_tpgs?.map(\.name), ["default_tg_pt_gp", "tpg2"])
        let (steps, _) = reread.restoreSteps(existingPortals: model.portals)
        let requests = steps.map(\.request)
        XCTAssertTrue(requests.contains { $0.name == "portal_groups" && $0.value == "1,2" })
        XCTAssertTrue(requests.contains { $0.name == "alua_create" && $0.value == "tpg2:2" })
        XCTAssertTrue(requests.contains { $0.name == "alua:tpg2:alua_access_state" && $0.value == "2" })
        XCTAssertTrue(requests.contains { $0.params == "alua_tg_pt_gp=2:tpg2" })
        XCTAssertFalse(requests.contains { $0.params == "alua_tg_pt_gp=1:default_tg_pt_gp" })
    }

    func testVersion2FilesReadWithGroupOneEverywhere() throws {
        let old = """
            {"version": 2, "portals": [{"host": "127.0.0.1", "port": 3260}],
             "targets": [{"tid": 1, "name": "\(Self.iqn)", "luns": [{"lun": 1, "storageObject": "x", "blockSize": 512, "parameters": []}], "access": []}]}
            """
        let model = try DaemonConfiguration(jsonText: old)
        XCTAssertEqual(model.version, DaemonConfiguration.currentVersion)
        XCTAssertEqual(model.portals.first?.tag, 1)
        XCTAssertNil(model.targets.first?.portalGroups)
        XCTAssertNil(model.targets.first?.luns.first?.aluaMembership)
        let again = try DaemonConfiguration(jsonText: try model.jsonText())
        XCTAssertEqual(again, model)
    }
}
