import Backstore
import ISCSIProtocol
import ISCSITarget
import Logging
import NIOCore
import NIOPosix

/// Our own TargetServer on 127.0.0.1 with one RAM LUN 1, for tests of the initiator side.
public final class TargetFixture {
    public static let targetName = "iqn.2026-11.org.example.test:disk"
    public static let lunBytes: UInt64 = 4 << 20

    public let group: MultiThreadedEventLoopGroup
    public let server: TargetServer
    public let target: ExportedTarget
    public let port: Int

    /// `port` 0 picks a free one; a fixed one brings a target back where an earlier one was.
    /// `closedTargets` are made as targets 2, 3, ... with no LUN and an ACL that admits nobody.
    public init(
        port: Int = 0, lunBytes: UInt64 = TargetFixture.lunBytes, closedTargets: [String] = [],
        _ configure: (inout TargetServerConfiguration) -> Void = { _ in }
    ) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry = TargetRegistry()
        target = try registry.createTarget(tid: 1, name: Self.targetName)
        try target.device.addLogicalUnit(1, backstore: MemoryBackstore(size: lunBytes))
        target.bind(.all)
        for (index, name) in closedTargets.enumerated() { _ = try registry.createTarget(tid: index + 2, name: name) }
        var configuration = TargetServerConfiguration()
        configuration.nopInterval = nil
        configure(&configuration)
        var logger = Logger(label: "iscsi-test-target")
        logger.logLevel = getenv("TARGET_LOG") != nil ? .info : .critical  // TARGET_LOG=1: why connections closed
        server = TargetServer(registry: registry, configuration: configuration, group: group, logger: logger)
        do {
            self.port = try server.addPortal(Portal(host: "127.0.0.1", port: port))
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    public func shutdown() {
        server.shutdown()
        try? group.syncShutdownGracefully()
    }

    public static func pattern(_ count: Int, seed: UInt8 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        for i in 0..<count { buffer.writeInteger(UInt8(truncatingIfNeeded: i &* 7 &+ Int(seed) &+ i >> 9)) }
        return buffer
    }
}
