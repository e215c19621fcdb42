import SCSIProtocol
import XCTest

@testable import SCSITarget

final class UnitAttentionTests: XCTestCase {
    let tur: [UInt8] = [SCSIOpcode.testUnitReady]
    let requestSense: [UInt8] = [SCSIOpcode.requestSense, 0, 0, 0, 252, 0]

    func testPowerOnOncePerUnitAndNexus() throws {
        let harness = try Harness()
        harness.ready(lun: 1)
        assertGood(harness.run(tur))
        harness.ready(lun: 0)
        harness.ready(lun: 1, nexus: Harness.nexusB)
        assertGood(harness.run(tur, nexus: Harness.nexusB))
    }

    func testInquiryAndReportLUNsLeaveItPending() throws {
        let harness = try Harness()
        assertGood(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 96, 0]))
        assertGood(harness.run([SCSIOpcode.reportLUNs, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]))
        harness.ready()
    }

    func testRequestSenseReportsAndClears() throws {
        let harness = try Harness()
        XCTAssertEqual(assertGood(harness.run(requestSense)), hex("700006000000000a00000000290000000000"))
        XCTAssertEqual(assertGood(harness.run(requestSense)), hex("700000000000000a00000000000000000000"))
        assertGood(harness.run(tur))
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.requestSense, 0, 0, 0, 8, 0])).count, 8)
    }

    func testAnyOtherCommandConsumesIt() throws {
        let harness = try Harness()
        assertCheck(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0]), .unitAttention, .powerOnResetOrBusDeviceReset)
        assertCheck(harness.run([0xFF]), .illegalRequest, .invalidCommandOperationCode)
    }

    func testLogicalUnitReset() throws {
        let harness = try Harness()
        harness.ready()
        harness.ready(nexus: Harness.nexusB)
        harness.ready(lun: 0)
        XCTAssertTrue(harness.device.logicalUnitReset(1, by: Harness.nexusA))
        XCTAssertFalse(harness.device.logicalUnitReset(7, by: Harness.nexusA))
        assertCheck(harness.run(tur), .unitAttention, .busDeviceResetFunctionOccurred)
        assertCheck(harness.run(tur, nexus: Harness.nexusB), .unitAttention, .busDeviceResetFunctionOccurred)
        assertGood(harness.run(tur, lun: 0), "other units are untouched")
    }

    func testTargetResetResetsEveryUnit() throws {
        let harness = try Harness()
        harness.ready()
        harness.ready(lun: 0)
        harness.device.targetReset(by: Harness.nexusB)
        assertCheck(harness.run(tur), .unitAttention, .busDeviceResetFunctionOccurred)
        assertCheck(harness.run(tur, lun: 0), .unitAttention, .busDeviceResetFunctionOccurred)
    }

    func testResetSupersedesQueuedAttentions() throws {
        let harness = try Harness()
        harness.ready()
        harness.store.resize(to: 2 << 30)
        harness.device.capacityDidChange(1)
        _ = harness.device.logicalUnitReset(1, by: Harness.nexusA)
        assertCheck(harness.run(tur), .unitAttention, .busDeviceResetFunctionOccurred)
        assertGood(harness.run(tur))
    }

    func testNexusLossForgetsTheNexus() throws {
        let harness = try Harness()
        harness.ready()
        harness.device.nexusLost(Harness.nexusA)
        harness.ready()
    }

    func testInventoryChangesAreAnnounced() throws {
        let harness = try Harness()
        harness.ready()
        harness.ready(lun: 0)
        try harness.device.addLogicalUnit(2, backstore: TestMemoryStore(size: 1 << 20))
        assertCheck(harness.run(tur), .unitAttention, .reportedLUNsDataHasChanged)
        // REPORT LUNS clears it on every unit for this nexus.
        assertGood(harness.run([SCSIOpcode.reportLUNs, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], lun: 1))
        assertGood(harness.run(tur, lun: 0))
        _ = try harness.device.removeLogicalUnit(2)
        assertCheck(harness.run(tur, lun: 0), .unitAttention, .reportedLUNsDataHasChanged)
    }
}

final class ReservationTests: XCTestCase {
    let reserve6: [UInt8] = [SCSIOpcode.reserve6, 0, 0, 0, 0, 0]
    let release6: [UInt8] = [SCSIOpcode.release6, 0, 0, 0, 0, 0]
    let read10: [UInt8] = [SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0]

    func readyBoth() throws -> Harness {
        let harness = try Harness()
        harness.ready()
        harness.ready(nexus: Harness.nexusB)
        return harness
    }

    /// libiscsi's Reserve6 2Initiators.
    func testHolderWorksOthersConflict() throws {
        let harness = try readyBoth()
        let b = Harness.nexusB
        assertGood(harness.run(reserve6))
        assertGood(harness.run(reserve6), "reserving again is fine")
        assertGood(harness.run(read10))
        XCTAssertEqual(harness.run(reserve6, nexus: b).status, .reservationConflict)
        for cdb: [UInt8] in [
            read10, [SCSIOpcode.testUnitReady], [SCSIOpcode.modeSense6, 0, 0x3F, 0, 255, 0],
            [SCSIOpcode.readCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [SCSIOpcode.preventAllowMediumRemoval, 0, 0, 0, 1, 0],
        ] {
            XCTAssertEqual(harness.run(cdb, nexus: b).status, .reservationConflict, "opcode \(cdb[0])")
        }
        for cdb: [UInt8] in [
            [SCSIOpcode.inquiry, 0, 0, 0, 96, 0], [SCSIOpcode.reportLUNs, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
            [SCSIOpcode.requestSense, 0, 0, 0, 18, 0], [SCSIOpcode.preventAllowMediumRemoval, 0, 0, 0, 0, 0],
            [SCSIOpcode.maintenanceIn, 0x0C, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], release6,
        ] {
            assertGood(harness.run(cdb, nexus: b))
        }
        XCTAssertEqual(harness.run(read10, nexus: b).status, .reservationConflict, "B's RELEASE did nothing")
        assertGood(harness.run(release6))
        assertGood(harness.run([SCSIOpcode.reserve10, 0, 0, 0, 0, 0, 0, 0, 0, 0], nexus: b))
        XCTAssertEqual(harness.run(read10).status, .reservationConflict)
        XCTAssertEqual(
            harness.run([SCSIOpcode.persistentReserveOut, 6, 0, 0, 0, 0, 0, 0, 24, 0], dataOut: [UInt8](repeating: 0, count: 24))
                .status, .reservationConflict)
        assertGood(harness.run([SCSIOpcode.release10, 0, 0, 0, 0, 0, 0, 0, 0, 0], nexus: b))
        assertGood(harness.run(read10))
    }

    func testOtherUnitsAreNotReserved() throws {
        let harness = try readyBoth()
        assertGood(harness.run(reserve6))
        harness.ready(lun: 0, nexus: Harness.nexusB)
        assertGood(harness.run([SCSIOpcode.testUnitReady], lun: 0, nexus: Harness.nexusB))
    }

    func testNexusLossAndResetsRelease() throws {
        let harness = try readyBoth()
        assertGood(harness.run(reserve6))
        harness.device.nexusLost(Harness.nexusA)
        assertGood(harness.run(reserve6, nexus: Harness.nexusB))
        XCTAssertTrue(harness.device.logicalUnitReset(1, by: Harness.nexusA))
        assertCheck(harness.run(reserve6), .unitAttention, .powerOnResetOrBusDeviceReset)
        assertGood(harness.run(reserve6))
        harness.device.targetReset(by: Harness.nexusB)
        assertCheck(harness.run(reserve6, nexus: Harness.nexusB), .unitAttention, .busDeviceResetFunctionOccurred)
        assertGood(harness.run(reserve6, nexus: Harness.nexusB))
    }

    func testThirdPartyAndLongIDAreRefused() throws {
        let harness = try readyBoth()
        assertCheck(harness.run([SCSIOpcode.reserve6, 0x10, 0, 0, 0, 0]), .illegalRequest, .invalidFieldInCDB)
        assertCheck(harness.run([SCSIOpcode.reserve10, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]), .illegalRequest, .invalidFieldInCDB)
        assertCheck(harness.run([SCSIOpcode.release10, 0x10, 0, 0, 0, 0, 0, 0, 0, 0]), .illegalRequest, .invalidFieldInCDB)
    }
}
