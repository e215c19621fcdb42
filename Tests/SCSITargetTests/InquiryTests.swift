import NIOCore
import SCSIProtocol
import Backstore
import XCTest

@testable import SCSITarget

/// INQUIRY data byte for byte as Debian's tgtd 1.0.85 sent it for target 1 (captured with
/// tshark while iscsi-inq and iscsi-ls ran against LUN 0 and a 1 GiB LUN 1).
final class InquiryTests: XCTestCase {
    static let tgtdStandard0 = hex(
        "0c0005123d0000024945542020202020436f6e74726f6c6c6572202020202020303030310000000000000000000000000000000000000000000004c0096001fb0000"
    )
    static let tgtdStandard1 = hex(
        "000005123d00000249455420202020205649525455414c2d4449534b20202020303030310000000000000000000000000000000000000000000004c0096003000000"
    )
    static let tgtdDeviceID1 = hex(
        "00830048020100244945542020202020303030313030303100000000000000000000000000000000000000000103000830000001000000010103001060000000000000000e00000000010001"
    )
    static let tgtdDeviceID0 = hex(
        "0c830048020100244945542020202020303030313030303000000000000000000000000000000000000000000103000830000001000000000103001060000000000000000e00000000010000"
    )

    func inquiry(_ harness: Harness, lun: UInt64 = 1, evpd: Bool = false, page: UInt8 = 0, length: UInt16 = 255)
        -> SCSICommandResult
    {
        harness.run([SCSIOpcode.inquiry, evpd ? 1 : 0, page] + be(UInt64(length), 2) + [0], lun: lun)
    }

    func testStandardDataMatchesTgtd() throws {
        let harness = try Harness()
        XCTAssertEqual(assertGood(inquiry(harness, lun: 0, length: 512)), Self.tgtdStandard0)
        XCTAssertEqual(assertGood(inquiry(harness, lun: 1, length: 512)), Self.tgtdStandard1)
    }

    func testAllocationLengthTruncates() throws {
        let harness = try Harness()
        XCTAssertEqual(assertGood(inquiry(harness, length: 5)), Array(Self.tgtdStandard1.prefix(5)))
        XCTAssertEqual(assertGood(inquiry(harness, length: 64)), Array(Self.tgtdStandard1.prefix(64)))
        XCTAssertEqual(assertGood(inquiry(harness, length: 0)), [])
        XCTAssertEqual(assertGood(inquiry(harness, evpd: true, page: 0x80, length: 6)), hex("008000242020"))
    }

    /// A RAM LUN reports a medium that does not rotate (the kernel then shows rotational=0);
    /// an administrator's rotation_rate still wins.
    func testMemoryLUNsReportNoRotation() throws {
        let harness = try Harness()
        try harness.device.addLogicalUnit(2, backstore: MemoryBackstore(size: 1 << 20), blockSize: 512, options: .init())
        XCTAssertEqual(assertGood(inquiry(harness, lun: 2, evpd: true, page: 0xB1)).prefix(6), hex("00b100400001")[...])
        try harness.device.addLogicalUnit(
            3, backstore: MemoryBackstore(size: 1 << 20), blockSize: 512, options: LogicalUnitOptions(rotationRate: 7200))
        XCTAssertEqual(assertGood(inquiry(harness, lun: 3, evpd: true, page: 0xB1)).prefix(6), hex("00b100401c20")[...])
    }

    func testVPDPagesMatchTgtd() throws {
        let harness = try Harness()
        XCTAssertEqual(assertGood(inquiry(harness, evpd: true, page: 0x00)), hex("00000006008083b0b1b2"))
        XCTAssertEqual(assertGood(inquiry(harness, lun: 0, evpd: true, page: 0x00)), hex("0c000006008083b0b1b2"))
        XCTAssertEqual(
            assertGood(inquiry(harness, evpd: true, page: 0x80)),
            hex("00800024") + Array(repeating: 0x20, count: 30) + Array("beaf11".utf8))
        XCTAssertEqual(
            assertGood(inquiry(harness, lun: 0, evpd: true, page: 0x80)),
            hex("0c800024") + Array(repeating: 0x20, count: 30) + Array("beaf10".utf8))
        XCTAssertEqual(assertGood(inquiry(harness, evpd: true, page: 0x83)), Self.tgtdDeviceID1)
        XCTAssertEqual(assertGood(inquiry(harness, lun: 0, evpd: true, page: 0x83)), Self.tgtdDeviceID0)
        // One deliberate difference from tgtd: MAXIMUM TRANSFER LENGTH 8 MiB and OPTIMAL TRANSFER
        // LENGTH 1 MiB (in 512-byte blocks), where tgtd reports no limit.
        XCTAssertEqual(
            assertGood(inquiry(harness, evpd: true, page: 0xB0)),
            hex("00b0003c008000000000400000000800") + Array(repeating: 0, count: 48))
        XCTAssertEqual(assertGood(inquiry(harness, evpd: true, page: 0xB1)), hex("00b10040") + Array(repeating: 0, count: 64))
        XCTAssertEqual(assertGood(inquiry(harness, evpd: true, page: 0xB2)), hex("00b2000400000000"))
        XCTAssertEqual(assertGood(inquiry(harness, lun: 0, evpd: true, page: 0xB2)), hex("0cb2000400000000"))
    }

    func testBlockLimitsReportsTheWriteSameLimit() throws {
        let page = assertGood(inquiry(try Harness(options: LogicalUnitOptions(maximumWriteSameBlocks: 0xFFFF)), evpd: true, page: 0xB0))
        XCTAssertEqual(page.count, 64)
        XCTAssertEqual(Array(page[36..<44]), be(0xFFFF, 8), "MAXIMUM WRITE SAME LENGTH")
        XCTAssertEqual(page[5], 128, "MAXIMUM COMPARE AND WRITE LENGTH as tgtd reports it")
    }

    func testPageCodeWithoutEVPDAndUnknownPagesAreInvalidFields() throws {
        let harness = try Harness()
        assertCheck(inquiry(harness, evpd: false, page: 0x80), .illegalRequest, .invalidFieldInCDB)
        assertCheck(inquiry(harness, evpd: false, page: 0x01), .illegalRequest, .invalidFieldInCDB)
        assertCheck(inquiry(harness, evpd: true, page: 0x86), .illegalRequest, .invalidFieldInCDB)
    }

    func testEveryListedPageCanBeRead() throws {
        let harness = try Harness()
        let list = assertGood(inquiry(harness, evpd: true, page: 0))
        XCTAssertEqual(Int(list[3]), list.count - 4)
        for page in list[4...] {
            let data = assertGood(inquiry(harness, evpd: true, page: page))
            XCTAssertEqual(data[1], page)
            XCTAssertEqual(Int(data[2]) << 8 | Int(data[3]), data.count - 4, "page length of \(page)")
        }
    }

    func testMissingLUNAnswersWithQualifierThree() throws {
        let harness = try Harness()
        // tgtd: LUN 0's data with peripheral byte 0x7F.
        XCTAssertEqual(assertGood(inquiry(harness, lun: 5, length: 96)), [0x7F] + Self.tgtdStandard0.dropFirst())
        XCTAssertEqual(assertGood(inquiry(harness, lun: 5, evpd: true, page: 0xB2)), hex("7fb2000400000000"))
        // The controller's own data is untouched by that.
        XCTAssertEqual(assertGood(inquiry(harness, lun: 0, length: 512)), Self.tgtdStandard0)
    }

    func testOptionsChangeIdentity() throws {
        let options = LogicalUnitOptions(
            removable: true, vendor: "SWIFT", product: "DISK", revision: "7", serialNumber: "SN-42",
            scsiID: "ab12")
        let harness = try Harness(options: options)
        let standard = assertGood(inquiry(harness))
        XCTAssertEqual(standard[1], 0x80, "RMB")
        XCTAssertEqual(Array(standard[8..<36]), Array("SWIFT   DISK            7   ".utf8))
        let serial = assertGood(inquiry(harness, evpd: true, page: 0x80))
        XCTAssertEqual(Array(serial.suffix(6)), Array(" SN-42".utf8))
        let ids = assertGood(inquiry(harness, evpd: true, page: 0x83))
        XCTAssertEqual(Array(ids[8..<12]), Array("ab12".utf8))
        XCTAssertEqual(Array(ids.suffix(16)), hex("6000000000000000000000000000ab12"), "NAA 6 from the hex digits")
    }

    /// Two gateways (tgtd processes with their own target IDs, even other LUNs) exporting one
    /// store under the administrator's scsi_id and scsi_sn present one logical unit: VPD 0x80
    /// and 0x83 are byte for byte the same, so multipath joins their paths.
    func testAdministratorsSCSIIDGivesTheSameIdentityOnEveryGateway() throws {
        let options = LogicalUnitOptions(serialNumber: "gw-disk-7", scsiID: "gw-disk-7")
        let first = SCSITargetDevice(targetID: 1, targetName: "iqn.2026-11.test:gw1")
        let second = SCSITargetDevice(targetID: 7, targetName: "iqn.2026-11.test:gw2")
        try first.addLogicalUnit(1, backstore: MemoryBackstore(size: 1 << 20), options: options)
        try second.addLogicalUnit(3, backstore: MemoryBackstore(size: 1 << 20), options: options)
        let loop = ImmediateEventLoop()
        func page(_ device: SCSITargetDevice, lun: UInt64, _ code: UInt8) -> [UInt8] {
            var result: SCSICommandResult?
            let request = SCSICommandRequest(
                lun: lun, cdb: ByteBuffer(bytes: [SCSIOpcode.inquiry, 1, code, 1, 0, 0]), expectedDataTransferLength: 256)
            device.execute(request, nexus: Harness.nexusA, on: loop).whenSuccess { result = $0 }
            return result.map { assertGood($0) } ?? []
        }
        for code: UInt8 in [0x80, 0x83] {
            XCTAssertEqual(page(first, lun: 1, code), page(second, lun: 3, code), "page \(code)")
        }
        // The locally assigned NAA is a hash of the scsi_id: "3" and 60 bits.
        let naa = Array(page(first, lun: 1, 0x83)[48..<56])
        XCTAssertEqual(naa[0] >> 4, 3)
        XCTAssertNotEqual(naa, hex("3000000100000001"), "not from target and LUN numbers")

        // Without scsi_id the designators stay tgt's, from target ID and LUN.
        try first.addLogicalUnit(2, backstore: MemoryBackstore(size: 1 << 20))
        XCTAssertEqual(Array(page(first, lun: 2, 0x83)[48..<56]), hex("3000000100000002"))
    }
}
