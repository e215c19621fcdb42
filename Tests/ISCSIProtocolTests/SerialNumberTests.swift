import ISCSIProtocol
import XCTest

final class SerialNumberTests: XCTestCase {
    func testOrderingWithoutWrap() {
        XCTAssertTrue(SerialNumber(1) < SerialNumber(2))
        XCTAssertTrue(SerialNumber(2) > SerialNumber(1))
        XCTAssertFalse(SerialNumber(2) < SerialNumber(2))
        XCTAssertTrue(SerialNumber(2) <= SerialNumber(2))
    }

    func testOrderingAcrossWrap() {
        XCTAssertTrue(SerialNumber(0xffff_ffff) < SerialNumber(0))
        XCTAssertTrue(SerialNumber(0) > SerialNumber(0xffff_fff0))
        XCTAssertTrue(SerialNumber(0x7fff_ffff) > SerialNumber(0))
        XCTAssertTrue(SerialNumber(0x8000_0001) < SerialNumber(0))
    }

    func testNumbersHalfTheSpaceApartAreIncomparable() {
        let a = SerialNumber(0), b = SerialNumber(0x8000_0000)
        XCTAssertFalse(a < b)
        XCTAssertFalse(a > b)
        XCTAssertFalse(b < a)
        XCTAssertFalse(b > a)
        XCTAssertFalse(a <= b)
        XCTAssertNil(a.distance(to: b))
        XCTAssertNil(b.distance(to: a))
    }

    func testDistance() {
        XCTAssertEqual(SerialNumber(0xffff_fffe).distance(to: SerialNumber(1)), 3)
        XCTAssertEqual(SerialNumber(1).distance(to: SerialNumber(0xffff_fffe)), -3)
        XCTAssertEqual(SerialNumber(5).distance(to: SerialNumber(5)), 0)
        XCTAssertEqual(SerialNumber(0).distance(to: SerialNumber(0x7fff_ffff)), Int32.max)
    }

    func testAdditionWraps() {
        XCTAssertEqual(SerialNumber(0xffff_ffff) + 1, SerialNumber(0))
        var number = SerialNumber(0xffff_fff0)
        number += 0x20
        XCTAssertEqual(number, SerialNumber(0x10))
        XCTAssertEqual(SerialNumber(1) + SerialNumber.maxIncrement, SerialNumber(0x8000_0000))
    }

    func testCommandWindow() {
        // ExpCmdSN...MaxCmdSN spanning the wrap.
        let low = SerialNumber(0xffff_fffe), high = SerialNumber(2)
        XCTAssertTrue(SerialNumber(0xffff_ffff).isWithin(low, high))
        XCTAssertTrue(SerialNumber(2).isWithin(low, high))
        XCTAssertFalse(SerialNumber(3).isWithin(low, high))
        XCTAssertFalse(SerialNumber(0xffff_fffd).isWithin(low, high))
        // MaxCmdSN = ExpCmdSN - 1: the window is closed.
        XCTAssertFalse(SerialNumber(10).isWithin(SerialNumber(10), SerialNumber(9)))
    }
}
