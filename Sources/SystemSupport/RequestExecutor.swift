/// Runs a `FrameServer`'s handler on complete requests and hands each reply back to the polling
/// thread. Serial mode keeps one task that takes the requests in the order they completed; no
/// thread ever waits for a client's bytes here.
final class RequestExecutor: Sendable {
    private struct Job: Sendable {
        var id: UInt64
        var frame: [UInt8]
        var peer: PeerCredentials
    }

    private let server: FrameServer
    private let queue: AsyncStream<Job>.Continuation?

    init(server: FrameServer) {
        self.server = server
        guard server.mode == .serial else {
            queue = nil
            return
        }
        let (jobs, queue) = AsyncStream.makeStream(of: Job.self)
        self.queue = queue
        Task { [server] in
            for await job in jobs {
                // Once the server stops, what has not started is closed unanswered.
                let reply = server.isStopRequested ? nil : await Self.run(job, on: server)
                server.deliver(id: job.id, reply: reply)
            }
        }
    }

    func submit(id: UInt64, frame: [UInt8], peer: PeerCredentials) {
        let job = Job(id: id, frame: frame, peer: peer)
        if let queue {
            queue.yield(job)
        } else {
            Task { [server] in server.deliver(id: id, reply: await Self.run(job, on: server)) }
        }
    }

    /// Ends the serial task once its queue is empty.
    func finish() { queue?.finish() }

    private static func run(_ job: Job, on server: FrameServer) async -> [UInt8]? {
        await FrameServer.$serving.withValue(ObjectIdentifier(server)) { await server.handler(job.frame, job.peer) }
    }
}
