import ISCSIProtocol
import NIOCore
import XCTest

final class TextKeyCodecTests: XCTestCase {
    private func text(_ string: String) -> ByteBuffer {
        ByteBuffer(string: string)
    }

    private func decodeError(_ buffer: ByteBuffer, limits: TextKeyLimits = .standard) -> TextKeyError? {
        do {
            _ = try TextKeyCodec.decode(buffer, limits: limits)
            return nil
        } catch {
            return error as? TextKeyError
        }
    }

    func testDecodesPairsInOrder() throws {
        let pairs = try TextKeyCodec.decode(text("InitiatorName=iqn.2001-04.com.example:a\0SessionType=Normal\0"))
        XCTAssertEqual(pairs, [
            TextKeyValue("InitiatorName", "iqn.2001-04.com.example:a"),
            TextKeyValue("SessionType", "Normal"),
        ])
    }

    func testValueKeepsLaterEqualsSignsAndMayBeEmpty() throws {
        let pairs = try TextKeyCodec.decode(text("X-a=b=c\0InitiatorAlias=\0"))
        XCTAssertEqual(pairs, [TextKeyValue("X-a", "b=c"), TextKeyValue("InitiatorAlias", "")])
    }

    func testToleratesTrailingPaddingButNotEmptyPairsInside() throws {
        XCTAssertEqual(try TextKeyCodec.decode(text("A=1\0\0\0\0")), [TextKeyValue("A", "1")])
        XCTAssertEqual(try TextKeyCodec.decode(text("")), [])
        XCTAssertEqual(decodeError(text("A=1\0\0B=2\0"))?.reason, .emptyKey)
    }

    func testDoesNotMoveTheReaderIndex() throws {
        let buffer = text("A=1\0")
        _ = try TextKeyCodec.decode(buffer)
        XCTAssertEqual(buffer.readableBytes, 4)
    }

    func testRejectsMissingEqualsNamingTheKey() {
        XCTAssertEqual(
            decodeError(text("A=1\0HeaderDigest\0")), TextKeyError(key: "HeaderDigest", reason: .missingEquals)
        )
    }

    func testRejectsEmptyKey() {
        XCTAssertEqual(decodeError(text("=value\0"))?.reason, .emptyKey)
    }

    func testKeyNameLengthLimitIs63Bytes() throws {
        let key63 = String(repeating: "K", count: 63)
        XCTAssertEqual(try TextKeyCodec.decode(text("\(key63)=1\0")).first?.key, key63)
        let key64 = String(repeating: "K", count: 64)
        XCTAssertEqual(decodeError(text("\(key64)=1\0")), TextKeyError(key: key64, reason: .keyTooLong(length: 64)))
    }

    func testKeyNameCharset() throws {
        XCTAssertEqual(try TextKeyCodec.decode(text("aZ09.-+@_=1\0")).first?.key, "aZ09.-+@_")
        XCTAssertEqual(
            decodeError(text("Max Burst=1\0")), TextKeyError(key: "Max Burst", reason: .illegalKeyCharacter(0x20))
        )
        XCTAssertEqual(decodeError(text("Key!=1\0"))?.reason, .illegalKeyCharacter(UInt8(ascii: "!")))
        XCTAssertEqual(decodeError(text("Kéy=1\0"))?.reason, .illegalKeyCharacter(0xC3))
    }

    func testHashIsLegalOnlyInPublicExtensionPrefix() throws {
        XCTAssertEqual(try TextKeyCodec.decode(text("X#RegisteredKey=1\0")).first?.key, "X#RegisteredKey")
        XCTAssertEqual(decodeError(text("A#b=1\0"))?.reason, .illegalKeyCharacter(UInt8(ascii: "#")))
        XCTAssertEqual(decodeError(text("X#a#b=1\0"))?.reason, .illegalKeyCharacter(UInt8(ascii: "#")))
    }

    func testValueLengthLimitIs255Bytes() throws {
        let value255 = String(repeating: "v", count: 255)
        XCTAssertEqual(try TextKeyCodec.decode(text("TargetAlias=\(value255)\0")).first?.value, value255)
        let value256 = String(repeating: "v", count: 256)
        XCTAssertEqual(
            decodeError(text("TargetAlias=\(value256)\0")),
            TextKeyError(key: "TargetAlias", reason: .valueTooLong(length: 256, limit: 255))
        )
    }

    func testChapBinaryValuesMayReach8192Bytes() throws {
        let long = "0x" + String(repeating: "ab", count: 4095)  // 8192 bytes
        XCTAssertEqual(try TextKeyCodec.decode(text("CHAP_C=\(long)\0")).first?.value.utf8.count, 8192)
        XCTAssertEqual(try TextKeyCodec.decode(text("CHAP_R=\(long)\0")).first?.value, long)
        XCTAssertEqual(
            decodeError(text("CHAP_C=\(long)f\0")),
            TextKeyError(key: "CHAP_C", reason: .valueTooLong(length: 8193, limit: 8192))
        )
        // The long limit belongs to the binary keys only.
        XCTAssertEqual(decodeError(text("CHAP_N=\(long)\0"))?.reason, .valueTooLong(length: 8192, limit: 255))
    }

    func testRejectsDuplicateKeyUnlessRepeatable() throws {
        let twice = text("MaxBurstLength=512\0MaxBurstLength=1024\0")
        XCTAssertEqual(decodeError(twice), TextKeyError(key: "MaxBurstLength", reason: .duplicateKey))

        let records = text(
            "TargetName=iqn.a\0TargetAddress=1.2.3.4:3260,1\0TargetName=iqn.b\0TargetAddress=5.6.7.8:3260,1\0"
        )
        XCTAssertEqual(decodeError(records)?.reason, .duplicateKey)
        let pairs = try TextKeyCodec.decode(records, limits: .sendTargetsResponse)
        XCTAssertEqual(pairs.map(\.value), ["iqn.a", "1.2.3.4:3260,1", "iqn.b", "5.6.7.8:3260,1"])
    }

    func testRejectsInvalidUTF8Value() {
        var buffer = text("InitiatorAlias=")
        buffer.writeBytes([0xFF, 0xFE, 0])
        XCTAssertEqual(decodeError(buffer), TextKeyError(key: "InitiatorAlias", reason: .invalidUTF8))
    }

    func testAcceptsUTF8Alias() throws {
        XCTAssertEqual(try TextKeyCodec.decode(text("InitiatorAlias=Grüße 東京\0")).first?.value, "Grüße 東京")
    }

    func testRejectsUnterminatedLastPair() {
        XCTAssertEqual(decodeError(text("A=1\0B=2")), TextKeyError(key: "B", reason: .unterminatedPair))
    }

    func testBoundsPairCount() throws {
        let limits = TextKeyLimits(maxPairs: 3)
        XCTAssertEqual(try TextKeyCodec.decode(text("A=1\0B=2\0C=3\0"), limits: limits).count, 3)
        XCTAssertEqual(decodeError(text("A=1\0B=2\0C=3\0D=4\0"), limits: limits)?.reason, .tooManyPairs(limit: 3))
    }

    func testEncodesGoldenBytesAndRoundTrips() throws {
        let pairs = [TextKeyValue("HeaderDigest", "None"), TextKeyValue("MaxRecvDataSegmentLength", "8192")]
        var buffer = ByteBuffer()
        TextKeyCodec.encode(pairs, into: &buffer)
        let golden = "HeaderDigest=None\0MaxRecvDataSegmentLength=8192\0"
        XCTAssertEqual(Array(buffer.readableBytesView), Array(golden.utf8))
        XCTAssertEqual(TextKeyCodec.encodedLength(of: pairs), buffer.readableBytes)
        XCTAssertEqual(try TextKeyCodec.decode(buffer), pairs)
    }

    func testSplitCutsIntoBoundedSegments() {
        let segments = TextKeyCodec.split(text("0123456789"), maxSegmentLength: 4)
        XCTAssertEqual(segments.map { String(buffer: $0) }, ["0123", "4567", "89"])
        XCTAssertEqual(TextKeyCodec.split(text("0123"), maxSegmentLength: 4).count, 1)
        XCTAssertEqual(TextKeyCodec.split(text(""), maxSegmentLength: 4).map(\.readableBytes), [0])
    }

    func testErrorDescriptionNamesKeyAndReason() {
        let error = TextKeyError(key: "CHAP_C", reason: .valueTooLong(length: 9000, limit: 8192))
        XCTAssertTrue(error.description.contains("CHAP_C"))
        XCTAssertTrue(error.description.contains("8192"))
    }
}
