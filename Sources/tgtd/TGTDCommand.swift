import ArgumentParser
import Backstore
import Dispatch
import ISCSIProtocol
import ISCSITarget
import MetricsHTTP
import Logging
import NIOCore
import NIOPosix
import SystemSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `tgtd`: the target daemon, with tgt's command line.
struct TGTDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tgtd",
        abstract: "Userspace iSCSI target daemon (tgt-compatible command line).")

    @Flag(name: [.customShort("f"), .customLong("foreground")], help: "Stay in the foreground.")
    var foreground = false

    @Option(name: [.customShort("C"), .customLong("control-port")], help: "Control port N (tgtadm -C N).")
    var controlPort = 0

    @Option(
        name: .customLong("iscsi"),
        help: ArgumentHelp(
            "iSCSI driver options, KEY=VALUE[,KEY=VALUE...] (repeatable): "
                + ISCSIDriverOptions.keys.joined(separator: ", ") + ".",
            valueName: "portal=HOST:PORT"))
    var iscsiOptions: [String] = []

    @Option(name: [.customShort("t"), .customLong("nr_iothreads")], help: "Backing-store IO threads.")
    var ioThreads = 4

    @Option(name: .customLong("state-dir"), help: "Directory for the saved configuration (and the --demo disk).")
    var stateDirectory = "/var/lib/swift-tgtd"

    @Option(
        name: .customLong("metrics"),
        help: "Serve Prometheus metrics on ADDR:PORT (GET /metrics; loopback only unless --metrics-allow-remote). Off by default.")
    var metrics: String?

    @Flag(name: .customLong("metrics-allow-remote"), help: "Let --metrics listen on a non-loopback address.")
    var metricsAllowRemote = false

    @Flag(
        name: .customLong("demo"),
        help: "Export a sparse 1 GiB file LUN (disk0.img in the state directory) and print its URL; the configuration is kept in tgtd-N-demo.json, apart from plain runs'.")
    var demo = false

    @Option(name: [.customShort("d"), .customLong("debug")], help: "Debug level (0 or 1).")
    var debug = 0

    @Option(
        name: .customLong("chap-algs"),
        help: ArgumentHelp(
            "CHAP algorithms logins may use (default: all four); each login takes the initiator's first choice among them.",
            valueName: "MD5,SHA1,SHA256,SHA3-256"))
    var chapAlgs: String?

    @Flag(name: [.customShort("V"), .customLong("version")], help: "Print the version and exit.")
    var version = false

    func validate() throws {
        if version { throw CleanExit.message(ProductVersion.line("tgtd", reproducing: ProductVersion.tgt)) }
        _ = try driverOptions()
        _ = try metricsAddress()
        if let chapAlgs, CHAPAlgorithm.parseNames(chapAlgs) == nil {
            throw ValidationError("bad --chap-algs '\(chapAlgs)': expected a list of MD5, SHA1, SHA256, SHA3-256")
        }
    }

    private func metricsAddress() throws -> MetricsAddress? {
        do {
            return try metrics.map { try MetricsAddress(parsing: $0, allowRemote: metricsAllowRemote) }
        } catch {
            throw ValidationError("\(error)")
        }
    }

    private func driverOptions() throws -> ISCSIDriverOptions {
        do {
            return try ISCSIDriverOptions(parsing: iscsiOptions)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        if !foreground {
            // Detach before any thread exists, as fork() requires.
            guard daemon(1, 0) == 0 else { throw ValidationError("cannot daemonize") }
        }
        tuneAllocator()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = debug > 0 ? .debug : .info
            return handler
        }
        let logger = Logger(label: "tgtd")
        let options = try driverOptions()
        let metricsAddress = try metricsAddress()
        var portals = options.portals
        if portals.isEmpty { portals = [(Portal(host: "0.0.0.0", port: 3260), 1), (Portal(host: "::", port: 3260), 1)] }

        var configuration = options.configuration
        if let chapAlgs { configuration.chapAlgorithms = CHAPAlgorithm.parseNames(chapAlgs) ?? CHAPAlgorithm.allCases }
        let daemon = try TargetDaemon(
            controlPort: controlPort, ioThreads: ioThreads, stateDirectory: stateDirectory, demo: demo,
            configuration: configuration,
            logger: logger)
        do {
            try daemon.restoreConfiguration()
        } catch {
            throw ValidationError("\(error)")
        }
        // The control socket is up before the portals, so a portal that answers means the daemon
        // is ready for tgtadm too (scripts wait for the portal).
        try daemon.startControl()
        for (portal, tag) in portals where !daemon.server.portals.contains(portal) {
            do {
                try daemon.server.addPortal(portal, tag: tag)
            } catch {
                // An IPv6 wildcard on a host without IPv6 is not fatal when other portals work.
                if portals.count > 1 && portal.host == "::" {
                    logger.warning("cannot listen on \(portal): \(error)")
                    continue
                }
                daemon.stopControl()
                throw ValidationError("cannot listen on \(portal): \(error)")
            }
        }
        // Units restored before these portals existed learn their target ports (ALUA).
        daemon.portalsChanged()
        if let metricsAddress {
            let server = daemon.server
            let endpoint = MetricsServer(group: daemon.group) { loop in loop.makeSucceededFuture(TargetMetrics.render(server)) }
            do {
                let port = try endpoint.start(metricsAddress)
                logger.info("metrics on http://\(MetricsAddress.display(metricsAddress.host)):\(port)/metrics")
            } catch {
                daemon.stopControl()
                throw ValidationError("cannot serve metrics on \(metricsAddress): \(error)")
            }
        }
        if demo {
            let url = try daemon.createDemoTarget()
            print(url)
            fflush(stdout)
        }
        SystemdNotify.ready()
        daemon.runUntilSignalled()
    }
}

/// Data buffers of 128 KiB and more would each be a fresh mmap with glibc's defaults, so every
/// large read paid for page faults and an munmap (a quarter of the CPU of 128 KiB reads, measured
/// with perf). Keeping such buffers in the heap, untrimmed, lets them be reused.
private func tuneAllocator() {
    #if canImport(Glibc)
        // mallopt is not in Swift's Glibc module (malloc.h); look it up instead.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, 256 << 20)
    #endif
}
