@testable import ISCSIProtocol
import XCTest

/// MD5 (RFC 1321 appendix A.5), SHA-1 and SHA-256 (FIPS 180-4 examples and the
/// NIST one-million-'a' vector), plus messages around the padding boundaries
/// checked against Python's hashlib.
final class CHAPDigestTests: XCTestCase {
    static let abc = Array("abc".utf8)
    static let twoBlocks448 = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
    static let twoBlocks896 = Array(
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
            + "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu").utf8)
    static let millionA = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)

    func testMD5KnownAnswers() {
        XCTAssertEqual(hex(MD5.hash([])), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(hex(MD5.hash(Array("a".utf8))), "0cc175b9c0f1b6a831c399e269772661")
        XCTAssertEqual(hex(MD5.hash(Self.abc)), "900150983cd24fb0d6963f7d28e17f72")
        XCTAssertEqual(hex(MD5.hash(Array("message digest".utf8))), "f96b697d7cb7938d525a2f31aaf161d0")
        XCTAssertEqual(
            hex(MD5.hash(Array("abcdefghijklmnopqrstuvwxyz".utf8))), "c3fcd3d76192e4007dfb496cca67e13b")
        let digits = String(repeating: "1234567890", count: 8)
        XCTAssertEqual(hex(MD5.hash(Array(digits.utf8))), "57edf4a22be3c955ac49da2e2107b67a")
        XCTAssertEqual(hex(MD5.hash(Self.twoBlocks896)), "03dd8807a93175fb062dfb55dc7d359c")
    }

    func testMD5Million() {
        XCTAssertEqual(hex(MD5.hash(Self.millionA)), "7707d6ae4e027c70eea2a935c2296f21")
    }

    func testSHA1KnownAnswers() {
        XCTAssertEqual(hex(SHA1.hash([])), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        XCTAssertEqual(hex(SHA1.hash(Self.abc)), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(hex(SHA1.hash(Self.twoBlocks448)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        XCTAssertEqual(hex(SHA1.hash(Self.twoBlocks896)), "a49b2446a02c645bf419f995b67091253a04a259")
    }

    func testSHA1Million() {
        XCTAssertEqual(hex(SHA1.hash(Self.millionA)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    func testSHA256KnownAnswers() {
        XCTAssertEqual(hex(SHA256.hash([])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex(SHA256.hash(Self.abc)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            hex(SHA256.hash(Self.twoBlocks448)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(
            hex(SHA256.hash(Self.twoBlocks896)), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testSHA256Million() {
        XCTAssertEqual(
            hex(SHA256.hash(Self.millionA)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around 55/56 (where the length no longer fits the last block)
    /// and the block sizes; the message is 0, 1, 2, ... (hashlib values).
    func testPaddingBoundaries() {
        let md5: [(Int, String)] = [
            (55, "6912ee65fff2d9f9ce2508cddf8bcda0"), (56, "51fdd1acda72405dfdfa03fcb85896d7"),
            (57, "5320ef4c17ef34a0cf2db763338d25eb"), (63, "48a6295221902e8e0938f773a7185e72"),
            (64, "b2d3f56bc197fd985d5965079b5e7148"), (65, "8bd7053801c768420faf816fadba971c"),
            (127, "8402b21e7bc7906493bae0dac017f1f9"), (128, "37eff01866ba3f538421b30b7cbefcac"),
            (200, "fb7001d34b8e82c9b579be5005d5b0a5"),
        ]
        let sha1: [(Int, String)] = [
            (55, "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2"), (56, "636e2ec698dac903498e648bd2f3af641d3c88cb"),
            (57, "7cb1330f35244b57437539253304ea78a6b7c443"), (63, "6d942da0c4392b123528f2905c713a3ce28364bd"),
            (64, "c6138d514ffa2135bfce0ed0b8fac65669917ec7"), (65, "69bd728ad6e13cd76ff19751fde427b00e395746"),
            (127, "89d7312a903f65cd2b3e34a975e55dbea9033353"), (128, "e6434bc401f98603d7eda504790c98c67385d535"),
            (200, "54d11e99127d159799dbce10f51a75e697780478"),
        ]
        let sha256: [(Int, String)] = [
            (55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"),
            (56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"),
            (57, "2fe741af801cc238602ac0ec6a7b0c3a8a87c7fc7d7f02a3fe03d1c12eac4d8f"),
            (63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"),
            (64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"),
            (65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"),
            (127, "92ca0fa6651ee2f97b884b7246a562fa71250fedefe5ebf270d31c546bfea976"),
            (128, "471fb943aa23c511f6f72f8d1652d9c880cfa392ad80503120547703e56a2be5"),
            (200, "1901da1c9f699b48f6b2636e65cbf73abf99d0441ef67f5c540a42f7051dec6f"),
        ]
        for (length, digest) in md5 {
            XCTAssertEqual(hex(MD5.hash(counting(length))), digest, "MD5 of \(length) bytes")
        }
        for (length, digest) in sha1 {
            XCTAssertEqual(hex(SHA1.hash(counting(length))), digest, "SHA-1 of \(length) bytes")
        }
        for (length, digest) in sha256 {
            XCTAssertEqual(hex(SHA256.hash(counting(length))), digest, "SHA-256 of \(length) bytes")
        }
    }

    /// Feeding a message in uneven pieces gives the same digest as one call.
    func testStreamingInPiecesMatchesOneShot() {
        let message = counting(1000)
        for pieceLength in [1, 3, 63, 64, 65, 200] {
            var md5 = MD5(), sha1 = SHA1(), sha256 = SHA256()
            var start = 0
            while start < message.count {
                let piece = Array(message[start..<min(start + pieceLength, message.count)])
                md5.update(piece)
                sha1.update(piece)
                sha256.update(piece)
                start += pieceLength
            }
            XCTAssertEqual(md5.finalize(), MD5.hash(message), "MD5, pieces of \(pieceLength)")
            XCTAssertEqual(sha1.finalize(), SHA1.hash(message), "SHA-1, pieces of \(pieceLength)")
            XCTAssertEqual(sha256.finalize(), SHA256.hash(message), "SHA-256, pieces of \(pieceLength)")
        }
    }

    private func hex(_ bytes: [UInt8]) -> String { CHAPExchangeTests.hex(bytes) }
    private func counting(_ count: Int) -> [UInt8] { CHAPExchangeTests.counting(count) }
}
