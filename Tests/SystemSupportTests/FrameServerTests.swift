import Foundation
import SystemSupport
import XCTest

final class FrameServerTests: XCTestCase {
    private var directory: String!
    private var path: String { directory + "/s" }

    override func setUpWithError() throws {
        directory = "/tmp/fs-\(UUID().uuidString.prefix(8))"
        XCTAssertEqual(mkdir(directory, 0o755), 0)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func startServer(
        _ mode: FrameServer.Mode, frameLimit: Int = 1024, onStop: @escaping @Sendable () -> Void = {},
        handler: @escaping FrameServer.Handler
    ) throws -> FrameServer {
        let fd = try UnixSocket.openStream()
        try UnixSocket.startListening(fd, at: path, mode: 0o600)
        return try FrameServer.start(
            listeningOn: fd, mode: mode, frameLimit: frameLimit, receiveTimeout: 5, sendTimeout: 5, onStop: onStop,
            handler: handler)
    }

    /// One request, one reply, on a fresh connection; nil when the server hung up instead.
    private func exchange(_ request: String) throws -> String? {
        let fd = try UnixSocket.connect(to: path)
        defer { close(fd) }
        UnixSocket.setTimeouts(on: fd, receiveSeconds: 5, sendSeconds: 5)  // a hung server fails, not hangs
        try UnixSocket.sendFrame(Array(request.utf8), on: fd)
        return try UnixSocket.receiveFrameOrEOF(on: fd, limit: 1024).map { String(decoding: $0, as: UTF8.self) }
    }

    func testHandlerSeesTheFrameAndThePeersCredentials() throws {
        let server = try startServer(.serial) { frame, peer in
            Array("\(String(decoding: frame, as: UTF8.self)) from \(peer.pid)/\(peer.uid)/\(peer.gid)".utf8)
        }
        defer { server.stop() }
        XCTAssertEqual(try exchange("hello"), "hello from \(getpid())/\(getuid())/\(getgid())")
    }

    func testNilReplyOrOversizedRequestHangsUpWithoutAnswer() throws {
        let calls = Counter()
        let server = try startServer(.serial, frameLimit: 8) { frame, _ in
            calls.increment()
            return frame == Array("silent".utf8) ? nil : frame
        }
        defer { server.stop() }
        XCTAssertNil(try exchange("silent"))
        // Closed with the payload unread: the peer sees a reset (or EPIPE if still sending).
        XCTAssertThrowsError(try exchange("much too long")) {
            XCTAssertTrue([ECONNRESET, EPIPE].contains(($0 as? SystemError)?.errno ?? 0), "\($0)")
        }
        XCTAssertEqual(try exchange("echo"), "echo")
        XCTAssertEqual(calls.value, 2, "the oversized request must not reach the handler")
    }

    func testSerialModeAnswersConnectionsInArrivalOrderOneAtATime() throws {
        let log = Log()
        let server = try startServer(.serial) { frame, _ in
            log.enter(String(decoding: frame, as: UTF8.self))
            try? await Task.sleep(nanoseconds: 20_000_000)
            log.leave()
            return frame
        }
        defer { server.stop() }
        // All three are queued before any request is sent; they are sent in reverse order.
        let clients = try (0..<3).map { _ in try UnixSocket.connect(to: path) }
        defer { clients.forEach { close($0) } }
        for (index, fd) in clients.enumerated().reversed() {
            try UnixSocket.sendFrame(Array("r\(index)".utf8), on: fd)
        }
        for (index, fd) in clients.enumerated() {
            XCTAssertEqual(try UnixSocket.receiveFrame(on: fd, limit: 16), Array("r\(index)".utf8))
        }
        XCTAssertEqual(log.order, ["r0", "r1", "r2"])
        XCTAssertEqual(log.mostAtOnce, 1)
    }

    func testThreadPerConnectionModeServesConnectionsConcurrently() throws {
        let secondArrived = DispatchSemaphore(value: 0)
        let server = try startServer(.threadPerConnection) { frame, _ in
            if frame == Array("first".utf8) {
                // Only answers once the second request is being handled at the same time.
                let waited = secondArrived.wait(timeout: .now() + 5)
                return Array((waited == .success ? "first after second" : "first alone").utf8)
            }
            secondArrived.signal()
            return frame
        }
        defer { server.stop() }
        let first = try UnixSocket.connect(to: path)
        defer { close(first) }
        try UnixSocket.sendFrame(Array("first".utf8), on: first)
        XCTAssertEqual(try exchange("second"), "second")
        XCTAssertEqual(try UnixSocket.receiveFrame(on: first, limit: 64), Array("first after second".utf8))
    }

    func testStopClosesTheListenerThenCallsOnStop() throws {
        let stopped = Counter()
        let server = try startServer(.serial, onStop: { stopped.increment() }) { frame, _ in frame }
        XCTAssertEqual(try exchange("before"), "before")
        XCTAssertEqual(stopped.value, 0)
        server.stop()
        XCTAssertEqual(stopped.value, 1, "stop() returns only after the loop has ended")
        XCTAssertThrowsError(try UnixSocket.connect(to: path)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: ECONNREFUSED))
        }
        server.stop()  // a second stop is harmless
        XCTAssertEqual(stopped.value, 1)
    }

    func testStopFromInsideTheHandlerDoesNotDeadlock() throws {
        let holder = ServerHolder()
        let ended = DispatchSemaphore(value: 0)
        let server = try startServer(.serial, onStop: { ended.signal() }) { _, _ in
            holder.server?.stop()
            return Array("bye".utf8)
        }
        holder.server = server
        XCTAssertEqual(try exchange("stop"), "bye")
        XCTAssertEqual(ended.wait(timeout: .now() + 5), .success, "the loop ends right after answering")
        XCTAssertThrowsError(try UnixSocket.connect(to: path))
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

/// Which requests ran, in order, and how many ran at once at most.
private final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private var entered: [String] = []
    private var running = 0
    private var most = 0

    func enter(_ name: String) {
        lock.withLock {
            entered.append(name)
            running += 1
            most = max(most, running)
        }
    }

    func leave() { lock.withLock { running -= 1 } }
    var order: [String] { lock.withLock { entered } }
    var mostAtOnce: Int { lock.withLock { most } }
}

private final class ServerHolder: @unchecked Sendable {
    var server: FrameServer?
}
