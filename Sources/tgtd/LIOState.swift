import Backstore
import ISCSIAdmin

/// LIO's named storage objects: open once, mapped as LUNs by any number of targets.
/// Used only from the control thread (and start-up, before it runs).
final class StorageObjectTable: @unchecked Sendable {
    struct Mapping: Equatable {
        var tid: Int
        var lun: UInt64
    }

    struct Entry {
        var configuration: StorageObjectConfiguration
        let store: Backstore
        var mappings: [Mapping] = []
    }

    /// In creation order.
    private(set) var entries: [Entry] = []

    func entry(named name: String) -> Entry? { entries.first { $0.configuration.name == name } }

    /// The object mapped at this LUN, if the LUN came from a named object.
    func owner(tid: Int, lun: UInt64) -> String? {
        entries.first { $0.mappings.contains(Mapping(tid: tid, lun: lun)) }?.configuration.name
    }

    func add(_ entry: Entry) { entries.append(entry) }

    func remove(named name: String) -> Entry? {
        guard let index = entries.firstIndex(where: { $0.configuration.name == name }) else { return nil }
        return entries.remove(at: index)
    }

    func map(_ name: String, _ mapping: Mapping) {
        if let index = entries.firstIndex(where: { $0.configuration.name == name }) {
            entries[index].mappings.append(mapping)
        }
    }

    func unmap(_ mapping: Mapping) {
        for index in entries.indices { entries[index].mappings.removeAll { $0 == mapping } }
    }

    func unmapTarget(tid: Int) {
        for index in entries.indices { entries[index].mappings.removeAll { $0.tid == tid } }
    }
}

/// LIO's per-TPG settings that tgt has no notion of: attributes, TPG-wide CHAP, node-ACL CHAP.
final class TPGSettingsBook: @unchecked Sendable {
    struct Settings: Equatable {
        var authentication: Bool?
        var generateNodeACLs = false
        var tpgAuth = CHAPCredentials()
        /// Keyed by lower-cased initiator name.
        var aclAuth: [String: CHAPCredentials] = [:]
    }

    private var byTID: [Int: Settings] = [:]

    func settings(tid: Int) -> Settings { byTID[tid] ?? Settings() }
    func update(tid: Int, _ change: (inout Settings) -> Void) {
        var settings = byTID[tid] ?? Settings()
        change(&settings)
        byTID[tid] = settings
    }
    func forget(tid: Int) { byTID[tid] = nil }
}

extension CHAPCredentials {
    /// Applies an update: nil leaves a field, "" clears it.
    mutating func apply(_ request: AdminRequest) {
        func merge(_ old: String?, _ new: String?) -> String? {
            guard let new else { return old }
            return new.isEmpty ? nil : new
        }
        userID = merge(userID, request.user)
        password = merge(password, request.password)
        mutualUserID = merge(mutualUserID, request.mutualUser)
        mutualPassword = merge(mutualPassword, request.mutualPassword)
    }
}
