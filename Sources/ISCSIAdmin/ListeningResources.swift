#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The descriptors a running `ControlServer` owns: the listening socket, the lock that makes one
/// daemon per control port, and a pipe that wakes the accept loop for `stop()`.
struct ListeningResources {
    let listenFD: Int32
    let lockFD: Int32
    let wakeRead: Int32
    let wakeWrite: Int32

    /// Closes what the accept loop owns; `wakeWrite` belongs to `stop()`.
    func close() {
        _ = closeDescriptor(listenFD)
        _ = closeDescriptor(wakeRead)
        _ = closeDescriptor(lockFD)
    }

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
            _ = closeDescriptor(lockFD)
            throw errno == EWOULDBLOCK ? inUse : failure("can't lock \(lockPath)")
        }
        do {
            try removeStaleSocket(socketPath, inUse: inUse)
            let listenFD = try bindListener(socketPath)
            var pipeFDs: [Int32] = [-1, -1]
            guard pipe(&pipeFDs) == 0 else {
                _ = closeDescriptor(listenFD)
                throw failure("can't create a pipe")
            }
            for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return ListeningResources(listenFD: listenFD, lockFD: lockFD, wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1])
        } catch {
            _ = closeDescriptor(lockFD)
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
        if let fd = try? ControlSocket.connect(to: path) {
            _ = closeDescriptor(fd)
            throw inUse
        }
        unlink(path)
    }

    private static func bindListener(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("can't create a socket") }
        let bound = ControlSocket.withAddress(path) { bind(fd, $0, $1) }
        guard let bound else {
            _ = closeDescriptor(fd)
            throw ControlServerError(message: "control socket path too long: \(path)")
        }
        guard bound == 0, listen(fd, 32) == 0 else {
            let error = failure("can't listen on \(path)")
            _ = closeDescriptor(fd)
            throw error
        }
        // Anyone may connect; the daemon then checks the peer's credentials (SO_PEERCRED) and
        // refuses non-root callers with a clear answer instead of a bare connect error.
        chmod(path, 0o666)
        return fd
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

    /// A message with the current errno's text.
    private static func failure(_ what: String) -> ControlServerError {
        ControlServerError(message: "\(what): \(String(cString: strerror(errno)))")
    }
}

// libc's open and close, which the members named `open` and `close` would otherwise shadow.
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    open(path, flags, mode)
}

private func closeDescriptor(_ fd: Int32) -> Int32 {
    close(fd)
}
