#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif
import SystemSupport

/// Saves and loads `DaemonConfiguration` in the daemon's state directory.
///
/// A save never leaves a half-written file where the good one was: the new text goes to a
/// temporary file that is fsynced and renamed over the old one, and the directory is fsynced so
/// the rename itself survives a crash. The previous good file is kept as `<name>.prev`, so even a
/// file damaged later (by hand, by a disk) does not lose the configuration.
public struct ConfigurationStore: Sendable {
    public let path: String
    public var previousPath: String { path + ".prev" }

    public init(directory: String, fileName: String = "config.json") {
        self.path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
    }

    public struct LoadResult: Sendable {
        public var configuration: DaemonConfiguration
        /// One line for the log when the main file was unusable and the previous one was used.
        public var warning: String?
    }

    public struct StoreError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The saved configuration; an empty one when nothing was saved yet.
    /// - Throws: `StoreError` when neither the file nor its previous copy can be read.
    public func load() throws -> LoadResult {
        switch Self.readConfiguration(at: path) {
        case .missing:
            return LoadResult(configuration: DaemonConfiguration(), warning: nil)
        case .loaded(let configuration):
            return LoadResult(configuration: configuration, warning: nil)
        case .unusable(let why):
            if case .loaded(let previous) = Self.readConfiguration(at: previousPath) {
                return LoadResult(
                    configuration: previous,
                    warning: "configuration \(path) is unusable (\(why)); using the previous one, \(previousPath)")
            }
            throw StoreError(description: "configuration \(path) is unusable (\(why)) and no previous copy can be read")
        }
    }

    /// Writes atomically; the file replaced becomes `<name>.prev`.
    public func save(_ configuration: DaemonConfiguration) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(configuration)
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        try Self.makeDirectory(directory.isEmpty ? "." : directory)
        let temporary = path + ".tmp"
        try Self.writeDurably([UInt8](data) + [0x0A], to: temporary)
        if access(path, F_OK) == 0 {
            // Keep the last good file: a hard link, so `path` is never missing for a moment.
            unlink(previousPath)
            if link(path, previousPath) != 0 { throw Self.failure("can't keep \(previousPath)") }
        }
        guard rename(temporary, path) == 0 else { throw Self.failure("can't replace \(path)") }
        Self.syncDirectory(directory.isEmpty ? "." : directory)
    }

    private enum ReadOutcome {
        case missing
        case loaded(DaemonConfiguration)
        case unusable(String)
    }

    private static func readConfiguration(at path: String) -> ReadOutcome {
        let bytes: [UInt8]
        do {
            bytes = try SmallFile.bytes(of: path, limit: 64 << 20)
        } catch {
            switch error {
            case .system(let error): return error.errno == ENOENT ? .missing : .unusable(error.text)
            case .tooLarge: return .unusable("larger than 64 MiB")
            }
        }
        do {
            let configuration = try JSONDecoder().decode(DaemonConfiguration.self, from: Data(bytes))
            if let problem = configuration.loadProblem { return .unusable(problem) }
            return .loaded(configuration)
        } catch {
            return .unusable(bytes.isEmpty ? "empty file" : "not valid JSON for this daemon: \(Self.summary(error))")
        }
    }

    private static func summary(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): return context.debugDescription
        case DecodingError.keyNotFound(let key, _): return "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context): return context.debugDescription
        case DecodingError.valueNotFound(_, let context): return context.debugDescription
        default: return "\(error)"
        }
    }

    private static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("can't create \(path)") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("can't write \(path)")
            }
            offset += n
        }
        guard fsync(fd) == 0 else { throw failure("can't sync \(path)") }
    }

    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    private static func makeDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw failure("can't create \(prefix)") }
        }
    }

    private static func failure(_ what: String) -> StoreError {
        StoreError(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
