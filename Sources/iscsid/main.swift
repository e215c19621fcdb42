import Foundation
import OpenISCSIConfig

func stderrLine(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

let arguments = Array(CommandLine.arguments.dropFirst())
for argument in arguments where !["-f", "--foreground", "-n", "--no-pid-file"].contains(argument) {
    if argument == "-h" || argument == "--help" {
        print("Usage: iscsid [-f]\n  -f, --foreground   run in the foreground (always, for now)")
        exit(0)
    }
    stderrLine("iscsid: unrecognized option '\(argument)'")
    exit(1)
}

let paths = ConfigPaths.fromEnvironment()
let initiatorName: String
do {
    initiatorName = try InitiatorName.loadOrCreate(paths)
} catch {
    stderrLine("iscsid: can't read or create \(paths.initiatorNameFile): \(error)")
    exit(1)
}
let daemon = SessionDaemon(store: ConfigStore(paths: paths), backend: InitiatorBackend(), initiatorName: initiatorName)
let socketPath = ISCSIDSocket.socketPath(runDirectory: ISCSIDSocket.runDirectory(), root: paths.root)
let server = ISCSIDControlServer(socketPath: socketPath) { await daemon.handle($0) }
do {
    try server.start(root: paths.root)
} catch {
    stderrLine("iscsid: \(error)")
    exit(1)
}
signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
    let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
    source.setEventHandler {
        server.stop()
        exit(0)
    }
    source.resume()
    return source
}
Task {
    for failure in await daemon.loginAutomatic() { stderrLine("iscsid: \(failure)") }
}
withExtendedLifetime(signals) { dispatchMain() }
