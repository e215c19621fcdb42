import Backstore
import Foundation
import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

/// What a logical unit does on a store that behaves like RBD (`FakeRBDStore`): LBPRZ 0 with a
/// discard that leaves data, zeroing through the store, the store's own compare-and-write, and
/// resizes the store announces itself.
final class StoreCapabilityTests: XCTestCase {
    let thin = LogicalUnitOptions(thinProvisioning: true)
    let readCapacity16 = [SCSIOpcode.serviceActionIn16, 0x10] + be(0, 8) + be(32, 4) + [0, 0]

    func block(_ byte: UInt8, count: Int = 1) -> [UInt8] { [UInt8](repeating: byte, count: 512 * count) }

    func writeSame16(lba: UInt64, blocks: UInt32, flags: UInt8) -> [UInt8] {
        [SCSIOpcode.writeSame16, flags] + be(lba, 8) + be(UInt64(blocks), 4) + [0, 0]
    }

    func unmap(lba: UInt64, blocks: UInt32) -> (cdb: [UInt8], list: [UInt8]) {
        let descriptor = be(lba, 8) + be(UInt64(blocks), 4) + [0, 0, 0, 0]
        let list = be(22, 2) + be(16, 2) + [0, 0, 0, 0] + descriptor
        return ([SCSIOpcode.unmap, 0, 0, 0, 0, 0, 0] + be(UInt64(list.count), 2) + [0], list)
    }

    func caw(lba: UInt64, blocks: UInt8) -> [UInt8] {
        [SCSIOpcode.compareAndWrite, 0] + be(lba, 8) + [0, 0, 0, blocks, 0, 0]
    }

    // MARK: LBPRZ

    func testDiscardThatLeavesDataReportsLBPRZZero() throws {
        let fake = FakeRBDStore(size: 1 << 20)
        let harness = try Harness(fake: fake, options: thin)
        harness.ready()
        XCTAssertEqual(assertGood(harness.run(readCapacity16))[14], 0x80, "LBPME without LBPRZ")
        XCTAssertEqual(
            assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB2, 0, 64, 0])), [0, 0xB2, 0, 4, 0, 0xE0, 0x02, 0],
            "LBPU, LBPWS, LBPWS10; LBPRZ 0; thin")
        let limits = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB0, 0, 64, 0]))
        XCTAssertEqual(Array(limits[28..<32]), be(128, 4), "OPTIMAL UNMAP GRANULARITY: the store's 64 KiB")
        // Turning thin provisioning off and on again keeps what the store says.
        var options = thin
        options.thinProvisioning = false
        XCTAssertNoThrow(try harness.device.updateLogicalUnit(1, options: options))
        XCTAssertNoThrow(try harness.device.updateLogicalUnit(1, options: thin))
        while harness.run([SCSIOpcode.testUnitReady]).status == .checkCondition {}
        XCTAssertEqual(assertGood(harness.run(readCapacity16))[14], 0x80)
    }

    func testUnmapHandsTheRangeToDiscardAndLeavesWhatItLeaves() throws {
        let fake = FakeRBDStore(size: 1 << 20)
        let harness = try Harness(fake: fake, options: thin)
        harness.ready()
        harness.write(lba: 0, block(0x61, count: 8))
        let request = unmap(lba: 2, blocks: 3)
        assertGood(harness.run(request.cdb, dataOut: request.list))
        XCTAssertEqual(fake.discards.map { [$0.offset, $0.length] }, [[1024, 1536]])
        XCTAssertTrue(fake.zeroings.isEmpty, "UNMAP does not zero on an LBPRZ 0 unit")
        XCTAssertEqual(harness.read(lba: 0, blocks: 8), block(0x61, count: 8), "this store's discard kept the data")
    }

    func testWriteSameWithUnmapStillReadsBackAsTheBlock() throws {
        let fake = FakeRBDStore(size: 1 << 20)
        let harness = try Harness(fake: fake, options: thin)
        harness.ready()
        harness.write(lba: 0, block(0x61, count: 16))
        // Zeros with UNMAP: zeroed by the store, which reads back as zeros.
        assertGood(harness.run(writeSame16(lba: 1, blocks: 2, flags: 0x08), dataOut: block(0)))
        // NDOB with UNMAP: the same.
        assertGood(harness.run(writeSame16(lba: 5, blocks: 1, flags: 0x09)))
        XCTAssertEqual(fake.zeroings.map { [$0.offset, $0.length] }, [[512, 1024], [2560, 512]])
        // Data with UNMAP: written, since an unmapped block would not read back as it.
        assertGood(harness.run(writeSame16(lba: 8, blocks: 2, flags: 0x08), dataOut: block(0x7E)))
        XCTAssertTrue(fake.discards.isEmpty, "nothing was left to a discard that may keep data")
        let data = harness.read(lba: 0, blocks: 10)
        let expected = block(0x61) + block(0, count: 2) + block(0x61, count: 2) + block(0) + block(0x61, count: 2)
            + block(0x7E, count: 2)
        XCTAssertEqual(data, expected)
    }

    func testWriteSameOfZerosUsesTheStoresZeroing() throws {
        let fake = FakeRBDStore(size: 1 << 20)
        let harness = try Harness(fake: fake)
        harness.ready()
        harness.write(lba: 0, block(0x61, count: 8))
        let writesBefore = harness.store.writes.count
        assertGood(harness.run(writeSame16(lba: 0, blocks: 4, flags: 0), dataOut: block(0)))
        XCTAssertEqual(fake.zeroings.map { [$0.offset, $0.length] }, [[0, 2048]])
        XCTAssertEqual(harness.store.writes.count, writesBefore, "no zero buffers written")
        XCTAssertEqual(harness.read(lba: 0, blocks: 8), block(0, count: 4) + block(0x61, count: 4))
        // Write-through: the zeroing is flushed.
        let flushes = harness.store.flushCount
        var options = LogicalUnitOptions()
        options.writeCache = false
        let writeThrough = try Harness(fake: FakeRBDStore(size: 1 << 20), options: options)
        writeThrough.ready()
        assertGood(writeThrough.run(writeSame16(lba: 0, blocks: 4, flags: 0), dataOut: block(0)))
        XCTAssertEqual(writeThrough.store.flushCount, 1)
        XCTAssertEqual(harness.store.flushCount, flushes)
    }

    func testStoresWithoutZeroingKeepWritingThePattern() throws {
        let harness = try Harness()
        harness.ready()
        assertGood(harness.run(writeSame16(lba: 0, blocks: 4, flags: 0), dataOut: block(0)))
        XCTAssertEqual(harness.store.writes.last.map { [$0.offset, UInt64($0.length)] }, [0, 2048])
    }

    // MARK: COMPARE AND WRITE

    func testCompareAndWriteGoesToTheStore() throws {
        let fake = FakeRBDStore(size: 1 << 20)
        let harness = try Harness(fake: fake)
        harness.ready()
        harness.write(lba: 3, block(0x41))
        let writesBefore = harness.store.writes.count
        assertGood(harness.run(caw(lba: 3, blocks: 1), dataOut: block(0x41) + block(0x42)))
        XCTAssertEqual(fake.nativeCompareAndWrites, 1)
        XCTAssertEqual(harness.store.writes.count, writesBefore, "the unit wrote nothing itself")
        XCTAssertEqual(harness.read(lba: 3, blocks: 1), block(0x42))

        var compare = block(0x42)
        compare[300] = 0
        let sense = assertCheck(
            harness.run(caw(lba: 3, blocks: 1), dataOut: compare + block(0x43)), .miscompare, .miscompareDuringVerify)
        XCTAssertEqual(sense?.information, 300)
        XCTAssertEqual(fake.nativeCompareAndWrites, 2)
        XCTAssertEqual(harness.read(lba: 3, blocks: 1), block(0x42))
    }

    func testCompareAndWriteFallsBackWhereTheStoreCannot() throws {
        let fake = FakeRBDStore(size: 1 << 20)
        let harness = try Harness(fake: fake)
        harness.ready()
        harness.write(lba: 0, block(0x41, count: 2))
        var compare = block(0x41, count: 2)
        compare[700] = 0
        let sense = assertCheck(
            harness.run(caw(lba: 0, blocks: 2), dataOut: compare + block(0x42, count: 2)), .miscompare,
            .miscompareDuringVerify)
        XCTAssertEqual(sense?.information, 700)
        assertGood(harness.run(caw(lba: 0, blocks: 2), dataOut: block(0x41, count: 2) + block(0x42, count: 2)))
        XCTAssertEqual(fake.nativeCompareAndWrites, 0, "two blocks do not fit in one sector")
        XCTAssertEqual(harness.read(lba: 0, blocks: 2), block(0x42, count: 2))
    }

    // MARK: resize

    func testResizeAnnouncedByTheStoreReachesTheUnit() throws {
        let fake = FakeRBDStore(size: 1 << 20)
        let harness = try Harness(fake: fake)
        harness.ready()
        fake.resize(to: 3 << 20)
        let deadline = Date() + 5
        var result = harness.run([SCSIOpcode.testUnitReady])
        while result.status == .good && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
            result = harness.run([SCSIOpcode.testUnitReady])
        }
        assertCheck(result, .unitAttention, .capacityDataHasChanged)
        XCTAssertEqual(Array(assertGood(harness.run(readCapacity16))[0..<8]), be((3 << 20) / 512 - 1, 8))
        XCTAssertEqual(harness.device.logicalUnits[1].size, 3 << 20)

        // Once the unit is gone the store's announcements go nowhere.
        XCTAssertNotNil(try harness.device.removeLogicalUnit(1))
        fake.resize(to: 4 << 20)
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(harness.device.logicalUnits.count, 1)
    }
}
