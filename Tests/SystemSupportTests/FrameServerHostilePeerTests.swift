import Foundation
import SystemSupport
import XCTest

/// Each bound of FrameServer held against a peer that tries to break it.
final class FrameServerHostilePeerTests: FrameServerTestCase {
    private let refusal = Array("go away".utf8)

    private func rootOnly() -> FrameServer.Admission {
        let refusal = refusal
        return { $0.uid == 0 ? nil : refusal }
    }

    func testAnUnprivilegedPeerAnnouncing16MiBIsRefusedWithoutItsRequestBeingRead() throws {
        let calls = Counter()
        let server = try startServer(.serial, limits: FrameServer.Limits(frameLimit: 16 << 20), admit: rootOnly()) {
            frame, _ in
            calls.increment()
            return frame
        }
        defer { server.stop() }
        // As nobody: announce 16 MiB, send 1 KiB of it, then read whatever comes back.
        let reply = try runAsNobody(
            """
            import socket, struct, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(sys.argv[1])
            try:
                s.sendall(struct.pack(">I", 16 << 20) + b"x" * 1024)
            except OSError:
                pass
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            print(data.hex())
            """, arguments: [path])
        XCTAssertEqual(reply, UnixSocket.framed(refusal).map { String(format: "%02x", $0) }.joined())
        XCTAssertEqual(calls.value, 0)
        var expected = FrameServer.Statistics()
        expected.refused = 1
        XCTAssertEqual(server.statistics, expected, "not a byte read, nothing held")
    }

    func testTheRefusalDoesNotWaitForTheRequest() throws {
        let server = try startServer(.serial, admit: { _ in Array("no".utf8) }) { frame, _ in frame }
        defer { server.stop() }
        let fd = try connect()
        defer { close(fd) }
        XCTAssertEqual(try UnixSocket.receiveFrame(on: fd, limit: 16), Array("no".utf8))
        XCTAssertEqual(server.statistics.bytesRead, 0)
        XCTAssertEqual(server.statistics.refused, 1)
    }

    func testATricklingClientIsCutOffWhenTheWholeRequestMissesTheDeadline() throws {
        let limits = FrameServer.Limits(frameLimit: 1024, requestDeadline: .milliseconds(800))
        let server = try startServer(.serial, limits: limits) { frame, _ in frame }
        defer { server.stop() }
        let fd = try connect()
        defer { close(fd) }
        // A byte every 150 ms: each read is quick, only the whole request is late.
        let started = Date()
        var sent = 0
        for byte in UnixSocket.framed([UInt8](repeating: 1, count: 100)) {
            guard send(fd, [byte], 1, Int32(MSG_NOSIGNAL)) == 1 else { break }
            sent += 1
            usleep(150_000)
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertLessThan(sent, 104, "the trickle was never cut off")
        XCTAssertGreaterThan(elapsed, 0.7)
        XCTAssertLessThan(elapsed, 2.5)
        XCTAssertEqual(server.statistics.requestsTimedOut, 1)
        XCTAssertTrue(
            logLines.all.contains { $0.contains("not complete within 0.8 s (got \(sent - 1) of 104 bytes)") }
                || logLines.all.contains { $0.contains("not complete within 0.8 s (got \(sent) of 104 bytes)") },
            "\(logLines.all)")
    }

    func testTricklingClientsDoNotDelayAnotherClientsRequest() throws {
        let server = try startServer(.serial) { frame, _ in frame }
        defer { server.stop() }
        let tricklers = try (0..<3).map { _ in try connect() }
        defer { tricklers.forEach { close($0) } }
        for fd in tricklers { sendRaw([0, 0], on: fd) }
        eventually("half headers read") { server.statistics.bytesRead == 6 }
        let started = Date()
        XCTAssertEqual(try exchange("urgent"), "urgent")
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5)
    }

    func testARootClientAnnouncing16MiBHoldsOnlyWhatItSent() throws {
        let server = try startServer(.serial, limits: FrameServer.Limits(frameLimit: 16 << 20)) { frame, _ in frame }
        defer { server.stop() }
        let fd = try connect()
        defer { close(fd) }
        sendRaw([0x01, 0, 0, 0] + [UInt8](repeating: 9, count: 1024), on: fd)
        eventually("1 KiB read") { server.statistics.bytesRead == 1028 }
        XCTAssertGreaterThan(server.statistics.peakBytesHeld, 0)
        XCTAssertLessThanOrEqual(server.statistics.peakBytesHeld, 4096)
    }

    func testPastTheConnectionLimitNewClientsWaitForASlot() throws {
        let limits = FrameServer.Limits(frameLimit: 1024, requestDeadline: .seconds(1), maxConnections: 2)
        let server = try startServer(.serial, limits: limits) { frame, _ in frame }
        defer { server.stop() }
        let idle = try (0..<2).map { _ in try connect() }
        defer { idle.forEach { close($0) } }
        let started = Date()
        XCTAssertEqual(try exchange("third"), "third")
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.8, "answered before a slot was free")
        XCTAssertTrue(logLines.all.contains { $0.contains("2 connections open, the most allowed") }, "\(logLines.all)")
    }

    func testAReplyNotTakenIsDroppedAtTheReplyDeadlineWithoutHoldingUpOthers() throws {
        let limits = FrameServer.Limits(frameLimit: 1024, replyDeadline: .milliseconds(500))
        let server = try startServer(.serial, limits: limits) { frame, _ in
            frame == Array("big".utf8) ? [UInt8](repeating: 0, count: 4 << 20) : frame
        }
        defer { server.stop() }
        let sleeper = try connect()
        defer { close(sleeper) }
        try UnixSocket.sendFrame(Array("big".utf8), on: sleeper)  // and never read the reply
        XCTAssertEqual(try exchange("small"), "small")
        eventually("reply dropped") { logLines.all.contains { $0.contains("did not take its reply within 0.5 s") } }
    }

    /// Runs a Python script as nobody (setpriv) and returns its output, trimmed.
    private func runAsNobody(_ script: String, arguments: [String]) throws -> String {
        try XCTSkipUnless(getuid() == 0, "needs root to become nobody")
        for tool in ["/usr/bin/setpriv", "/usr/bin/python3"] {
            try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments =
            ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
