import Foundation
import NIOCore
import NIOPosix
import XCTest

@testable import Backstore

/// A temporary directory removed on deinit, plus helpers shared by the backstore tests.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "backstore-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Creates a sparse file of `size` bytes and returns its path.
    func makeFile(_ name: String, size: Int) throws -> String {
        let file = path + "/" + name
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: nil))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: file))
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
        return file
    }
}

extension ByteBuffer {
    /// A buffer of `count` bytes whose values depend on `seed` and the position.
    static func pattern(count: Int, seed: UInt8) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        for index in 0..<count {
            buffer.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ Int(seed)))
        }
        return buffer
    }
}

/// Reads a file's bytes through an independent descriptor.
func fileBytes(_ path: String, offset: Int, count: Int) throws -> [UInt8] {
    let handle = try XCTUnwrap(FileHandle(forReadingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    return [UInt8](try handle.read(upToCount: count) ?? Data())
}

func assertBackstoreError(
    _ expression: @autoclosure () throws -> some Any, kind: BackstoreError.Kind,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertThrowsError(try expression(), file: file, line: line) { error in
        XCTAssertEqual((error as? BackstoreError)?.kind, kind, "\(error)", file: file, line: line)
    }
}
