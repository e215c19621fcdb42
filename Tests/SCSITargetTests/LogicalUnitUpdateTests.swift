import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

/// tgtadm's `--op update` on live units and on the target: new options, online/offline, and
/// the unit attentions each change posts.
final class LogicalUnitUpdateTests: XCTestCase {
    private let readCapacity16 = [SCSIOpcode.serviceActionIn16, 0x10] + [UInt8](repeating: 0, count: 8) + be(32, 4) + [0, 0]
    private let testUnitReady = [SCSIOpcode.testUnitReady, 0, 0, 0, 0, 0]

    private func update(_ harness: Harness, lun: UInt64 = 1, _ change: (inout LogicalUnitOptions) -> Void) throws {
        var options = try XCTUnwrap(harness.device.logicalUnitOptions(lun))
        change(&options)
        try harness.device.updateLogicalUnit(lun, options: options)
    }

    /// The unit attentions pending for `nexus`, oldest first, taken with TEST UNIT READY.
    private func attentions(_ harness: Harness, nexus: SCSINexus = Harness.nexusA) -> [AdditionalSenseCode] {
        var codes: [AdditionalSenseCode] = []
        while codes.count < 10 {
            let result = harness.run(testUnitReady, nexus: nexus)
            guard result.status == .checkCondition, let bytes = result.senseData.map({ Array($0.readableBytesView) }),
                let sense = FixedFormatSense(parsing: bytes), sense.key == .unitAttention
            else { break }
            codes.append(sense.code)
        }
        return codes
    }

    func testThinProvisioningCanBeTurnedOnAndOff() throws {
        let harness = try Harness()
        harness.ready()
        harness.write(lba: 0, [UInt8](repeating: 0x5A, count: 512 * 8))
        try update(harness) { $0.thinProvisioning = true }

        XCTAssertEqual(attentions(harness), [.capacityDataHasChanged, .inquiryDataHasChanged])
        XCTAssertEqual(assertGood(harness.run(readCapacity16))[14], 0xC0, "LBPME and LBPRZ")
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB2, 0, 64, 0])), [0, 0xB2, 0, 4, 0, 0xE4, 0x02, 0])
        let limits = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB0, 0, 64, 0]))
        XCTAssertEqual(Array(limits[20..<24]), be(1 << 20, 4), "MAXIMUM UNMAP LBA COUNT")
        XCTAssertTrue(harness.device.logicalUnits[1].thinProvisioning)
        XCTAssertTrue(harness.device.logicalUnits[1].options.thinProvisioning)

        // UNMAP is a command of the unit now, and the range reads back as zeros.
        let list = be(22, 2) + be(16, 2) + [0, 0, 0, 0] + be(2, 8) + be(3, 4) + [0, 0, 0, 0]
        assertGood(harness.run([SCSIOpcode.unmap, 0, 0, 0, 0, 0, 0] + be(UInt64(list.count), 2) + [0], dataOut: list))
        let data = harness.read(lba: 0, blocks: 8)
        XCTAssertEqual(Array(data[0..<1024]), [UInt8](repeating: 0x5A, count: 1024))
        XCTAssertEqual(Array(data[1024..<2560]), [UInt8](repeating: 0, count: 1536))
        XCTAssertEqual(Array(data[2560...]), [UInt8](repeating: 0x5A, count: 1536))

        try update(harness) { $0.thinProvisioning = false }
        XCTAssertEqual(attentions(harness), [.capacityDataHasChanged, .inquiryDataHasChanged])
        XCTAssertEqual(assertGood(harness.run(readCapacity16))[14], 0)
        assertCheck(
            harness.run([SCSIOpcode.unmap, 0, 0, 0, 0, 0, 0] + be(UInt64(list.count), 2) + [0], dataOut: list),
            .illegalRequest, .invalidCommandOperationCode)
    }

    func testReadOnlyProtectsTheMediumAndShowsInModeSense() throws {
        let harness = try Harness()
        harness.ready()
        harness.ready(nexus: Harness.nexusB)
        try update(harness) { $0.readOnly = true }
        // Every nexus that knows the unit learns of it, the requester's included.
        XCTAssertEqual(attentions(harness), [.modeParametersChanged])
        XCTAssertEqual(attentions(harness, nexus: Harness.nexusB), [.modeParametersChanged])
        let header = assertGood(harness.run([SCSIOpcode.modeSense6, 0, 0x3F, 0, 255, 0]))
        XCTAssertEqual(header[2] & 0x80, 0x80, "WP")
        let write = [SCSIOpcode.write10, 0] + be(0, 4) + [0] + be(1, 2) + [0]
        assertCheck(harness.run(write, dataOut: [UInt8](repeating: 1, count: 512)), .dataProtect, .writeProtected)
        XCTAssertTrue(harness.device.logicalUnits[1].readOnly)

        try update(harness) { $0.readOnly = false }
        XCTAssertEqual(attentions(harness), [.modeParametersChanged])
        assertGood(harness.run(write, dataOut: [UInt8](repeating: 1, count: 512)))
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.modeSense6, 0, 0x3F, 0, 255, 0]))[2] & 0x80, 0)
    }

    func testInquiryChangesPostInquiryDataHasChanged() throws {
        let harness = try Harness()
        harness.ready()
        try update(harness) {
            $0.removable = true
            $0.vendor = "ACME"
            $0.product = "THING"
            $0.revision = "9.99"
        }
        XCTAssertEqual(attentions(harness), [.inquiryDataHasChanged])
        let inquiry = assertGood(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 96, 0]))
        XCTAssertEqual(inquiry[1] & 0x80, 0x80, "RMB")
        XCTAssertEqual(String(decoding: inquiry[8..<36], as: UTF8.self), "ACME    THING           9.99")
        XCTAssertTrue(harness.device.logicalUnits[1].removable)

        // A new SCSI ID changes the device identification page too.
        try update(harness) {
            $0.scsiID = "my-disk"
            $0.serialNumber = "SN42"
        }
        XCTAssertEqual(attentions(harness), [.inquiryDataHasChanged, .deviceIdentifierChanged])
        let serial = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0x80, 0, 64, 0]))
        // tgt right-aligns the serial number in 36 bytes.
        XCTAssertEqual(String(decoding: serial[4...], as: UTF8.self), String(repeating: " ", count: 32) + "SN42")
        let identification = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0x83, 0, 255, 0]))
        XCTAssertEqual(String(decoding: identification[8..<15], as: UTF8.self), "my-disk")
        XCTAssertEqual(harness.device.logicalUnits[1].scsiID, "my-disk")
        XCTAssertEqual(harness.device.logicalUnits[1].scsiSerial, "SN42")

        // The same options again change nothing and post nothing.
        try update(harness) { _ in }
        XCTAssertEqual(attentions(harness), [])
    }

    func testGeometryHintsReachReadCapacityAndVPD() throws {
        let harness = try Harness()
        harness.ready()
        try update(harness) {
            $0.physicalBlockSize = 512 << 2
            $0.lowestAlignedLBA = 0x0123
            $0.rotationRate = 1
            $0.optimalTransferLengthGranularity = 8
            $0.optimalTransferLength = 2048
        }
        XCTAssertEqual(attentions(harness), [.capacityDataHasChanged, .inquiryDataHasChanged])
        let capacity = assertGood(harness.run(readCapacity16))
        XCTAssertEqual(Array(capacity[13..<16]), [2, 0x01, 0x23], "LBPPBE 2, LOWEST ALIGNED LBA 0x123")
        let characteristics = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB1, 0, 64, 0]))
        XCTAssertEqual(Array(characteristics[4..<6]), [0, 1], "MEDIUM ROTATION RATE: solid state")
        let limits = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB0, 0, 64, 0]))
        XCTAssertEqual(Array(limits[6..<8]), be(8, 2), "OPTIMAL TRANSFER LENGTH GRANULARITY")
        XCTAssertEqual(Array(limits[12..<16]), be(2048, 4), "OPTIMAL TRANSFER LENGTH")
    }

    func testRemovableMediumGoesOfflineAndComesBack() throws {
        let harness = try Harness(options: LogicalUnitOptions(removable: true))
        harness.ready()
        harness.ready(nexus: Harness.nexusB)
        try harness.device.setLogicalUnitOnline(1, false)
        XCTAssertFalse(harness.device.logicalUnits[1].online)
        assertCheck(harness.run(testUnitReady), .notReady, .mediumNotPresent)
        assertCheck(harness.run([SCSIOpcode.read10, 0] + be(0, 4) + [0] + be(1, 2) + [0]), .notReady, .mediumNotPresent)
        // INQUIRY still answers.
        assertGood(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 36, 0]))

        try harness.device.setLogicalUnitOnline(1, true)
        XCTAssertTrue(harness.device.logicalUnits[1].online)
        XCTAssertEqual(attentions(harness), [.notReadyToReadyChange])
        XCTAssertEqual(attentions(harness, nexus: Harness.nexusB), [.notReadyToReadyChange])
        assertGood(harness.run(testUnitReady))
        // Already online: nothing happens.
        try harness.device.setLogicalUnitOnline(1, true)
        XCTAssertEqual(attentions(harness), [])
    }

    func testPreventedRemovalKeepsTheMediumOnline() throws {
        let harness = try Harness(options: LogicalUnitOptions(removable: true))
        harness.ready()
        assertGood(harness.run([SCSIOpcode.preventAllowMediumRemoval, 0, 0, 0, 1, 0]))
        XCTAssertThrowsError(try harness.device.setLogicalUnitOnline(1, false)) { error in
            XCTAssertEqual((error as? SCSITargetError)?.kind, .removalPrevented)
        }
        XCTAssertTrue(harness.device.logicalUnits[1].online)
        assertGood(harness.run([SCSIOpcode.preventAllowMediumRemoval, 0, 0, 0, 0, 0]))
        try harness.device.setLogicalUnitOnline(1, false)
        XCTAssertFalse(harness.device.logicalUnits[1].online)
    }

    func testFixedDiskOfflineIsNotReadyManualIntervention() throws {
        let harness = try Harness()
        harness.ready()
        try harness.device.setLogicalUnitOnline(1, false)
        assertCheck(harness.run(testUnitReady), .notReady, .logicalUnitNotReadyManualInterventionRequired)
        try harness.device.setLogicalUnitOnline(1, true)
        XCTAssertEqual(attentions(harness), [.notReadyToReadyChange])
        assertGood(harness.run(testUnitReady))
    }

    func testUpdatesOfMissingUnitsFail() throws {
        let harness = try Harness()
        XCTAssertNil(harness.device.logicalUnitOptions(7))
        XCTAssertThrowsError(try harness.device.updateLogicalUnit(7, options: .init())) { error in
            XCTAssertEqual((error as? SCSITargetError)?.kind, .noSuchLUN)
        }
        XCTAssertThrowsError(try harness.device.setLogicalUnitOnline(7, false)) { error in
            XCTAssertEqual((error as? SCSITargetError)?.kind, .noSuchLUN)
        }
        // LUN 0, the controller, takes options too (tgt lets it), and stays a controller.
        try update(harness, lun: 0) { $0.readOnly = true }
        XCTAssertTrue(harness.device.logicalUnits[0].readOnly)
        XCTAssertEqual(harness.device.logicalUnits[0].type, "controller")
        let inquiry = assertGood(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 36, 0], lun: 0))
        XCTAssertEqual(inquiry[0], PeripheralDeviceType.storageArrayController.rawValue)
    }

    func testOfflineTargetAnswersBusy() throws {
        let harness = try Harness()
        harness.ready()
        XCTAssertTrue(harness.device.isOnline)
        harness.device.isOnline = false
        XCTAssertEqual(harness.run(testUnitReady).status, .busy)
        XCTAssertEqual(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 36, 0], lun: 5).status, .busy)
        harness.device.isOnline = true
        assertGood(harness.run(testUnitReady))
    }
}
