#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One admitted connection of a `FrameServer` and where it stands: its request being read, being
/// executed, or its reply being written. The socket is non-blocking; each step does one call.
struct ControlConnection {
    enum Phase {
        case reading(FrameAssembler)
        case executing
        case writing([UInt8], sent: Int)
    }

    enum ReadOutcome {
        /// More bytes are needed (or none were there).
        case waiting
        case complete([UInt8])
        /// The peer hung up; `received` bytes of its request had arrived.
        case closedByPeer(received: Int)
        case oversized(FrameAssembler.Oversized)
        case failed(SystemError)
    }

    enum WriteOutcome {
        case waiting
        case done
        case failed(SystemError)
    }

    let id: UInt64
    let fd: Int32
    let peer: PeerCredentials
    private(set) var phase: Phase
    /// When the current phase must be over (the whole request, or the whole reply); nil while the
    /// request executes, which the handler bounds.
    private(set) var deadline: ContinuousClock.Instant?

    init(id: UInt64, fd: Int32, peer: PeerCredentials, frameLimit: Int, deadline: ContinuousClock.Instant) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.phase = .reading(FrameAssembler(limit: frameLimit))
        self.deadline = deadline
    }

    /// Request bytes held while reading.
    var bytesHeld: Int {
        if case .reading(let assembler) = phase { return assembler.bytesHeld }
        return 0
    }

    /// "got 5 of 1000 bytes" (or "of an unknown length" before the header), for log lines.
    var progress: String {
        guard case .reading(let assembler) = phase else { return "" }
        let total = assembler.announcedLength.map { "\($0 + 4)" } ?? "an unknown number of"
        return "got \(assembler.bytesReceived) of \(total) bytes"
    }

    /// Reads what has arrived, never past the end of the request; returns the bytes read too.
    mutating func read(into scratch: UnsafeMutableRawBufferPointer) -> (count: Int, outcome: ReadOutcome) {
        guard case .reading(var assembler) = phase else { return (0, .waiting) }
        // Take the assembler out of `phase`, so appending to it does not copy the payload.
        phase = .executing
        let count = recv(fd, scratch.baseAddress, min(assembler.bytesWanted, scratch.count), 0)
        let outcome: ReadOutcome
        if count < 0 {
            outcome = [EAGAIN, EWOULDBLOCK, EINTR].contains(errno) ? .waiting : .failed(SystemError(errno: errno))
        } else if count == 0 {
            outcome = .closedByPeer(received: assembler.bytesReceived)
        } else {
            do {
                try assembler.take(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
                outcome = assembler.frame.map { .complete($0) } ?? .waiting
            } catch {
                outcome = .oversized(error)
            }
        }
        if case .complete = outcome {
            deadline = nil
        } else {
            phase = .reading(assembler)
        }
        return (max(count, 0), outcome)
    }

    /// Starts writing `payload` as a frame, to be taken by the peer before `deadline`.
    mutating func reply(_ payload: [UInt8], deadline: ContinuousClock.Instant) {
        phase = .writing(UnixSocket.framed(payload), sent: 0)
        self.deadline = deadline
    }

    /// Sends what the socket takes of the reply.
    mutating func write() -> WriteOutcome {
        guard case .writing(let bytes, let sent) = phase else { return .waiting }
        let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
        if count < 0 {
            return [EAGAIN, EWOULDBLOCK, EINTR].contains(errno) ? .waiting : .failed(SystemError(errno: errno))
        }
        phase = .writing(bytes, sent: sent + count)
        return sent + count == bytes.count ? .done : .waiting
    }
}
