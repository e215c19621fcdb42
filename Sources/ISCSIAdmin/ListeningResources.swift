#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemSupport

/// The descriptors a running `ControlServer` owns: the listening socket and the lock that makes one
/// daemon per control port.
struct ListeningResources {
    let listenFD: Int32
    let lockFD: Int32

    static func open(runDirectory: String, socketPath: String, lockPath: String, controlPort: Int) throws
        -> ListeningResources
    {
        try makeDirectory(runDirectory)
        let inUse = ControlServerError(message: "control port \(controlPort) is already in use")

        // The lock closes the race between two daemons starting at once; the probe also catches a
        // daemon that does not take the lock.
        let lockFD = openFile(lockPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw failure("can't open \(lockPath)") }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            _ = close(lockFD)
            throw errno == EWOULDBLOCK ? inUse : failure("can't lock \(lockPath)")
        }
        do {
            try removeStaleSocket(socketPath, inUse: inUse)
            return ListeningResources(listenFD: try bindListener(socketPath), lockFD: lockFD)
        } catch {
            _ = close(lockFD)
            throw error
        }
    }

    /// A socket file nobody answers on is left over from a crashed daemon.
    private static func removeStaleSocket(_ path: String, inUse: ControlServerError) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw ControlServerError(message: "\(path) exists and is not a socket")
        }
        if let fd = try? UnixSocket.connect(to: path) {
            _ = close(fd)
            throw inUse
        }
        unlink(path)
    }

    private static func bindListener(_ path: String) throws -> Int32 {
        let fd: Int32
        do {
            fd = try UnixSocket.openStream()
        } catch let error as SystemError {
            throw failure("can't create a socket", error)
        }
        do {
            // Anyone may connect; the daemon then checks the peer's credentials (SO_PEERCRED) and
            // refuses non-root callers with a clear answer instead of a bare connect error.
            try UnixSocket.startListening(fd, at: path, mode: 0o666)
            return fd
        } catch let error as SystemError {
            _ = close(fd)
            if error.errno == ENAMETOOLONG { throw ControlServerError(message: "control socket path too long: \(path)") }
            throw failure("can't listen on \(path)", error)
        }
    }

    /// mkdir -p with mode 0755.
    private static func makeDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw failure("can't create \(prefix)")
            }
        }
    }

    /// A message with the error's text, by default the current errno's.
    static func failure(_ what: String, _ error: SystemError = SystemError(errno: errno)) -> ControlServerError {
        ControlServerError(message: "\(what): \(error.text)")
    }
}

/// libc's open, which the member named `open` would otherwise shadow.
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    open(path, flags, mode)
}
