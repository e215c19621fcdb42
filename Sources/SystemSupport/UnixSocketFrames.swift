#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Framing of the control sockets: a 4-byte big-endian length, then that many bytes.
extension UnixSocket {
    /// The frame's bytes: the length, then the payload.
    public static func framed(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
    }

    public static func sendFrame(_ payload: [UInt8], on fd: Int32) throws {
        var length = UInt32(payload.count).bigEndian
        try withUnsafeBytes(of: &length) { try sendAll($0, on: fd) }
        try payload.withUnsafeBytes { try sendAll($0, on: fd) }
    }

    /// Reads one frame; a peer that closes early, even before the length, is ECONNRESET.
    /// - Throws: `SystemError`; EMSGSIZE, before allocating, for a length over `limit`.
    public static func receiveFrame(on fd: Int32, limit: Int) throws -> [UInt8] {
        guard let frame = try receiveFrameOrEOF(on: fd, limit: limit) else { throw SystemError(errno: ECONNRESET) }
        return frame
    }

    /// Like `receiveFrame`, but nil when the peer closed cleanly before sending a byte.
    public static func receiveFrameOrEOF(on fd: Int32, limit: Int) throws -> [UInt8]? {
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
