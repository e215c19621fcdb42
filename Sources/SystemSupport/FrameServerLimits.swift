extension FrameServer {
    /// What one control connection may cost the daemon.
    public struct Limits: Sendable {
        /// The largest request accepted; a longer announced length closes the connection unread.
        public var frameLimit: Int
        /// Time from accept until the whole request has arrived. A peer still sending when it
        /// passes is cut off: a trickle of bytes cannot hold a connection open.
        public var requestDeadline: Duration
        /// Time from the reply being ready until the peer has taken all of it.
        public var replyDeadline: Duration
        /// Connections held at once, from accept to the end of the reply. Past it the daemon
        /// stops accepting, so further clients wait in the listen backlog until one ends.
        public var maxConnections: Int

        /// A few seconds for a request: the daemons' clients send theirs as soon as they connect.
        public static let defaultRequestDeadline: Duration = .seconds(3)

        public init(
            frameLimit: Int, requestDeadline: Duration = defaultRequestDeadline, replyDeadline: Duration = .seconds(10),
            maxConnections: Int = 32
        ) {
            self.frameLimit = frameLimit
            self.requestDeadline = requestDeadline
            self.replyDeadline = replyDeadline
            self.maxConnections = max(maxConnections, 1)
        }
    }

    /// Counts of what the server did, for logs and tests.
    public struct Statistics: Equatable, Sendable {
        /// Connections answered with the admission refusal, without reading a byte.
        public var refused = 0
        /// Connections cut off because their request was not complete within the deadline.
        public var requestsTimedOut = 0
        /// Connections whose request announced more than the frame limit.
        public var oversized = 0
        /// Bytes of requests read from all connections.
        public var bytesRead = 0
        /// The most request bytes held at once, over all connections being read.
        public var peakBytesHeld = 0

        public init() {}
    }
}
