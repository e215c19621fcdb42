#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// Executes control requests; tgtd implements it over its target registry.
public protocol AdminHandler: Sendable {
    func handle(_ request: AdminRequest) async -> AdminResponse
}

/// An `AdminHandler` made from a closure (tests, small tools).
public struct ClosureAdminHandler: AdminHandler {
    private let body: @Sendable (AdminRequest) async -> AdminResponse

    public init(_ body: @escaping @Sendable (AdminRequest) async -> AdminResponse) {
        self.body = body
    }

    public func handle(_ request: AdminRequest) async -> AdminResponse {
        await body(request)
    }
}

public struct ControlServerError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// The daemon's end of the control socket, `<runDirectory>/socket.<controlPort>`.
///
/// One blocking accept loop runs on its own thread and serves connections one at a time, so requests
/// execute in arrival order, as in tgt. Each connection carries one request and one response; peers
/// whose uid is not in `allowedUIDs` get `AdminResponse.permissionDenied` without reaching the handler.
public final class ControlServer: @unchecked Sendable {
    public let controlPort: Int
    public let socketPath: String
    private let lockPath: String
    private let runDirectory: String
    private let allowedUIDs: Set<UInt32>
    private let handler: AdminHandler

    /// Guards `running` and `wakeWrite` against concurrent start/stop.
    private let stateLock = DispatchSemaphore(value: 1)
    private var running = false
    private var wakeWrite: Int32 = -1
    private let loopFinished = DispatchSemaphore(value: 0)

    /// Unanswered peers cannot hold the (serial) control plane longer than this.
    static let peerTimeoutSeconds = 5

    @TaskLocal private static var servingRequest = false

    public init(
        controlPort: Int, runDirectory: String = ControlSocket.defaultRunDirectory, allowedUIDs: Set<UInt32> = [0],
        handler: AdminHandler
    ) {
        self.controlPort = controlPort
        self.runDirectory = runDirectory
        self.socketPath = ControlSocket.path(runDirectory: runDirectory, controlPort: controlPort)
        self.lockPath = socketPath + ".lock"
        self.allowedUIDs = allowedUIDs
        self.handler = handler
    }

    public convenience init(
        controlPort: Int, runDirectory: String = ControlSocket.defaultRunDirectory, allowedUIDs: Set<UInt32> = [0],
        handle: @escaping @Sendable (AdminRequest) async -> AdminResponse
    ) {
        self.init(
            controlPort: controlPort, runDirectory: runDirectory, allowedUIDs: allowedUIDs,
            handler: ClosureAdminHandler(handle))
    }

    /// Nil when `peer` may administer the daemon, else the refusal to send it.
    public static func authorize(_ peer: PeerCredentials, allowedUIDs: Set<UInt32>) -> AdminResponse? {
        allowedUIDs.contains(peer.uid) ? nil : .permissionDenied
    }

    /// Binds the socket and starts serving.
    /// - Throws: `ControlServerError` if another daemon holds the control port or the socket cannot
    ///   be created.
    public func start() throws {
        stateLock.wait()
        defer { stateLock.signal() }
        guard !running else { return }
        let resources = try ListeningResources.open(
            runDirectory: runDirectory, socketPath: socketPath, lockPath: lockPath, controlPort: controlPort)
        wakeWrite = resources.wakeWrite
        running = true
        DispatchQueue(label: "swift-tgtd.control.\(controlPort)").async {
            self.acceptLoop(resources)
            self.loopFinished.signal()
        }
    }

    /// Stops accepting, removes the socket file and, unless called from inside the handler, waits
    /// for the request being served to finish.
    public func stop() {
        stateLock.wait()
        guard running else {
            stateLock.signal()
            return
        }
        running = false
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        close(wakeWrite)
        unlink(socketPath)
        stateLock.signal()
        // A handler that stops the daemon (tgt's "--op delete --mode system") must not wait for its
        // own request to end; the loop exits right after answering it.
        if !Self.servingRequest { loopFinished.wait() }
    }

    private func acceptLoop(_ resources: ListeningResources) {
        defer { resources.close() }
        var fds = [
            pollfd(fd: resources.listenFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: resources.wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let connection = accept(resources.listenFD, nil, nil)
            if connection >= 0 {
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                serve(connection)
                close(connection)
            }
        }
    }

    private func serve(_ fd: Int32) {
        setTimeouts(fd)
        guard let frame = try? ControlSocket.receiveFrame(on: fd, limit: ControlSocket.maximumRequestSize),
            let peer = try? PeerCredentials.of(socket: fd)
        else { return }
        let response: AdminResponse
        if let refusal = Self.authorize(peer, allowedUIDs: allowedUIDs) {
            response = refusal
        } else if let request = try? AdminWire.decode(AdminRequest.self, from: frame) {
            response = run(request)
        } else {
            response = .failure(.invalidRequest)
        }
        if let bytes = try? AdminWire.encode(response) {
            try? ControlSocket.sendFrame(bytes, on: fd)
        }
    }

    /// Runs the async handler and blocks this (dedicated) thread until it answers.
    private func run(_ request: AdminRequest) -> AdminResponse {
        let result = ResponseSlot()
        let done = DispatchSemaphore(value: 0)
        let handler = self.handler
        Task {
            result.response = await Self.$servingRequest.withValue(true) { await handler.handle(request) }
            done.signal()
        }
        done.wait()
        return result.response ?? .failure(.unknownError)
    }

    private func setTimeouts(_ fd: Int32) {
        var timeout = timeval(tv_sec: Self.peerTimeoutSeconds, tv_usec: 0)
        let size = socklen_t(MemoryLayout<timeval>.size)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, size)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, size)
    }
}

/// Hands the handler's answer from its task to the waiting accept thread (ordered by a semaphore).
private final class ResponseSlot: @unchecked Sendable {
    var response: AdminResponse?
}
