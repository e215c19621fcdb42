import XCTest

@testable import ISCSIAdmin

final class AdminWireTests: XCTestCase {
    func testRequestRoundTripsWithEveryField() throws {
        let request = AdminRequest(
            lld: "iscsi", mode: .logicalUnit, op: .update, tid: 7, lun: .max - 1, sid: 1 << 60, cid: 9, targetName: "iqn.t",
            backingStore: "/dev/shm/x", bsType: "rdwr", bsOpts: "o", bsOFlags: "sync", blockSize: "4096", deviceType: "cd",
            params: "readonly=1", initiatorAddress: "ALL", initiatorName: "iqn.i", user: "u", password: "p", outgoing: true,
            force: true, name: "n", value: "v")
        XCTAssertEqual(try AdminWire.decode(AdminRequest.self, from: AdminWire.encode(request)), request)
        let minimal = AdminRequest(mode: .system, op: .show)
        XCTAssertEqual(try AdminWire.decode(AdminRequest.self, from: AdminWire.encode(minimal)), minimal)
    }

    func testModesAndOperationsUseTgtadmsNames() throws {
        let json = String(decoding: try AdminWire.encode(AdminRequest(mode: .logicalUnit, op: .stat)), as: UTF8.self)
        XCTAssertTrue(json.contains("\"logicalunit\""), json)
        XCTAssertTrue(json.contains("\"stat\""), json)
        XCTAssertEqual(AdminMode(tgtadmName: "lu"), .logicalUnit)
        XCTAssertEqual(AdminMode(tgtadmName: "conn"), .connection)
        XCTAssertEqual(AdminMode(tgtadmName: "sess"), .session)
        XCTAssertEqual(AdminMode(tgtadmName: "pt"), .portal)
        XCTAssertNil(AdminMode(tgtadmName: "logical"))
    }

    func testResponseAndSnapshotRoundTrip() throws {
        let response = AdminResponse(exitCode: 22, message: "can't find the target", output: "x\n")
        XCTAssertEqual(try AdminWire.decode(AdminResponse.self, from: AdminWire.encode(response)), response)
        let snapshot = TargetSnapshot(
            tid: 1, name: "iqn.t",
            nexuses: [.init(id: 1, initiatorName: "iqn.i", alias: "a", connections: [.init(cid: 0, address: "::1")])],
            luns: [.init(lun: 1, scsiID: "id", scsiSN: "sn", sizeBytes: 4096, bsType: nil, bsPath: nil)],
            accounts: .init(incomingUsers: ["u"], outgoingUser: "o"), acl: .init(addresses: ["ALL"], initiatorNames: ["iqn.i"]))
        XCTAssertEqual(try AdminWire.decode([TargetSnapshot].self, from: AdminWire.encode([snapshot])), [snapshot])
    }

    func testErrorsCarryTgtsNumbersMessagesAndExitCode() {
        XCTAssertEqual(TgtadmError.allCases.count, 24)
        XCTAssertEqual(TgtadmError.noTarget.rawValue, 4)
        XCTAssertEqual(TgtadmError.invalidRequest.rawValue, 17)
        XCTAssertEqual(TgtadmError.preventRemoval.rawValue, 24)
        XCTAssertEqual(TgtadmError.logicalUnitExists.message, "this logical unit number already exists")
        XCTAssertEqual(TgtadmError.outgoingAccountExists.message, "this target already has an outgoing account")
        XCTAssertEqual(Set(TgtadmError.allCases.map(\.message)).count, 24, "every error has its own text")
        XCTAssertEqual(
            AdminResponse.failure(.noTarget), AdminResponse(exitCode: 22, message: "can't find the target", output: ""))
    }
}
