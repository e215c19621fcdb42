import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// iscsid's local control socket: `<run dir>/iscsid-<hash of the config root>.sock`, so there is
/// one daemon per configuration root. Each connection carries one request and one response, each
/// a 4-byte big-endian length and that many bytes of JSON (SystemSupport's `UnixSocket` frames).
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

    /// Sends one request to iscsid and waits for its answer. A missing or dead daemon yields
    /// open-iscsi's `can not connect to iSCSI daemon (111)!` with ISCSI_ERR_ISCSID_NOTCONN.
    public static func exchange(_ request: ControlRequest, socketPath: String) throws -> ControlResponse {
        let fd: Int32
        do {
            fd = try UnixSocket.connect(to: socketPath)
        } catch let error as SystemError {
            // open-iscsi reports the errno of its connect to an abstract socket: ECONNREFUSED.
            let code = error.errno == ENOENT ? ECONNREFUSED : error.errno
            throw ISCSIError(.iscsidNotConnected, "can not connect to iSCSI daemon (\(code))!")
        }
        defer { close(fd) }
        do {
            do {
                try UnixSocket.sendFrame(Array(try JSONEncoder().encode(request)), on: fd)
            } catch let error as SystemError {
                // iscsid answers a refused caller at once and closes without reading: the answer waits.
                guard let refusal = try? UnixSocket.receiveFrame(on: fd, limit: maximumFrame) else { throw error }
                return try JSONDecoder().decode(ControlResponse.self, from: Data(refusal))
            }
            let reply = try UnixSocket.receiveFrame(on: fd, limit: maximumFrame)
            return try JSONDecoder().decode(ControlResponse.self, from: Data(reply))
        } catch let error as SystemError {
            throw ISCSIError(.iscsidCommunication, "got read error (\(error.errno)), daemon died?")
        } catch is DecodingError {
            throw ISCSIError(.iscsidCommunication, "could not decode iscsid's answer")
        }
    }
}
