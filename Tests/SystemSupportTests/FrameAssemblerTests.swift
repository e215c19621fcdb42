import SystemSupport
import XCTest

final class FrameAssemblerTests: XCTestCase {
    private func take(_ bytes: [UInt8], into assembler: inout FrameAssembler) throws {
        try bytes.withUnsafeBytes { try assembler.take($0) }
    }

    func testAssemblesAFrameFedOneByteAtATimeAndWantsNothingPastIt() throws {
        let frame = UnixSocket.framed(Array("hello".utf8))
        var assembler = FrameAssembler(limit: 16)
        var wanted: [Int] = []
        for byte in frame {
            XCTAssertNil(assembler.frame)
            wanted.append(assembler.bytesWanted)
            try take([byte], into: &assembler)
        }
        XCTAssertEqual(wanted, [4, 3, 2, 1, 5, 4, 3, 2, 1])
        XCTAssertEqual(assembler.bytesWanted, 0)
        XCTAssertEqual(assembler.frame, Array("hello".utf8))
        XCTAssertEqual(assembler.bytesReceived, 9)
    }

    func testTheHeaderThenThePayloadMayEachArriveWhole() throws {
        var assembler = FrameAssembler(limit: 16)
        try take([0, 0, 0, 3], into: &assembler)
        XCTAssertEqual(assembler.bytesWanted, 3)
        try take([1, 2, 3], into: &assembler)
        XCTAssertEqual(assembler.frame, [1, 2, 3])
    }

    func testAnEmptyFrameIsCompleteOnceTheHeaderIs() throws {
        var assembler = FrameAssembler(limit: 16)
        try take([0, 0, 0], into: &assembler)
        XCTAssertFalse(assembler.isComplete)
        try take([0], into: &assembler)
        XCTAssertEqual(assembler.frame, [])
    }

    func testALengthOverTheLimitFailsWhenTheHeaderCompletes() throws {
        var assembler = FrameAssembler(limit: 1000)
        try take([0, 0, 0x03], into: &assembler)
        XCTAssertThrowsError(try take([0xE9], into: &assembler)) {
            let oversized = $0 as? FrameAssembler.Oversized
            XCTAssertEqual(oversized?.announced, 1001)
            XCTAssertEqual(oversized?.limit, 1000)
        }
        XCTAssertEqual(assembler.bytesHeld, 0, "nothing was set aside for the payload")

        var exact = FrameAssembler(limit: 1000)
        try take([0, 0, 0x03, 0xE8], into: &exact)
        XCTAssertEqual(exact.announcedLength, 1000)
        XCTAssertEqual(exact.bytesWanted, 1000)
    }

    func testMemoryFollowsTheBytesThatArrivedNotTheAnnouncedLength() throws {
        var assembler = FrameAssembler(limit: 16 << 20)
        try take([0x01, 0, 0, 0], into: &assembler)  // 16 MiB announced
        XCTAssertEqual(assembler.bytesWanted, 16 << 20)
        for _ in 0..<4 { try take([UInt8](repeating: 7, count: 256), into: &assembler) }
        XCTAssertEqual(assembler.bytesReceived, 4 + 1024)
        XCTAssertLessThanOrEqual(assembler.bytesHeld, 4096, "held \(assembler.bytesHeld) bytes for 1 KiB received")
    }
}
