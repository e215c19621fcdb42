import Foundation
import SystemSupport
import XCTest

final class UnixSocketTests: XCTestCase {
    private var pair: [Int32] = [-1, -1]
    private var directory: String!

    override func setUpWithError() throws {
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        // Short path: sun_path holds only 107 bytes.
        directory = "/tmp/ss-\(UUID().uuidString.prefix(8))"
        XCTAssertEqual(mkdir(directory, 0o755), 0)
    }

    override func tearDownWithError() throws {
        pair.filter { $0 >= 0 }.forEach { close($0) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func closeWriter() {
        close(pair[1])
        pair[1] = -1
    }

    private func sendRaw(_ bytes: [UInt8]) {
        XCTAssertEqual(send(pair[1], bytes, bytes.count, 0), bytes.count)
    }

    func testFramesRoundTripInOrder() throws {
        try UnixSocket.sendFrame(Array("first".utf8), on: pair[1])
        try UnixSocket.sendFrame([], on: pair[1])
        try UnixSocket.sendFrame([0, 255, 7], on: pair[1])
        XCTAssertEqual(try UnixSocket.receiveFrame(on: pair[0], limit: 16), Array("first".utf8))
        XCTAssertEqual(try UnixSocket.receiveFrame(on: pair[0], limit: 16), [])
        XCTAssertEqual(try UnixSocket.receiveFrameOrEOF(on: pair[0], limit: 16), [0, 255, 7])
    }

    func testLengthPrefixIsFourBytesBigEndian() throws {
        try UnixSocket.sendFrame(Array(repeating: 0x41, count: 258), on: pair[1])
        var header = [UInt8](repeating: 0, count: 4)
        XCTAssertEqual(recv(pair[0], &header, 4, 0), 4)
        XCTAssertEqual(header, [0, 0, 1, 2])
    }

    func testFramesLargerThanTheSocketBufferArriveWhole() throws {
        let payload = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let writer = pair[1]
        let sent = DispatchSemaphore(value: 0)
        DispatchQueue(label: "writer").async {
            try? UnixSocket.sendFrame(payload, on: writer)
            sent.signal()
        }
        XCTAssertEqual(try UnixSocket.receiveFrame(on: pair[0], limit: payload.count), payload)
        XCTAssertEqual(sent.wait(timeout: .now() + 10), .success)
    }

    func testOversizedLengthIsRefusedBeforeThePayloadIsRead() throws {
        sendRaw([0xFF, 0xFF, 0xFF, 0xF0] + Array("rest".utf8))
        XCTAssertThrowsError(try UnixSocket.receiveFrame(on: pair[0], limit: 1 << 20)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: EMSGSIZE))
        }
        // The refusal came from the header alone: nothing of the (absurd) payload was read.
        var rest = [UInt8](repeating: 0, count: 8)
        XCTAssertEqual(recv(pair[0], &rest, rest.count, 0), 4)
        XCTAssertEqual(Array(rest[..<4]), Array("rest".utf8))
    }

    func testAFrameOfExactlyTheLimitIsAccepted() throws {
        try UnixSocket.sendFrame([1, 2, 3], on: pair[1])
        try UnixSocket.sendFrame([1, 2, 3, 4], on: pair[1])
        XCTAssertEqual(try UnixSocket.receiveFrame(on: pair[0], limit: 3), [1, 2, 3])
        XCTAssertThrowsError(try UnixSocket.receiveFrame(on: pair[0], limit: 3))
    }

    func testEOFBeforeTheFirstByteIsNilOnlyWhenAllowed() throws {
        closeWriter()
        XCTAssertNil(try UnixSocket.receiveFrameOrEOF(on: pair[0], limit: 16))
        XCTAssertThrowsError(try UnixSocket.receiveFrame(on: pair[0], limit: 16)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: ECONNRESET))
        }
    }

    func testEOFInsideTheHeaderIsAnError() {
        sendRaw([0, 0])
        closeWriter()
        XCTAssertThrowsError(try UnixSocket.receiveFrameOrEOF(on: pair[0], limit: 16)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: ECONNRESET))
        }
    }

    func testEOFInsideThePayloadIsAnError() {
        sendRaw([0, 0, 0, 5, 1, 2])
        closeWriter()
        XCTAssertThrowsError(try UnixSocket.receiveFrameOrEOF(on: pair[0], limit: 16)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: ECONNRESET))
        }
    }

    func testSendingToAClosedPeerIsEPIPENotSIGPIPE() {
        close(pair[0])
        pair[0] = -1
        XCTAssertThrowsError(try UnixSocket.sendFrame([1], on: pair[1])) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: EPIPE))
        }
    }

    func testReceiveTimeoutEndsAStalledRead() {
        UnixSocket.setTimeouts(on: pair[0], receiveSeconds: 1, sendSeconds: nil)
        let started = Date()
        XCTAssertThrowsError(try UnixSocket.receiveFrameOrEOF(on: pair[0], limit: 16)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: EAGAIN))
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    func testPeerCredentialsAreThisProcess() throws {
        let expected = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())
        XCTAssertEqual(try PeerCredentials.of(socket: pair[0]), expected)
        XCTAssertThrowsError(try PeerCredentials.of(socket: -1)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: EBADF))
        }
    }

    func testListenConnectAndExchangeThroughAPath() throws {
        let path = directory + "/s"
        let listener = try UnixSocket.openStream()
        defer { close(listener) }
        try UnixSocket.startListening(listener, at: path, mode: 0o666)
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o666)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)

        let client = try UnixSocket.connect(to: path)
        defer { close(client) }
        let server = accept(listener, nil, nil)
        XCTAssertGreaterThanOrEqual(server, 0)
        defer { close(server) }
        XCTAssertEqual(fcntl(client, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC)
        XCTAssertEqual(try PeerCredentials.of(socket: server).pid, getpid())
        try UnixSocket.sendFrame(Array("ping".utf8), on: client)
        XCTAssertEqual(try UnixSocket.receiveFrame(on: server, limit: 4), Array("ping".utf8))
    }

    func testConnectFailuresCarryErrno() {
        XCTAssertThrowsError(try UnixSocket.connect(to: directory + "/missing")) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: ENOENT))
        }
        let tooLong = "/tmp/" + String(repeating: "x", count: 200)
        XCTAssertThrowsError(try UnixSocket.connect(to: tooLong)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: ENAMETOOLONG))
        }
        XCTAssertNil(UnixSocket.withAddress(tooLong) { _, _ in 0 })
        XCTAssertEqual(SystemError(errno: ENOENT).text, "No such file or directory")
    }

    func testListeningOnATooLongPathFails() throws {
        let fd = try UnixSocket.openStream()
        defer { close(fd) }
        XCTAssertThrowsError(try UnixSocket.startListening(fd, at: "/tmp/" + String(repeating: "y", count: 200), mode: 0o600)) {
            XCTAssertEqual($0 as? SystemError, SystemError(errno: ENAMETOOLONG))
        }
    }
}
