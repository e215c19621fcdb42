import Foundation
import SystemSupport
import XCTest

final class FrameServerTests: FrameServerTestCase {
    func testHandlerSeesTheFrameAndThePeersCredentials() throws {
        let server = try startServer(.serial) { frame, peer in
            Array("\(String(decoding: frame, as: UTF8.self)) from \(peer.pid)/\(peer.uid)/\(peer.gid)".utf8)
        }
        defer { server.stop() }
        XCTAssertEqual(try exchange("hello"), "hello from \(getpid())/\(getuid())/\(getgid())")
    }

    func testNilReplyOrOversizedRequestHangsUpWithoutAnswer() throws {
        let calls = Counter()
        let server = try startServer(.serial, limits: FrameServer.Limits(frameLimit: 8)) { frame, _ in
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
        XCTAssertEqual(server.statistics.oversized, 1)
        XCTAssertTrue(logLines.all.contains { $0.contains("announces 13 bytes, over the limit of 8") }, "\(logLines.all)")
    }

    func testSerialModeRunsRequestsOneAtATimeInTheOrderTheyArrivedWhole() throws {
        let log = Log()
        let server = try startServer(.serial) { frame, _ in
            log.enter(String(decoding: frame, as: UTF8.self))
            try? await Task.sleep(nanoseconds: 20_000_000)
            log.leave()
            return frame
        }
        defer { server.stop() }
        // Connected in one order, completed in the reverse one, each read before the next is sent.
        let clients = try (0..<3).map { _ in try connect() }
        defer { clients.forEach { close($0) } }
        var sent = 0
        for (index, fd) in clients.enumerated().reversed() {
            try UnixSocket.sendFrame(Array("r\(index)".utf8), on: fd)
            sent += 6
            eventually("request r\(index) read") { server.statistics.bytesRead == sent }
        }
        for (index, fd) in clients.enumerated() {
            XCTAssertEqual(try UnixSocket.receiveFrame(on: fd, limit: 16), Array("r\(index)".utf8))
        }
        XCTAssertEqual(log.order, ["r2", "r1", "r0"])
        XCTAssertEqual(log.mostAtOnce, 1)
    }

    func testConcurrentModeServesConnectionsConcurrently() throws {
        let secondArrived = DispatchSemaphore(value: 0)
        let server = try startServer(.concurrent) { frame, _ in
            if frame == Array("first".utf8) {
                // Only answers once the second request is being handled at the same time.
                let waited = secondArrived.wait(timeout: .now() + 5)
                return Array((waited == .success ? "first after second" : "first alone").utf8)
            }
            secondArrived.signal()
            return frame
        }
        defer { server.stop() }
        let first = try connect()
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

    func testStopFromInsideTheHandlerAnswersThatRequestAndClosesQueuedOnes() throws {
        let holder = ServerHolder()
        let ended = DispatchSemaphore(value: 0)
        let calls = Counter()
        let secondQueued = DispatchSemaphore(value: 0)
        let server = try startServer(.serial, onStop: { ended.signal() }) { frame, _ in
            calls.increment()
            _ = secondQueued.wait(timeout: .now() + 5)
            holder.server?.stop()
            return Array("bye".utf8)
        }
        holder.server = server
        let first = try connect()
        let second = try connect()
        defer { close(first); close(second) }
        try UnixSocket.sendFrame(Array("stop".utf8), on: first)
        eventually("first request executing") { calls.value == 1 }
        try UnixSocket.sendFrame(Array("queued".utf8), on: second)
        eventually("second request read") { server.statistics.bytesRead == 8 + 10 }
        secondQueued.signal()
        XCTAssertEqual(try UnixSocket.receiveFrame(on: first, limit: 16), Array("bye".utf8))
        XCTAssertNil(try UnixSocket.receiveFrameOrEOF(on: second, limit: 16))
        XCTAssertEqual(ended.wait(timeout: .now() + 5), .success, "the loop ends right after answering")
        XCTAssertEqual(calls.value, 1)
        XCTAssertThrowsError(try UnixSocket.connect(to: path))
    }
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
