import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

/// Thin provisioning (an LU option) and GET LBA STATUS.
final class ProvisioningTests: XCTestCase {
    let thin = LogicalUnitOptions(thinProvisioning: true)

    func unmap(_ ranges: [(UInt64, UInt32)], anchor: Bool = false) -> (cdb: [UInt8], list: [UInt8]) {
        var descriptors: [UInt8] = []
        for (lba, blocks) in ranges { descriptors += be(lba, 8) + be(UInt64(blocks), 4) + [0, 0, 0, 0] }
        let list = be(UInt64(6 + descriptors.count), 2) + be(UInt64(descriptors.count), 2) + [0, 0, 0, 0] + descriptors
        return ([SCSIOpcode.unmap, anchor ? 1 : 0, 0, 0, 0, 0, 0] + be(UInt64(list.count), 2) + [0], list)
    }

    func writeSame10(lba: UInt64, blocks: UInt16, flags: UInt8) -> [UInt8] {
        [SCSIOpcode.writeSame10, flags] + be(lba, 4) + [0] + be(UInt64(blocks), 2) + [0]
    }

    func testFullyProvisionedByDefault() throws {
        let harness = try Harness()
        harness.ready()
        let capacity = assertGood(harness.run([SCSIOpcode.serviceActionIn16, 0x10] + [UInt8](repeating: 0, count: 8) + be(32, 4) + [0, 0]))
        XCTAssertEqual(capacity[14], 0, "LBPME and LBPRZ clear")
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB2, 0, 64, 0])), [0, 0xB2, 0, 4, 0, 0, 0, 0])
        let limits = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB0, 0, 64, 0]))
        XCTAssertEqual(Array(limits[20..<36]), [UInt8](repeating: 0, count: 16), "no unmap limits")
        XCTAssertFalse(harness.device.logicalUnits[1].thinProvisioning)
        // UNMAP is not a command of this unit; WRITE SAME's UNMAP bit reads as "not supported".
        let request = unmap([(0, 8)])
        assertCheck(harness.run(request.cdb, dataOut: request.list), .illegalRequest, .invalidCommandOperationCode)
        assertCheck(
            harness.run(writeSame10(lba: 0, blocks: 1, flags: 0x08), dataOut: [UInt8](repeating: 0, count: 512)),
            .illegalRequest, .invalidCommandOperationCode)
    }

    func testThinUnitAdvertisesItself() throws {
        let harness = try Harness(options: thin)
        harness.ready()
        let capacity = assertGood(harness.run([SCSIOpcode.serviceActionIn16, 0x10] + [UInt8](repeating: 0, count: 8) + be(32, 4) + [0, 0]))
        XCTAssertEqual(capacity[14], 0xC0, "LBPME and LBPRZ")
        XCTAssertEqual(capacity[13], 3, "physical block exponent unchanged")
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB2, 0, 64, 0])), [0, 0xB2, 0, 4, 0, 0xE4, 0x02, 0])
        let limits = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB0, 0, 64, 0]))
        XCTAssertEqual(Array(limits[20..<24]), be(1 << 20, 4), "MAXIMUM UNMAP LBA COUNT")
        XCTAssertEqual(Array(limits[24..<28]), be(2048, 4), "MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT")
        XCTAssertEqual(Array(limits[28..<32]), be(8, 4), "OPTIMAL UNMAP GRANULARITY: one 4 KiB block")
        XCTAssertEqual(Array(limits[32..<36]), [0x80, 0, 0, 0], "UGAVALID, alignment 0")
        XCTAssertTrue(harness.device.logicalUnits[1].thinProvisioning)
    }

    func testUnmapZeroesTheRanges() throws {
        let harness = try Harness(options: thin)
        harness.ready()
        harness.write(lba: 0, [UInt8](repeating: 0x61, count: 512 * 16))
        let request = unmap([(2, 3), (10, 1), (12, 0)])
        assertGood(harness.run(request.cdb, dataOut: request.list))
        let data = harness.read(lba: 0, blocks: 16)
        for lba in 0..<16 {
            let expected: UInt8 = [2, 3, 4, 10].contains(lba) ? 0 : 0x61
            XCTAssertEqual(Array(data[lba * 512..<(lba + 1) * 512]), [UInt8](repeating: expected, count: 512), "LBA \(lba)")
        }
    }

    func testUnmapChecks() throws {
        let harness = try Harness(options: thin)
        harness.ready()
        let end = harness.blockCount
        // Zero blocks at the capacity, and no descriptors at all, are fine.
        var request = unmap([(end, 0)])
        assertGood(harness.run(request.cdb, dataOut: request.list))
        request = unmap([])
        assertGood(harness.run(request.cdb, dataOut: request.list))
        assertGood(harness.run([SCSIOpcode.unmap, 0, 0, 0, 0, 0, 0, 0, 0, 0]), "no parameter list")
        request = unmap([(end - 1, 2)])
        assertCheck(harness.run(request.cdb, dataOut: request.list), .illegalRequest, .lbaOutOfRange)
        request = unmap([(0, (1 << 20) + 1)])
        assertCheck(harness.run(request.cdb, dataOut: request.list), .illegalRequest, .invalidFieldInParameterList)
        request = unmap([(0, 1)], anchor: true)
        assertCheck(harness.run(request.cdb, dataOut: request.list), .illegalRequest, .invalidFieldInCDB)
        assertCheck(
            harness.run([SCSIOpcode.unmap, 0, 0, 0, 0, 0, 0, 0, 4, 0], dataOut: [0, 0, 0, 0]), .illegalRequest,
            .parameterListLengthError)
    }

    func testWriteSameWithUnmap() throws {
        let harness = try Harness(options: thin)
        harness.ready()
        harness.write(lba: 0, [UInt8](repeating: 0xFF, count: 512 * 4))
        assertGood(harness.run(writeSame10(lba: 0, blocks: 2, flags: 0x08), dataOut: [UInt8](repeating: 0, count: 512)))
        XCTAssertEqual(harness.read(lba: 0, blocks: 4), [UInt8](repeating: 0, count: 1024) + [UInt8](repeating: 0xFF, count: 1024))
        // Whatever the block holds, the range is unmapped (as LIO and tgt do).
        harness.write(lba: 0, [UInt8](repeating: 0xFF, count: 512))
        assertGood(harness.run(writeSame10(lba: 0, blocks: 1, flags: 0x08), dataOut: [UInt8](repeating: 0xA6, count: 512)))
        XCTAssertEqual(harness.read(lba: 0, blocks: 1), [UInt8](repeating: 0, count: 512))
        // ANCHOR is not supported.
        assertCheck(
            harness.run(writeSame10(lba: 0, blocks: 1, flags: 0x18), dataOut: [UInt8](repeating: 0, count: 512)),
            .illegalRequest, .invalidFieldInCDB)
        // WRITE SAME(16) with UNMAP and NDOB.
        harness.write(lba: 8, [UInt8](repeating: 0xFF, count: 512))
        assertGood(harness.run([SCSIOpcode.writeSame16, 0x09] + be(8, 8) + be(1, 4) + [0, 0]))
        XCTAssertEqual(harness.read(lba: 8, blocks: 1), [UInt8](repeating: 0, count: 512))
    }

    func testGetLBAStatus() throws {
        let harness = try Harness()
        harness.ready()
        let end = harness.blockCount
        func status(_ lba: UInt64, allocation: UInt32 = 24) -> SCSICommandResult {
            harness.run([SCSIOpcode.serviceActionIn16, 0x12] + be(lba, 8) + be(UInt64(allocation), 4) + [0, 0])
        }
        XCTAssertEqual(
            assertGood(status(5)), be(20, 4) + [0, 0, 0, 0] + be(5, 8) + be(end - 5, 4) + [0, 0, 0, 0])
        XCTAssertEqual(assertGood(status(end - 1))[16..<20], [0, 0, 0, 1])
        XCTAssertEqual(assertGood(status(0, allocation: 8)).count, 8)
        assertCheck(status(end), .illegalRequest, .lbaOutOfRange)
        assertCheck(status(.max), .illegalRequest, .lbaOutOfRange)
    }
}
