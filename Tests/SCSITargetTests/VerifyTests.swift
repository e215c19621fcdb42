import SCSIProtocol
import XCTest

@testable import SCSITarget

final class VerifyTests: XCTestCase {
    func verify10(_ harness: Harness, flags: UInt8, lba: UInt64, blocks: UInt64, data: [UInt8]?) -> SCSICommandResult {
        harness.run([SCSIOpcode.verify10, flags] + be(lba, 4) + [0] + be(blocks, 2) + [0], dataOut: data)
    }

    func testByteCheckComparesWithTheMedium() throws {
        let harness = try Harness()
        harness.ready()
        let data = (0..<1536).map { UInt8(truncatingIfNeeded: $0 * 13) }
        harness.write(lba: 100, data)
        assertGood(verify10(harness, flags: 0x02, lba: 100, blocks: 3, data: data))
        assertGood(harness.run([SCSIOpcode.verify16, 0x12] + be(100, 8) + be(3, 4) + [0, 0], dataOut: data), "DPO")
        assertGood(harness.run([SCSIOpcode.verify12, 0x02, 0, 0, 0, 100, 0, 0, 0, 3, 0, 0], dataOut: data))

        var flipped = data
        flipped[700] ^= 0x58
        let sense = assertCheck(verify10(harness, flags: 0x02, lba: 100, blocks: 3, data: flipped), .miscompare, .miscompareDuringVerify)
        XCTAssertEqual(sense?.information, 700, "offset of the first difference, with VALID set")
    }

    func testByteCheckZeroOnlyChecksTheRange() throws {
        let harness = try Harness(size: 1 << 20)
        harness.ready()
        assertGood(verify10(harness, flags: 0, lba: 0, blocks: 2048, data: nil))
        assertGood(verify10(harness, flags: 0, lba: 0, blocks: 1, data: [UInt8](repeating: 0xEE, count: 512)))
        assertCheck(verify10(harness, flags: 0, lba: 2048, blocks: 0, data: nil), .illegalRequest, .lbaOutOfRange)
        assertCheck(verify10(harness, flags: 0x02, lba: 2047, blocks: 2, data: nil), .illegalRequest, .lbaOutOfRange)
        assertCheck(
            harness.run([SCSIOpcode.verify16, 0x02] + be(UInt64.max, 8) + be(0, 4) + [0, 0]), .illegalRequest,
            .lbaOutOfRange)
    }

    func testByteCheckOneBlockAgainstEveryBlock() throws {
        let harness = try Harness()
        harness.ready()
        let block = [UInt8](repeating: 0x5A, count: 512)
        harness.write(lba: 10, block + block + block)
        assertGood(verify10(harness, flags: 0x06, lba: 10, blocks: 3, data: block))
        harness.store.fill(at: 12 * 512 + 3, with: [0])
        let sense = assertCheck(verify10(harness, flags: 0x06, lba: 10, blocks: 3, data: block), .miscompare, .miscompareDuringVerify)
        XCTAssertEqual(sense?.information, 2 * 512 + 3)
    }

    func testReservedAndProtectionFields() throws {
        let harness = try Harness()
        harness.ready()
        assertCheck(verify10(harness, flags: 0x04, lba: 0, blocks: 1, data: nil), .illegalRequest, .invalidFieldInCDB)
        for value: UInt8 in 1...7 {
            assertCheck(verify10(harness, flags: value << 5 | 0x02, lba: 0, blocks: 1, data: nil), .illegalRequest, .invalidFieldInCDB)
        }
    }

    func testPreFetchChecksTheRangeAndAnswersGood() throws {
        let harness = try Harness(size: 1 << 20)
        harness.ready()
        assertGood(harness.run([SCSIOpcode.preFetch10, 0x02, 0, 0, 0, 0, 3, 0, 1, 0]), "IMMED, group 3")
        assertGood(harness.run([SCSIOpcode.preFetch16, 0] + be(2047, 8) + be(1, 4) + [0, 0]))
        assertCheck(harness.run([SCSIOpcode.preFetch10, 0] + be(2047, 4) + [0] + be(2, 2) + [0]), .illegalRequest, .lbaOutOfRange)
        assertCheck(harness.run([SCSIOpcode.preFetch16, 0] + be(2049, 8) + be(0, 4) + [0, 0]), .illegalRequest, .lbaOutOfRange)
    }

    func testSynchronizeCacheFlushes() throws {
        let harness = try Harness(size: 1 << 20)
        harness.ready()
        assertGood(harness.run([SCSIOpcode.synchronizeCache10, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
        assertGood(harness.run([SCSIOpcode.synchronizeCache16, 0x02] + be(10, 8) + be(20, 4) + [0, 0]))
        XCTAssertEqual(harness.store.flushCount, 2)
        assertCheck(
            harness.run([SCSIOpcode.synchronizeCache10, 0] + be(2040, 4) + [0] + be(9, 2) + [0]), .illegalRequest,
            .lbaOutOfRange)
        XCTAssertEqual(harness.store.flushCount, 2)
    }
}

final class WriteSameTests: XCTestCase {
    func writeSame10(_ harness: Harness, flags: UInt8 = 0, lba: UInt64, blocks: UInt64, data: [UInt8]?) -> SCSICommandResult {
        harness.run([SCSIOpcode.writeSame10, flags] + be(lba, 4) + [0] + be(blocks, 2) + [0], dataOut: data)
    }

    func testRepeatsTheBlock() throws {
        let harness = try Harness()
        harness.ready()
        let block = (0..<512).map { UInt8(truncatingIfNeeded: $0) }
        assertGood(writeSame10(harness, lba: 3, blocks: 5, data: block))
        XCTAssertEqual(harness.read(lba: 3, blocks: 5), Array([[UInt8]](repeating: block, count: 5).joined()))
        XCTAssertEqual(harness.read(lba: 8, blocks: 1), [UInt8](repeating: 0, count: 512))
    }

    func testManyChunks() throws {
        let harness = try Harness()
        harness.ready()
        let block = [UInt8](repeating: 0xA5, count: 512)
        assertGood(harness.run([SCSIOpcode.writeSame16, 0] + be(1, 8) + be(5000, 4) + [0, 0], dataOut: block))
        XCTAssertEqual(harness.store.writes.map(\.length), [1 << 20, 1 << 20, 5000 * 512 - 2 << 20])
        XCTAssertEqual(harness.store.bytes(at: 5000 * 512, count: 512), block)
        XCTAssertEqual(harness.store.bytes(at: 5001 * 512, count: 1), [0])
    }

    func testNoDataOutWritesZeros() throws {
        let harness = try Harness()
        harness.ready()
        harness.write(lba: 0, [UInt8](repeating: 0xFF, count: 1024))
        assertGood(harness.run([SCSIOpcode.writeSame16, 0x01] + be(0, 8) + be(2, 4) + [0, 0]))
        XCTAssertEqual(harness.read(lba: 0, blocks: 2), [UInt8](repeating: 0, count: 1024))
    }

    /// libiscsi's WriteSame10 ZeroBlocks against a unit larger than the limit.
    func testZeroBlocksMeansToTheEndWithinTheLimit() throws {
        let harness = try Harness(size: 1 << 30, options: LogicalUnitOptions(maximumWriteSameBlocks: 0xFFFF))
        harness.ready()
        let block = [UInt8](repeating: 7, count: 512)
        let blocks = harness.blockCount
        assertCheck(writeSame10(harness, lba: 0, blocks: 0, data: block), .illegalRequest, .invalidFieldInCDB)
        assertCheck(writeSame10(harness, lba: blocks - 0x10000, blocks: 0, data: block), .illegalRequest, .invalidFieldInCDB)
        assertGood(writeSame10(harness, lba: blocks - 0xFFFF, blocks: 0, data: block))
        XCTAssertEqual(harness.store.bytes(at: (blocks - 1) * 512, count: 512), block)
        assertCheck(writeSame10(harness, lba: blocks, blocks: 0, data: block), .illegalRequest, .lbaOutOfRange)
        assertCheck(writeSame10(harness, lba: 0xFFFF_FFFF, blocks: 0, data: block), .illegalRequest, .lbaOutOfRange)
        assertCheck(
            harness.run([SCSIOpcode.writeSame16, 0] + be(0, 8) + be(0x10000, 4) + [0, 0], dataOut: block), .illegalRequest,
            .invalidFieldInCDB)
    }

    func testUnlimitedWhenTheLimitIsZero() throws {
        let harness = try Harness(size: 4 << 20)
        harness.ready()
        assertGood(writeSame10(harness, lba: 0, blocks: 0, data: [UInt8](repeating: 1, count: 512)))
        XCTAssertEqual(harness.store.writes.reduce(0) { $0 + $1.length }, 4 << 20)
    }

    func testRefusedFields() throws {
        let harness = try Harness(size: 1 << 20)
        harness.ready()
        let block = [UInt8](repeating: 1, count: 512)
        for flags: UInt8 in [0x02, 0x04, 0x20] {
            assertCheck(writeSame10(harness, flags: flags, lba: 0, blocks: 1, data: block), .illegalRequest, .invalidFieldInCDB)
        }
        // UNMAP and ANCHOR without thin provisioning: "not supported", as LIO answers.
        for flags: UInt8 in [0x08, 0x10] {
            assertCheck(
                writeSame10(harness, flags: flags, lba: 0, blocks: 1, data: block), .illegalRequest,
                .invalidCommandOperationCode)
        }
        // Not exactly one block of Data-Out (libiscsi's InvalidDataOutSize).
        for data in [Array(block.prefix(256)), block + block, nil] {
            assertCheck(writeSame10(harness, lba: 0, blocks: 1, data: data), .illegalRequest, .parameterListLengthError)
        }
        assertCheck(writeSame10(harness, lba: 2047, blocks: 2, data: block), .illegalRequest, .lbaOutOfRange)
        XCTAssertTrue(harness.store.writes.isEmpty)
    }
}
