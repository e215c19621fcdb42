import SCSIProtocol
import XCTest

final class CDBTests: XCTestCase {
    func testBlockRangeFollowsTheCDBSize() {
        XCTAssertTrue(CDB([0x08, 0x1F, 0xFF, 0xFE, 0x00, 0]).blockRange == (0x1F_FFFE, 256), "READ(6) length 0 is 256")
        XCTAssertTrue(CDB([0x0A, 0xE1, 0x02, 0x03, 0x04, 0]).blockRange == (0x01_0203, 4), "top LBA bits are reserved")
        XCTAssertTrue(CDB([0x28, 0, 0x12, 0x34, 0x56, 0x78, 0, 0x01, 0x02, 0]).blockRange == (0x1234_5678, 0x0102))
        XCTAssertTrue(CDB([0xA8, 0, 0, 0, 0, 9, 0x01, 0x02, 0x03, 0x04, 0, 0]).blockRange == (9, 0x0102_0304))
        XCTAssertTrue(
            CDB([0x88, 0, 0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99, 0x88, 0, 0, 0x10, 0, 0, 0]).blockRange
                == (0xFFEE_DDCC_BBAA_9988, 0x1000))
    }

    func testShortCDBReadsAsZeroPadded() {
        let cdb = CDB([0x12, 0x01])
        XCTAssertEqual(cdb.count, 2)
        XCTAssertEqual(cdb[1], 0x01)
        XCTAssertEqual(cdb[4], 0)
        XCTAssertEqual(cdb[200], 0)
        XCTAssertEqual(cdb.length, 6)
    }

    func testFieldReadersAndControlByte() {
        let cdb = CDB([0x9E, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0x20, 0, 0x04])
        XCTAssertEqual(cdb.serviceAction, 0x10)
        XCTAssertEqual(cdb.uint64(at: 2), 0x0102_0304_0506_0708)
        XCTAssertEqual(cdb.uint32(at: 10), 0x20)
        XCTAssertEqual(cdb.uint24(at: 1), 0x10_0102)
        XCTAssertEqual(cdb.control, 0x04)
        XCTAssertEqual(CDB([0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF]).control, 0x80, "CONTROL is byte 9 of a 10-byte CDB")
    }

    func testCDBLengthByGroup() {
        XCTAssertEqual(SCSIOpcode.cdbLength(0x00), 6)
        XCTAssertEqual(SCSIOpcode.cdbLength(0x5A), 10)
        XCTAssertEqual(SCSIOpcode.cdbLength(0x7F), nil)
        XCTAssertEqual(SCSIOpcode.cdbLength(0x9E), 16)
        XCTAssertEqual(SCSIOpcode.cdbLength(0xA0), 12)
        XCTAssertEqual(SCSIOpcode.cdbLength(0xC0), nil)
    }
}

final class SenseDataTests: XCTestCase {
    func testFixedFormatLayoutMatchesTgtd() {
        // What tgtd sent for the first TEST UNIT READY of a session.
        let sense = FixedFormatSense(key: .unitAttention, code: .powerOnResetOrBusDeviceReset)
        XCTAssertEqual(sense.bytes, hex("700006000000000a00000000290000000000"))
    }

    func testInformationSetsValidAndFieldPointerSetsSKSV() {
        let sense = FixedFormatSense(
            key: .illegalRequest, code: .invalidFieldInCDB, information: 0x0102_0304,
            fieldPointer: .init(inCDB: true, byte: 2, bit: 2))
        let bytes = sense.bytes
        XCTAssertEqual(bytes[0], 0xF0)
        XCTAssertEqual(Array(bytes[3...6]), [1, 2, 3, 4])
        XCTAssertEqual(Array(bytes[15...17]), [0xCA, 0x00, 0x02])
        XCTAssertEqual(FixedFormatSense(parsing: bytes), sense)
    }

    func testParsingRejectsDescriptorFormat() {
        XCTAssertNil(FixedFormatSense(parsing: [0x72, 0x05, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    }
}

final class LUNAddressingTests: XCTestCase {
    func testPeripheralBelow256AndFlatAbove() {
        XCTAssertEqual(SAMLUN.encode(1), 0x0001_0000_0000_0000)
        XCTAssertEqual(SAMLUN.encode(255), 0x00FF_0000_0000_0000)
        XCTAssertEqual(SAMLUN.encode(300), 0x412C_0000_0000_0000)
        XCTAssertEqual(SAMLUN.encode(16383), 0x7FFF_0000_0000_0000)
        XCTAssertNil(SAMLUN.encode(16384))
        for lun: UInt64 in [0, 1, 255, 256, 300, 16383] {
            XCTAssertEqual(SAMLUN.decode(SAMLUN.encode(lun)!), lun)
        }
        XCTAssertNil(SAMLUN.decode(0x0001_0000_0000_0001), "second level present")
        XCTAssertNil(SAMLUN.decode(0x0101_0000_0000_0000), "bus 1")
    }
}

final class ModeParameterListTests: XCTestCase {
    func testSenseDataHeadersCountThemselvesOut() {
        let page = ModePage(pageCode: 0x08, parameters: [0x04, 0])
        let six = ModeParameterList.senseData(
            tenByte: false, deviceSpecific: 0x10, blockDescriptor: .short(blocks: 0x1_0000_0000, blockLength: 512),
            pages: [page])
        XCTAssertEqual(six, [15, 0, 0x10, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x02, 0, 0x08, 2, 0x04, 0])
        let ten = ModeParameterList.senseData(
            tenByte: true, deviceSpecific: 0x90, blockDescriptor: .long(blocks: 5, blockLength: 4096), pages: [])
        XCTAssertEqual(ten, [0, 22, 0, 0x90, 1, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0x10, 0])
    }

    func testSubpageFormatHeader() {
        XCTAssertEqual(ModePage(pageCode: 0x0A, subpageCode: 1, parameters: [7]).bytes, [0x4A, 1, 0, 1, 7])
    }

    func testParseSelectSplitsDescriptorAndPages() throws {
        let list: [UInt8] = [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 2, 0, 0x08, 2, 0x04, 0, 0x4A, 1, 0, 1, 9]
        let parsed = try ModeParameterList.parseSelect(list, tenByte: false)
        XCTAssertEqual(parsed.blockDescriptor, .short(blocks: 0, blockLength: 512))
        XCTAssertEqual(
            parsed.pages,
            [ModePage(pageCode: 8, parameters: [4, 0]), ModePage(pageCode: 0x0A, subpageCode: 1, parameters: [9])])
    }

    func testParseSelectErrors() {
        XCTAssertThrowsError(try ModeParameterList.parseSelect([0, 0, 0], tenByte: false)) {
            XCTAssertEqual($0 as? ModeParameterList.SelectError, .truncated)
        }
        XCTAssertThrowsError(try ModeParameterList.parseSelect([0, 0, 0, 0, 0x08, 4, 0], tenByte: false)) {
            XCTAssertEqual($0 as? ModeParameterList.SelectError, .truncated)
        }
        XCTAssertThrowsError(try ModeParameterList.parseSelect([0, 0, 0, 4, 0, 0, 0, 0], tenByte: false)) {
            XCTAssertEqual($0 as? ModeParameterList.SelectError, .invalidField(byte: 3))
        }
        XCTAssertThrowsError(try ModeParameterList.parseSelect([0, 0, 0, 0, 0x88, 1, 0], tenByte: false)) {
            XCTAssertEqual($0 as? ModeParameterList.SelectError, .invalidField(byte: 4), "PS bit")
        }
    }
}

final class InquiryDataTests: XCTestCase {
    func testFieldsArePaddedWithSpacesAndCut() {
        XCTAssertEqual(StandardInquiryData.padded("IET", to: 8), Array("IET     ".utf8))
        XCTAssertEqual(StandardInquiryData.padded("ABCDEFGHIJ", to: 4), Array("ABCD".utf8))
        XCTAssertEqual(StandardInquiryData.padded("a\u{7}b", to: 4), Array("a b ".utf8))
    }
}

final class TargetPortGroupsDataTests: XCTestCase {
    func testReportLayouts() {
        let group = TargetPortGroupsData.Descriptor(
            preferred: true, state: 2, supportedStates: TargetPortGroupsData.supportedStates, groupID: 0x0102,
            statusCode: 1, ports: [1, 0x0203])
        XCTAssertEqual(
            TargetPortGroupsData.report([group], extendedHeader: false), hex("00000010" + "82cf010200010002" + "00000001" + "00000203"))
        XCTAssertEqual(
            TargetPortGroupsData.report([group], extendedHeader: true, implicitTransitionSeconds: 10),
            hex("00000014" + "100a0000" + "82cf010200010002" + "00000001" + "00000203"))
        XCTAssertEqual(TargetPortGroupsData.report([], extendedHeader: false), [0, 0, 0, 0])
        // TARGET PORT COUNT is one byte: no more than 255 ports are listed.
        var crowded = group
        crowded.ports = Array(1...300)
        XCTAssertEqual(TargetPortGroupsData.report([crowded], extendedHeader: false).count, 4 + 8 + 4 * 255)
    }

    func testSetParsingNeverReadsPastWhatCame() throws {
        let list: [UInt8] = [0, 0, 0, 0, 0xF1, 0xFF, 0, 2, 0x02, 0, 0x12, 0x34]
        XCTAssertEqual(
            try TargetPortGroupsData.parseSet(list, listLength: 12),
            [.init(state: 1, groupOrPort: 2, offset: 4), .init(state: 2, groupOrPort: 0x1234, offset: 8)])
        XCTAssertEqual(try TargetPortGroupsData.parseSet(list, listLength: 8), [.init(state: 1, groupOrPort: 2, offset: 4)])
        XCTAssertEqual(try TargetPortGroupsData.parseSet([], listLength: 0), [])
        XCTAssertEqual(try TargetPortGroupsData.parseSet([0, 0, 0, 0], listLength: 4), [])
        for (bytes, length) in [(list, 16), (list, 10), (list, 3), (Array(list.prefix(7)), 8)] {
            XCTAssertThrowsError(try TargetPortGroupsData.parseSet(bytes, listLength: length), "length \(length)") {
                XCTAssertEqual($0 as? TargetPortGroupsData.ParseError, .lengthError)
            }
        }
    }

    func testTargetPortDesignators() {
        XCTAssertEqual(Designator.relativeTargetPort(0x0102).bytes, [0x51, 0x94, 0, 4, 0, 0, 1, 2])
        XCTAssertEqual(Designator.targetPortGroup(7).bytes, [0x51, 0x95, 0, 4, 0, 0, 0, 7])
        XCTAssertEqual(Designator.scsiNameString(ofTargetPort: "iqn.x,t,0x1")?.bytes, [0x53, 0x98, 0, 12] + Array("iqn.x,t,0x1".utf8) + [0])
        XCTAssertEqual(Designator.scsiNameString(ofTargetPort: "iqn.xy,t,0x1")?.bytes.count, 4 + 16, "NUL, then padding to 4")
        XCTAssertNil(Designator.scsiNameString(ofTargetPort: ""))
        XCTAssertEqual(Designator(codeSet: .binary, type: .naa, value: [1]).bytes, [1, 3, 0, 1, 1], "no PIV without a protocol")
    }
}
