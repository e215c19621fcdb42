import Foundation
import OpenISCSIConfig

#if canImport(Glibc)
import Glibc
#endif

/// Without `-f`, iscsid detaches as open-iscsi's does. Forking a Swift process is unsafe once
/// threads run, so the parent re-executes itself with `-f` in a new session (stdio to the log
/// file) and waits on a pipe: the child writes one byte once its control socket listens (the
/// parent exits 0), or dies and closes it (the parent prints the child's last log line, exits 1).
enum Daemonize {
    static let childMarker = "SWIFT_ISCSID_DETACHED"
    /// The descriptor the detached child reports readiness on.
    private static let readyDescriptor: Int32 = 3

    static var isDetachedChild: Bool { ProcessInfo.processInfo.environment[childMarker] == "1" }

    /// In the detached child: tells the waiting parent that the daemon is up.
    static func reportReady() {
        guard isDetachedChild else { return }
        var byte: UInt8 = 1
        _ = write(readyDescriptor, &byte, 1)
        close(readyDescriptor)
    }

    static func detach(arguments: [String], logPath: String) -> Never {
        var ready: [Int32] = [0, 0]
        guard pipe(&ready) == 0 else {
            fputs("iscsid: can't create a pipe: \(String(cString: strerror(errno)))\n", stderr)
            exit(1)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        // Close the read end first: the pipe may itself have been given descriptor 3.
        posix_spawn_file_actions_addclose(&actions, ready[0])
        posix_spawn_file_actions_adddup2(&actions, ready[1], readyDescriptor)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        posix_spawnattr_setflags(&attributes, 0x80)  // POSIX_SPAWN_SETSID (glibc 2.26), not exported to Swift
        let executable = "/proc/self/exe"
        let argv = [CommandLine.arguments[0], "-f"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment[childMarker] = "1"
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let spawned = withCStrings(argv) { cArgv in
            withCStrings(envp) { cEnvp in posix_spawn(&pid, executable, &actions, &attributes, cArgv, cEnvp) }
        }
        guard spawned == 0 else {
            fputs("iscsid: can't start the daemon: \(String(cString: strerror(spawned)))\n", stderr)
            exit(1)
        }
        close(ready[1])
        var byte: UInt8 = 0
        var count = 0
        repeat { count = read(ready[0], &byte, 1) } while count < 0 && errno == EINTR
        if count == 1 { exit(0) }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let last = (try? String(contentsOfFile: logPath, encoding: .utf8))?
            .split(separator: "\n").last.map(String.init) ?? "the daemon exited"
        fputs(last.hasPrefix("iscsid:") ? last + "\n" : "iscsid: \(last)\n", stderr)
        exit(1)
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }
}
