import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// iscsid's local control socket: `<run dir>/iscsid-<hash of the config root>.sock`, so there is
/// one daemon per configuration root. Each connection carries one request and one response, each
/// a 4-byte big-endian length and that many bytes of JSON.
public enum ISCSIDSocket {
    public static let standardRunDirectory = "/run/swift-iscsid"

    public static func runDirectory(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let value = environment["ISCSID_RUN_DIR"], !value.isEmpty { return value }
        return standardRunDirectory
    }

    /// FNV-1a of the root's canonical path, so `ISCSI_ROOT=/etc/iscsi/` and `/etc/iscsi` agree.
    public static func socketPath(runDirectory: String, root: String) -> String {
        let canonical = (root as NSString).standardizingPath
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonical.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return "\(runDirectory)/iscsid-\(String(hash, radix: 16)).sock"
    }

    static let maximumFrame = 16 << 20

    struct SystemError: Error {
        let errno: Int32
    }

    static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
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

    static func connectSocket(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(errno: errno) }
        let result = withAddress(path) { address, length -> Int32 in
            while true {
                if connect(fd, address, length) == 0 { return 0 }
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
        var frame = [UInt8](repeating: 0, count: 4)
        let length = UInt32(payload.count)
        for index in 0..<4 { frame[index] = UInt8(truncatingIfNeeded: length >> (24 - 8 * UInt32(index))) }
        frame += payload
        var done = 0
        while done < frame.count {
            let sent = frame.withUnsafeBytes { send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if sent > 0 {
                done += sent
            } else if sent < 0 && errno != EINTR {
                throw SystemError(errno: errno)
            }
        }
    }

    static func receiveFrame(on fd: Int32) throws -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 4)
        try receiveAll(&header, on: fd)
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length <= maximumFrame else { throw SystemError(errno: EMSGSIZE) }
        var payload = [UInt8](repeating: 0, count: length)
        try receiveAll(&payload, on: fd)
        return payload
    }

    private static func receiveAll(_ buffer: inout [UInt8], on fd: Int32) throws {
        var done = 0
        while done < buffer.count {
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + done, $0.count - done, 0) }
            if received > 0 {
                done += received
            } else if received == 0 {
                throw SystemError(errno: ECONNRESET)
            } else if errno != EINTR {
                throw SystemError(errno: errno)
            }
        }
    }

    /// Sends one request to iscsid and waits for its answer. A missing or dead daemon yields
    /// open-iscsi's `can not connect to iSCSI daemon (111)!` with ISCSI_ERR_ISCSID_NOTCONN.
    public static func exchange(_ request: ControlRequest, socketPath: String) throws -> ControlResponse {
        let fd: Int32
        do {
            fd = try connectSocket(socketPath)
        } catch let error as SystemError {
            // open-iscsi reports the errno of its connect to an abstract socket: ECONNREFUSED.
            let code = error.errno == ENOENT ? ECONNREFUSED : error.errno
            throw ISCSIError(.iscsidNotConnected, "can not connect to iSCSI daemon (\(code))!")
        }
        defer { close(fd) }
        do {
            try sendFrame(Array(try JSONEncoder().encode(request)), on: fd)
            let reply = try receiveFrame(on: fd)
            return try JSONDecoder().decode(ControlResponse.self, from: Data(reply))
        } catch let error as SystemError {
            throw ISCSIError(.iscsidCommunication, "got read error (\(error.errno)), daemon died?")
        } catch is DecodingError {
            throw ISCSIError(.iscsidCommunication, "could not decode iscsid's answer")
        }
    }
}
