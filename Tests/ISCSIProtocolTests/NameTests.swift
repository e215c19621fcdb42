import ISCSIProtocol
import XCTest

final class NameTests: XCTestCase {
    private func reason(_ name: String) -> ISCSINameError? {
        do {
            try ISCSIName.validate(name)
            return nil
        } catch {
            return error as? ISCSINameError
        }
    }

    func testValidNames() {
        for name in [
            "iqn.2026-11.test:peer",
            "iqn.2001-04.com.example",
            "iqn.1991-05.com.microsoft:host-1.example.com",
            "iqn.2003-01.org.linux-iscsi.host:sn.0123:a:b",
            "eui.02004567A425678D",
            "eui.02004567a425678d",
            "naa.52004567BA64678D",
            "naa.62004567BA64678D0123456789ABCDEF",
        ] {
            XCTAssertNil(reason(name), name)
        }
    }

    func testLengthLimitIsInBytes() {
        let prefix = "iqn.2026-11.test:"
        XCTAssertNil(reason(prefix + String(repeating: "a", count: 223 - prefix.count)))
        XCTAssertEqual(reason(prefix + String(repeating: "a", count: 224 - prefix.count)), .tooLong(224))
        XCTAssertEqual(reason(""), .empty)
    }

    func testTypePrefix() {
        XCTAssertEqual(reason("foo.bar"), .unknownType)
        XCTAssertEqual(reason("iqn"), .unknownType)
        XCTAssertEqual(reason("IQN.2026-11.test"), .invalidCharacter("I", offset: 0))
    }

    func testCharacters() {
        XCTAssertEqual(reason("iqn.2026-11.test:a b"), .invalidCharacter(" ", offset: 18))
        XCTAssertEqual(reason("iqn.2026-11.test:a_b"), .invalidCharacter("_", offset: 18))
        XCTAssertEqual(reason("iqn.2026-11.Test:x"), .invalidCharacter("T", offset: 12))
        XCTAssertEqual(reason("iqn.2026-11.test:hostA"), .invalidCharacter("A", offset: 21))
        if case .invalidCharacter = reason("iqn.2026-11.test:é") {} else { XCTFail("non-ASCII accepted") }
    }

    func testIQNDate() {
        XCTAssertEqual(reason("iqn.2026-13.test"), .invalidDate)
        XCTAssertEqual(reason("iqn.2026-00.test"), .invalidDate)
        XCTAssertEqual(reason("iqn.26-11.test"), .invalidDate)
        XCTAssertEqual(reason("iqn.2026.11.test"), .invalidDate)
        XCTAssertEqual(reason("iqn.2026-11"), .invalidDate)
        XCTAssertEqual(reason("iqn.2026-11:test"), .invalidDate)
    }

    func testIQNNamingAuthority() {
        XCTAssertEqual(reason("iqn.2026-11."), .invalidNamingAuthority)
        XCTAssertEqual(reason("iqn.2026-11.:x"), .invalidNamingAuthority)
        XCTAssertEqual(reason("iqn.2026-11.test..x"), .invalidNamingAuthority)
        XCTAssertEqual(reason("iqn.2026-11.test.:x"), .invalidNamingAuthority)
    }

    func testHexNames() {
        XCTAssertEqual(reason("eui.123"), .invalidHexLength(3))
        XCTAssertEqual(reason("eui.02004567A425678D00"), .invalidHexLength(18))
        XCTAssertEqual(reason("naa.123456789012345678"), .invalidHexLength(18))
        XCTAssertEqual(reason("eui.02004567a425678g"), .invalidHexDigit)
        XCTAssertEqual(reason("eui.0200-567A425678D"), .invalidHexDigit)
    }

    func testErrorsDescribeTheReason() {
        XCTAssertTrue(ISCSINameError.tooLong(300).description.contains("223"))
        XCTAssertTrue(ISCSINameError.invalidDate.description.contains("yyyy-mm"))
    }
}
