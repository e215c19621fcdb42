import Backstore
import SCSIProtocol
import XCTest

@testable import SCSITarget

final class ReportLUNsTests: XCTestCase {
    func reportLUNs(_ harness: Harness, lun: UInt64 = 0, select: UInt8 = 0, length: UInt32 = 256) -> SCSICommandResult {
        harness.run([SCSIOpcode.reportLUNs, 0, select, 0, 0, 0] + be(UInt64(length), 4) + [0, 0], lun: lun)
    }

    func testListMatchesTgtd() throws {
        let harness = try Harness()
        // iscsi-ls asked tgtd for 16 bytes first, then 24.
        XCTAssertEqual(assertGood(reportLUNs(harness, length: 16)), hex("00000010000000000000000000000000"))
        XCTAssertEqual(assertGood(reportLUNs(harness, length: 24)), hex("000000100000000000000000000000000001000000000000"))
    }

    func testFlatAddressingAbove255AndAnyLUNAnswers() throws {
        let harness = try Harness()
        try harness.device.addLogicalUnit(300, backstore: TestMemoryStore(size: 1 << 20))
        let list = assertGood(reportLUNs(harness, lun: 77))
        XCTAssertEqual(list, hex("00000018000000000000000000000000000100000000000041" + "2c000000000000"))
    }

    func testSelectReportAndAllocationLength() throws {
        let harness = try Harness()
        XCTAssertEqual(assertGood(reportLUNs(harness, select: 1)), hex("0000000000000000"), "no well-known units")
        XCTAssertEqual(assertGood(reportLUNs(harness, select: 2)).count, 24)
        assertCheck(reportLUNs(harness, select: 3), .illegalRequest, .invalidFieldInCDB)
        assertCheck(reportLUNs(harness, length: 15), .illegalRequest, .invalidFieldInCDB)
    }

    func testNotHeldBackByUnitAttention() throws {
        let harness = try Harness()
        assertGood(reportLUNs(harness, lun: 1))
        harness.ready()
    }
}

final class ReportSupportedOperationCodesTests: XCTestCase {
    func rsoc(
        _ harness: Harness, lun: UInt64 = 1, options: UInt8, timeouts: Bool = false, opcode: UInt8 = 0,
        serviceAction: UInt16 = 0
    ) -> SCSICommandResult {
        harness.run(
            [SCSIOpcode.maintenanceIn, 0x0C, options | (timeouts ? 0x80 : 0), opcode] + be(UInt64(serviceAction), 2)
                + be(65535, 4) + [0, 0], lun: lun)
    }

    /// (opcode, service action or nil, CDB length) from an "all commands" answer.
    func descriptors(_ data: [UInt8], timeouts: Bool) -> [(UInt8, UInt16?, Int)] {
        XCTAssertEqual(Int(be32(data, 0)), data.count - 4)
        var result: [(UInt8, UInt16?, Int)] = []
        var offset = 4
        while offset < data.count {
            let flags = data[offset + 5]
            XCTAssertEqual(flags & 0x02 != 0, timeouts, "CTDP")
            let serviceAction = UInt16(data[offset + 2]) << 8 | UInt16(data[offset + 3])
            if flags & 0x01 == 0 { XCTAssertEqual(serviceAction, 0, "SERVACTV clear but a service action") }
            result.append(
                (data[offset], flags & 0x01 != 0 ? serviceAction : nil, Int(data[offset + 6]) << 8 | Int(data[offset + 7])))
            if timeouts { XCTAssertEqual(Array(data[offset + 8..<offset + 10]), [0, 0x0A]) }
            offset += timeouts ? 20 : 8
        }
        return result
    }

    func be32(_ data: [UInt8], _ offset: Int) -> UInt32 {
        data[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    func testDiskCommandList() throws {
        let harness = try Harness()
        harness.ready()
        let list = descriptors(assertGood(rsoc(harness, options: 0)), timeouts: false)
        let opcodes = list.map(\.0)
        XCTAssertEqual(opcodes, opcodes.sorted())
        XCTAssertEqual(
            Set(opcodes),
            [
                0x00, 0x03, 0x08, 0x0A, 0x12, 0x15, 0x16, 0x17, 0x1A, 0x1B, 0x1E, 0x25, 0x28, 0x2A, 0x2E, 0x2F, 0x34, 0x35,
                0x41, 0x55, 0x56, 0x57, 0x5A, 0x5E, 0x5F, 0x88, 0x89, 0x8A, 0x8E, 0x8F, 0x90, 0x91, 0x93, 0x9E, 0xA0, 0xA3,
                0xA8, 0xAA, 0xAE, 0xAF,
            ])
        let serviceActions: [UInt8: [UInt16]] = [0x5E: [0, 1, 2, 3], 0x5F: [0, 1, 2, 3, 4, 5, 6, 7], 0x9E: [0x10, 0x12], 0xA3: [0x0C]]
        for (opcode, serviceAction, length) in list {
            XCTAssertEqual(length, SCSIOpcode.cdbLength(opcode), "CDB length of \(opcode)")
            if let actions = serviceActions[opcode] {
                XCTAssertTrue(serviceAction.map(actions.contains) ?? false, "service action of \(opcode)")
            } else {
                XCTAssertNil(serviceAction)
            }
        }
        for (opcode, actions) in serviceActions {
            XCTAssertEqual(list.filter { $0.0 == opcode }.compactMap(\.1), actions, "service actions of \(opcode)")
        }
        XCTAssertEqual(descriptors(assertGood(rsoc(harness, options: 0, timeouts: true)), timeouts: true).count, list.count)
    }

    func testControllerCommandList() throws {
        let harness = try Harness()
        harness.ready(lun: 0)
        let list = descriptors(assertGood(rsoc(harness, lun: 0, options: 0)), timeouts: false)
        XCTAssertEqual(list.map(\.0), [0x00, 0x03, 0x12, 0xA0, 0xA3])
    }

    /// libiscsi's OneCommand: every listed command can be asked for alone, with the reporting
    /// option matching whether it has service actions, and its usage data starts with it.
    func testEachCommandAlone() throws {
        let harness = try Harness()
        harness.ready()
        for (opcode, serviceAction, length) in descriptors(assertGood(rsoc(harness, options: 0)), timeouts: false) {
            let wrong = rsoc(harness, options: serviceAction == nil ? 2 : 1, opcode: opcode, serviceAction: serviceAction ?? 0)
            let sense = assertCheck(wrong, .illegalRequest, .invalidFieldInCDB)
            XCTAssertEqual(sense?.fieldPointer, .init(inCDB: true, byte: 2, bit: 2))
            let one = assertGood(
                rsoc(harness, options: serviceAction == nil ? 1 : 2, opcode: opcode, serviceAction: serviceAction ?? 0))
            XCTAssertEqual(one[1], 0x03, "SUPPORT 011b")
            XCTAssertEqual(Int(one[2]) << 8 | Int(one[3]), length)
            XCTAssertEqual(one.count, 4 + length)
            XCTAssertEqual(one[4], opcode)
            if let serviceAction { XCTAssertEqual(UInt16(one[5] & 0x1F), serviceAction) }
            XCTAssertEqual(one.last, CommandSet.controlUsage)
        }
    }

    func testUsageDataOfTheBlockCommands() throws {
        let harness = try Harness()
        harness.ready()
        XCTAssertEqual(
            assertGood(rsoc(harness, options: 1, opcode: 0x28)), hex("0003000a2818ffffffff00ffff05"))
        for opcode: UInt8 in [0x28, 0x2A, 0xA8, 0xAA, 0x88, 0x8A] {
            XCTAssertEqual(assertGood(rsoc(harness, options: 1, opcode: opcode))[5] & 0x18, 0x18, "DPO FUA of \(opcode)")
        }
        for opcode: UInt8 in [0x2E, 0x2F, 0xAE, 0xAF, 0x8E, 0x8F] {
            XCTAssertEqual(assertGood(rsoc(harness, options: 1, opcode: opcode))[5] & 0x10, 0x10, "DPO of \(opcode)")
        }
        XCTAssertEqual(
            assertGood(rsoc(harness, options: 2, opcode: 0x9E, serviceAction: 0x10)),
            hex("000300109e10ffffffffffffffffffffffff0105"))
    }

    func testTimeoutsDescriptorAndUnsupportedCommands() throws {
        let harness = try Harness()
        harness.ready()
        let one = assertGood(rsoc(harness, options: 1, timeouts: true, opcode: 0x00))
        XCTAssertEqual(one, hex("0083000600000000000500") + [0x0A] + Array(repeating: 0, count: 10))
        XCTAssertEqual(assertGood(rsoc(harness, options: 1, opcode: 0x42)), [0, 0x01, 0, 0], "UNMAP: not supported")
        XCTAssertEqual(assertGood(rsoc(harness, options: 2, opcode: 0x9E, serviceAction: 0x13)), [0, 0x01, 0, 0])
        XCTAssertEqual(assertGood(rsoc(harness, options: 3, opcode: 0x28)).count, 14, "option 3 without service action")
        assertCheck(rsoc(harness, options: 4), .illegalRequest, .invalidFieldInCDB)
    }
}
