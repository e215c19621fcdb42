import ISCSIProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SCSITarget

/// Settings of the iSCSI engine that are not per target.
public struct TargetServerConfiguration: Sendable {
    /// The portal group a portal belongs to unless it names one (tgt has only 1).
    public var portalGroupTag: UInt16 = 1
    /// Commands the initiator may have outstanding beyond ExpCmdSN.
    public var commandWindow: UInt32 = 128
    public var negotiation = TargetNegotiationConfiguration()
    /// Ping a connection after this long without traffic; nil disables pings.
    public var nopInterval: TimeAmount? = .seconds(15)
    /// Drop a connection whose ping stays unanswered this long.
    public var nopTimeout: TimeAmount = .seconds(30)
    /// Bytes a login PDU may carry before MaxRecvDataSegmentLength is negotiated.
    public var loginMaxDataSegmentLength = 8192
    /// A connection must reach full feature phase within this long (LIO and tgt allow 15-30 s).
    public var loginTimeout: TimeAmount = .seconds(15)
    /// Connections still logging in, in all: past it the one that has been at it longest is
    /// dropped for the newcomer, so stalled logins cannot lock everyone out.
    public var maxLoginsInProgress = 128
    /// Connections still logging in from one address: past it new ones are closed at once.
    public var maxLoginsPerAddress = 16
    /// Bytes of data one connection may hold (see `SessionLimits`).
    public var connectionDataBudget = 32 << 20
    /// Bytes of data all connections together may hold (see `DataBudget`).
    public var daemonDataBudget = 512 << 20
    /// Immediate commands one connection may have in the target at once.
    public var maxImmediateTasks = 16
    /// CHAP algorithms logins may use (tgtd --chap-algs); the initiator's order picks among them.
    public var chapAlgorithms: [CHAPAlgorithm] = CHAPAlgorithm.allCases

    public init() {}
}

/// A listening address, as `--iscsi portal=HOST:PORT` gives it.
public struct Portal: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `[IPV6]:PORT`, `HOST` (port 3260) or `[IPV6]`.
    public init?(parsing text: String, defaultPort: Int = 3260) {
        var host = text
        var port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { return nil }
                port = p
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The iSCSI engine: portals, logins, sessions. Targets and LUNs come from the registry.
public final class TargetServer: @unchecked Sendable {
    public let registry: TargetRegistry
    public let sessions = SessionTable()
    /// Logins, per-connection PDUs and per-LU IO (tgtadm --op stat, the metrics endpoint).
    public let statistics = TargetStatistics()
    public let configuration: TargetServerConfiguration
    let group: EventLoopGroup
    let logger: Logger
    private let lock = NIOLock()
    /// Each listening portal with the target portal group it belongs to.
    private var listeners: [Portal: (channel: Channel, tag: UInt16)] = [:]
    private let connections = ConnectionSet()
    let logins: LoginGate
    /// What every connection's data draws on.
    public let dataBudget: DataBudget
    private var _discoveryAuthentication = TargetAuthentication()

    /// CHAP for discovery sessions (tgt's accounts bound without a target).
    public var discoveryAuthentication: TargetAuthentication {
        get { lock.withLock { _discoveryAuthentication } }
        set { lock.withLock { _discoveryAuthentication = newValue } }
    }

    public init(registry: TargetRegistry, configuration: TargetServerConfiguration, group: EventLoopGroup, logger: Logger) {
        self.registry = registry
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.logins = LoginGate(
            maxInProgress: configuration.maxLoginsInProgress, maxPerAddress: configuration.maxLoginsPerAddress)
        self.dataBudget = DataBudget(limit: configuration.daemonDataBudget)
    }

    /// Portals sorted by address, with the port actually bound (for port 0).
    public var portals: [Portal] { taggedPortals.map(\.portal) }

    /// Portals sorted by address, each with its target portal group tag.
    public var taggedPortals: [(portal: Portal, tag: UInt16)] {
        lock.withLock {
            listeners.map { portal, listener in
                (Portal(host: portal.host, port: listener.channel.localAddress?.port ?? portal.port), listener.tag)
            }.sorted { $0.portal.description < $1.portal.description }
        }
    }

    /// The tag of the portal group a listening portal belongs to.
    public func portalGroupTag(of portal: Portal) -> UInt16? { lock.withLock { listeners[portal]?.tag } }

    /// Starts listening on a portal of target portal group `tag` (the server's default group when
    /// nil); returns the bound port. Every connection it accepts logs in through that group.
    @discardableResult
    public func addPortal(_ portal: Portal, tag: UInt16? = nil) throws -> Int {
        let tag = tag ?? configuration.portalGroupTag
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = TargetConnectionHandler(server: self, portalGroupTag: tag)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel = try bootstrap.bind(host: portal.host, port: portal.port).wait()
        lock.withLock { listeners[portal] = (channel, tag) }
        let port = channel.localAddress?.port ?? portal.port
        logger.info("listening on \(Portal(host: portal.host, port: port))")
        return port
    }

    public func removePortal(_ portal: Portal) throws {
        let channel = lock.withLock { listeners.removeValue(forKey: portal)?.channel }
        try channel?.close().wait()
    }

    /// Stops accepting, lets in-flight commands finish, then closes every connection.
    public func shutdown() {
        let all = lock.withLock { () -> [Channel] in
            defer { listeners.removeAll() }
            return listeners.values.map(\.channel)
        }
        for channel in all { try? channel.close().wait() }
        connections.drainAll()
    }

    /// Connections open now (logging in or logged in).
    public var connectionCount: Int { connections.count }

    func connectionOpened(_ connection: TargetConnectionHandler) { connections.insert(connection) }
    func connectionClosed(_ connection: TargetConnectionHandler) { connections.remove(connection) }

    /// The addresses answered to SendTargets for `target`: each portal of a group it is served
    /// through, with a wildcard replaced by the address the initiator reached us on.
    func targetAddresses(of target: ExportedTarget, localAddress: SocketAddress?) -> [String] {
        taggedPortals.filter { target.isServed(throughPortalGroup: $0.tag) }.map { portal, tag in
            var host = portal.host
            if host == "0.0.0.0" || host == "::" || host == "*" {
                host = localAddress?.ipAddress ?? host
            }
            let shown = host.contains(":") ? "[\(host)]" : host
            return "\(shown):\(portal.port),\(tag)"
        }
    }
}

/// Live connections, so shutdown can drain them.
final class ConnectionSet: @unchecked Sendable {
    private let lock = NIOLock()
    private var members: [ObjectIdentifier: TargetConnectionHandler] = [:]

    func insert(_ c: TargetConnectionHandler) { lock.withLock { members[ObjectIdentifier(c)] = c } }
    func remove(_ c: TargetConnectionHandler) { lock.withLock { _ = members.removeValue(forKey: ObjectIdentifier(c)) } }
    var count: Int { lock.withLock { members.count } }

    func drainAll() {
        let all = lock.withLock { Array(members.values) }
        let futures = all.map { $0.drain() }
        for future in futures { try? future.wait() }
    }
}
