import SCSIProtocol
import XCTest

@testable import SCSITarget

final class ModeSenseTests: XCTestCase {
    func modeSense6(_ harness: Harness, dbd: Bool = false, control: UInt8 = 0, page: UInt8, subpage: UInt8 = 0, length: UInt8 = 255)
        -> SCSICommandResult
    {
        harness.run([SCSIOpcode.modeSense6, dbd ? 0x08 : 0, control << 6 | page, subpage, length, 0])
    }

    /// (page, subpage, length) of each page after the header and block descriptor.
    func pages(_ data: [UInt8], headerLength: Int) -> [(UInt8, UInt8, Int)] {
        let descriptorLength = headerLength == 4 ? Int(data[3]) : Int(data[6]) << 8 | Int(data[7])
        var offset = headerLength + descriptorLength
        var result: [(UInt8, UInt8, Int)] = []
        while offset < data.count {
            if data[offset] & 0x40 != 0 {
                let length = Int(data[offset + 2]) << 8 | Int(data[offset + 3])
                result.append((data[offset] & 0x3F, data[offset + 1], length))
                offset += 4 + length
            } else {
                result.append((data[offset], 0, Int(data[offset + 1])))
                offset += 2 + Int(data[offset + 1])
            }
        }
        XCTAssertEqual(offset, data.count)
        return result
    }

    func testAllPagesCurrent() throws {
        let harness = try Harness()
        harness.ready()
        let data = assertGood(modeSense6(harness, page: 0x3F))
        XCTAssertEqual(Int(data[0]), data.count - 1)
        XCTAssertEqual(data[2], 0x10, "DPOFUA, not write protected")
        XCTAssertEqual(Array(data[3...11]), [8, 0, 0x20, 0, 0, 0, 0, 2, 0], "2097152 blocks of 512 bytes")
        XCTAssertTrue(pages(data, headerLength: 4).map { [$0.0, $0.1] } == [[2, 0], [8, 0], [0x0A, 0], [0x1C, 0]])
        let withSubpages = assertGood(modeSense6(harness, page: 0x3F, subpage: 0xFF))
        XCTAssertTrue(pages(withSubpages, headerLength: 4).map { [$0.0, $0.1] } == [[2, 0], [8, 0], [0x0A, 0], [0x0A, 1], [0x1C, 0]])
    }

    func testCachingAndControlPagesMatchTgtd() throws {
        let harness = try Harness()
        harness.ready()
        XCTAssertEqual(
            assertGood(modeSense6(harness, dbd: true, page: 0x08)), hex("1700100008121400ffff0000ffffffff8014000000000000"))
        XCTAssertEqual(assertGood(modeSense6(harness, dbd: true, page: 0x0A)), hex("0f0010000a0a02100000000000000200"))
        XCTAssertEqual(assertGood(modeSense6(harness, dbd: true, control: 1, page: 0x08))[6], 0x04, "only WCE changeable")
        XCTAssertEqual(assertGood(modeSense6(harness, dbd: true, control: 1, page: 0x0A))[8], 0x08, "only SWP changeable")
        XCTAssertEqual(assertGood(modeSense6(harness, dbd: true, control: 2, page: 0x08))[6], 0x14, "default")
    }

    func testWriteCacheFollowsTheStoreOrTheOption() throws {
        let noCache = try Harness(volatileCache: false)
        noCache.ready()
        XCTAssertEqual(assertGood(modeSense6(noCache, dbd: true, page: 0x08))[6], 0x10)
        let forced = try Harness(options: LogicalUnitOptions(writeCache: false))
        forced.ready()
        XCTAssertEqual(assertGood(modeSense6(forced, dbd: true, page: 0x08))[6], 0x10)
    }

    func testReadOnlySetsWP() throws {
        let harness = try Harness(options: LogicalUnitOptions(readOnly: true))
        harness.ready()
        XCTAssertEqual(assertGood(modeSense6(harness, page: 0x3F))[2], 0x90)
    }

    func testErrorsAndTruncation() throws {
        let harness = try Harness()
        harness.ready()
        assertCheck(modeSense6(harness, control: 3, page: 0x3F), .illegalRequest, .savingParametersNotSupported)
        assertCheck(modeSense6(harness, page: 0x01), .illegalRequest, .invalidFieldInCDB)
        assertCheck(modeSense6(harness, page: 0x08, subpage: 0x01), .illegalRequest, .invalidFieldInCDB)
        assertCheck(modeSense6(harness, page: 0x3F, subpage: 0x05), .illegalRequest, .invalidFieldInCDB)
        let full = assertGood(modeSense6(harness, page: 0x3F))
        XCTAssertEqual(assertGood(modeSense6(harness, page: 0x3F, length: 4)), Array(full.prefix(4)))
        XCTAssertEqual(
            assertGood(modeSense6(harness, page: 0x0A, subpage: 0xFF)).count, 4 + 8 + 12 + 32, "control and its subpage")
    }

    func testTenByteFormAndLongDescriptor() throws {
        let harness = try Harness()
        harness.ready()
        let short = assertGood(harness.run([SCSIOpcode.modeSense10, 0, 0x3F, 0, 0, 0, 0, 1, 0, 0]))
        let six = assertGood(modeSense6(harness, page: 0x3F))
        XCTAssertEqual(Int(short[0]) << 8 | Int(short[1]), short.count - 2)
        XCTAssertEqual(Array(short[8...]), Array(six[4...]))
        let long = assertGood(harness.run([SCSIOpcode.modeSense10, 0x10, 0x08, 0, 0, 0, 0, 1, 0, 0]))
        XCTAssertEqual(Array(long[2...7]), [0, 0x10, 1, 0, 0, 16])
        XCTAssertEqual(Array(long[8..<24]), be(2_097_152, 8) + [0, 0, 0, 0] + be(512, 4))
    }

    func testControllerHasNoModePages() throws {
        let harness = try Harness()
        harness.ready(lun: 0)
        assertCheck(modeSenseOnLUN0(harness), .illegalRequest, .invalidCommandOperationCode)
    }

    private func modeSenseOnLUN0(_ harness: Harness) -> SCSICommandResult {
        harness.run([SCSIOpcode.modeSense6, 0, 0x3F, 0, 255, 0], lun: 0)
    }
}

final class ModeSelectTests: XCTestCase {
    static let caching = hex("08121400ffff0000ffffffff8014000000000000")
    static let control = hex("0a0a02100000000000000200")

    func modeSelect6(_ harness: Harness, flags: UInt8 = 0x10, _ list: [UInt8], length: Int? = nil, nexus: SCSINexus = Harness.nexusA)
        -> SCSICommandResult
    {
        harness.run([SCSIOpcode.modeSelect6, flags, 0, 0, UInt8(length ?? list.count), 0], dataOut: list, nexus: nexus)
    }

    func withWCE(_ on: Bool) -> [UInt8] {
        var page = Self.caching
        page[2] = on ? 0x14 : 0x10
        return page
    }

    func testTurningTheWriteCacheOff() throws {
        let harness = try Harness()
        harness.ready()
        harness.ready(nexus: Harness.nexusB)
        XCTAssertEqual(assertGood(modeSelect6(harness, [0, 0, 0, 0] + withWCE(false))).count, 0)
        let listLength = modeSelect6(harness, [0, 0, 0, 0] + withWCE(false))
        assertGood(listLength)
        let page = assertGood(harness.run([SCSIOpcode.modeSense6, 0x08, 0x08, 0, 255, 0]))
        XCTAssertEqual(page[6], 0x10)
        assertGood(harness.run([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: [UInt8](repeating: 1, count: 512)))
        XCTAssertEqual(harness.store.writes.last?.fua, true)
        XCTAssertEqual(harness.device.logicalUnits[1].online, true)
        // Only the other nexus hears about it.
        assertCheck(harness.run([SCSIOpcode.testUnitReady], nexus: Harness.nexusB), .unitAttention, .modeParametersChanged)
        assertGood(harness.run([SCSIOpcode.testUnitReady]))
        // Selecting the same value again is no change.
        assertGood(modeSelect6(harness, [0, 0, 0, 0] + withWCE(false)))
        assertGood(harness.run([SCSIOpcode.testUnitReady], nexus: Harness.nexusB))
    }

    /// libiscsi's set_swp: the control page's SWP makes the unit write protected.
    func testSoftwareWriteProtect() throws {
        let harness = try Harness()
        harness.ready()
        var control = Self.control
        control[4] |= 0x08
        assertGood(harness.run([SCSIOpcode.modeSelect10, 0x10, 0, 0, 0, 0, 0, 0, 20, 0], dataOut: [0, 0, 0, 0, 0, 0, 0, 0] + control))
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.modeSense6, 0, 0x0A, 0, 255, 0]))[2], 0x90)
        XCTAssertTrue(harness.device.logicalUnits[1].softwareWriteProtect)
        assertCheck(
            harness.run([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: [UInt8](repeating: 1, count: 512)),
            .dataProtect, .writeProtected)
        assertGood(modeSelect6(harness, [0, 0, 0, 0] + Self.control))
        assertGood(
            harness.run([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: [UInt8](repeating: 1, count: 512)))
    }

    func testBlockDescriptorMustKeepTheBlockSize() throws {
        let harness = try Harness()
        harness.ready()
        assertGood(modeSelect6(harness, [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 2, 0] + withWCE(true)))
        assertCheck(
            modeSelect6(harness, [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 16, 0] + withWCE(true)), .illegalRequest,
            .invalidFieldInParameterList)
    }

    func testRefusals() throws {
        let harness = try Harness()
        harness.ready()
        var notChangeable = Self.caching
        notChangeable[13] = 0x20
        assertCheck(modeSelect6(harness, [0, 0, 0, 0] + notChangeable), .illegalRequest, .invalidFieldInParameterList)
        assertCheck(modeSelect6(harness, [0, 0, 0, 0] + Self.caching.dropLast()), .illegalRequest, .parameterListLengthError)
        assertCheck(
            modeSelect6(harness, [0, 0, 0, 0, 0x08, 0x11] + Self.caching.dropFirst(2).dropLast()), .illegalRequest,
            .invalidFieldInParameterList)
        assertCheck(modeSelect6(harness, [0, 0, 0, 0, 0x19, 2, 0, 0]), .illegalRequest, .invalidFieldInParameterList)
        assertCheck(modeSelect6(harness, [0, 5, 0, 0]), .illegalRequest, .invalidFieldInParameterList)  // medium type
        assertCheck(modeSelect6(harness, flags: 0x00, [0, 0, 0, 0] + Self.caching), .illegalRequest, .invalidFieldInCDB)
        assertCheck(modeSelect6(harness, flags: 0x11, [0, 0, 0, 0] + Self.caching), .illegalRequest, .invalidFieldInCDB)
        assertCheck(modeSelect6(harness, [0, 0, 0, 0], length: 8), .illegalRequest, .parameterListLengthError)
        // A refused list changes nothing, even when an earlier page in it was fine.
        assertCheck(modeSelect6(harness, [0, 0, 0, 0] + withWCE(false) + notChangeable), .illegalRequest, .invalidFieldInParameterList)
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.modeSense6, 0x08, 0x08, 0, 255, 0]))[6], 0x14)
        assertGood(modeSelect6(harness, [], length: 0))
    }
}
