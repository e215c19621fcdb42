import Foundation
import OpenISCSIConfig

let paths = ConfigPaths.fromEnvironment()
let socketPath = ISCSIDSocket.socketPath(runDirectory: ISCSIDSocket.runDirectory(), root: paths.root)
let admin = Iscsiadm(
    store: ConfigStore(paths: paths),
    send: { try ISCSIDSocket.exchange($0, socketPath: socketPath) },
    out: { print($0) },
    err: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
let status = admin.run(Array(CommandLine.arguments.dropFirst()))
exit(status)
