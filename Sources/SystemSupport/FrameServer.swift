#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// A server for control sockets that carry one request frame and one reply frame per connection
/// (see `UnixSocket.sendFrame`), safe from the local users who may connect to it.
///
/// - The caller's credentials (SO_PEERCRED) are checked at accept, before a byte is read: a peer
///   that `admit` refuses gets the refusal frame and is closed with its request unread.
/// - One thread polls the listener and every connection, so a slow client never holds up another;
///   each request must arrive whole within `Limits.requestDeadline` and memory follows the bytes
///   that arrived (`FrameAssembler`).
/// - Complete requests go to the handler one at a time in the order they completed (`.serial`) or
///   each at once (`.concurrent`); replies are written back by the polling thread.
public final class FrameServer: @unchecked Sendable {
    public enum Mode: Sendable {
        /// Requests execute one at a time, in the order they arrived whole.
        case serial
        /// Each request executes as soon as it has arrived, so a slow one does not hold up the rest.
        case concurrent
    }

    public typealias Handler = @Sendable (_ frame: [UInt8], _ peer: PeerCredentials) async -> [UInt8]?
    /// Nil admits the peer; otherwise the payload of the refusal to send it before closing.
    public typealias Admission = @Sendable (_ peer: PeerCredentials) -> [UInt8]?

    let listenFD: Int32
    let mode: Mode
    let limits: Limits
    let admit: Admission
    let log: @Sendable (String) -> Void
    let handler: Handler
    let wakeRead: Int32
    private let wakeWrite: Int32

    /// Guards `stopRequested`, `inbox` and `stats`, which the polling thread shares with others.
    private let stateLock = DispatchSemaphore(value: 1)
    private var stopRequested = false
    private var inbox: [(id: UInt64, reply: [UInt8]?)] = []
    private var stats = Statistics()
    private let loopFinished = DispatchSemaphore(value: 0)

    /// The server whose handler the current task runs for, so its `stop()` does not wait for itself.
    @TaskLocal static var serving: ObjectIdentifier?

    private init(
        listenFD: Int32, mode: Mode, limits: Limits, admit: @escaping Admission, log: @escaping @Sendable (String) -> Void,
        handler: @escaping Handler, wakeRead: Int32, wakeWrite: Int32
    ) {
        self.listenFD = listenFD
        self.mode = mode
        self.limits = limits
        self.admit = admit
        self.log = log
        self.handler = handler
        self.wakeRead = wakeRead
        self.wakeWrite = wakeWrite
    }

    /// Starts serving `listenFD`, a listening stream socket. The server then owns it: it closes it
    /// when it stops accepting and calls `onStop` once the last reply is written, so the caller
    /// can keep a lock until then.
    /// - Parameters:
    ///   - admit: decides from the peer's credentials alone whether it may send a request.
    ///   - log: one line per connection cut off, and why.
    /// - Throws: `SystemError` when the wake pipe cannot be made; `listenFD` is then still the caller's.
    public static func start(
        listeningOn listenFD: Int32, mode: Mode, limits: Limits, admit: @escaping Admission,
        log: @escaping @Sendable (String) -> Void, onStop: @escaping @Sendable () -> Void = {},
        handler: @escaping Handler
    ) throws -> FrameServer {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw SystemError(errno: errno) }
        for fd in pipeFDs + [listenFD] {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        let server = FrameServer(
            listenFD: listenFD, mode: mode, limits: limits, admit: admit, log: log, handler: handler,
            wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1])
        let executor = RequestExecutor(server: server)
        // A queue of its own, not a global one: the loop blocks in poll for the server's whole life.
        DispatchQueue(label: "FrameServer.poll").async {
            FrameServerLoop(server: server, executor: executor).run()
            executor.finish()
            onStop()
            server.loopFinished.signal()
        }
        return server
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Stops accepting and reading, answers the requests already executing, and waits for that,
    /// unless called from inside this server's handler: the loop is then waiting for that very
    /// handler, and ends right after answering it. Requests queued behind it are closed unanswered.
    public func stop() {
        let wasRunning = withState {
            defer { stopRequested = true }
            return !stopRequested
        }
        guard wasRunning else { return }
        wake()
        if Self.serving != ObjectIdentifier(self) { loopFinished.wait() }
    }

    public var statistics: Statistics { withState { stats } }

    // MARK: Shared with the polling thread and the executor

    var isStopRequested: Bool { withState { stopRequested } }

    /// Hands a reply (nil: close unanswered) to the polling thread.
    func deliver(id: UInt64, reply: [UInt8]?) {
        withState { inbox.append((id, reply)) }
        wake()
    }

    func takeReplies() -> [(id: UInt64, reply: [UInt8]?)] {
        withState {
            defer { inbox.removeAll() }
            return inbox
        }
    }

    func updateStatistics(_ body: (inout Statistics) -> Void) { withState { body(&stats) } }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)  // non-blocking: a full pipe already means "wake up"
    }

    private func withState<T>(_ body: () -> T) -> T {
        stateLock.wait()
        defer { stateLock.signal() }
        return body()
    }
}
