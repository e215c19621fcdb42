import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whole-file replacement that a concurrent reader never sees half done: the text goes to a
/// temporary file in the same directory, is fsynced, then renamed over the old file (and the
/// directory is fsynced so the rename survives a crash).
public enum AtomicFile {
    public static func write(_ text: String, to path: String, mode: mode_t = 0o600) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectories(directory)
        let temporary = "\(directory)/.\((path as NSString).lastPathComponent).tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("can't create \(temporary)") }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if written < 0 {
                if errno == EINTR { continue }
                let error = failure("can't write \(temporary)")
                close(fd)
                unlink(temporary)
                throw error
            }
            done += written
        }
        guard fsync(fd) == 0 else {
            let error = failure("can't sync \(temporary)")
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = failure("can't rename \(temporary)")
            unlink(temporary)
            throw error
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// mkdir -p with mode 0700 (open-iscsi's record directories).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0 && errno != EEXIST { throw failure("can't create \(prefix)") }
        }
    }

    public static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func failure(_ what: String) -> ISCSIError {
        ISCSIError(.database, "\(what): \(String(cString: strerror(errno)))")
    }
}
