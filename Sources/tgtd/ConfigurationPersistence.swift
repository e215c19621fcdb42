import ISCSIAdmin
import ISCSITarget
import Logging
import SCSITarget

/// Keeps the daemon's configuration model on disk: saved after every change made through the
/// control socket, and replayed through the same request handler at start-up, so a restored
/// daemon is built by exactly the code paths that built the original. Portals in the model are
/// those added with tgtadm (the command line's come back with the command line).
final class ConfigurationPersistence: @unchecked Sendable {
    let store: ConfigurationStore
    private unowned let daemon: TargetDaemon
    private(set) var isReplaying = false

    init(daemon: TargetDaemon, directory: String, fileName: String) {
        self.daemon = daemon
        self.store = ConfigurationStore(directory: directory, fileName: fileName)
    }

    /// Saves the running configuration; a failure is logged, the change itself stands.
    func save() {
        guard !isReplaying else { return }
        do {
            try store.save(daemon.model)
        } catch {
            daemon.logger.error("cannot save the configuration: \(error)")
        }
    }

    /// Loads the saved configuration and rebuilds it; each request that fails is logged in one
    /// line and the rest still applies.
    func restore(using handle: (AdminRequest) -> AdminResponse) throws {
        let loaded = try store.load()
        if let warning = loaded.warning { daemon.logger.warning("\(warning)") }
        isReplaying = true
        defer { isReplaying = false }
        for request in loaded.configuration.replayRequests() {
            let response = handle(request)
            if response.exitCode != 0 {
                daemon.logger.warning(
                    "restoring \(request.mode.rawValue) \(request.op.rawValue) failed: \(response.message ?? "exit \(response.exitCode)")")
            }
        }
    }
}
