#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Blocking AF_UNIX stream socket calls shared by the daemons' control sockets and their clients.
/// Every descriptor is made close-on-exec so helpers the daemons spawn do not inherit it.
public enum UnixSocket {
    /// Calls `body` with a sockaddr_un for `path`; nil when the path does not fit in sun_path.
    public static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
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

    /// A new, unconnected stream socket; the caller closes it.
    public static func openStream() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(errno: errno) }
        return fd
    }

    /// Connects a new stream socket to `path`; the caller closes it.
    /// - Throws: `SystemError`, ENAMETOOLONG when `path` does not fit in a sockaddr_un.
    public static func connect(to path: String) throws -> Int32 {
        let fd = try openStream()
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

    /// Binds `fd` to `path`, listens, and gives the socket file `mode`.
    /// - Throws: `SystemError`, ENAMETOOLONG when `path` does not fit in a sockaddr_un.
    public static func startListening(_ fd: Int32, at path: String, mode: mode_t, backlog: Int32 = 32) throws {
        guard let bound = withAddress(path, { bind(fd, $0, $1) }) else { throw SystemError(errno: ENAMETOOLONG) }
        guard bound == 0, listen(fd, backlog) == 0 else { throw SystemError(errno: errno) }
        chmod(path, mode)
    }

    /// SO_RCVTIMEO and SO_SNDTIMEO, in whole seconds; nil leaves that direction unbounded.
    public static func setTimeouts(on fd: Int32, receiveSeconds: Int?, sendSeconds: Int?) {
        for (option, seconds) in [(SO_RCVTIMEO, receiveSeconds), (SO_SNDTIMEO, sendSeconds)] {
            guard let seconds else { continue }
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
    }
}

/// libc's connect, which `UnixSocket.connect(to:)` would otherwise shadow.
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
