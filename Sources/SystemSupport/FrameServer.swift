#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// A blocking server for control sockets that carry one request frame and one reply frame per
/// connection (see `UnixSocket.sendFrame`).
///
/// A loop on a thread of its own polls the listening socket and a wake pipe, so `stop()` needs no
/// signals. Each request is read, handed with its peer's credentials to the async handler, and
/// answered; a nil reply, an unreadable request or a closed peer just closes the connection.
public final class FrameServer: @unchecked Sendable {
    public enum Mode: Sendable {
        /// Connections are served one at a time on the accept thread: requests execute in order.
        case serial
        /// Each connection gets a thread of its own, so a slow request does not hold up the rest.
        case threadPerConnection
    }

    public typealias Handler = @Sendable (_ frame: [UInt8], _ peer: PeerCredentials) async -> [UInt8]?

    private let listenFD: Int32
    private let mode: Mode
    private let frameLimit: Int
    private let receiveTimeout: Int
    private let sendTimeout: Int?
    private let handler: Handler
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Guards `stopped` and `wakeWrite` against concurrent stops.
    private let stateLock = DispatchSemaphore(value: 1)
    private var stopped = false
    private let loopFinished = DispatchSemaphore(value: 0)

    /// The server whose handler the current task runs for, so its `stop()` does not wait for itself.
    @TaskLocal private static var serving: ObjectIdentifier?

    private init(
        listenFD: Int32, mode: Mode, frameLimit: Int, receiveTimeout: Int, sendTimeout: Int?, handler: @escaping Handler,
        wakeRead: Int32, wakeWrite: Int32
    ) {
        self.listenFD = listenFD
        self.mode = mode
        self.frameLimit = frameLimit
        self.receiveTimeout = receiveTimeout
        self.sendTimeout = sendTimeout
        self.handler = handler
        self.wakeRead = wakeRead
        self.wakeWrite = wakeWrite
    }

    /// Starts serving `listenFD`, a listening stream socket. The server then owns it: it closes it
    /// when the loop ends and only then calls `onStop`, so the caller can keep a lock until then.
    /// - Parameters:
    ///   - frameLimit: the largest request accepted; longer ones are dropped unread.
    ///   - receiveTimeout: seconds a peer may take over its request; a silent one would otherwise
    ///     hold the loop (serial) or a thread forever.
    ///   - sendTimeout: seconds a peer may take to read the reply; nil is unbounded.
    /// - Throws: `SystemError` when the wake pipe cannot be made; `listenFD` is then still the caller's.
    public static func start(
        listeningOn listenFD: Int32, mode: Mode, frameLimit: Int, receiveTimeout: Int, sendTimeout: Int? = nil,
        onStop: @escaping @Sendable () -> Void = {}, handler: @escaping Handler
    ) throws -> FrameServer {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw SystemError(errno: errno) }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let server = FrameServer(
            listenFD: listenFD, mode: mode, frameLimit: frameLimit, receiveTimeout: receiveTimeout,
            sendTimeout: sendTimeout, handler: handler, wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1])
        // A queue of its own, not a global one: the loop blocks for the server's whole life.
        DispatchQueue(label: "FrameServer.accept").async {
            server.acceptLoop()
            close(server.listenFD)
            close(server.wakeRead)
            onStop()
            server.loopFinished.signal()
        }
        return server
    }

    /// Stops accepting and waits for the loop to end, unless called from inside this server's
    /// handler: there the loop is (in serial mode) waiting for that very handler, and ends right
    /// after answering it. Connections already handed to their own threads are still answered.
    public func stop() {
        stateLock.wait()
        let wasRunning = !stopped
        if wasRunning {
            stopped = true
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
            close(wakeWrite)
        }
        stateLock.signal()
        if wasRunning && Self.serving != ObjectIdentifier(self) { loopFinished.wait() }
    }

    private func acceptLoop() {
        var fds = [
            pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let connection = accept(listenFD, nil, nil)
            guard connection >= 0 else { continue }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            switch mode {
            case .serial:
                serve(connection)
            case .threadPerConnection:
                // Private queues are overcommitting: each gets a thread even while others block.
                DispatchQueue(label: "FrameServer.connection").async { self.serve(connection) }
            }
        }
    }

    /// Answers the one request `fd` carries, then closes it.
    private func serve(_ fd: Int32) {
        defer { close(fd) }
        UnixSocket.setTimeouts(on: fd, receiveSeconds: receiveTimeout, sendSeconds: sendTimeout)
        guard let frame = try? UnixSocket.receiveFrameOrEOF(on: fd, limit: frameLimit),
            let peer = try? PeerCredentials.of(socket: fd),
            let reply = run(frame, peer)
        else { return }
        try? UnixSocket.sendFrame(reply, on: fd)
    }

    /// Runs the async handler and blocks this (dedicated) thread until it answers.
    private func run(_ frame: [UInt8], _ peer: PeerCredentials) -> [UInt8]? {
        let reply = ReplySlot()
        let done = DispatchSemaphore(value: 0)
        let handler = self.handler
        let id = ObjectIdentifier(self)
        Task {
            reply.bytes = await Self.$serving.withValue(id) { await handler(frame, peer) }
            done.signal()
        }
        done.wait()
        return reply.bytes
    }
}

/// Hands the handler's reply from its task to the waiting thread (ordered by a semaphore).
private final class ReplySlot: @unchecked Sendable {
    var bytes: [UInt8]?
}
