import ISCSIAdmin
import ISCSITarget
import Logging
import SCSITarget

/// Keeps the daemon's configuration on disk: captured from the running state after every change
/// made through the control socket, and replayed through the same request handler at start-up,
/// so a restored daemon is built by exactly the code paths that built the original.
final class ConfigurationPersistence: @unchecked Sendable {
    let store: ConfigurationStore
    private unowned let daemon: TargetDaemon
    /// tgt `--params` strings applied to each LU, in order, keyed by "tid/lun".
    private var parameters: [String: [String]] = [:]
    private(set) var isReplaying = false
    /// Portals added with tgtadm (those on the command line come back with the command line).
    private(set) var addedPortals: [Portal] = []

    func portalAdded(_ portal: Portal) { if !addedPortals.contains(portal) { addedPortals.append(portal) } }
    func portalRemoved(_ portal: Portal) { addedPortals.removeAll { $0 == portal } }

    init(daemon: TargetDaemon, directory: String, fileName: String) {
        self.daemon = daemon
        self.store = ConfigurationStore(directory: directory, fileName: fileName)
    }

    func recordParameters(tid: Int, lun: UInt64, _ params: String) {
        parameters["\(tid)/\(lun)", default: []].append(params)
    }

    func forgetParameters(tid: Int, lun: UInt64? = nil) {
        if let lun {
            parameters["\(tid)/\(lun)"] = nil
        } else {
            parameters = parameters.filter { !$0.key.hasPrefix("\(tid)/") }
        }
    }

    /// The running configuration in the saved form.
    func capture() -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.portals = addedPortals.map { PortalConfiguration(host: $0.host, port: $0.port) }
        configuration.accounts = daemon.accounts.allAccounts.map { AccountConfiguration(user: $0.user, password: $0.password) }
        let discovery = daemon.accounts.binding(tid: 0)
        configuration.discoveryIncomingUsers = discovery.incoming
        configuration.discoveryOutgoingUser = discovery.outgoing
        configuration.storageObjects = daemon.storageObjects.entries.map(\.configuration)
        for target in daemon.registry.targets {
            var entry = TargetConfiguration(tid: target.tid, name: target.name)
            entry.state = target.device.isOnline ? "ready" : "offline"
            let settings = daemon.tpgs.settings(tid: target.tid)
            entry.authentication = settings.authentication
            entry.generateNodeACLs = settings.generateNodeACLs
            entry.tpgAuth = settings.tpgAuth
            for info in target.device.logicalUnits {
                if let named = daemon.storageObjects.owner(tid: target.tid, lun: info.lun) {
                    entry.luns.append(LUNConfiguration(lun: info.lun, storageObject: named, blockSize: info.blockSize))
                    continue
                }
                let objectName = "tgt_\(target.tid)_\(info.lun)"
                if info.lun != 0 {
                    configuration.storageObjects.append(
                        StorageObjectConfiguration(
                            name: objectName, kind: info.backingStoreType == "null" ? .null : .fileio,
                            path: info.backingStorePath, size: info.size, bsType: info.backingStoreType,
                            openFlags: info.backingStoreFlags.isEmpty ? nil : info.backingStoreFlags))
                }
                let params = parameters["\(target.tid)/\(info.lun)"] ?? []
                // LUN 0 exists by itself; it is kept only when its parameters were changed.
                if info.lun != 0 || !params.isEmpty {
                    entry.luns.append(
                        LUNConfiguration(
                            lun: info.lun, storageObject: info.lun == 0 ? "" : objectName, blockSize: info.blockSize,
                            parameters: params))
                }
            }
            for rule in target.accessRules {
                switch rule {
                case .initiatorName(let name):
                    entry.nodeACLs.append(
                        NodeACLConfiguration(initiatorName: name, auth: settings.aclAuth[name.lowercased()] ?? CHAPCredentials()))
                default: entry.addressRules.append(rule.description)
                }
            }
            let binding = daemon.accounts.binding(tid: target.tid)
            entry.incomingUsers = binding.incoming
            entry.outgoingUser = binding.outgoing
            configuration.targets.append(entry)
        }
        return configuration
    }

    /// Saves the running configuration; a failure is logged, the change itself stands.
    func save() {
        guard !isReplaying else { return }
        do {
            try store.save(capture())
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
