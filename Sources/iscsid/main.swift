import NIOPosix
import MetricsHTTP
import Foundation
import ISCSIBlockDevice
import Logging
import OpenISCSIConfig

func stderrLine(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

let arguments = Array(CommandLine.arguments.dropFirst())
let options: DaemonOptions
switch DaemonOptions.parse(arguments) {
case .exit(let status, let out, let err):
    if let out { FileHandle.standardOutput.write(Data(out.utf8)) }
    if let err { FileHandle.standardError.write(Data(err.utf8)) }
    exit(status)
case .run(let parsed):
    options = parsed
}

let paths = ConfigPaths.fromEnvironment()
if let problem = options.checkPaths(paths) {
    stderrLine(problem)
    exit(1)
}
let runDirectory = ISCSIDSocket.runDirectory()
let socketPath = ISCSIDSocket.socketPath(runDirectory: runDirectory, root: paths.root)
if !options.foreground && !Daemonize.isDetachedChild {
    do {
        try AtomicFile.makeDirectories(runDirectory, mode: 0o755)
    } catch {
        stderrLine("iscsid: can't create \(runDirectory): \(error)")
        exit(1)
    }
    let logPath = String(socketPath.dropLast(".sock".count)) + ".log"
    Daemonize.detach(arguments: arguments, logPath: logPath)
}

let level: Logger.Level = options.debugLevel == 0 ? .info : (options.debugLevel < 5 ? .debug : .trace)
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = level
    return handler
}
if let gid = options.gid, setgid(gid) != 0 {
    stderrLine("iscsid: can't run as group \(gid): \(String(cString: strerror(errno)))")
    exit(1)
}
if let uid = options.uid, setuid(uid) != 0 {
    stderrLine("iscsid: can't run as user \(uid): \(String(cString: strerror(errno)))")
    exit(1)
}

let initiatorName: String
do {
    initiatorName = try InitiatorName.loadOrCreate(paths)
} catch {
    stderrLine("iscsid: can't read or create \(paths.initiatorNameFile): \(error)")
    exit(1)
}
// LUNs become block devices through a FUSE directory beside the control socket (mounted on the
// first login) and loop devices, one per LU however many sessions reach it; by-path and by-id
// links go under $ISCSI_ROOT/dev when that is set. iscsid.conf's multipath.* keys tune paths.
let iscsidConf = IscsidConf.load(paths)
let (multipathSettings, multipathProblems) = MultipathSettings.parse { iscsidConf.value($0) }
for problem in multipathProblems { stderrLine("iscsid: \(paths.iscsidConf): \(problem); using the default") }
let devices = SessionBlockDevices(
    mountPoint: String(socketPath.dropLast(".sock".count)) + ".fuse",
    byPathDirectory: SessionBlockDevices.byPathDirectory(), byIDDirectory: SessionBlockDevices.byIDDirectory(),
    multipath: multipathSettings)
let backend = InitiatorBackend(devices: devices)
let daemon = SessionDaemon(store: ConfigStore(paths: paths), backend: backend, initiatorName: initiatorName)
let controlLogger = Logger(label: "iscsid")
nonisolated(unsafe) var metricsEndpoint: MetricsServer?
let server = ISCSIDControlServer(socketPath: socketPath, log: { controlLogger.warning("\($0)") }) { request in
    if case .shutdown = request {
        // `iscsiadm -k 0`: answer first, then stop as on SIGTERM (block devices detached, socket,
        // lock and pid files removed).
        controlLogger.info("iscsiadm asked iscsid to exit")
        DispatchQueue.main.asyncAfter(deadline: .now() + 0.1) { kill(getpid(), SIGTERM) }
        return .ok
    }
    return await daemon.handle(request)
}
do {
    try server.start(root: paths.root)
} catch {
    stderrLine("iscsid: \(error)")
    exit(1)
}
if let text = options.metrics {
    do {
        let address = try MetricsAddress(parsing: text, allowRemote: options.metricsAllowRemote)
        let endpoint = MetricsServer(group: MultiThreadedEventLoopGroup.singleton) { loop in
            let promise = loop.makePromise(of: String.self)
            promise.completeWithTask { InitiatorMetrics.render(await backend.statistics()) }
            return promise.futureResult
        }
        let port = try endpoint.start(address)
        stderrLine("iscsid: metrics on http://\(MetricsAddress.display(address.host)):\(port)/metrics")
        metricsEndpoint = endpoint
    } catch {
        stderrLine("iscsid: cannot serve metrics on \(text): \(error)")
        server.stop()
        exit(1)
    }
}
Daemonize.reportReady()
let pidFile = options.writePIDFile ? options.pidFile : nil
if let pidFile {
    do {
        try AtomicFile.write("\(getpid())\n", to: pidFile, mode: 0o644)
    } catch {
        stderrLine("iscsid: can't write the pid file \(pidFile): \(error)")
    }
}
signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
    let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
    source.setEventHandler {
        Task {
            await backend.shutdown()
            server.stop()
            if let pidFile { unlink(pidFile) }
            exit(0)
        }
    }
    source.resume()
    return source
}
Task {
    for failure in await daemon.loginAutomatic() { stderrLine("iscsid: \(failure)") }
}
withExtendedLifetime(signals) { dispatchMain() }
