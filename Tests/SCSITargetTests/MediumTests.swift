import SCSIProtocol
import XCTest

@testable import SCSITarget

/// START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL, as libiscsi's StartStopUnit, PreventAllow
/// and NoMedia suites drive them on a removable unit.
final class MediumTests: XCTestCase {
    let tur: [UInt8] = [SCSIOpcode.testUnitReady]
    let eject: [UInt8] = [SCSIOpcode.startStopUnit, 0, 0, 0, 0x02, 0]
    let load: [UInt8] = [SCSIOpcode.startStopUnit, 0, 0, 0, 0x03, 0]
    let prevent: [UInt8] = [SCSIOpcode.preventAllowMediumRemoval, 0, 0, 0, 1, 0]
    let allow: [UInt8] = [SCSIOpcode.preventAllowMediumRemoval, 0, 0, 0, 0, 0]

    func removable() throws -> Harness {
        let harness = try Harness(options: LogicalUnitOptions(removable: true))
        harness.ready()
        return harness
    }

    func testEjectAndLoad() throws {
        let harness = try removable()
        assertGood(harness.run(eject))
        XCTAssertFalse(harness.device.logicalUnits[1].online)
        assertCheck(harness.run(tur), .notReady, .mediumNotPresent)
        for cdb: [UInt8] in [
            [SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0], [SCSIOpcode.readCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [SCSIOpcode.synchronizeCache10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [SCSIOpcode.verify16, 0] + be(0, 8) + be(1, 4) + [0, 0],
            [SCSIOpcode.writeSame16, 1] + be(0, 8) + be(1, 4) + [0, 0],
        ] {
            assertCheck(harness.run(cdb), .notReady, .mediumNotPresent)
        }
        assertGood(harness.run([SCSIOpcode.modeSense6, 0, 0x3F, 0, 255, 0]))
        assertGood(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 96, 0]))
        assertGood(harness.run(load))
        assertGood(harness.run(tur))
    }

    func testPowerConditionsAndNoLoadEjectChangeNothing() throws {
        let harness = try removable()
        for control: UInt8 in [0x00, 0x01, 0x12, 0x72, 0xF2] {
            assertGood(harness.run([SCSIOpcode.startStopUnit, 1, 0, 0, control, 0]))
            assertGood(harness.run(tur))
        }
        let fixed = try Harness()
        fixed.ready()
        assertGood(fixed.run(eject))
        assertGood(fixed.run(tur), "a fixed medium stays")
    }

    func testPreventionBlocksEjectAndLoadForEveryNexus() throws {
        let harness = try removable()
        harness.ready(nexus: Harness.nexusB)
        assertGood(harness.run(prevent))
        XCTAssertTrue(harness.device.logicalUnits[1].preventRemoval)
        assertCheck(harness.run(eject), .illegalRequest, .mediumRemovalPrevented)
        assertCheck(harness.run(eject, nexus: Harness.nexusB), .illegalRequest, .mediumRemovalPrevented)
        assertGood(harness.run(tur))
        assertGood(harness.run(allow))
        assertGood(harness.run(eject))
        assertGood(harness.run(prevent))
        assertCheck(harness.run(load), .illegalRequest, .mediumRemovalPrevented)
        assertGood(harness.run(allow))
        assertGood(harness.run(load))
    }

    func testResetsAndNexusLossLiftPrevention() throws {
        let harness = try removable()
        assertGood(harness.run(prevent))
        XCTAssertTrue(harness.device.logicalUnitReset(1, by: Harness.nexusA))
        assertCheck(harness.run(eject), .unitAttention, .busDeviceResetFunctionOccurred)
        assertGood(harness.run(eject))
        assertGood(harness.run(load))

        assertGood(harness.run(prevent))
        harness.device.targetReset(by: Harness.nexusA)
        assertCheck(harness.run(eject), .unitAttention, .busDeviceResetFunctionOccurred)
        assertGood(harness.run(eject))
        assertGood(harness.run(load))

        assertGood(harness.run(prevent))
        harness.device.nexusLost(Harness.nexusA)
        harness.ready(nexus: Harness.nexusB)
        assertGood(harness.run(eject, nexus: Harness.nexusB))
    }

    func testObsoletePreventValuesAreRefused() throws {
        let harness = try removable()
        assertCheck(harness.run([SCSIOpcode.preventAllowMediumRemoval, 0, 0, 0, 2, 0]), .illegalRequest, .invalidFieldInCDB)
        assertCheck(harness.run([SCSIOpcode.preventAllowMediumRemoval, 0, 0, 0, 3, 0]), .illegalRequest, .invalidFieldInCDB)
    }
}
