import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where `--metrics ADDR:PORT` listens. Loopback only, unless the caller was explicitly allowed
/// another address (`--metrics-allow-remote`): the counters name initiators and targets.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(parsing text: String, allowRemote: Bool = false) throws {
        var host = text
        var portText = ""
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw MetricsError("metrics address \(text): expected [ADDR]:PORT") }
            portText = String(rest.dropFirst())
        } else if let colon = text.lastIndex(of: ":"), text.filter({ $0 == ":" }).count == 1 {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        } else {
            throw MetricsError("metrics address \(text): expected ADDR:PORT")
        }
        guard let port = Int(portText), (0...65535).contains(port), !host.isEmpty else {
            throw MetricsError("metrics address \(text): bad port or address")
        }
        if !allowRemote && !Self.isLoopback(host) {
            throw MetricsError(
                "metrics address \(text) is not a loopback address; add --metrics-allow-remote to serve it beyond this host")
        }
        self.host = host
        self.port = port
    }

    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    public var description: String { "\(Self.display(host)):\(port)" }

    /// An IPv6 address in brackets.
    public static func display(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}

public struct MetricsError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A tiny HTTP/1.1 server answering `GET /metrics` with the Prometheus text a `render` call
/// produces. Every connection is bounded: a request larger than `maxRequestBytes` or not complete
/// within `requestTimeout` is dropped, at most `maxConnections` are open at once, and each
/// connection closes after its one response.
public final class MetricsServer: @unchecked Sendable {
    public typealias Render = @Sendable (EventLoop) -> EventLoopFuture<String>

    public struct Limits: Sendable {
        public var maxRequestBytes = 8192
        public var requestTimeout: TimeAmount = .seconds(5)
        public var maxConnections = 32
        public init() {}
    }

    private let group: EventLoopGroup
    private let render: Render
    private let limits: Limits
    private var channel: Channel?
    private let open = ConnectionCount()

    public init(group: EventLoopGroup, limits: Limits = Limits(), render: @escaping Render) {
        self.group = group
        self.limits = limits
        self.render = render
    }

    /// Binds; returns the port (for port 0).
    @discardableResult
    public func start(_ address: MetricsAddress) throws -> Int {
        let limits = self.limits
        let render = self.render
        let open = self.open
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard open.enter(limit: limits.maxConnections) else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.leave() }
                // A client that never finishes its request is dropped at the deadline.
                let timeout = channel.eventLoop.scheduleTask(in: limits.requestTimeout) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in timeout.cancel() }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(RequestSizeLimit(limit: limits.maxRequestBytes))
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try sync.addHandler(MetricsHandler(render: render))
                }
            }
            .bind(host: address.host, port: address.port).wait()
        self.channel = channel
        return channel.localAddress?.port ?? address.port
    }

    public func stop() {
        try? channel?.close().wait()
        channel = nil
    }
}

final class ConnectionCount: @unchecked Sendable {
    private let lock = NIOLockedValueBox(0)
    func enter(limit: Int) -> Bool {
        lock.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }
    func leave() { lock.withLockedValue { $0 -= 1 } }
}

/// Drops a connection once it has sent more than `limit` bytes: a request is a line and a few
/// headers.
final class RequestSizeLimit: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let limit: Int
    private var seen = 0

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        seen += unwrapInboundIn(data).readableBytes
        guard seen <= limit else {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}

final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let render: MetricsServer.Render
    private var head: HTTPRequestHead?

    init(render: @escaping MetricsServer.Render) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard head.method == .GET || head.method == .HEAD else {
            return send(.methodNotAllowed, "only GET /metrics\n", head: head, context: context, extra: [("Allow", "GET, HEAD")])
        }
        guard path == "/metrics" else {
            return send(.notFound, "only GET /metrics\n", head: head, context: context)
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        render(context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success(let text):
                handler.send(.ok, text, head: head, context: context, contentType: "text/plain; version=0.0.4; charset=utf-8")
            case .failure(let error):
                handler.send(.internalServerError, "\(error)\n", head: head, context: context)
            }
        }
    }

    private func send(
        _ status: HTTPResponseStatus, _ body: String, head: HTTPRequestHead, context: ChannelHandlerContext,
        contentType: String = "text/plain; charset=utf-8", extra: [(String, String)] = []
    ) {
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(buffer.readableBytes)), ("Connection", "close")])
        for (name, value) in extra { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
