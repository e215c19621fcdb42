#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why tgt-admin will not export a device.
public enum TgtAdminDeviceUse: Equatable, Sendable {
    case free
    /// Opening it exclusively fails with EBUSY (mounted, swap, RAID member).
    case bySystem
    /// A process has it open (what tgt-admin asks lsof).
    case byProcess
}

/// Everything tgt-admin does outside itself; tests substitute a recording fake.
public protocol TgtAdminEnvironment: AnyObject {
    /// Standard output.
    func output(_ text: String)
    /// Standard error.
    func errorOutput(_ text: String)
    /// Runs a tgtadm command line as tgt-admin's system() does: tgtadm's output and diagnostics go
    /// to stdout and stderr; returns its exit status.
    func system(_ commandLine: String) -> Int32
    /// Runs a tgtadm command line and returns its standard output (its diagnostics go to stderr).
    func capture(_ commandLine: String) -> String
    var isRoot: Bool { get }
    var fileSystem: TargetsConfFileSystem { get }
    func deviceUse(_ path: String) -> TgtAdminDeviceUse
    /// Whether `command` is an executable in PATH.
    func commandExists(_ command: String) -> Bool
    /// Standard output of a shell command (direct-store's sg_inq and sg_readcap).
    func shellOutput(_ command: String) -> String
    /// The daemon's whole configuration (with its CHAP secrets, which `show` never reveals), or
    /// nil when the daemon does not give it (Debian's tgtd).
    func configuration(controlPort: String) -> DaemonConfiguration?
}

extension TgtAdminEnvironment {
    public func configuration(controlPort: String) -> DaemonConfiguration? { nil }
}

/// The real thing: tgtadm commands go straight to the daemon's control socket (the same parsing
/// and request as our tgtadm), devices are checked through /proc.
public final class TgtAdminLiveEnvironment: TgtAdminEnvironment {
    public let fileSystem = TargetsConfFileSystem.live

    public init() {}

    public func configuration(controlPort: String) -> DaemonConfiguration? {
        guard let port = Int(controlPort),
            let answer = try? ControlClient.send(AdminRequest(mode: .configuration, op: .show), controlPort: port),
            answer.exitCode == 0
        else { return nil }
        return try? DaemonConfiguration(jsonText: answer.output)
    }

    public func output(_ text: String) {
        fputs(text, stdout)
        fflush(stdout)
    }

    public func errorOutput(_ text: String) {
        fflush(stdout)
        fputs(text, stderr)
    }

    public func system(_ commandLine: String) -> Int32 {
        let result = Self.run(commandLine)
        output(result.output)
        if !result.diagnostics.isEmpty { errorOutput(result.diagnostics) }
        return result.status
    }

    public func capture(_ commandLine: String) -> String {
        let result = Self.run(commandLine)
        if !result.diagnostics.isEmpty { errorOutput(result.diagnostics) }
        return result.output
    }

    /// Runs "tgtadm ARGS..." in-process, as our tgtadm executable would.
    static func run(_ commandLine: String) -> (status: Int32, output: String, diagnostics: String) {
        let words = TgtAdminShellWords.split(commandLine)
        guard words.first == "tgtadm" else {
            return (127, "", "sh: 1: \(words.first ?? ""): not found\n")
        }
        do {
            switch try TgtadmCommandLine.parse(Array(words.dropFirst())) {
            case .help: return (0, TgtadmCommandLine.helpText, "")
            case .version: return (0, TgtadmCommandLine.version + "\n", "")
            case .send(let request, let controlPort):
                let response = try ControlClient.send(request, controlPort: controlPort)
                return (response.exitCode, response.output, response.message.map { "tgtadm: \($0)\n" } ?? "")
            }
        } catch let error as TgtadmUsageError {
            return (error.exitCode, "", error.message)
        } catch let error as ControlClientError {
            return (error.exitCode, "", "tgtadm: \(error.message)\n")
        } catch {
            return (1, "", "tgtadm: \(error)\n")
        }
    }

    public var isRoot: Bool { geteuid() == 0 }

    public func deviceUse(_ path: String) -> TgtAdminDeviceUse {
        let fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 && errno == EBUSY { return .bySystem }
        if fd >= 0 { close(fd) }
        return Self.openByAnyProcess(path) ? .byProcess : .free
    }

    /// Whether any other process holds `path` open: its open files (/proc/PID/fd) and mappings
    /// (/proc/PID/map_files), compared by device and inode (by device number for device nodes).
    static func openByAnyProcess(_ path: String) -> Bool {
        var target = stat()
        guard stat(path, &target) == 0 else { return false }
        let isDevice = (target.st_mode & S_IFMT) == S_IFBLK || (target.st_mode & S_IFMT) == S_IFCHR
        let ourPID = String(getpid())
        for process in TgtAdminFiles.listDirectory("/proc") where process.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard process != ourPID else { continue }
            for directory in ["/proc/\(process)/fd", "/proc/\(process)/map_files"] {
                for entry in TgtAdminFiles.listDirectory(directory) {
                    var info = stat()
                    guard stat("\(directory)/\(entry)", &info) == 0 else { continue }
                    if isDevice {
                        if (info.st_mode & S_IFMT) == (target.st_mode & S_IFMT) && info.st_rdev == target.st_rdev {
                            return true
                        }
                    } else if info.st_dev == target.st_dev && info.st_ino == target.st_ino {
                        return true
                    }
                }
            }
        }
        return false
    }

    public func commandExists(_ command: String) -> Bool {
        guard let path = getenv("PATH").map({ String(cString: $0) }) else { return false }
        return path.split(separator: ":").contains { directory in
            var info = stat()
            let file = "\(directory)/\(command)"
            return access(file, X_OK) == 0 && stat(file, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        }
    }

    public func shellOutput(_ command: String) -> String {
        guard let pipe = popen(command, "r") else { return "" }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, pipe) }
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        pclose(pipe)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Splits a command line into words as /bin/sh would for the commands tgt-admin builds: blanks
/// separate words, double quotes (with \" \\ \$ \` escapes), single quotes and backslashes quote.
public enum TgtAdminShellWords {
    public static func split(_ line: String) -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var iterator = Array(line)[...]
        while let character = iterator.popFirst() {
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(word) }
                word = ""
                inWord = false
            case "\"":
                inWord = true
                while let next = iterator.popFirst(), next != "\"" {
                    if next == "\\", let escaped = iterator.first, "\"\\$`".contains(escaped) {
                        word.append(iterator.removeFirst())
                    } else {
                        word.append(next)
                    }
                }
            case "'":
                inWord = true
                while let next = iterator.popFirst(), next != "'" { word.append(next) }
            case "\\":
                inWord = true
                if let next = iterator.popFirst() { word.append(next) }
            default:
                inWord = true
                word.append(character)
            }
        }
        if inWord { words.append(word) }
        return words
    }
}
