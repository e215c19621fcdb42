import ISCSIProtocol
import ISCSITestSupport
import NIOCore
import XCTest

final class PDUDecodeTests: XCTestCase {
    private func bhs(_ opcodeByte: UInt8, flags: UInt8 = 0x80, patch: [Int: UInt8] = [:]) -> ByteBuffer {
        var bytes = [UInt8](repeating: 0, count: 48)
        bytes[0] = opcodeByte
        bytes[1] = flags
        for (offset, value) in patch { bytes[offset] = value }
        return ByteBuffer(bytes: bytes)
    }

    func testUnknownOpcodeCarriesOpcodeAndHeader() {
        let header = bhs(0x1c)
        XCTAssertThrowsError(try ISCSIPDU(frame: PDUFrame(bhs: header))) { error in
            XCTAssertEqual(error as? PDUDecodeError, .unknownOpcode(0x1c, bhs: header))
            XCTAssertEqual((error as? PDUDecodeError)?.bhs, header)
            XCTAssertTrue("\(error)".contains("0x1c"))
        }
    }

    func testShortBHSIsRejected() {
        XCTAssertThrowsError(try ISCSIPDU(frame: PDUFrame(bhs: ByteBuffer(bytes: [0, 0])))) { error in
            XCTAssertEqual(error as? PDUDecodeError, .invalidBHSLength(2))
        }
    }

    func testReservedTopBitOfOpcodeByteIsIgnored() throws {
        let pdu = try ISCSIPDU(frame: PDUFrame(bhs: bhs(0x80 | 0x20)))
        XCTAssertEqual(pdu.opcode, .nopIn)
    }

    func testMalformedAHSIsReported() {
        let cases: [(String, ByteBuffer)] = [
            ("length overruns", PDUBuilders.hex("00 10 01 00")),
            ("padding overruns", PDUBuilders.hex("00 02 01 00 cc 00 00")),
            ("bidirectional length of 4", PDUBuilders.hex("00 04 02 00 00 00 02 00")),
            ("truncated AHS header", PDUBuilders.hex("00 01")),
        ]
        for (name, ahs) in cases {
            let header = bhs(0x01)
            XCTAssertThrowsError(try ISCSIPDU(frame: PDUFrame(bhs: header, ahs: ahs)), name) { error in
                guard case .malformedAHS(_, let carried) = error as? PDUDecodeError else {
                    return XCTFail("\(name): \(error)")
                }
                XCTAssertEqual(carried, header)
            }
        }
    }

    func testReservedAHSTypeMakesTheCommandMalformed() throws {
        // A known AHS after a reserved one (0x3c), and a reserved type 0 alone.
        for hex in ["00 05 3c 00 01 02 03 04  00 05 02 00 00 00 00 40", "00 01 00 00"] {
            let header = bhs(0x01)
            XCTAssertThrowsError(try ISCSIPDU(frame: PDUFrame(bhs: header, ahs: PDUBuilders.hex(hex))), hex) { error in
                guard case .malformedAHS(let reason, let carried) = error as? PDUDecodeError else {
                    return XCTFail("\(hex): \(error)")
                }
                XCTAssertTrue(reason.contains("reserved AHS type"), reason)
                XCTAssertEqual(carried, header)
            }
        }
        let known = PDUBuilders.hex("00 05 02 00 00 00 00 40")
        guard case .scsiCommand(let command) = try ISCSIPDU(frame: PDUFrame(bhs: bhs(0x01), ahs: known)) else {
            return XCTFail("not a command")
        }
        XCTAssertEqual(command.bidirectionalReadExpectedDataTransferLength, 0x40)
    }

    func testUnknownCodesDecodeAsRawValues() throws {
        guard case .loginRequest(let login) = try ISCSIPDU(frame: PDUFrame(bhs: bhs(0x43, flags: 0x8a))) else {
            return XCTFail("not a login")
        }
        XCTAssertEqual(login.csg, LoginStage(rawValue: 2), "reserved stage is reported, not dropped")
        XCTAssertEqual(login.nsg, LoginStage(rawValue: 2))
        guard case .taskManagementRequest(let tmf) = try ISCSIPDU(frame: PDUFrame(bhs: bhs(0x02, flags: 0x8e))) else {
            return XCTFail("not a TMF")
        }
        XCTAssertEqual(tmf.function.rawValue, 0x0e)
        XCTAssertFalse(tmf.immediate)
    }

    func testAccessors() throws {
        let pdu = try ISCSIPDU(frame: PDUFrame(bhs: bhs(0x41, patch: [16: 0xde, 19: 0x01])))
        XCTAssertEqual(pdu.opcode, .scsiCommand)
        XCTAssertEqual(pdu.initiatorTaskTag, 0xde00_0001)
        guard case .scsiCommand(let command) = pdu else { return XCTFail() }
        XCTAssertTrue(command.immediate)
        XCTAssertEqual(ISCSIPDU.reject(Reject(reason: .protocolError)).initiatorTaskTag, ISCSITag.reserved)
    }

    func testSenseDataNeedsAConsistentLength() {
        XCTAssertNil(SCSIResponse().senseData)
        XCTAssertNil(SCSIResponse(dataSegment: PDUBuilders.hex("00 09 70")).senseData)
    }

    func testEveryOpcodeDecodesToItsCase() throws {
        for opcode in ISCSIOpcode.allCases {
            let pdu = try ISCSIPDU(frame: PDUFrame(bhs: bhs(opcode.rawValue)))
            XCTAssertEqual(pdu.opcode, opcode)
        }
    }
}
