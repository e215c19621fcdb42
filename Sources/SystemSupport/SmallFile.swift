#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads of configuration, /proc and /sys files, without Foundation.
public enum SmallFile {
    public enum ReadError: Error, Equatable, Sendable {
        /// open(2) or read(2) failed (ENOENT for a missing file).
        case system(SystemError)
        /// The file is longer than the limit the caller gave.
        case tooLarge(limit: Int)
    }

    /// The file's bytes, refusing files longer than `limit` before reading past it.
    public static func bytes(of path: String, limit: Int = .max) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system(SystemError(errno: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(SystemError(errno: errno))
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= limit else { throw .tooLarge(limit: limit) }
            bytes += chunk[..<count]
        }
    }

    /// The file's text (invalid UTF-8 repaired); nil when it cannot be opened or read.
    public static func contents(of path: String) -> String? {
        guard let bytes = try? bytes(of: path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
