import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// iscsid's end of the control socket. A lock file beside the socket makes one daemon per
/// configuration root; peers that are not root (SO_PEERCRED) get ISCSI_ERR_ACCESS.
public final class ISCSIDControlServer: @unchecked Sendable {
    public let socketPath: String
    private let runDirectory: String
    private let allowedUIDs: Set<UInt32>
    private let handler: @Sendable (ControlRequest) async -> ControlResponse
    private var listenFD: Int32 = -1
    private var lockFD: Int32 = -1
    private var wakePipe: [Int32] = [-1, -1]
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var running = false

    public init(
        socketPath: String, allowedUIDs: Set<UInt32> = [0],
        handler: @escaping @Sendable (ControlRequest) async -> ControlResponse
    ) {
        self.socketPath = socketPath
        self.runDirectory = (socketPath as NSString).deletingLastPathComponent
        self.allowedUIDs = allowedUIDs
        self.handler = handler
    }

    /// Binds the socket and starts serving on a thread of its own.
    /// - Throws: `ISCSIError` when another iscsid serves this root or the socket cannot be made.
    public func start(root: String) throws {
        lock.lock()
        defer { lock.unlock() }
        guard !running else { return }
        try AtomicFile.makeDirectories(runDirectory, mode: 0o755)
        let lockPath = socketPath + ".lock"
        lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw ISCSIError(.generic, "can't open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            let holder = AtomicFile.read(lockPath)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(lockFD)
            lockFD = -1
            let pid = holder.isEmpty ? "" : " (pid \(holder))"
            throw ISCSIError(.busy, "iscsid is already running for \(root)\(pid)")
        }
        _ = ftruncate(lockFD, 0)
        let pidText = Array("\(getpid())\n".utf8)
        _ = pidText.withUnsafeBytes { pwrite(lockFD, $0.baseAddress, $0.count, 0) }
        unlink(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let bound = ISCSIDSocket.withAddress(socketPath) { bind(fd, $0, $1) }
        guard fd >= 0, bound == 0, listen(fd, 32) == 0 else {
            let text = bound == nil ? "path too long" : String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            close(lockFD)
            lockFD = -1
            throw ISCSIError(.generic, "can't listen on \(socketPath): \(text)")
        }
        chmod(socketPath, 0o666)
        listenFD = fd
        guard pipe(&wakePipe) == 0 else { throw ISCSIError(.generic, "can't create a pipe") }
        running = true
        Thread.detachNewThread { [self] in
            acceptLoop()
            finished.signal()
        }
    }

    public func stop() {
        lock.lock()
        guard running else {
            lock.unlock()
            return
        }
        running = false
        var byte: UInt8 = 1
        _ = write(wakePipe[1], &byte, 1)
        lock.unlock()
        finished.wait()
        unlink(socketPath)
        close(wakePipe[1])
        close(wakePipe[0])
        close(listenFD)
        close(lockFD)
        lockFD = -1
    }

    private func acceptLoop() {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let connection = accept(listenFD, nil, nil)
            guard connection >= 0 else { continue }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            // Logins can take a while; serve each connection on its own thread.
            Thread.detachNewThread { [self] in
                serve(connection)
                close(connection)
            }
        }
    }

    static func peerUID(_ fd: Int32) -> UInt32? {
        var fields: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &fields, &length) == 0 else { return nil }
        return fields.1
    }

    private func serve(_ fd: Int32) {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let frame = try? ISCSIDSocket.receiveFrame(on: fd) else { return }
        let response: ControlResponse
        if let uid = Self.peerUID(fd), allowedUIDs.contains(uid) {
            if let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(frame)) {
                response = run(request)
            } else {
                response = .failure(ISCSIError(.invalidRequest, "invalid request"))
            }
        } else {
            response = .failure(ISCSIError(.access, "daemon access denied"))
        }
        if let bytes = try? JSONEncoder().encode(response) {
            try? ISCSIDSocket.sendFrame(Array(bytes), on: fd)
        }
    }

    private func run(_ request: ControlRequest) -> ControlResponse {
        let slot = ResponseSlot()
        let done = DispatchSemaphore(value: 0)
        let handler = self.handler
        Task {
            slot.response = await handler(request)
            done.signal()
        }
        done.wait()
        return slot.response ?? .failure(ISCSIError(.internal, "internal error"))
    }
}

private final class ResponseSlot: @unchecked Sendable {
    var response: ControlResponse?
}

/// The session manager behind the control socket: assigns session ids, refuses duplicate
/// sessions, and logs in to `node.startup = automatic` records at start-up.
public actor SessionDaemon {
    public let store: ConfigStore
    public let backend: SessionBackend
    public let initiatorName: String
    private var nextSID = 1
    private var live: [Int: NodeEntry] = [:]

    public init(store: ConfigStore, backend: SessionBackend, initiatorName: String) {
        self.store = store
        self.backend = backend
        self.initiatorName = initiatorName
    }

    public func handle(_ request: ControlRequest) async -> ControlResponse {
        do {
            switch request {
            case .ping:
                return .ok
            case .discover(let portal, let record):
                return .targets(try await backend.discover(portal: portal, record: record, initiatorName: initiatorName))
            case .login(let node):
                return .session(try await login(node))
            case .logout(let sid):
                let known = await backend.sessions().contains(where: { $0.sid == sid })
                guard live[sid] != nil || known else {
                    throw ISCSIError(.sessionNotFound, "Could not get session info for sid \(sid)")
                }
                try await backend.logout(sid: sid)
                live[sid] = nil
                return .ok
            case .sessions:
                return .sessions(await backend.sessions().sorted { $0.sid < $1.sid })
            case .rescan(let sid):
                return .session(try await backend.rescan(sid: sid))
            }
        } catch let error as ISCSIError {
            return .failure(error)
        } catch {
            return .failure(ISCSIError(.generic, "\(error)"))
        }
    }

    public func login(_ node: NodeEntry) async throws -> SessionInfo {
        let existing = await backend.sessions()
        if existing.contains(where: {
            $0.target == node.target && $0.portal.address == node.portal.address && $0.portal.port == node.portal.port
                && $0.iface == node.iface
        }) {
            throw ISCSIError(.sessionExists, "session exists")
        }
        let sid = nextSID
        nextSID += 1
        let session = try await backend.login(node: node, sid: sid, initiatorName: initiatorName)
        live[sid] = node
        return session
    }

    /// Logs in to every record with `node.startup = automatic`; returns one line per failure.
    public func loginAutomatic() async -> [String] {
        var failures: [String] = []
        for node in store.nodes() where node.record["node.startup"] == "automatic" {
            do {
                _ = try await login(node)
            } catch {
                failures.append(
                    "Could not login to [iface: \(node.iface), target: \(node.target), portal: \(node.portal.commaForm)]: \(error)")
            }
        }
        return failures
    }
}
