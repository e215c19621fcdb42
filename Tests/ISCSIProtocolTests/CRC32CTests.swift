import ISCSIProtocol
import NIOCore
import XCTest

final class CRC32CTests: XCTestCase {
    private func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { CRC32C.checksum($0) }
    }

    /// RFC 3720 appendix B.4 vectors (values; the wire carries them LSB first).
    func testRFCVectors() {
        XCTAssertEqual(crc(Array(repeating: 0, count: 32)), 0x8a91_36aa)
        XCTAssertEqual(crc(Array(repeating: 0xff, count: 32)), 0x62a8_ab43)
        XCTAssertEqual(crc((0..<32).map { UInt8($0) }), 0x46dd_794e)
        XCTAssertEqual(crc((0..<32).reversed().map { UInt8($0) }), 0x113f_db5c)
        XCTAssertEqual(crc(Array("123456789".utf8)), 0xe306_9283)
    }

    func testEmptyInputLeavesCRCUnchanged() {
        XCTAssertEqual(crc([]), 0)
        XCTAssertEqual([UInt8]().withUnsafeBytes { CRC32C.extend(0x1234_5678, $0) }, 0x1234_5678)
    }

    func testByteBufferSliceUsesOnlyReadableBytes() {
        var buffer = ByteBuffer(bytes: [0xee, 0xee] + Array("123456789".utf8))
        buffer.moveReaderIndex(forwardBy: 2)
        XCTAssertEqual(CRC32C.checksum(buffer), 0xe306_9283)
    }

    func testExtendAcrossSplitsEqualsWholeBuffer() {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<20_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let whole = crc(data)
        for split in [0, 1, 7, 8, 255, 4096, 6143, 6144, 19_999, 20_000] {
            let first = crc(Array(data[..<split]))
            let joined = data[split...].withUnsafeBytes { CRC32C.extend(first, $0) }
            XCTAssertEqual(joined, whole, "split at \(split)")
        }
    }

    func testExtendWithZeroBytesEqualsExplicitZeros() {
        let data = Array("abc".utf8)
        XCTAssertEqual(CRC32C.extend(crc(data), zeroBytes: 1), crc(data + [0]))
        XCTAssertEqual(CRC32C.extend(crc(data), zeroBytes: 0), crc(data))
    }

    /// The hardware path (3 interleaved streams, block joins) must agree with the
    /// portable table for every length class and alignment.
    func testHardwarePathMatchesPortableTable() throws {
        try XCTSkipUnless(CRC32C.isHardwareAccelerated, "no CRC32C instruction on this CPU")
        var generator = SystemRandomNumberGenerator()
        let data = (0..<(3 * 2048 * 3 + 777)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        data.withUnsafeBytes { all in
            var lengths = Array(0...80) + [767, 768, 769, 6143, 6144, 6145, 6144 + 768, 12_288 + 100]
            lengths += (0..<200).map { _ in Int.random(in: 0...(all.count - 8), using: &generator) }
            for length in lengths {
                for offset in 0..<8 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    let seed = UInt32.random(in: 0...UInt32.max, using: &generator)
                    XCTAssertEqual(
                        CRC32C.extend(seed, slice), CRC32C.extendPortable(seed, slice),
                        "length \(length) offset \(offset)")
                }
            }
        }
    }
}
