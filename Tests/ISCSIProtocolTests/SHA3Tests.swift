@testable import ISCSIProtocol
import XCTest

/// SHA3-256 (FIPS 202) against the NIST example values and Python's hashlib,
/// around the 136-byte rate where padding spills into a second block.
final class SHA3Tests: XCTestCase {
    func testKnownAnswers() {
        XCTAssertEqual(hex(SHA3_256.hash([])), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a")
        XCTAssertEqual(
            hex(SHA3_256.hash(Array("abc".utf8))), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
        XCTAssertEqual(
            hex(SHA3_256.hash(CHAPDigestTests.twoBlocks448)),
            "41c0dba2a9d6240849100376a8235e2c82e1b9998a999e21db32dd97496d3376")
        XCTAssertEqual(
            hex(SHA3_256.hash(CHAPDigestTests.twoBlocks896)),
            "916f6061fe879741ca6469b43971dfdb28b1a32dc36cb3254e812be27aad1d18")
    }

    func testMillionA() {
        XCTAssertEqual(
            hex(SHA3_256.hash(CHAPDigestTests.millionA)),
            "5c8875ae474a3634ba4fd55ec85bffd661f32aca75c6d699d0cdcb6c115891c1")
    }

    func testRateBoundaries() {
        let vectors: [(Int, String)] = [
            (55, "a91a138e3374d2d8fa4791b83a93a311a06a2926ef70153428cf6e1b239c10d4"),
            (64, "c8ad478f4e1dd9d47dfc3b985708d92db1f8db48fe9cddd459e63c321f490402"),
            (127, "c66018e60c774d770cc6539d42c023fa974c29e3fe2db5925f226b9cc5cf8b05"),
            (135, "fded8fd9d6551c601eeb3b7c6bc5e5cfd8aad1d015b7e9aaa9c9b9475231d5e2"),
            (136, "cf3ccff92480a29160c2d38317c430e14749bfee1788106957dfe73f8c4930e5"),
            (137, "ce9d7dc90913ee5d92745019479a5352c6d6279bef18ed07dc0a83ee8084daca"),
            (200, "5f728f63bf5ee48c77f453c0490398fa645b8d4c4e56be9a41cfec344d6ca899"),
        ]
        for (length, digest) in vectors {
            XCTAssertEqual(hex(SHA3_256.hash(CHAPExchangeTests.counting(length))), digest, "\(length) bytes")
        }
    }

    func testStreamingInPiecesMatchesOneShot() {
        let message = CHAPExchangeTests.counting(1000)
        for pieceLength in [1, 7, 135, 136, 137, 500] {
            var hasher = SHA3_256()
            var start = 0
            while start < message.count {
                hasher.update(Array(message[start..<min(start + pieceLength, message.count)]))
                start += pieceLength
            }
            XCTAssertEqual(hasher.finalize(), SHA3_256.hash(message), "pieces of \(pieceLength)")
        }
    }

    func testAlgorithmEightIsSHA3() {
        XCTAssertEqual(CHAPAlgorithm(rawValue: 8), .sha3_256)
        XCTAssertEqual(CHAPAlgorithm.sha3_256.digestLength, 32)
        XCTAssertEqual(
            hex(CHAPAlgorithm.sha3_256.hash(Array("abc".utf8))),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
    }

    private func hex(_ bytes: [UInt8]) -> String { CHAPExchangeTests.hex(bytes) }
}
