import Foundation
import SystemSupport
import XCTest

final class SmallFileTests: XCTestCase {
    func testReadsAWholeFileAcrossChunks() throws {
        let path = NSTemporaryDirectory() + "small-\(UUID().uuidString)"
        defer { unlink(path) }
        // Longer than the 64 KiB read chunk, so the loop must append.
        let text = String(repeating: "line of text é\n", count: 10_000)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(SmallFile.contents(of: path), text)
    }

    func testEmptyFileIsEmptyText() throws {
        let path = NSTemporaryDirectory() + "empty-\(UUID().uuidString)"
        defer { unlink(path) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        XCTAssertEqual(SmallFile.contents(of: path), "")
    }

    func testMissingFileIsNil() {
        XCTAssertNil(SmallFile.contents(of: "/nonexistent-\(UUID().uuidString)/file"))
    }

    func testUnreadableFileIsNil() {
        // A directory opens but read(2) fails with EISDIR.
        XCTAssertNil(SmallFile.contents(of: NSTemporaryDirectory()))
    }
}

final class SmallFileLimitTests: XCTestCase {
    func testBytesStopAtTheLimitAndReportErrno() throws {
        let path = NSTemporaryDirectory() + "limit-\(UUID().uuidString)"
        defer { unlink(path) }
        try Data(repeating: 7, count: 100_000).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try SmallFile.bytes(of: path, limit: 100_000).count, 100_000)
        XCTAssertThrowsError(try SmallFile.bytes(of: path, limit: 99_999)) { error in
            XCTAssertEqual(error as? SmallFile.ReadError, .tooLarge(limit: 99_999))
        }
        XCTAssertThrowsError(try SmallFile.bytes(of: path + ".missing")) { error in
            XCTAssertEqual(error as? SmallFile.ReadError, .system(SystemError(errno: ENOENT)))
        }
    }
}
