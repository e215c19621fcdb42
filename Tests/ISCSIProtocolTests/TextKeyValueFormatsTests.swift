import ISCSIProtocol
import XCTest

final class TextKeyValueFormatsTests: XCTestCase {
    func testDecimalNumbers() {
        XCTAssertEqual(TextValue.number("0"), 0)
        XCTAssertEqual(TextValue.number("8192"), 8192)
        XCTAssertEqual(TextValue.number("18446744073709551615"), UInt64.max)
        XCTAssertNil(TextValue.number("18446744073709551616"))
        XCTAssertNil(TextValue.number("012"), "leading zeros are outside the grammar")
        XCTAssertNil(TextValue.number(""))
        XCTAssertNil(TextValue.number("-1"))
        XCTAssertNil(TextValue.number("12a"))
        XCTAssertNil(TextValue.number(" 1"))
    }

    func testHexNumbers() {
        XCTAssertEqual(TextValue.number("0x2000"), 8192)
        XCTAssertEqual(TextValue.number("0X1f"), 31)
        XCTAssertEqual(TextValue.number("0xFFFFFFFFFFFFFFFF"), UInt64.max)
        XCTAssertNil(TextValue.number("0x10000000000000000"))
        XCTAssertNil(TextValue.number("0x"))
        XCTAssertNil(TextValue.number("0xg1"))
    }

    func testBooleansAreCaseSensitive() {
        XCTAssertEqual(TextValue.boolean("Yes"), true)
        XCTAssertEqual(TextValue.boolean("No"), false)
        XCTAssertNil(TextValue.boolean("yes"))
        XCTAssertNil(TextValue.boolean("NO"))
        XCTAssertEqual(TextValue.encode(true), "Yes")
        XCTAssertEqual(TextValue.encode(false), "No")
    }

    func testListsKeepOrderAndDropEmptyItems() {
        XCTAssertEqual(TextValue.list("CRC32C,None"), ["CRC32C", "None"])
        XCTAssertEqual(TextValue.list("a,,b,"), ["a", "b"])
        XCTAssertEqual(TextValue.list(""), [])
        XCTAssertEqual(TextValue.encodeList(["CHAP", "None"]), "CHAP,None")
    }

    func testHexBinaryValues() {
        XCTAssertEqual(TextValue.binary("0x0aff"), [0x0A, 0xFF])
        XCTAssertEqual(TextValue.binary("0XABC"), [0x0A, 0xBC], "an odd digit count implies a leading zero")
        XCTAssertNil(TextValue.binary("0x"))
        XCTAssertNil(TextValue.binary("0xzz"))
        XCTAssertNil(TextValue.binary("ab"))
        XCTAssertEqual(TextValue.encodeHex([0x00, 0x7F, 0xFF]), "0x007fff")
    }

    func testBase64BinaryValues() {
        XCTAssertEqual(TextValue.binary("0bAQID"), [1, 2, 3])
        XCTAssertEqual(TextValue.binary("0bAQI="), [1, 2])
        XCTAssertEqual(TextValue.binary("0BAQ=="), [1])
        XCTAssertEqual(TextValue.binary("0bAQ"), [1], "missing padding is tolerated")
        XCTAssertNil(TextValue.binary("0bA"), "one leftover symbol cannot encode a byte")
        XCTAssertNil(TextValue.binary("0bAR=="), "non-zero leftover bits are not canonical")
        XCTAssertNil(TextValue.binary("0bA=QI"))
        XCTAssertNil(TextValue.binary("0b!!!!"))
        XCTAssertEqual(TextValue.encodeBase64(Array("foobar".utf8)), "0bZm9vYmFy")
        XCTAssertEqual(TextValue.encodeBase64(Array("fo".utf8)), "0bZm8=")
        XCTAssertEqual(TextValue.encodeBase64(Array("f".utf8)), "0bZg==")
    }

    func testBinaryEncodingsRoundTrip() {
        var generator = SystemRandomNumberGenerator()
        for length in 1...40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            XCTAssertEqual(TextValue.binary(TextValue.encodeHex(bytes)), bytes)
            XCTAssertEqual(TextValue.binary(TextValue.encodeBase64(bytes)), bytes)
        }
    }

    func testSpecialValues() {
        XCTAssertEqual(TextKeySpecialValue(rawValue: "NotUnderstood"), .notUnderstood)
        XCTAssertEqual(TextKeySpecialValue(rawValue: "Irrelevant"), .irrelevant)
        XCTAssertEqual(TextKeySpecialValue(rawValue: "Reject"), .reject)
        XCTAssertNil(TextKeySpecialValue(rawValue: "None"), "None is an ordinary list value")
    }
}
