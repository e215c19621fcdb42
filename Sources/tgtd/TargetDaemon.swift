import Backstore
import ISCSIAdmin
import Dispatch
import ISCSITarget
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The running daemon: event loops, the IO pool, the iSCSI engine and the control socket.
final class TargetDaemon: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let ioPool: BlockIOExecutor
    let registry = TargetRegistry()
    /// The configuration every front end edits (tgtadm, tgt-admin, targetcli); the registry's
    /// targets and the server's login settings are brought in line with it after each change.
    /// Used only from the control thread (and start-up, before it runs).
    var model = DaemonConfiguration()
    /// LIO's named storage objects, open while they exist whether or not a LUN maps them.
    var namedStores: [String: Backstore] = [:]
    let server: TargetServer
    let controlPort: Int
    let stateDirectory: String
    let logger: Logger
    private var control: AdminControl!
    private(set) var persistence: ConfigurationPersistence!

    /// - Parameter demo: the `--demo` daemon keeps its configuration in a state file of its own
    ///   (`tgtd-N-demo.json`), so the demo target, and whatever is changed beside it, comes back
    ///   only in later `--demo` runs and never in a plain `tgtd` on the same control port.
    init(
        controlPort: Int, ioThreads: Int, stateDirectory: String, demo: Bool = false,
        configuration: TargetServerConfiguration = TargetServerConfiguration(), logger: Logger
    ) throws {
        self.controlPort = controlPort
        self.stateDirectory = stateDirectory
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        ioPool = BlockIOExecutor(numberOfThreads: max(1, ioThreads))
        ioPool.start()
        server = TargetServer(
            registry: registry, configuration: configuration, group: group, logger: logger)
        persistence = ConfigurationPersistence(
            daemon: self, directory: stateDirectory, fileName: Self.stateFileName(controlPort: controlPort, demo: demo))
        control = AdminControl(daemon: self)
    }

    static func stateFileName(controlPort: Int, demo: Bool) -> String {
        demo ? "tgtd-\(controlPort)-demo.json" : "tgtd-\(controlPort).json"
    }

    /// Rebuilds the saved configuration (see ConfigurationPersistence).
    func restoreConfiguration() throws {
        try persistence.restore(using: control.apply)
    }

    /// Portals came or went outside an admin request (the command line's, after the restore).
    func portalsChanged() {
        control.modelLock.withLock { control.applyALUAEverywhere() }
    }

    func startControl() throws {
        try control.start()
    }

    func stopControl() { control.stop() }

    /// The README's main job: a sparse 1 GiB file LUN in the state directory.
    func createDemoTarget() throws -> String {
        mkdir(stateDirectory, 0o755)
        let path = stateDirectory + "/disk0.img"
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw DaemonError("cannot create \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        fstat(fd, &st)
        if st.st_size == 0 { ftruncate(fd, 1 << 30) }
        close(fd)
        let name = "iqn.2026-11.org.swift-iscsi:demo"
        if registry.target(named: name) == nil {
            try createDemoTarget(name: name, path: path)
        }
        let portal = server.portals.first ?? Portal(host: "127.0.0.1", port: 3260)
        var host = portal.host
        if host == "0.0.0.0" || host == "::" { host = "127.0.0.1" }
        if host.contains(":") { host = "[\(host)]" }
        return "iscsi://\(host):\(portal.port)/\(name)/1"
    }

    private func createDemoTarget(name: String, path: String) throws {
        let tid = (registry.targets.map(\.tid).max() ?? 0) + 1
        let requests = [
            AdminRequest(mode: .target, op: .new, tid: Int32(tid), targetName: name),
            AdminRequest(mode: .logicalUnit, op: .new, tid: Int32(tid), lun: 1, backingStore: path),
            AdminRequest(mode: .target, op: .bind, tid: Int32(tid), initiatorAddress: "ALL"),
        ]
        for request in requests {
            let response = control.handle(request)
            if response.exitCode != 0 { throw DaemonError("cannot create the demo target: \(response.message ?? "")") }
        }
    }


    /// Blocks until SIGTERM or SIGINT, then drains in-flight IO and exits 0.
    func runUntilSignalled() -> Never {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let queue = DispatchQueue(label: "tgtd.signals")
        let done = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { done.signal() }
            source.resume()
            sources.append(source)
        }
        done.wait()
        logger.info("signal received: draining IO and shutting down")
        control?.stop()
        server.shutdown()
        for target in registry.targets {
            let configuration = model.target(tid: target.tid)
            for lu in target.device.logicalUnits {
                let object = configuration?.luns.first { $0.lun == lu.lun }?.storageObject ?? ""
                if let store = try? target.device.removeLogicalUnit(lu.lun), namedStores[object] == nil { try? store.close() }
            }
        }
        for store in namedStores.values { try? store.close() }
        ioPool.shutdown()
        try? group.syncShutdownGracefully()
        _ = sources
        exit(0)
    }
}

struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
