import ISCSIProtocol
import XCTest

final class PDULUNTests: XCTestCase {
    func testPeripheralAddressingBelow256() {
        XCTAssertEqual(SAMLUN.encode(0), 0)
        XCTAssertEqual(SAMLUN.encode(5), 0x0005_0000_0000_0000)
        XCTAssertEqual(SAMLUN.encode(255), 0x00ff_0000_0000_0000)
    }

    func testFlatAddressingUpTo16383() {
        XCTAssertEqual(SAMLUN.encode(256), 0x4100_0000_0000_0000)
        XCTAssertEqual(SAMLUN.encode(16383), 0x7fff_0000_0000_0000)
    }

    func testRoundTrip() {
        for lun in [0, 1, 255, 256, 1000, 16383] as [UInt64] {
            XCTAssertEqual(SAMLUN.decode(SAMLUN.encode(lun)), lun)
        }
        // Flat addressing of a small LUN is also understood.
        XCTAssertEqual(SAMLUN.decode(0x4005_0000_0000_0000), 5)
    }

    func testUnsupportedAddressingDecodesToNil() {
        XCTAssertNil(SAMLUN.decode(0x0105_0000_0000_0000), "peripheral addressing on bus 1")
        XCTAssertNil(SAMLUN.decode(0x0001_0002_0000_0000), "second level present")
        XCTAssertNil(SAMLUN.decode(0x0000_0000_0000_0005), "garbage in byte 7")
        XCTAssertNil(SAMLUN.decode(0x8001_0000_0000_0000), "logical unit addressing")
        XCTAssertNil(SAMLUN.decode(0xd200_0001_0000_0000), "extended flat space")
    }
}
