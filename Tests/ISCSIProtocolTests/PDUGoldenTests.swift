import ISCSIProtocol
import ISCSITestSupport
import NIOCore
import XCTest

/// Every PDU type against bytes written by hand from the RFC 7143 §11 layouts:
/// encoding must produce them exactly, and decoding them must give the PDU back.
final class PDUGoldenTests: XCTestCase {
    private let lun1 = SAMLUN.encode(1)

    private func assertGolden(_ pdu: ISCSIPDU, _ hex: String, file: StaticString = #filePath, line: UInt = #line) {
        let expected = PDUBuilders.hex(hex)
        var encoded = ByteBuffer()
        PDUEncoder().encode(pdu, into: &encoded)
        XCTAssertEqual(
            encoded, expected,
            "encoded:\n\(encoded.hexDump(format: .detailed))\nexpected:\n\(expected.hexDump(format: .detailed))",
            file: file, line: line)
        XCTAssertEqual(try PDUBuilders.decodeAll(expected), [pdu], file: file, line: line)
    }

    func testNOPOut() {
        let pdu = NOPOut(
            immediate: true, lun: lun1, initiatorTaskTag: 0x1122_3344, targetTransferTag: ISCSITag.reserved,
            cmdSN: 0x0102_0304, expStatSN: 0x0506_0708, dataSegment: ByteBuffer(string: "ping"))
        assertGolden(.nopOut(pdu), """
            40 80 00 00 00 00 00 04  00 01 00 00 00 00 00 00
            11 22 33 44 ff ff ff ff  01 02 03 04 05 06 07 08
            00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            70 69 6e 67
            """)
    }

    func testNOPIn() {
        let pdu = NOPIn(targetTransferTag: 0xabcd, statSN: 7, expCmdSN: 8, maxCmdSN: 0x27)
        assertGolden(.nopIn(pdu), """
            20 80 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            ff ff ff ff 00 00 ab cd  00 00 00 07 00 00 00 08
            00 00 00 27 00 00 00 00  00 00 00 00 00 00 00 00
            """)
    }

    func testSCSICommandWriteWithImmediateDataAndPadding() {
        let pdu = SCSICommand(
            final: true, write: true, attribute: 1, lun: SAMLUN.encode(2), initiatorTaskTag: 0x0a0b_0c0d,
            expectedDataTransferLength: 0x1000, cmdSN: 0x10, expStatSN: 0x20,
            cdb: PDUBuilders.cdb(0x2a, 0, 0, 0, 0, 0x08, 0, 0, 0x08, 0), dataSegment: ByteBuffer(string: "abcde"))
        assertGolden(.scsiCommand(pdu), """
            01 a1 00 00 00 00 00 05  00 02 00 00 00 00 00 00
            0a 0b 0c 0d 00 00 10 00  00 00 00 10 00 00 00 20
            2a 00 00 00 00 08 00 00  08 00 00 00 00 00 00 00
            61 62 63 64 65 00 00 00
            """)
    }

    func testSCSICommandWithExtendedCDBAndBidirectionalAHS() throws {
        let cdb = ByteBuffer(bytes: [0x7f] + (1...31).map { UInt8($0) })
        let pdu = SCSICommand(
            immediate: true, final: true, read: true, write: true, attribute: 2, initiatorTaskTag: 9,
            expectedDataTransferLength: 0x100, cmdSN: 1, expStatSN: 2, cdb: cdb,
            bidirectionalReadExpectedDataTransferLength: 0x200)
        XCTAssertEqual(pdu.cdb.readableBytes, 16)
        XCTAssertEqual(pdu.extendedCDB, ByteBuffer(bytes: (16...31).map { UInt8($0) }))
        assertGolden(.scsiCommand(pdu), """
            41 e2 00 00 07 00 00 00  00 00 00 00 00 00 00 00
            00 00 00 09 00 00 01 00  00 00 00 01 00 00 00 02
            7f 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f
            00 11 01 00 10 11 12 13  14 15 16 17 18 19 1a 1b
            1c 1d 1e 1f 00 05 02 00  00 00 02 00
            """)
    }

    func testSCSICommandWithPaddedExtendedCDB() {
        let pdu = SCSICommand(
            initiatorTaskTag: 1, cdb: ByteBuffer(bytes: Array(repeating: 0xcc, count: 17)))
        assertGolden(.scsiCommand(pdu), """
            01 81 00 00 02 00 00 00  00 00 00 00 00 00 00 00
            00 00 00 01 00 00 00 00  00 00 00 00 00 00 00 00
            cc cc cc cc cc cc cc cc  cc cc cc cc cc cc cc cc
            00 02 01 00 cc 00 00 00
            """)
    }

    func testSCSIResponse() throws {
        let pdu = SCSIResponse(
            bidirectionalReadResidualOverflow: true, residualUnderflow: true, response: .commandCompleted,
            status: 0x02, initiatorTaskTag: 0x0102_0304, snackTag: 0x0a, statSN: 0x100, expCmdSN: 0x200,
            maxCmdSN: 0x300, expDataSN: 4, bidirectionalReadResidualCount: 5, residualCount: 0x600,
            dataSegment: PDUBuilders.hex("00 03 70 00 05"))
        assertGolden(.scsiResponse(pdu), """
            21 92 00 02 00 00 00 05  00 00 00 00 00 00 00 00
            01 02 03 04 00 00 00 0a  00 00 01 00 00 00 02 00
            00 00 03 00 00 00 00 04  00 00 00 05 00 00 06 00
            00 03 70 00 05 00 00 00
            """)
        XCTAssertEqual(pdu.senseData, PDUBuilders.hex("70 00 05"))
    }

    func testTaskManagementRequest() {
        let pdu = TaskManagementRequest(
            immediate: true, function: .abortTask, lun: SAMLUN.encode(3), initiatorTaskTag: 0x99,
            referencedTaskTag: 0x55, cmdSN: 0x31, expStatSN: 0x32, refCmdSN: 0x33, expDataSN: 0x34)
        assertGolden(.taskManagementRequest(pdu), """
            42 81 00 00 00 00 00 00  00 03 00 00 00 00 00 00
            00 00 00 99 00 00 00 55  00 00 00 31 00 00 00 32
            00 00 00 33 00 00 00 34  00 00 00 00 00 00 00 00
            """)
    }

    func testTaskManagementResponse() {
        let pdu = TaskManagementResponse(
            response: .functionNotSupported, initiatorTaskTag: 0x99, statSN: 1, expCmdSN: 2, maxCmdSN: 3)
        assertGolden(.taskManagementResponse(pdu), """
            22 80 05 00 00 00 00 00  00 00 00 00 00 00 00 00
            00 00 00 99 00 00 00 00  00 00 00 01 00 00 00 02
            00 00 00 03 00 00 00 00  00 00 00 00 00 00 00 00
            """)
    }

    func testLoginRequest() {
        let pdu = LoginRequest(
            transit: true, csg: .loginOperationalNegotiation, nsg: .fullFeaturePhase, isid: 0x4000_0137_0000,
            tsih: 0x1234, initiatorTaskTag: 1, cid: 2, cmdSN: 0x0a, expStatSN: 0x0b,
            dataSegment: PDUBuilders.textSegment(["Key=v"]))
        assertGolden(.loginRequest(pdu), """
            43 87 00 00 00 00 00 06  40 00 01 37 00 00 12 34
            00 00 00 01 00 02 00 00  00 00 00 0a 00 00 00 0b
            00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            4b 65 79 3d 76 00 00 00
            """)
    }

    func testLoginResponse() {
        let pdu = LoginResponse(
            transit: false, continue: true, csg: .securityNegotiation, nsg: .loginOperationalNegotiation,
            isid: 0x4000_0137_0000, tsih: 0x1234, initiatorTaskTag: 1, statSN: 0x55, expCmdSN: 0x0a,
            maxCmdSN: 0x0b, statusClass: .initiatorError, statusDetail: 1)
        assertGolden(.loginResponse(pdu), """
            23 41 00 00 00 00 00 00  40 00 01 37 00 00 12 34
            00 00 00 01 00 00 00 00  00 00 00 55 00 00 00 0a
            00 00 00 0b 02 01 00 00  00 00 00 00 00 00 00 00
            """)
    }

    func testTextRequest() {
        let pdu = TextRequest(
            initiatorTaskTag: 7, cmdSN: 0x20, expStatSN: 0x21,
            dataSegment: PDUBuilders.textSegment(["SendTargets=All"]))
        assertGolden(.textRequest(pdu), """
            04 80 00 00 00 00 00 10  00 00 00 00 00 00 00 00
            00 00 00 07 ff ff ff ff  00 00 00 20 00 00 00 21
            00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            53 65 6e 64 54 61 72 67  65 74 73 3d 41 6c 6c 00
            """)
    }

    func testTextResponse() {
        let pdu = TextResponse(
            final: false, continue: true, initiatorTaskTag: 7, targetTransferTag: 0x42, statSN: 1, expCmdSN: 2,
            maxCmdSN: 3, dataSegment: PDUBuilders.textSegment(["a=b"]))
        assertGolden(.textResponse(pdu), """
            24 40 00 00 00 00 00 04  00 00 00 00 00 00 00 00
            00 00 00 07 00 00 00 42  00 00 00 01 00 00 00 02
            00 00 00 03 00 00 00 00  00 00 00 00 00 00 00 00
            61 3d 62 00
            """)
    }

    func testDataOut() {
        let pdu = DataOut(
            final: true, lun: lun1, initiatorTaskTag: 0x0a0b_0c0d, targetTransferTag: 0x1111_1111,
            expStatSN: 0x21, dataSN: 2, bufferOffset: 0x2000, dataSegment: PDUBuilders.hex("ff ee"))
        assertGolden(.dataOut(pdu), """
            05 80 00 00 00 00 00 02  00 01 00 00 00 00 00 00
            0a 0b 0c 0d 11 11 11 11  00 00 00 00 00 00 00 21
            00 00 00 00 00 00 00 02  00 00 20 00 00 00 00 00
            ff ee 00 00
            """)
    }

    func testDataInWithStatus() {
        let pdu = DataIn(
            final: true, residualOverflow: true, statusPresent: true, status: 0x08, lun: lun1,
            initiatorTaskTag: 0x0a0b_0c0d, statSN: 0x41, expCmdSN: 0x42, maxCmdSN: 0x43, dataSN: 0x44,
            bufferOffset: 0x1000, residualCount: 0x10, dataSegment: PDUBuilders.hex("01 02 03"))
        assertGolden(.dataIn(pdu), """
            25 85 00 08 00 00 00 03  00 01 00 00 00 00 00 00
            0a 0b 0c 0d ff ff ff ff  00 00 00 41 00 00 00 42
            00 00 00 43 00 00 00 44  00 00 10 00 00 00 00 10
            01 02 03 00
            """)
    }

    func testDataInAcknowledgeAndUnderflow() {
        let pdu = DataIn(
            acknowledge: true, residualUnderflow: true, initiatorTaskTag: 1, targetTransferTag: 2,
            dataSegment: PDUBuilders.hex("aa bb cc dd"))
        assertGolden(.dataIn(pdu), """
            25 42 00 00 00 00 00 04  00 00 00 00 00 00 00 00
            00 00 00 01 00 00 00 02  00 00 00 00 00 00 00 00
            00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            aa bb cc dd
            """)
    }

    func testR2T() {
        let pdu = R2T(
            lun: lun1, initiatorTaskTag: 0x0a0b_0c0d, targetTransferTag: 0x77, statSN: 0x41, expCmdSN: 0x42,
            maxCmdSN: 0x43, r2tSN: 1, bufferOffset: 0x4000, desiredDataTransferLength: 0x10000)
        assertGolden(.r2t(pdu), """
            31 80 00 00 00 00 00 00  00 01 00 00 00 00 00 00
            0a 0b 0c 0d 00 00 00 77  00 00 00 41 00 00 00 42
            00 00 00 43 00 00 00 01  00 00 40 00 00 01 00 00
            """)
    }

    func testLogoutRequest() {
        let pdu = LogoutRequest(
            immediate: true, reasonCode: .closeConnection, initiatorTaskTag: 5, cid: 3, cmdSN: 9, expStatSN: 0x0a)
        assertGolden(.logoutRequest(pdu), """
            46 81 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            00 00 00 05 00 03 00 00  00 00 00 09 00 00 00 0a
            00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            """)
    }

    func testLogoutResponse() {
        let pdu = LogoutResponse(
            response: .cidNotFound, initiatorTaskTag: 5, statSN: 0x0b, expCmdSN: 0x0c, maxCmdSN: 0x0d,
            time2Wait: 2, time2Retain: 20)
        assertGolden(.logoutResponse(pdu), """
            26 80 01 00 00 00 00 00  00 00 00 00 00 00 00 00
            00 00 00 05 00 00 00 00  00 00 00 0b 00 00 00 0c
            00 00 00 0d 00 00 00 00  00 02 00 14 00 00 00 00
            """)
    }

    func testSNACKRequest() {
        let pdu = SNACKRequest(
            type: .dataACK, lun: lun1, initiatorTaskTag: 0x0a0b_0c0d, targetTransferTag: 0x33, expStatSN: 0x21,
            begRun: 5, runLength: 0)
        assertGolden(.snackRequest(pdu), """
            10 82 00 00 00 00 00 00  00 01 00 00 00 00 00 00
            0a 0b 0c 0d 00 00 00 33  00 00 00 00 00 00 00 21
            00 00 00 00 00 00 00 00  00 00 00 05 00 00 00 00
            """)
    }

    func testRejectCarriesRejectedHeader() {
        let rejectedHeader = PDUBuilders.hex("""
            05 80 00 00 00 00 00 02  00 01 00 00 00 00 00 00
            0a 0b 0c 0d 11 11 11 11  00 00 00 00 00 00 00 21
            00 00 00 00 00 00 00 02  00 00 20 00 00 00 00 00
            """)
        let pdu = Reject(
            reason: .dataDigestError, statSN: 0x41, expCmdSN: 0x42, maxCmdSN: 0x43, dataSegment: rejectedHeader)
        assertGolden(.reject(pdu), """
            3f 80 02 00 00 00 00 30  00 00 00 00 00 00 00 00
            ff ff ff ff 00 00 00 00  00 00 00 41 00 00 00 42
            00 00 00 43 00 00 00 00  00 00 00 00 00 00 00 00
            05 80 00 00 00 00 00 02  00 01 00 00 00 00 00 00
            0a 0b 0c 0d 11 11 11 11  00 00 00 00 00 00 00 21
            00 00 00 00 00 00 00 02  00 00 20 00 00 00 00 00
            """)
    }

    func testAsyncMessage() {
        let pdu = AsyncMessage(
            lun: lun1, statSN: 0x41, expCmdSN: 0x42, maxCmdSN: 0x43, asyncEvent: .logoutRequest,
            parameter1: 1, parameter2: 2, parameter3: 3)
        assertGolden(.asyncMessage(pdu), """
            32 80 00 00 00 00 00 00  00 01 00 00 00 00 00 00
            ff ff ff ff 00 00 00 00  00 00 00 41 00 00 00 42
            00 00 00 43 01 00 00 01  00 02 00 03 00 00 00 00
            """)
    }

    /// RFC 3720 appendix B.4: a READ(10) command whose header digest is d9963a56,
    /// sent least significant byte first.
    func testHeaderDigestOfRFCReadCommand() {
        let pdu = SCSICommand(
            final: true, read: true, attribute: 0, initiatorTaskTag: 0x1400_0000, expectedDataTransferLength: 0x400,
            cmdSN: 0x14, expStatSN: 0x18, cdb: PDUBuilders.cdb(0x28, 0, 0, 0, 0, 0, 0, 0, 0x02))
        var encoded = ByteBuffer()
        PDUEncoder(headerDigest: true).encode(.scsiCommand(pdu), into: &encoded)
        XCTAssertEqual(encoded, PDUBuilders.hex("""
            01 c0 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            14 00 00 00 00 00 04 00  00 00 00 14 00 00 00 18
            28 00 00 00 00 00 00 00  02 00 00 00 00 00 00 00
            56 3a 96 d9
            """))
        XCTAssertEqual(
            try PDUBuilders.decodeAll(encoded, limits: FramingLimits(headerDigest: true)), [.scsiCommand(pdu)])
    }
}
