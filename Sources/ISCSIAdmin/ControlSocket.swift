#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the control socket lives, and the blocking socket calls both ends share.
///
/// Wire format: each message is a 4-byte big-endian length followed by that many bytes of JSON
/// (an `AdminRequest` from tgtadm, one `AdminResponse` back), one exchange per connection.
public enum ControlSocket {
    /// Default directory for the sockets; distinct from Debian tgt's /var/run/tgtd so both daemons
    /// can run side by side.
    public static let standardRunDirectory = "/run/swift-tgtd"

    /// `TGTD_RUN_DIR` from the environment when set (tests, non-root runs), else the standard one.
    public static var defaultRunDirectory: String {
        if let value = getenv("TGTD_RUN_DIR"), value.pointee != 0 { return String(cString: value) }
        return standardRunDirectory
    }

    public static func path(runDirectory: String = defaultRunDirectory, controlPort: Int) -> String {
        "\(runDirectory)/socket.\(controlPort)"
    }

    /// Largest request the daemon accepts, and largest response the client accepts.
    static let maximumRequestSize = 1 << 20
    static let maximumResponseSize = 64 << 20

    struct SystemError: Error {
        let errno: Int32
        var text: String { String(cString: strerror(errno)) }
    }

    /// Calls `body` with a sockaddr_un for `path`; nil when the path does not fit.
    static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// Connects a new stream socket to `path`; the caller closes it.
    static func connect(to path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(errno: errno) }
        let result = withAddress(path) { address, length in
            while true {
                if systemConnect(fd, address, length) == 0 { return Int32(0) }
                if errno != EINTR { return errno }
            }
        }
        guard let result, result == 0 else {
            close(fd)
            throw SystemError(errno: result ?? ENAMETOOLONG)
        }
        return fd
    }

    static func sendFrame(_ payload: [UInt8], on fd: Int32) throws {
        var length = UInt32(payload.count).bigEndian
        try withUnsafeBytes(of: &length) { try sendAll($0, on: fd) }
        try payload.withUnsafeBytes { try sendAll($0, on: fd) }
    }

    /// Reads one frame; returns nil if the peer closed before sending a length.
    static func receiveFrame(on fd: Int32, limit: Int) throws -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: 4)
        guard try receiveAll(&header, on: fd, allowEOF: true) else { return nil }
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length <= limit else { throw SystemError(errno: EMSGSIZE) }
        var payload = [UInt8](repeating: 0, count: length)
        _ = try receiveAll(&payload, on: fd, allowEOF: false)
        return payload
    }

    /// MSG_NOSIGNAL: a vanished peer must yield EPIPE, not kill the process with SIGPIPE.
    private static func sendAll(_ bytes: UnsafeRawBufferPointer, on fd: Int32) throws {
        var done = 0
        while done < bytes.count {
            let sent = send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if sent > 0 {
                done += sent
            } else if sent < 0 && errno != EINTR {
                throw SystemError(errno: errno)
            }
        }
    }

    /// Fills `buffer`; returns false on a clean EOF before the first byte when `allowEOF`.
    private static func receiveAll(_ buffer: inout [UInt8], on fd: Int32, allowEOF: Bool) throws -> Bool {
        var done = 0
        while done < buffer.count {
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + done, $0.count - done, 0) }
            if received > 0 {
                done += received
            } else if received == 0 {
                if done == 0 && allowEOF { return false }
                throw SystemError(errno: ECONNRESET)
            } else if errno != EINTR {
                throw SystemError(errno: errno)
            }
        }
        return true
    }
}

/// libc's connect, which `ControlSocket.connect(to:)` would otherwise shadow.
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
