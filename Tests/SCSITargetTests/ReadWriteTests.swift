import Backstore
import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

final class ReadWriteTests: XCTestCase {
    func pattern(_ blocks: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<blocks * 512).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }
    }

    func testEveryCDBSizeRoundTrips() throws {
        let harness = try Harness()
        harness.ready()
        let data = pattern(3)
        let writes: [[UInt8]] = [
            [SCSIOpcode.write6, 0, 0, 10, 3, 0],
            [SCSIOpcode.write10, 0, 0, 0, 0, 20, 0, 0, 3, 0],
            [SCSIOpcode.write12, 0, 0, 0, 0, 30, 0, 0, 0, 3, 0, 0],
            [SCSIOpcode.write16, 0] + be(40, 8) + be(3, 4) + [0, 0],
        ]
        let reads: [[UInt8]] = [
            [SCSIOpcode.read6, 0, 0, 10, 3, 0],
            [SCSIOpcode.read10, 0, 0, 0, 0, 20, 0, 0, 3, 0],
            [SCSIOpcode.read12, 0, 0, 0, 0, 30, 0, 0, 0, 3, 0, 0],
            [SCSIOpcode.read16, 0] + be(40, 8) + be(3, 4) + [0, 0],
        ]
        for (write, read) in zip(writes, reads) {
            assertGood(harness.run(write, dataOut: data))
            XCTAssertEqual(assertGood(harness.run(read)), data)
        }
        XCTAssertEqual(harness.store.bytes(at: 20 * 512, count: 3 * 512), data)
    }

    func testSixByteTransferLengthZeroMeans256() throws {
        let harness = try Harness()
        harness.ready()
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.read6, 0, 0, 0, 0, 0])).count, 256 * 512)
        assertGood(harness.run([SCSIOpcode.write6, 0, 0, 0, 0, 0], dataOut: pattern(256)))
        XCTAssertEqual(harness.store.writes.last?.length, 256 * 512)
    }

    func testRangeChecks() throws {
        let harness = try Harness(size: 1 << 20)  // 2048 blocks
        harness.ready()
        let last: UInt64 = 2047
        func read10(_ lba: UInt64, _ blocks: UInt64) -> SCSICommandResult {
            harness.run([SCSIOpcode.read10, 0] + be(lba, 4) + [0] + be(blocks, 2) + [0])
        }
        XCTAssertEqual(assertGood(read10(last, 1)).count, 512)
        assertGood(read10(0, 0))
        assertCheck(read10(last, 2), .illegalRequest, .lbaOutOfRange)
        assertCheck(read10(last + 1, 0), .illegalRequest, .lbaOutOfRange)
        assertCheck(read10(last + 2, 0), .illegalRequest, .lbaOutOfRange)
        assertCheck(read10(0xFFFF_FFFF, 1), .illegalRequest, .lbaOutOfRange)
        assertCheck(
            harness.run([SCSIOpcode.read16, 0] + be(UInt64.max, 8) + be(2, 4) + [0, 0]), .illegalRequest, .lbaOutOfRange)
        assertCheck(
            harness.run([SCSIOpcode.write6, 0, 0x07, 0xFF, 2, 0], dataOut: pattern(2)), .illegalRequest, .lbaOutOfRange)
        assertCheck(
            harness.run([SCSIOpcode.read6, 0x1F, 0xFF, 0xFF, 1, 0]), .illegalRequest, .lbaOutOfRange)
    }

    func testProtectionFieldsAreRefused() throws {
        let harness = try Harness()
        harness.ready()
        for value: UInt8 in 1...7 {
            assertCheck(harness.run([SCSIOpcode.read10, value << 5, 0, 0, 0, 0, 0, 0, 1, 0]), .illegalRequest, .invalidFieldInCDB)
            assertCheck(
                harness.run([SCSIOpcode.write12, value << 5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], dataOut: pattern(1)),
                .illegalRequest, .invalidFieldInCDB)
        }
        XCTAssertTrue(harness.store.writes.isEmpty)
    }

    func testFUAAndWriteCache() throws {
        let harness = try Harness()
        harness.ready()
        assertGood(harness.run([SCSIOpcode.write10, 0x00, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: pattern(1)))
        assertGood(harness.run([SCSIOpcode.write10, 0x08, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: pattern(1)))
        assertGood(harness.run([SCSIOpcode.write10, 0x1A, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: pattern(1)), "DPO FUA FUA_NV")
        assertGood(harness.run([SCSIOpcode.read10, 0x18, 0, 0, 0, 0, 0, 0, 1, 0]))
        XCTAssertEqual(harness.store.writes.map(\.fua), [false, true, true])

        let writeThrough = try Harness(options: LogicalUnitOptions(writeCache: false))
        writeThrough.ready()
        assertGood(writeThrough.run([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: pattern(1)))
        XCTAssertEqual(writeThrough.store.writes.map(\.fua), [true], "WCE 0: every write is FUA")
    }

    func testReadOnlyUnitRefusesWrites() throws {
        let harness = try Harness(options: LogicalUnitOptions(readOnly: true))
        harness.ready()
        let writes: [[UInt8]] = [
            [SCSIOpcode.write6, 0, 0, 0, 1, 0],
            [SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0],
            [SCSIOpcode.write12, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
            [SCSIOpcode.write16, 0] + be(0, 8) + be(1, 4) + [0, 0],
            [SCSIOpcode.writeAndVerify10, 0x02, 0, 0, 0, 0, 0, 0, 1, 0],
            [SCSIOpcode.writeSame10, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        ]
        for cdb in writes {
            assertCheck(harness.run(cdb, dataOut: pattern(1)), .dataProtect, .writeProtected)
        }
        assertCheck(harness.run([SCSIOpcode.writeSame16, 0x01] + be(0, 8) + be(1, 4) + [0, 0]), .dataProtect, .writeProtected)
        assertCheck(
            harness.run([SCSIOpcode.compareAndWrite, 0] + be(0, 8) + [0, 0, 0, 1, 0, 0], dataOut: pattern(2)), .dataProtect,
            .writeProtected)
        XCTAssertTrue(harness.store.writes.isEmpty)
        assertGood(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0]))
    }

    /// libiscsi's Write16Residuals: blocks the initiator did not send stay as they were, and
    /// part of a block is refused whole (INVALID FIELD IN COMMAND INFORMATION UNIT).
    func testShortDataOutWritesOnlyWholeBlocks() throws {
        let harness = try Harness()
        harness.ready()
        harness.write(lba: 0, [UInt8](repeating: 0x61, count: 1024))
        let write2 = [SCSIOpcode.write16, 0] + be(0, 8) + be(2, 4) + [0, 0]
        assertGood(harness.run(write2, dataOut: [UInt8](repeating: 0x62, count: 512)))
        XCTAssertEqual(harness.read(lba: 0, blocks: 2), [UInt8](repeating: 0x62, count: 512) + [UInt8](repeating: 0x61, count: 512))
        assertGood(harness.run(write2, dataOut: nil))
        for partial in [512 + 200, 200] {
            assertCheck(
                harness.run(write2, dataOut: [UInt8](repeating: 0x63, count: partial)), .illegalRequest,
                .invalidFieldInCommandInformationUnit)
        }
        XCTAssertEqual(harness.store.writes.count, 2, "nothing written without a whole block")
    }

    func testLongDataOutIsCutToTheTransferLength() throws {
        let harness = try Harness()
        harness.ready()
        assertGood(harness.run([SCSIOpcode.write10, 0, 0, 0, 0, 4, 0, 0, 1, 0], dataOut: pattern(3)))
        XCTAssertEqual(harness.store.writes.map(\.length), [512])
        XCTAssertEqual(harness.store.bytes(at: 5 * 512, count: 512), [UInt8](repeating: 0, count: 512))
    }

    func testBackstoreErrorsBecomeSense() throws {
        let harness = try Harness()
        harness.ready()
        harness.store.failNextIO = BackstoreError(.ioError, errno: 5, "EIO")
        assertCheck(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0]), .mediumError, .unrecoveredReadError)
        harness.store.failNextIO = BackstoreError(.ioError, errno: 5, "EIO")
        assertCheck(
            harness.run([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: pattern(1)), .mediumError, .writeError)
        harness.store.failNextIO = BackstoreError(.closed, "closed")
        assertCheck(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0]), .hardwareError, .internalTargetFailure)
    }

    func testWriteAndVerify() throws {
        let harness = try Harness()
        harness.ready()
        let data = pattern(2, seed: 9)
        for cdb: [UInt8] in [
            [SCSIOpcode.writeAndVerify10, 0x12, 0, 0, 0, 8, 0, 0, 2, 0],
            [SCSIOpcode.writeAndVerify12, 0x02, 0, 0, 0, 8, 0, 0, 0, 2, 0, 0],
            [SCSIOpcode.writeAndVerify16, 0x00] + be(8, 8) + be(2, 4) + [0, 0],
        ] {
            assertGood(harness.run(cdb, dataOut: data))
        }
        XCTAssertEqual(harness.read(lba: 8, blocks: 2), data)
        XCTAssertEqual(harness.store.writes.map(\.fua), [true, true, true])
        assertCheck(
            harness.run([SCSIOpcode.writeAndVerify10, 0x04, 0, 0, 0, 8, 0, 0, 2, 0], dataOut: data), .illegalRequest,
            .invalidFieldInCDB)
        assertCheck(
            harness.run([SCSIOpcode.writeAndVerify10, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 1, 0], dataOut: data),
            .illegalRequest, .lbaOutOfRange)
    }

    func testLargerBlockSize() throws {
        let harness = try Harness(size: 1 << 20, blockSize: 4096)
        harness.ready()
        let data = (0..<8192).map { UInt8(truncatingIfNeeded: $0 / 3) }
        assertGood(harness.run([SCSIOpcode.write10, 0, 0, 0, 0, 1, 0, 0, 2, 0], dataOut: data))
        XCTAssertEqual(harness.store.bytes(at: 4096, count: 8192), data)
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 1, 0, 0, 2, 0])), data)
        assertCheck(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 255, 0, 0, 2, 0]), .illegalRequest, .lbaOutOfRange)
    }
}

/// What a CDB asks the initiator to send, as the transport learns it before moving any data.
final class DataOutDemandTests: XCTestCase {
    private func demand(_ harness: Harness, _ cdb: [UInt8], lun: UInt64 = 1, expected: UInt32 = 1 << 20) -> DataOutDemand {
        let padded = cdb + [UInt8](repeating: 0, count: max(0, 16 - cdb.count))
        return harness.device.dataOutDemand(cdb: ByteBuffer(bytes: padded), lun: lun, expectedDataTransferLength: expected)
    }

    func testEveryDataOutCommandNamesWhatItsCDBAsksFor() throws {
        let harness = try Harness(options: LogicalUnitOptions(thinProvisioning: true))
        let cases: [([UInt8], Int)] = [
            ([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 2, 0], 1024),
            ([SCSIOpcode.write6, 0, 0, 0, 0, 0], 256 * 512),
            ([SCSIOpcode.write16, 0] + be(0, 8) + be(3, 4) + [0, 0], 1536),
            ([SCSIOpcode.writeAndVerify10, 2, 0, 0, 0, 0, 0, 0, 1, 0], 512),
            ([SCSIOpcode.verify10, 2, 0, 0, 0, 0, 0, 0, 3, 0], 1536),
            ([SCSIOpcode.verify10, 6, 0, 0, 0, 0, 0, 0, 3, 0], 512),
            ([SCSIOpcode.verify10, 0, 0, 0, 0, 0, 0, 0, 3, 0], 0),
            ([SCSIOpcode.writeSame10, 0, 0, 0, 0, 0, 0, 0, 3, 0], 512),
            ([SCSIOpcode.writeSame16, 1] + be(0, 8) + be(3, 4) + [0, 0], 0),
            ([SCSIOpcode.compareAndWrite, 0] + be(0, 8) + [0, 0, 0, 2, 0, 0], 2048),
            ([SCSIOpcode.modeSelect6, 0x10, 0, 0, 24, 0], 24),
            ([SCSIOpcode.unmap, 0, 0, 0, 0, 0, 0, 0, 24, 0], 24),
            ([SCSIOpcode.persistentReserveOut, 0, 0, 0, 0, 0, 0, 0, 24, 0], 24),
            ([SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0], 0),
            ([SCSIOpcode.testUnitReady, 0, 0, 0, 0, 0], 0),
        ]
        for (cdb, length) in cases {
            XCTAssertEqual(demand(harness, cdb).length, length, "opcode \(cdb[0])")
        }
        XCTAssertEqual(demand(harness, [SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 2, 0], lun: 9).length, 0, "no such LUN")
    }

    func testTheTransportGathersNoMoreThanTheCDBNamesOrTheInitiatorAnnounced() throws {
        let harness = try Harness()
        let write1 = [SCSIOpcode.write16, 0] + be(0, 8) + be(1, 4) + [0, 0]
        // A one-block write announced as 4 GiB gathers one block: nothing sized from the header.
        XCTAssertEqual(demand(harness, write1, expected: .max), DataOutDemand(length: 512, gather: 512))
        XCTAssertEqual(demand(harness, [SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 2, 0], expected: 512).gather, 512)
        // Over the maximum transfer: refused, so nothing is gathered.
        let huge = [SCSIOpcode.write16, 0] + be(0, 8) + be(UInt64(SCSITargetDevice.maximumTransferBytes / 512 + 1), 4) + [0, 0]
        XCTAssertEqual(demand(harness, huge, expected: .max).gather, 0)
        // WRITE SAME and COMPARE AND WRITE gather what was announced, so a mismatch shows.
        let writeSame = [SCSIOpcode.writeSame10, 0, 0, 0, 0, 0, 0, 0, 3, 0]
        XCTAssertEqual(demand(harness, writeSame, expected: 512).gather, 512)
        XCTAssertEqual(demand(harness, writeSame, expected: 1024).gather, 1024)
        XCTAssertEqual(demand(harness, writeSame, expected: .max).gather, 0, "but never past the maximum")
        let compareAndWrite = [SCSIOpcode.compareAndWrite, 0] + be(0, 8) + [0, 0, 0, 1, 0, 0]
        XCTAssertEqual(demand(harness, compareAndWrite, expected: 2048), DataOutDemand(length: 1024, gather: 2048))
    }

    func testPartOfABlockIsRefusedAndNothingIsWritten() throws {
        let harness = try Harness()
        harness.ready()
        let old = [UInt8](repeating: 0x61, count: 1024)
        harness.write(lba: 0, old)
        let write1 = [SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0]
        assertCheck(
            harness.run(write1, dataOut: [UInt8](repeating: 0x62, count: 200)), .illegalRequest,
            .invalidFieldInCommandInformationUnit)
        XCTAssertEqual(harness.read(lba: 0, blocks: 2), old)
        // Whole blocks of a longer write: those are written, the rest stays (the residual says so).
        assertGood(harness.run([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 2, 0], dataOut: [UInt8](repeating: 0x62, count: 512)))
        XCTAssertEqual(harness.read(lba: 0, blocks: 2), [UInt8](repeating: 0x62, count: 512) + old.prefix(512))
        assertCheck(
            harness.run([SCSIOpcode.writeSame10, 0, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: [UInt8](repeating: 1, count: 256)),
            .illegalRequest, .parameterListLengthError)
    }

    func testTransfersOverTheMaximumAreRefused() throws {
        let harness = try Harness()
        harness.ready()
        let blocks = UInt64(SCSITargetDevice.maximumTransferBytes / 512)
        assertCheck(
            harness.run([SCSIOpcode.read16, 0] + be(0, 8) + be(blocks + 1, 4) + [0, 0]), .illegalRequest, .invalidFieldInCDB)
        assertCheck(
            harness.run([SCSIOpcode.write16, 0] + be(0, 8) + be(blocks + 1, 4) + [0, 0]), .illegalRequest,
            .invalidFieldInCDB)
        XCTAssertEqual(harness.read(lba: 0, blocks: Int(blocks)).count, SCSITargetDevice.maximumTransferBytes)
    }
}
