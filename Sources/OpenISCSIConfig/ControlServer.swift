import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// iscsid's end of the control socket. A lock file beside the socket makes one daemon per
/// configuration root; peers that are not root (SO_PEERCRED) get ISCSI_ERR_ACCESS at accept,
/// before a byte of their request is read. Requests are read side by side and each executes as
/// soon as it has arrived (logins take a while).
public final class ISCSIDControlServer: @unchecked Sendable {
    public let socketPath: String
    private let runDirectory: String
    private let allowedUIDs: Set<UInt32>
    private let limits: FrameServer.Limits
    private let log: @Sendable (String) -> Void
    private let handler: @Sendable (ControlRequest) async -> ControlResponse
    private let lock = NSLock()
    private var server: FrameServer?

    public static let defaultLimits = FrameServer.Limits(frameLimit: ISCSIDSocket.maximumFrame)

    /// - Parameter log: where lines about cut-off connections go (iscsid's logger).
    public init(
        socketPath: String, allowedUIDs: Set<UInt32> = [0], limits: FrameServer.Limits = defaultLimits,
        log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data("iscsid: \($0)\n".utf8)) },
        handler: @escaping @Sendable (ControlRequest) async -> ControlResponse
    ) {
        self.socketPath = socketPath
        self.runDirectory = (socketPath as NSString).deletingLastPathComponent
        self.allowedUIDs = allowedUIDs
        self.limits = limits
        self.log = log
        self.handler = handler
    }

    /// Binds the socket and starts serving on a thread of its own.
    /// - Throws: `ISCSIError` when another iscsid serves this root or the socket cannot be made.
    public func start(root: String) throws {
        lock.lock()
        defer { lock.unlock() }
        guard server == nil else { return }
        try AtomicFile.makeDirectories(runDirectory, mode: 0o755)
        let lockFD = try takeLock(root: root)
        var listenFD: Int32 = -1
        do {
            unlink(socketPath)
            listenFD = try UnixSocket.openStream()
            try UnixSocket.startListening(listenFD, at: socketPath, mode: 0o666)
        } catch let error as SystemError {
            if listenFD >= 0 { close(listenFD) }
            close(lockFD)
            let text = error.errno == ENAMETOOLONG ? "path too long" : error.text
            throw ISCSIError(.generic, "can't listen on \(socketPath): \(text)")
        }
        do {
            let allowedUIDs = allowedUIDs
            let refusal = Self.encode(.failure(ISCSIError(.access, "daemon access denied")))
            server = try FrameServer.start(
                listeningOn: listenFD, mode: .concurrent, limits: limits,
                admit: { allowedUIDs.contains($0.uid) ? nil : refusal ?? [] }, log: log, onStop: { close(lockFD) },
                handler: answer)
        } catch {
            close(listenFD)
            close(lockFD)
            throw ISCSIError(.generic, "can't create a pipe")
        }
    }

    public func stop() {
        lock.lock()
        let server = self.server
        self.server = nil
        // Unlinked before the loop releases the lock file, so a successor's socket is never removed.
        // The lock file goes too, while we still hold its lock: a successor that opened the old
        // file fails its flock and says we are running; one that comes later makes a new file.
        if server != nil {
            unlink(socketPath)
            unlink(socketPath + ".lock")
        }
        lock.unlock()
        server?.stop()
    }

    /// Locks `<socket>.lock` and writes our pid into it, for the message a second daemon prints.
    private func takeLock(root: String) throws -> Int32 {
        let lockPath = socketPath + ".lock"
        let lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw ISCSIError(.generic, "can't open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            let holder = AtomicFile.read(lockPath)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(lockFD)
            let pid = holder.isEmpty ? "" : " (pid \(holder))"
            throw ISCSIError(.busy, "iscsid is already running for \(root)\(pid)")
        }
        _ = ftruncate(lockFD, 0)
        let pidText = Array("\(getpid())\n".utf8)
        _ = pidText.withUnsafeBytes { pwrite(lockFD, $0.baseAddress, $0.count, 0) }
        return lockFD
    }

    /// The reply to one request frame from an admitted peer.
    private var answer: FrameServer.Handler {
        { [handler] frame, _ in
            let response: ControlResponse
            if let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(frame)) {
                response = await handler(request)
            } else {
                response = .failure(ISCSIError(.invalidRequest, "invalid request"))
            }
            return Self.encode(response)
        }
    }

    private static func encode(_ response: ControlResponse) -> [UInt8]? {
        (try? JSONEncoder().encode(response)).map(Array.init)
    }
}

/// The session manager behind the control socket: assigns session ids, refuses duplicate
/// sessions, and logs in to `node.startup = automatic` records at start-up.
public actor SessionDaemon {
    public let store: ConfigStore
    public let backend: SessionBackend
    public let initiatorName: String
    private var nextSID = 1
    private var live: [Int: NodeEntry] = [:]
    /// Nodes with a login request being served: a second request for one fails at once instead of
    /// racing the first past the check below.
    private var loggingIn: Set<String> = []

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
            case .shutdown:
                // iscsid's main intercepts this one; a daemon that does not has nothing to stop.
                throw ISCSIError(.operationNotSupported, "this iscsid cannot be stopped from iscsiadm")
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
            case .multipath:
                return .text(await backend.multipathListing())
            }
        } catch let error as ISCSIError {
            return .failure(error)
        } catch {
            return .failure(ISCSIError(.generic, "\(error)"))
        }
    }

    /// Logs in `node.session.nr_sessions` sessions to the node (each its own ISID, so each a
    /// path of its own to the node's LUs), or as many as are missing. Answers the first new
    /// session, with the notes of all; fails when all were there already or none could be made.
    public func login(_ node: NodeEntry) async throws -> SessionInfo {
        let key = "\(node.target) \(node.portal.address) \(node.portal.port) \(node.iface)"
        guard loggingIn.insert(key).inserted else { throw ISCSIError(.sessionExists, "session exists") }
        defer { loggingIn.remove(key) }
        let existing = await backend.sessions().filter {
            $0.target == node.target && $0.portal.address == node.portal.address && $0.portal.port == node.portal.port
                && $0.iface == node.iface
        }
        let wanted = min(max(1, Int(node.record["node.session.nr_sessions"] ?? "1") ?? 1), Self.maxSessionsPerNode)
        guard existing.count < wanted else { throw ISCSIError(.sessionExists, "session exists") }
        var first: SessionInfo?
        var notes: [String] = []
        var failure: Error?
        for _ in existing.count..<wanted {
            let sid = nextSID
            nextSID += 1
            do {
                let session = try await backend.login(node: node, sid: sid, initiatorName: initiatorName)
                live[sid] = node
                if first == nil { first = session }
                notes += session.notes ?? []
            } catch {
                failure = failure ?? error
            }
        }
        guard var answer = first else { throw failure ?? ISCSIError(.login, "no session could be made") }
        if let failure { notes.append("only some of \(wanted) sessions (node.session.nr_sessions) logged in: \(failure)") }
        answer.notes = notes.isEmpty ? nil : notes
        return answer
    }

    /// open-iscsi's limit on node.session.nr_sessions (ISCSI_MAX_SESSIONS_PER_NODE... it has none
    /// below its session id space; ours keeps a typo from opening thousands).
    static let maxSessionsPerNode = 64

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
