#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The polling thread of a `FrameServer`: accepts (checking credentials first), reads requests
/// and writes replies on non-blocking sockets, and cuts off whatever passes its deadline. Only
/// this thread touches the connections.
final class FrameServerLoop {
    private let server: FrameServer
    private let executor: RequestExecutor
    private var limits: FrameServer.Limits { server.limits }
    private var connections: [UInt64: ControlConnection] = [:]
    private var nextID: UInt64 = 1
    private var listening = true
    private var atCapacity = false
    /// Reads land here and only the bytes that came are kept.
    private var scratch = [UInt8](repeating: 0, count: 64 << 10)

    init(server: FrameServer, executor: RequestExecutor) {
        self.server = server
        self.executor = executor
    }

    /// Returns once stopped and every request already executing has been answered.
    func run() {
        defer {
            if listening { close(server.listenFD) }
            for connection in connections.values { close(connection.fd) }
        }
        while true {
            if listening && server.isStopRequested { stopListening() }
            if !listening && connections.isEmpty { return }
            expire(now: .now)
            var fds = [pollfd(fd: server.wakeRead, events: Int16(POLLIN), revents: 0)]
            var owners: [UInt64?] = [nil]
            let accepting = listening && connections.count < limits.maxConnections
            noteCapacity(accepting: accepting)
            if accepting {
                fds.append(pollfd(fd: server.listenFD, events: Int16(POLLIN), revents: 0))
                owners.append(nil)
            }
            for connection in connections.values {
                switch connection.phase {
                case .reading: fds.append(pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0))
                case .writing: fds.append(pollfd(fd: connection.fd, events: Int16(POLLOUT), revents: 0))
                case .executing: continue
                }
                owners.append(connection.id)
            }
            let ready = poll(&fds, nfds_t(fds.count), pollTimeout(now: .now))
            if ready < 0 {
                if errno == EINTR { continue }
                server.log("control socket: poll failed: \(SystemError(errno: errno)); no longer serving")
                return
            }
            if fds[0].revents != 0 { takeReplies() }
            if accepting && fds[1].revents != 0 { acceptWaiting() }
            for (index, id) in owners.enumerated() where fds[index].revents != 0 {
                if let id { service(id) }
            }
        }
    }

    // MARK: Accepting

    /// Accepts what is waiting, up to the connection limit and a round's worth of refusals.
    private func acceptWaiting() {
        for _ in 0..<limits.maxConnections where connections.count < limits.maxConnections {
            let fd = accept(server.listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            guard let peer = try? PeerCredentials.of(socket: fd) else {
                close(fd)
                continue
            }
            if let refusal = server.admit(peer) {
                // Not a byte of the request is read; the refusal fits an empty socket buffer.
                server.updateStatistics { $0.refused += 1 }
                let frame = UnixSocket.framed(refusal)
                _ = frame.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                close(fd)
                continue
            }
            let id = nextID
            nextID += 1
            connections[id] = ControlConnection(
                id: id, fd: fd, peer: peer, frameLimit: limits.frameLimit, deadline: .now + limits.requestDeadline)
        }
    }

    private func noteCapacity(accepting: Bool) {
        let full = listening && !accepting
        if full && !atCapacity {
            server.log(
                "control socket: \(limits.maxConnections) connections open, the most allowed; new ones wait until one ends")
        }
        atCapacity = full
    }

    private func stopListening() {
        close(server.listenFD)
        listening = false
        for connection in connections.values {
            if case .reading = connection.phase { finish(connection.id) }
        }
    }

    // MARK: Reading and writing

    private func service(_ id: UInt64) {
        guard var connection = connections[id] else { return }
        switch connection.phase {
        case .reading:
            let (count, outcome) = scratch.withUnsafeMutableBytes { connection.read(into: $0) }
            connections[id] = connection
            recordRead(count)
            switch outcome {
            case .waiting:
                break
            case .complete(let frame):
                executor.submit(id: id, frame: frame, peer: connection.peer)
            case .closedByPeer, .failed:
                finish(id)
            case .oversized(let oversized):
                server.log(
                    "control request from \(describe(connection.peer)) announces \(oversized.announced) bytes, over the "
                        + "limit of \(oversized.limit); connection closed unread")
                server.updateStatistics { $0.oversized += 1 }
                finish(id)
            }
        case .writing:
            switch connection.write() {
            case .waiting: connections[id] = connection
            case .done, .failed: finish(id)
            }
        case .executing:
            break
        }
    }

    private func takeReplies() {
        var byte = [UInt8](repeating: 0, count: 64)
        while read(server.wakeRead, &byte, byte.count) > 0 {}
        for (id, reply) in server.takeReplies() {
            guard var connection = connections[id] else { continue }
            guard let reply else {
                finish(id)
                continue
            }
            connection.reply(reply, deadline: .now + limits.replyDeadline)
            connections[id] = connection
            service(id)  // most replies fit the socket buffer at once
        }
    }

    private func recordRead(_ count: Int) {
        guard count > 0 else { return }
        let held = connections.values.reduce(0) { $0 + $1.bytesHeld }
        server.updateStatistics {
            $0.bytesRead += count
            $0.peakBytesHeld = max($0.peakBytesHeld, held)
        }
    }

    // MARK: Deadlines

    private func expire(now: ContinuousClock.Instant) {
        for connection in connections.values {
            guard let deadline = connection.deadline, deadline <= now else { continue }
            if case .reading = connection.phase {
                server.log(
                    "control request from \(describe(connection.peer)) not complete within "
                        + "\(seconds(limits.requestDeadline)) (\(connection.progress)); connection closed")
                server.updateStatistics { $0.requestsTimedOut += 1 }
            } else {
                server.log(
                    "control client \(describe(connection.peer)) did not take its reply within "
                        + "\(seconds(limits.replyDeadline)); connection closed")
            }
            finish(connection.id)
        }
    }

    /// Milliseconds until the nearest deadline (rounded up), or -1 to wait for events alone.
    private func pollTimeout(now: ContinuousClock.Instant) -> Int32 {
        guard let nearest = connections.values.compactMap(\.deadline).min() else { return -1 }
        let (whole, attoseconds) = max(nearest - now, .zero).components
        let milliseconds = whole * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }

    private func finish(_ id: UInt64) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        close(connection.fd)
    }

    private func describe(_ peer: PeerCredentials) -> String { "pid \(peer.pid) (uid \(peer.uid))" }

    private func seconds(_ duration: Duration) -> String {
        let (whole, attoseconds) = duration.components
        if attoseconds == 0 { return "\(whole) s" }
        return "\(Double(whole) + Double(attoseconds) / 1e18) s"
    }
}
