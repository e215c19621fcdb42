import ISCSIProtocol
import NIOCore
import XCTest

final class TextKeyAccumulatorTests: XCTestCase {
    func testPairSplitAcrossContinuedPDUsDecodesWhole() throws {
        var accumulator = TextAccumulator()
        try accumulator.append(ByteBuffer(string: "InitiatorName=iq"))
        try accumulator.append(ByteBuffer(string: "n.2001-04.com.example:host\0Sess"))
        try accumulator.append(ByteBuffer(string: "ionType=Discovery\0"))
        XCTAssertEqual(try accumulator.finish(), [
            TextKeyValue("InitiatorName", "iqn.2001-04.com.example:host"),
            TextKeyValue("SessionType", "Discovery"),
        ])
        XCTAssertTrue(accumulator.isEmpty)
    }

    func testOneByteSegmentsFromSplitReassemble() throws {
        let pairs = (0..<20).map { TextKeyValue("X-com.example.key\($0)", String(repeating: "v", count: $0)) }
        var encoded = ByteBuffer()
        TextKeyCodec.encode(pairs, into: &encoded)

        var accumulator = TextAccumulator()
        for segment in TextKeyCodec.split(encoded, maxSegmentLength: 1) {
            try accumulator.append(segment)
        }
        XCTAssertEqual(try accumulator.finish(), pairs)
    }

    func testEnforcesOverallBoundAndKeepsEarlierData() throws {
        var accumulator = TextAccumulator(byteLimit: 10)
        try accumulator.append(ByteBuffer(string: "A=12\0B"))
        XCTAssertThrowsError(try accumulator.append(ByteBuffer(string: "=1234\0"))) { error in
            XCTAssertEqual((error as? TextKeyError)?.reason, .textTooLong(limit: 10))
        }
        XCTAssertEqual(accumulator.byteCount, 6)
        try accumulator.append(ByteBuffer(string: "=3\0X"))
        XCTAssertEqual(accumulator.byteCount, 10)
    }

    func testDefaultBoundIs64KiB() throws {
        var accumulator = TextAccumulator()
        try accumulator.append(ByteBuffer(repeating: 0x41, count: 65_536))
        XCTAssertThrowsError(try accumulator.append(ByteBuffer(repeating: 0x41, count: 1)))
    }

    func testFinishResetsEvenWhenDecodingFails() throws {
        var accumulator = TextAccumulator()
        try accumulator.append(ByteBuffer(string: "NoTerminator=1"))
        XCTAssertThrowsError(try accumulator.finish()) { error in
            XCTAssertEqual(error as? TextKeyError, TextKeyError(key: "NoTerminator", reason: .unterminatedPair))
        }
        XCTAssertTrue(accumulator.isEmpty)
        try accumulator.append(ByteBuffer(string: "A=1\0"))
        XCTAssertEqual(try accumulator.finish(limits: .standard), [TextKeyValue("A", "1")])
    }
}
