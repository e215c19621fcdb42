import Foundation
import NIOCore
import NIOPosix
import XCTest

@testable import MetricsHTTP

#if canImport(Glibc)
    import Glibc
#endif

final class MetricsServerTests: XCTestCase {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var server: MetricsServer!
    var port = 0

    override func setUp() {
        var limits = MetricsServer.Limits()
        limits.requestTimeout = .milliseconds(300)
        limits.maxRequestBytes = 1024
        server = MetricsServer(group: group, limits: limits) { loop in
            var text = PrometheusText()
            text.counter("demo_total", help: "A demo.", [([("lun", "1")], 42)])
            return loop.makeSucceededFuture(text.text)
        }
        port = try! server.start(try! MetricsAddress(parsing: "127.0.0.1:0"))
    }

    override func tearDown() {
        server.stop()
        try? group.syncShutdownGracefully()
    }

    /// A blocking client socket with a receive timeout.
    func connect() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(rc, 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func send(_ fd: Int32, _ text: String) {
        _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Everything until the server closes (or the 5 s receive timeout).
    func readAll(_ fd: Int32) -> String {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }

    func testGetMetrics() throws {
        let fd = try connect()
        defer { close(fd) }
        send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = readAll(fd)
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200 OK"), answer)
        XCTAssertTrue(answer.contains("text/plain; version=0.0.4"))
        XCTAssertTrue(answer.hasSuffix("# HELP demo_total A demo.\n# TYPE demo_total counter\ndemo_total{lun=\"1\"} 42\n"), answer)
    }

    func testOtherPathsAndMethods() throws {
        let a = try connect()
        send(a, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(readAll(a).hasPrefix("HTTP/1.1 404"))
        close(a)
        let b = try connect()
        send(b, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        XCTAssertTrue(readAll(b).hasPrefix("HTTP/1.1 405"))
        close(b)
    }

    /// A client that never finishes its request is dropped at the timeout, not held.
    func testUnfinishedRequestIsDropped() throws {
        let fd = try connect()
        defer { close(fd) }
        send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n")  // no blank line: never complete
        let start = Date()
        XCTAssertEqual(readAll(fd), "")
        let waited = Date().timeIntervalSince(start)
        XCTAssertLessThan(waited, 3, "closed after \(waited) s")
        // The server still answers others.
        let other = try connect()
        defer { close(other) }
        send(other, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(readAll(other).hasPrefix("HTTP/1.1 200"))
    }

    func testOversizedRequestIsDropped() throws {
        let fd = try connect()
        defer { close(fd) }
        send(fd, "GET /metrics HTTP/1.1\r\nX-Padding: " + String(repeating: "a", count: 4000) + "\r\n\r\n")
        XCTAssertFalse(readAll(fd).contains("200 OK"))
    }

    func testAddresses() throws {
        XCTAssertEqual(try MetricsAddress(parsing: "127.0.0.1:9100").port, 9100)
        XCTAssertEqual(try MetricsAddress(parsing: "[::1]:9100").host, "::1")
        XCTAssertEqual(try MetricsAddress(parsing: "localhost:1").host, "localhost")
        XCTAssertThrowsError(try MetricsAddress(parsing: "0.0.0.0:9100"))
        XCTAssertThrowsError(try MetricsAddress(parsing: "10.1.2.3:9100"))
        XCTAssertEqual(try MetricsAddress(parsing: "0.0.0.0:9100", allowRemote: true).host, "0.0.0.0")
        XCTAssertThrowsError(try MetricsAddress(parsing: "127.0.0.1"))
        XCTAssertThrowsError(try MetricsAddress(parsing: "127.0.0.1:99999"))
    }

    func testExposition() {
        var text = PrometheusText()
        text.histogram(
            "lat_seconds", help: "Latency.", boundsNanoseconds: [50_000, 1_000_000_000],
            [.init(labels: [("target", "iqn\"x")], buckets: [2, 1, 1], sumNanoseconds: 2_500_000_000)])
        XCTAssertEqual(
            text.text,
            """
            # HELP lat_seconds Latency.
            # TYPE lat_seconds histogram
            lat_seconds_bucket{target="iqn\\"x",le="0.00005"} 2
            lat_seconds_bucket{target="iqn\\"x",le="1"} 3
            lat_seconds_bucket{target="iqn\\"x",le="+Inf"} 4
            lat_seconds_sum{target="iqn\\"x"} 2.5
            lat_seconds_count{target="iqn\\"x"} 4

            """)
    }
}
