import ISCSIProtocol
import XCTest

/// CHAP responses, hash(identifier || secret || challenge), against values
/// computed with Python's hashlib (e.g. `hashlib.md5(bytes([1]) + secret +
/// challenge).hexdigest()`), and the CHAP_A list grammar.
final class CHAPAlgorithmTests: XCTestCase {
    private struct Vector {
        var identifier: UInt8
        var secret: [UInt8]
        var challenge: [UInt8]
        var expected: [CHAPAlgorithm: String]
    }

    private let vectors: [Vector] = [
        Vector(
            identifier: 1, secret: Array("secretsecret".utf8), challenge: (0..<16).map { UInt8($0) },
            expected: [
                .md5: "226dc576c33f04ff9c3a200ffe35f442",
                .sha1: "ae35ac1694de2cf7e68e790fbface9a28501fed7",
                .sha256: "024aef34e176668b34ec2bf7f5525e3bf7f0e94d7cec77cb07d08c3d5a8e23ca",
                .sha3_256: "e2bd0aba5f885a39aa4fbebccc63203c2f728f034cbaf009b44c2f0c5544f172",
            ]),
        Vector(
            identifier: 165, secret: Array("abcdefghijklmnop".utf8),
            challenge: (0..<32).map { UInt8(($0 * 37 + 11) % 256) },
            expected: [
                .md5: "cf22151966f0c707517a7e5d8a36d6b6",
                .sha1: "79486f8020eda926ef67d53298e4d8c96639ddd1",
                .sha256: "62a4c902d87b58731da6fca14365060e0d08310905d6e85fdbade746eb480b55",
                .sha3_256: "7c6f6a6f70ca9fa6c5a5370e820b318ca5bed81ad5bc4255ef0695719ed517c0",
            ]),
        // The longest challenge RFC 7143 allows, and a 200-byte secret: many blocks.
        Vector(
            identifier: 255, secret: (0..<200).map { UInt8(($0 * 13) % 256) },
            challenge: (0..<1024).map { UInt8($0 % 256) },
            expected: [
                .md5: "75601d38f019682261e53bf275f31b24",
                .sha1: "6d7179fff871a6460a3ac2f3088269beb8eb63af",
                .sha256: "489a5cc13420f96e300dc719b185bd48e54b8ab55bec5db613e44c378625d2ae",
                .sha3_256: "0ae6e934c262e7e2bbf900055d03c573c13d776fcf1f4a0cfa8e28bd933e8bb3",
            ]),
        Vector(
            identifier: 0, secret: Array("x".utf8), challenge: [0],
            expected: [
                .md5: "4b6cc886dd1a4948e37896ecc6e549e3",
                .sha1: "6479b71675ef4f37063d4b167c5b781e988269ed",
                .sha256: "0561374e75d21135ef4df8565a9e09c93257944df311c37bd6c2a6e9f6fbf0ad",
                .sha3_256: "ed85482085de0bbaedfa84ec692ba73f5e9b9a1a8e21cbfb496de1b2a9366160",
            ]),
    ]

    func testResponsesMatchHashlib() {
        for (index, vector) in vectors.enumerated() {
            for algorithm in CHAPAlgorithm.allCases {
                let response = algorithm.response(
                    identifier: vector.identifier, secret: vector.secret, challenge: vector.challenge)
                XCTAssertEqual(CHAPExchangeTests.hex(response), vector.expected[algorithm], "\(algorithm), vector \(index)")
                XCTAssertEqual(response.count, algorithm.digestLength)
            }
        }
    }

    func testResponseIsHashOfConcatenation() {
        let secret = Array("s3cr3t-s3cr3t".utf8), challenge: [UInt8] = Array(repeating: 0xAB, count: 40)
        for algorithm in CHAPAlgorithm.allCases {
            XCTAssertEqual(
                algorithm.response(identifier: 9, secret: secret, challenge: challenge),
                algorithm.hash([9] + secret + challenge))
        }
    }

    func testRegistryNumbersAndLengths() {
        XCTAssertEqual(CHAPAlgorithm.md5.rawValue, 5)
        XCTAssertEqual(CHAPAlgorithm.sha1.rawValue, 6)
        XCTAssertEqual(CHAPAlgorithm.sha256.rawValue, 7)
        XCTAssertEqual(CHAPAlgorithm.sha3_256.rawValue, 8)
        XCTAssertEqual(CHAPAlgorithm.allCases.map(\.digestLength), [16, 20, 32, 32])
        XCTAssertEqual(CHAPAlgorithm.defaultPreference, [.sha3_256, .sha256, .sha1, .md5])
        XCTAssertEqual(CHAPAlgorithm.encodeList(CHAPAlgorithm.defaultPreference), "8,7,6,5")
    }

    /// open-iscsi's chap_algs spelling, which tgtd --chap-algs takes too.
    func testParseNames() {
        XCTAssertEqual(CHAPAlgorithm.parseNames("MD5,SHA1,SHA256,SHA3-256"), [.md5, .sha1, .sha256, .sha3_256])
        XCTAssertEqual(CHAPAlgorithm.parseNames("sha3-256, sha256"), [.sha3_256, .sha256])
        for bad in ["", ",", "MD5,", "SHA-1", "5", "MD4", "SHA256,,MD5"] {
            XCTAssertNil(CHAPAlgorithm.parseNames(bad), "\(bad) should be refused")
        }
    }

    func testParseList() {
        XCTAssertEqual(CHAPAlgorithm.parseList("5"), [5])
        XCTAssertEqual(CHAPAlgorithm.parseList("8,7,6,5"), [8, 7, 6, 5])
        XCTAssertEqual(CHAPAlgorithm.parseList("0x80,5"), [128, 5])
        XCTAssertEqual(CHAPAlgorithm.parseList("129,5"), [129, 5], "unknown numbers are kept, not errors")
        for bad in ["", ",", "5,", ",5", "5,,7", "MD5", "5 ", " 5", "5;7", "256", "-1", "05", "None", "Reject"] {
            XCTAssertNil(CHAPAlgorithm.parseList(bad), "\(bad) should be malformed")
        }
        XCTAssertNotNil(CHAPAlgorithm.parseList(Array(repeating: "5", count: 16).joined(separator: ",")))
        XCTAssertNil(CHAPAlgorithm.parseList(Array(repeating: "5", count: 17).joined(separator: ",")))
        XCTAssertNil(CHAPAlgorithm.parseList(String(repeating: "0", count: 254) + "5,5"), "over 255 bytes")
    }

    func testConstantTimeEqual() {
        XCTAssertTrue(CHAPAlgorithm.constantTimeEqual([], []))
        XCTAssertTrue(CHAPAlgorithm.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(CHAPAlgorithm.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(CHAPAlgorithm.constantTimeEqual([0, 2, 3], [1, 2, 3]))
        XCTAssertFalse(CHAPAlgorithm.constantTimeEqual([1, 2, 3], [1, 2]))
        XCTAssertFalse(CHAPAlgorithm.constantTimeEqual([1, 2], [1, 2, 3]))
    }
}
