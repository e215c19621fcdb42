import Foundation
import SystemSupport
import XCTest

/// A FrameServer on a socket in a fresh directory that unprivileged users may reach, with its log
/// lines kept, and clients for it.
class FrameServerTestCase: XCTestCase {
    private var directory: String!
    var path: String { directory + "/s" }
    let logLines = Lines()

    override func setUpWithError() throws {
        directory = "/tmp/fs-\(UUID().uuidString.prefix(8))"
        XCTAssertEqual(mkdir(directory, 0o755), 0)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func startServer(
        _ mode: FrameServer.Mode, limits: FrameServer.Limits = FrameServer.Limits(frameLimit: 1024),
        admit: @escaping FrameServer.Admission = { _ in nil }, onStop: @escaping @Sendable () -> Void = {},
        handler: @escaping FrameServer.Handler
    ) throws -> FrameServer {
        let fd = try UnixSocket.openStream()
        try UnixSocket.startListening(fd, at: path, mode: 0o666)
        let lines = logLines
        return try FrameServer.start(
            listeningOn: fd, mode: mode, limits: limits, admit: admit, log: { lines.append($0) }, onStop: onStop,
            handler: handler)
    }

    /// A connected client that fails rather than hangs when the server does not answer.
    func connect() throws -> Int32 {
        let fd = try UnixSocket.connect(to: path)
        UnixSocket.setTimeouts(on: fd, receiveSeconds: 5, sendSeconds: 5)
        return fd
    }

    /// One request, one reply, on a fresh connection; nil when the server hung up instead.
    func exchange(_ request: String) throws -> String? {
        let fd = try connect()
        defer { close(fd) }
        try UnixSocket.sendFrame(Array(request.utf8), on: fd)
        return try UnixSocket.receiveFrameOrEOF(on: fd, limit: 1024).map { String(decoding: $0, as: UTF8.self) }
    }

    func sendRaw(_ bytes: [UInt8], on fd: Int32) {
        XCTAssertEqual(send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)), bytes.count)
    }

    /// Waits (5 s at most) until `condition` holds.
    func eventually(_ what: String, _ condition: () -> Bool) {
        let end = Date() + 5
        while !condition() && Date() < end { usleep(10_000) }
        XCTAssertTrue(condition(), what)
    }
}

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []

    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var all: [String] { lock.withLock { stored } }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
