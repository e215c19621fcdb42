import Foundation
import SystemSupport
import XCTest

@testable import ISCSIAdmin

final class ControlServerTests: XCTestCase {
    private var runDirectory: String!

    override func setUpWithError() throws {
        // Short path: sun_path holds only 107 bytes.
        runDirectory = "/tmp/ctl-\(UUID().uuidString.prefix(8))"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: runDirectory)
    }

    private func makeServer(
        port: Int = 9, allowedUIDs: Set<UInt32> = [getuid()],
        handle: @escaping @Sendable (AdminRequest) async -> AdminResponse = { _ in .success() }
    ) -> ControlServer {
        ControlServer(controlPort: port, runDirectory: runDirectory, allowedUIDs: allowedUIDs, handle: handle)
    }

    func testRequestAndResponseCrossTheSocket() throws {
        let received = Recorder()
        let server = makeServer { request in
            received.append(request)
            return request.tid == 99 ? .failure(.noTarget) : .success("Target \(request.tid ?? 0): x\n")
        }
        try server.start()
        defer { server.stop() }
        XCTAssertEqual(server.socketPath, runDirectory + "/socket.9")

        let show = AdminRequest(lld: "iscsi", mode: .target, op: .show, tid: 3)
        XCTAssertEqual(try ControlClient.send(show, controlPort: 9, runDirectory: runDirectory), .success("Target 3: x\n"))
        let missing = AdminRequest(mode: .target, op: .show, tid: 99)
        XCTAssertEqual(
            try ControlClient.send(missing, controlPort: 9, runDirectory: runDirectory),
            AdminResponse(exitCode: 22, message: "can't find the target"))
        XCTAssertEqual(received.requests, [show, missing])
    }

    func testLargeResponsesArriveWhole() throws {
        let output = String(repeating: "LUN information line\n", count: 100_000)
        let server = makeServer { _ in .success(output) }
        try server.start()
        defer { server.stop() }
        let response = try ControlClient.send(AdminRequest(mode: .target, op: .show), controlPort: 9, runDirectory: runDirectory)
        XCTAssertEqual(response.output, output)
    }

    func testPeersOutsideTheAllowedUIDsAreRefused() throws {
        let handled = Recorder()
        let server = makeServer(allowedUIDs: [getuid() &+ 4242]) { request in
            handled.append(request)
            return .success()
        }
        try server.start()
        defer { server.stop() }
        let response = try ControlClient.send(AdminRequest(mode: .system, op: .delete), controlPort: 9, runDirectory: runDirectory)
        XCTAssertEqual(response, AdminResponse.permissionDenied)
        XCTAssertEqual(response.message, "permission denied")
        XCTAssertNotEqual(response.exitCode, 0)
        XCTAssertTrue(handled.requests.isEmpty, "a refused request must not reach the handler")
    }

    /// The refusal is decided from the caller's credentials at accept: it arrives though the
    /// request (announcing 16 MiB) never does.
    func testRefusalComesBeforeARequestIsRead() throws {
        let handled = Recorder()
        let server = makeServer(allowedUIDs: [getuid() &+ 4242]) { request in
            handled.append(request)
            return .success()
        }
        try server.start()
        defer { server.stop() }
        let fd = try UnixSocket.connect(to: server.socketPath)
        defer { close(fd) }
        UnixSocket.setTimeouts(on: fd, receiveSeconds: 5, sendSeconds: 5)
        _ = send(fd, [0x01, 0, 0, 0], 4, Int32(MSG_NOSIGNAL))  // EPIPE when tgtd has already closed
        let frame = try UnixSocket.receiveFrame(on: fd, limit: 1 << 20)
        XCTAssertEqual(try AdminWire.decode(AdminResponse.self, from: frame), .permissionDenied)
        XCTAssertTrue(handled.requests.isEmpty)
    }

    /// Finding 6: clients that trickle their requests no longer hold up tgtadm.
    func testTricklingClientsDoNotDelayTgtadm() throws {
        let server = makeServer { _ in .success("ok\n") }
        try server.start()
        defer { server.stop() }
        let tricklers = try (0..<3).map { _ in try UnixSocket.connect(to: server.socketPath) }
        defer { tricklers.forEach { close($0) } }
        for fd in tricklers { XCTAssertEqual(send(fd, [0, 0], 2, Int32(MSG_NOSIGNAL)), 2) }
        let started = Date()
        let response = try ControlClient.send(AdminRequest(mode: .target, op: .show), controlPort: 9, runDirectory: runDirectory)
        XCTAssertEqual(response.output, "ok\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5)
    }

    func testAuthorizationAllowsOnlyListedUIDs() {
        let root = PeerCredentials(pid: 10, uid: 0, gid: 0)
        let user = PeerCredentials(pid: 11, uid: 1000, gid: 1000)
        XCTAssertNil(ControlServer.authorize(root, allowedUIDs: [0]))
        XCTAssertEqual(ControlServer.authorize(user, allowedUIDs: [0]), .permissionDenied)
        XCTAssertNil(ControlServer.authorize(user, allowedUIDs: [0, 1000]))
        XCTAssertEqual(ControlServer.authorize(root, allowedUIDs: []), .permissionDenied)
    }

    func testPeerCredentialsComeFromTheKernel() throws {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer { fds.forEach { close($0) } }
        XCTAssertEqual(try PeerCredentials.of(socket: fds[0]), PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid()))
    }

    func testNoDaemonGivesDebianTgtadmsMessageAndExitCode() {
        XCTAssertThrowsError(try ControlClient.send(AdminRequest(mode: .target, op: .show), controlPort: 77, runDirectory: runDirectory)) {
            XCTAssertEqual(
                $0 as? ControlClientError,
                ControlClientError(message: "failed to send request hdr to tgt daemon, Transport endpoint is not connected", exitCode: 107))
        }
    }

    func testStopRemovesTheSocketAndFurtherRequestsFail() throws {
        let server = makeServer()
        try server.start()
        XCTAssertTrue(FileManager.default.fileExists(atPath: server.socketPath))
        server.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.socketPath))
        XCTAssertThrowsError(try ControlClient.send(AdminRequest(mode: .target, op: .show), controlPort: 9, runDirectory: runDirectory))
        server.stop()  // a second stop is harmless
    }

    func testALiveDaemonKeepsItsPortAndAStaleSocketIsReplaced() throws {
        let first = makeServer()
        try first.start()
        XCTAssertThrowsError(try makeServer().start()) {
            XCTAssertEqual(($0 as? ControlServerError)?.message, "control port 9 is already in use")
        }
        first.stop()

        // A socket file left by a crashed daemon: bound, never listened on, so nobody answers.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let bound = UnixSocket.withAddress(first.socketPath) { bind(stale, $0, $1) }
        close(stale)
        XCTAssertEqual(bound, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.socketPath))
        let second = makeServer { _ in .success("fresh\n") }
        try second.start()
        defer { second.stop() }
        XCTAssertEqual(try ControlClient.send(AdminRequest(mode: .system, op: .show), controlPort: 9, runDirectory: runDirectory).output, "fresh\n")
    }

    func testDistinctPortsServeSideBySide() throws {
        let a = makeServer(port: 1) { _ in .success("a") }
        let b = makeServer(port: 2) { _ in .success("b") }
        try a.start()
        try b.start()
        defer { a.stop(); b.stop() }
        XCTAssertEqual(try ControlClient.send(AdminRequest(mode: .system, op: .show), controlPort: 2, runDirectory: runDirectory).output, "b")
        XCTAssertEqual(try ControlClient.send(AdminRequest(mode: .system, op: .show), controlPort: 1, runDirectory: runDirectory).output, "a")
    }

    func testHandlerMayStopTheServerWhileAnswering() throws {
        let holder = ServerHolder()
        let server = makeServer { _ in
            holder.server?.stop()
            return .success("bye\n")
        }
        holder.server = server
        try server.start()
        let response = try ControlClient.send(AdminRequest(mode: .system, op: .delete), controlPort: 9, runDirectory: runDirectory)
        XCTAssertEqual(response.output, "bye\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.socketPath))
    }

    func testMalformedRequestIsAnsweredAsInvalid() throws {
        let server = makeServer()
        try server.start()
        defer { server.stop() }
        let fd = try UnixSocket.connect(to: server.socketPath)
        defer { close(fd) }
        try UnixSocket.sendFrame(Array("{\"mode\":\"nonsense\"}".utf8), on: fd)
        let frame = try UnixSocket.receiveFrame(on: fd, limit: 1 << 20)
        XCTAssertEqual(
            try AdminWire.decode(AdminResponse.self, from: frame),
            AdminResponse(exitCode: 22, message: "invalid request: the request is not one this tgtd can read"))
    }

    func testRunDirectoryComesFromTheEnvironment() {
        let saved = getenv("TGTD_RUN_DIR").map { String(cString: $0) }
        defer {
            if let saved { setenv("TGTD_RUN_DIR", saved, 1) } else { unsetenv("TGTD_RUN_DIR") }
        }
        unsetenv("TGTD_RUN_DIR")
        XCTAssertEqual(ControlSocket.defaultRunDirectory, "/run/swift-tgtd")
        XCTAssertEqual(ControlSocket.path(controlPort: 0), "/run/swift-tgtd/socket.0")
        setenv("TGTD_RUN_DIR", "/tmp/elsewhere", 1)
        XCTAssertEqual(ControlSocket.path(controlPort: 5), "/tmp/elsewhere/socket.5")
    }
}

private final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [AdminRequest] = []

    func append(_ request: AdminRequest) {
        lock.withLock { stored.append(request) }
    }

    var requests: [AdminRequest] { lock.withLock { stored } }
}

private final class ServerHolder: @unchecked Sendable {
    var server: ControlServer?
}
