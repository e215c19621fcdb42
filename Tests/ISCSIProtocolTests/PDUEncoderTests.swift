import ISCSIProtocol
import ISCSITestSupport
import NIOCore
import XCTest

final class PDUEncoderTests: XCTestCase {
    private let allocator = ByteBufferAllocator()

    private func joined(_ encoded: EncodedPDU) -> ByteBuffer {
        var buffer = encoded.header
        if let data = encoded.data { buffer.writeImmutableBuffer(data) }
        if let trailer = encoded.trailer { buffer.writeImmutableBuffer(trailer) }
        return buffer
    }

    private func baseAddress(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withUnsafeReadableBytes { $0.baseAddress }
    }

    func testThreePartEncodingMatchesContiguousEncoding() {
        let pdus: [ISCSIPDU] = [
            .r2t(R2T(initiatorTaskTag: 1, desiredDataTransferLength: 4096)),
            .dataIn(DataIn(initiatorTaskTag: 2, dataSegment: ByteBuffer(repeating: 7, count: 4096))),
            .scsiResponse(SCSIResponse(status: 2, dataSegment: PDUBuilders.hex("00 03 70 00 05"))),
            .scsiCommand(SCSICommand(cdb: ByteBuffer(repeating: 1, count: 17))),
        ]
        for headerDigest in [false, true] {
            for dataDigest in [false, true] {
                let encoder = PDUEncoder(headerDigest: headerDigest, dataDigest: dataDigest)
                for pdu in pdus {
                    var contiguous = ByteBuffer()
                    encoder.encode(pdu, into: &contiguous)
                    let parts = encoder.encode(pdu, allocator: allocator)
                    XCTAssertEqual(joined(parts), contiguous)
                    XCTAssertEqual(parts.count, contiguous.readableBytes)
                }
            }
        }
    }

    func testDataSegmentIsSentWithoutCopying() throws {
        let payload = ByteBuffer(repeating: 0xab, count: 8192)
        let parts = PDUEncoder(dataDigest: true).encode(.dataIn(DataIn(dataSegment: payload)), allocator: allocator)
        let data = try XCTUnwrap(parts.data)
        XCTAssertEqual(baseAddress(data), baseAddress(payload))
    }

    func testHeaderAndTrailerShareOneAllocation() throws {
        let pdu = ISCSIPDU.dataIn(DataIn(dataSegment: ByteBuffer(bytes: [1, 2, 3])))
        let parts = PDUEncoder(headerDigest: true, dataDigest: true).encode(pdu, allocator: allocator)
        let trailer = try XCTUnwrap(parts.trailer)
        XCTAssertEqual(parts.header.readableBytes, 52)
        XCTAssertEqual(trailer.readableBytes, 1 + 4)
        XCTAssertEqual(baseAddress(trailer), baseAddress(parts.header).map { $0 + 52 })
    }

    func testPartsAreNilWhenEmpty() {
        let r2t = PDUEncoder(dataDigest: true).encode(.r2t(R2T()), allocator: allocator)
        XCTAssertNil(r2t.data)
        XCTAssertNil(r2t.trailer)
        let aligned = PDUEncoder().encode(.dataIn(DataIn(dataSegment: ByteBuffer(bytes: [1, 2, 3, 4]))), allocator: allocator)
        XCTAssertNotNil(aligned.data)
        XCTAssertNil(aligned.trailer, "no pad and no digest")
    }

    /// The data digest covers the data and its pad bytes, sent LSB first.
    func testDataDigestCoversPadding() {
        var buffer = ByteBuffer()
        PDUEncoder(dataDigest: true).encode(.dataOut(DataOut(dataSegment: ByteBuffer(string: "abc"))), into: &buffer)
        let expected = CRC32C.checksum(ByteBuffer(bytes: Array("abc".utf8) + [0]))
        XCTAssertEqual(buffer.readableBytes, 48 + 4 + 4)
        XCTAssertEqual(buffer.getInteger(at: 52, endianness: .little, as: UInt32.self), expected)
        XCTAssertEqual(buffer.getInteger(at: 51, as: UInt8.self), 0, "pad byte")
    }

    func testHeadersCanBeBatchedIntoOneBuffer() throws {
        let encoder = PDUEncoder(headerDigest: true)
        var batch = ByteBuffer()
        let first = ISCSIPDU.r2t(R2T(initiatorTaskTag: 1, r2tSN: 0))
        let second = ISCSIPDU.r2t(R2T(initiatorTaskTag: 1, r2tSN: 1))
        XCTAssertNil(encoder.writeHeader(first, into: &batch))
        XCTAssertNil(encoder.writeHeader(second, into: &batch))
        XCTAssertEqual(batch.readableBytes, 2 * 52)
        XCTAssertEqual(try PDUBuilders.decodeAll(batch, limits: FramingLimits(headerDigest: true)), [first, second])
    }

    func testHeaderDigestIsComputedFromTheHeaderStartInAPartlyReadBuffer() throws {
        var buffer = ByteBuffer(string: "junk")
        buffer.moveReaderIndex(forwardBy: 2)
        PDUEncoder(headerDigest: true).encode(.nopIn(NOPIn(statSN: 1)), into: &buffer)
        buffer.moveReaderIndex(forwardBy: 2)
        XCTAssertEqual(try PDUBuilders.decodeAll(buffer, limits: FramingLimits(headerDigest: true)), [.nopIn(NOPIn(statSN: 1))])
    }
}
