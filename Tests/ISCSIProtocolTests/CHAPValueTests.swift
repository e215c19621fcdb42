import ISCSIProtocol
import XCTest

/// Binary values of CHAP_C and CHAP_R: `0x` hex and `0b` base64, strictly.
final class CHAPValueTests: XCTestCase {
    func testHex() throws {
        XCTAssertEqual(try CHAPValue.decode("0x00ff10"), [0x00, 0xFF, 0x10])
        XCTAssertEqual(try CHAPValue.decode("0XABcdEf"), [0xAB, 0xCD, 0xEF], "prefix and digits in either case")
        XCTAssertEqual(try CHAPValue.decode("0xabc"), [0x0A, 0xBC], "an odd count implies a leading zero")
        XCTAssertEqual(try CHAPValue.decode("0x1"), [0x01])
        XCTAssertEqual(try CHAPValue.decode("0x0000"), [0, 0], "leading zero bytes are kept")
    }

    func testBase64() throws {
        XCTAssertEqual(try CHAPValue.decode("0bAP8Q"), [0x00, 0xFF, 0x10])
        XCTAssertEqual(try CHAPValue.decode("0BAP8Q"), [0x00, 0xFF, 0x10])
        XCTAssertEqual(try CHAPValue.decode("0bAA=="), [0])
        XCTAssertEqual(try CHAPValue.decode("0bAAA="), [0, 0])
        XCTAssertEqual(try CHAPValue.decode("0bAA"), [0], "unpadded base64 is accepted")
        XCTAssertEqual(try CHAPValue.decode("0bxufRwDtmOleceSESZZ7Q3Q=="), bytes("c6e7d1c03b663a579c792112659ed0dd"))
    }

    func testRejectsMalformed() {
        let cases: [(String, CHAPValue.DecodingError)] = [
            ("", .missingPrefix), ("0", .missingPrefix), ("ab", .missingPrefix), ("1x00", .missingPrefix),
            ("0y00", .missingPrefix), ("x00", .missingPrefix), ("00ff", .missingPrefix),
            ("0x", .empty), ("0b", .empty), ("0X", .empty),
            ("0xg0", .invalidHex), ("0x0g", .invalidHex), ("0x 00", .invalidHex), ("0x00 ", .invalidHex),
            ("0x-1", .invalidHex), ("0x0x00", .invalidHex),
            ("0bA", .invalidBase64), ("0bA===", .invalidBase64), ("0b====", .invalidBase64),
            ("0bAA=A", .invalidBase64), ("0bAB==", .invalidBase64), ("0bA*==", .invalidBase64),
            ("0bAA= ", .invalidBase64), ("0bAAAAA", .invalidBase64),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try CHAPValue.decode(text), "\(text)") { error in
                XCTAssertEqual(error as? CHAPValue.DecodingError, expected, "\(text)")
            }
        }
    }

    func testLengthLimits() throws {
        let maxHex = "0x" + String(repeating: "ab", count: 1024)
        XCTAssertEqual(try CHAPValue.decode(maxHex).count, 1024)
        let overHex = "0x" + String(repeating: "ab", count: 1025)
        XCTAssertThrowsError(try CHAPValue.decode(overHex)) {
            XCTAssertEqual($0 as? CHAPValue.DecodingError, .tooLong(limit: 1024))
        }
        XCTAssertThrowsError(try CHAPValue.decode("0x1" + String(repeating: "ab", count: 1024)), "odd digits: 1025 bytes")
        let maxBase64 = CHAPValue.encodeBase64([UInt8](repeating: 7, count: 1024))
        XCTAssertEqual(try CHAPValue.decode(maxBase64).count, 1024)
        XCTAssertThrowsError(try CHAPValue.decode(CHAPValue.encodeBase64([UInt8](repeating: 7, count: 1025))))
        XCTAssertThrowsError(try CHAPValue.decode(String(repeating: "0x", count: 4097)), "text over 8192 bytes")
        // A caller-given maximum, e.g. a digest length.
        XCTAssertEqual(try CHAPValue.decode("0x" + String(repeating: "00", count: 16), maxLength: 16).count, 16)
        XCTAssertThrowsError(try CHAPValue.decode("0x" + String(repeating: "00", count: 17), maxLength: 16)) {
            XCTAssertEqual($0 as? CHAPValue.DecodingError, .tooLong(limit: 16))
        }
        XCTAssertThrowsError(try CHAPValue.decode("0bAAAAAAAAAAAAAAAAAAAAAAAA", maxLength: 16))
    }

    func testEncodings() throws {
        XCTAssertEqual(CHAPValue.encodeHex([0x00, 0xAB, 0x0F]), "0x00ab0f")
        XCTAssertEqual(CHAPValue.encodeBase64([0x00, 0xFF, 0x10]), "0bAP8Q")
        XCTAssertEqual(CHAPValue.encodeBase64([0x00]), "0bAA==")
        for length in [1, 2, 3, 16, 20, 32, 1024] {
            let value = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            XCTAssertEqual(try CHAPValue.decode(CHAPValue.encodeHex(value)), value)
            XCTAssertEqual(try CHAPValue.decode(CHAPValue.encodeBase64(value)), value)
        }
    }

    private func bytes(_ hex: String) -> [UInt8] { CHAPExchangeTests.bytes(fromHex: hex) }
}
