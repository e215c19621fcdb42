import SCSIProtocol
import XCTest

@testable import SCSITarget

final class CapacityTests: XCTestCase {
    func testMatchesTgtd() throws {
        let harness = try Harness()
        harness.ready()
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.readCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0])), hex("001fffff00000200"))
        let rc16 = [SCSIOpcode.serviceActionIn16, 0x10] + be(0, 8) + be(32, 4) + [0, 0]
        XCTAssertEqual(
            assertGood(harness.run(rc16)), hex("00000000001fffff000002000003000000000000000000000000000000000000"))
    }

    func testReadCapacity16AllocationLength() throws {
        let harness = try Harness()
        harness.ready()
        let full = assertGood(harness.run([SCSIOpcode.serviceActionIn16, 0x10] + be(0, 8) + be(96, 4) + [0, 0]))
        XCTAssertEqual(full.count, 32)
        for length in 0..<16 {
            let data = assertGood(harness.run([SCSIOpcode.serviceActionIn16, 0x10] + be(0, 8) + be(UInt64(length), 4) + [0, 0]))
            XCTAssertEqual(data, Array(full.prefix(length)))
        }
    }

    func testTenByteFormSaturates() throws {
        let harness = try Harness(size: (1 << 32) * 512 + 1024)
        harness.ready()
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.readCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0])), hex("ffffffff00000200"))
        let data = assertGood(harness.run([SCSIOpcode.serviceActionIn16, 0x10] + be(0, 8) + be(32, 4) + [0, 0]))
        XCTAssertEqual(Array(data.prefix(8)), be(1 << 32 + 1, 8))
    }

    func testFieldsAndServiceActions() throws {
        let harness = try Harness(size: 1 << 20, blockSize: 4096)
        harness.ready()
        assertCheck(harness.run([SCSIOpcode.readCapacity10, 0, 0, 0, 0, 1, 0, 0, 0, 0]), .illegalRequest, .invalidFieldInCDB)
        assertGood(harness.run([SCSIOpcode.readCapacity10, 0, 0, 0, 0, 1, 0, 0, 1, 0]), "PMI")
        let data = assertGood(harness.run([SCSIOpcode.serviceActionIn16, 0x10] + be(0, 8) + be(32, 4) + [0, 0]))
        XCTAssertEqual(Array(data[8..<14]), [0, 0, 0x10, 0, 0, 0], "4 KiB blocks, one per physical block")
        assertCheck(
            harness.run([SCSIOpcode.serviceActionIn16, 0x13] + be(0, 8) + be(32, 4) + [0, 0]), .illegalRequest,
            .invalidFieldInCDB)
    }

    func testControllerHasNoCapacity() throws {
        let harness = try Harness()
        harness.ready(lun: 0)
        assertCheck(
            harness.run([SCSIOpcode.serviceActionIn16, 0x10] + be(0, 8) + be(32, 4) + [0, 0], lun: 0), .illegalRequest,
            .invalidCommandOperationCode)
        assertCheck(harness.run([SCSIOpcode.readCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0], lun: 0), .illegalRequest, .invalidCommandOperationCode)
    }

    func testCapacityChangeIsAnnounced() throws {
        let harness = try Harness(size: 1 << 20)
        harness.ready()
        harness.store.resize(to: 2 << 20)
        XCTAssertTrue(harness.device.capacityDidChange(1))
        XCTAssertFalse(harness.device.capacityDidChange(9))
        assertCheck(harness.run([SCSIOpcode.readCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0]), .unitAttention, .capacityDataHasChanged)
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.readCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0])), hex("00000fff00000200"))
    }

    func testReadCapacityNoticesAStoreGrownUnderneath() throws {
        let harness = try Harness(size: 1 << 20)
        harness.ready()
        harness.store.resize(to: 4 << 20)
        // READ CAPACITY looks at the store: the change is announced first, then reported.
        let readCapacity16 = [SCSIOpcode.serviceActionIn16, 0x10] + be(0, 8) + be(32, 4) + [0, 0]
        assertCheck(harness.run(readCapacity16), .unitAttention, .capacityDataHasChanged)
        XCTAssertEqual(Array(assertGood(harness.run(readCapacity16))[0..<8]), be((4 << 20) / 512 - 1, 8))
        // Reads beyond the old end now work.
        assertGood(harness.run([SCSIOpcode.read10, 0] + be((4 << 20) / 512 - 1, 4) + [0, 0, 1, 0]))
    }
}
