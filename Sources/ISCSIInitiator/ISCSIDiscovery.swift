import ISCSIProtocol
import NIOCore
import NIOPosix

/// One target a discovery session reported.
public struct DiscoveredTarget: Hashable, Sendable {
    public var name: String
    /// "host:port,tag" strings as the target sent them.
    public var addresses: [String]

    public init(name: String, addresses: [String]) {
        self.name = name
        self.addresses = addresses
    }
}

public enum ISCSIDiscovery {
    /// Logs in a discovery session, asks SendTargets=All, logs out.
    public static func sendTargets(
        host: String, port: Int = 3260, configuration: InitiatorConfiguration = InitiatorConfiguration(),
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> [DiscoveredTarget] {
        let engine = SessionEngine(
            eventLoop: group.next(), host: host, port: port, targetName: nil, sessionType: .discovery,
            configuration: configuration)
        try await engine.start().get()
        var request = ByteBuffer()
        TextKeyCodec.encode([TextKeyValue("SendTargets", "All")], into: &request)
        let targets: [DiscoveredTarget]
        do {
            let completion = try await engine.submit(.text(request)).get()
            guard case .text(let text) = completion else { throw ISCSIInitiatorError.protocolViolation("unexpected completion") }
            targets = try parse(text)
        } catch {
            engine.eventLoop.execute { engine.close(.sessionFailed("discovery failed")) }
            throw error
        }
        _ = try? await engine.submit(.logout).get()
        engine.eventLoop.execute { engine.close(.sessionFailed("logged out")) }
        return targets
    }

    /// Parses a SendTargets answer: each TargetName starts a target; TargetAddress lines follow it.
    public static func parse(_ text: ByteBuffer) throws -> [DiscoveredTarget] {
        let pairs: [TextKeyValue]
        do {
            pairs = try TextKeyCodec.decode(text, limits: .sendTargetsResponse)
        } catch {
            throw ISCSIInitiatorError.protocolViolation("bad SendTargets answer: \(error)")
        }
        var targets: [DiscoveredTarget] = []
        for pair in pairs {
            switch pair.key {
            case "TargetName":
                targets.append(DiscoveredTarget(name: pair.value, addresses: []))
            case "TargetAddress":
                guard !targets.isEmpty else { throw ISCSIInitiatorError.protocolViolation("TargetAddress before TargetName") }
                targets[targets.count - 1].addresses.append(pair.value)
            default:
                continue
            }
        }
        return targets
    }
}
