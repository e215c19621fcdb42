import Backstore
import Dispatch
import ISCSIAdmin
import SCSIProtocol
import SCSITarget

/// Several gateways serving one RBD image as one logical unit (ceph-iscsi's layout): each
/// gateway's portals form its own target port group, and the unit has one ALUA group per gateway.
/// Which group is active/optimized is not configured but follows the image's exclusive lock
/// (`RBDLockOwnership`): the gateway holding it reports its own group active/optimized and every
/// other one active/non-optimized; the others report the owner's group (from the tags it wrote
/// into the image's metadata) active/optimized and theirs non-optimized. A gateway whose client
/// was blocklisted reports its group standby. Writes reaching a gateway that is not the owner
/// (the initiators failed over), or SET TARGET PORT GROUPS making its group active/optimized, move
/// the lock there.
///
/// It applies to RBD units whose object has two or more ALUA groups; the model's group states
/// are then left as configured (they are not what the gateways report).
extension AdminControl {
    /// The ALUA view of an RBD unit served by several gateways; `alua` unchanged otherwise.
    func lockDrivenALUA(_ alua: ALUAConfiguration, store: Backstore?, object: String) -> ALUAConfiguration {
        guard let image = store as? RBDBackstore, alua.groups.count >= 2 else { return alua }
        let ownTags = Set(daemon.server.taggedPortals.map(\.tag))
        let ownership: RBDLockOwnership
        do {
            let server = daemon.server
            ownership = try image.enableLockOwnership(
                tags: { Self.tagList(Set(server.taggedPortals.map(\.tag))) }, eventLoop: daemon.group.next()
            ) { [weak self] state in
                self?.ownershipChanged(object: object, state: state)
            }
        } catch {
            daemon.logger.warning("RBD image \(image.location.path): no lock ownership: \(error)")
            return alua
        }
        ownership.republishIfNeeded()
        let state = ownership.state
        var leaders: Set<UInt16>
        switch state {
        case .owner: leaders = ownTags
        case .other(let tags): leaders = Self.tags(parsing: tags)
        case .fenced: leaders = []
        }
        var result = alua
        for index in result.groups.indices {
            let members = Self.members(of: index, in: result)
            if !members.isDisjoint(with: leaders) {
                result.groups[index].state = .activeOptimized
            } else if state == .fenced, !members.isDisjoint(with: ownTags) {
                result.groups[index].state = .standby
            } else {
                result.groups[index].state = .activeNonOptimized
            }
        }
        return result
    }

    /// SET TARGET PORT GROUPS on a lock-driven unit: making this gateway's group active/optimized
    /// takes the lock over; anything else is left to the lock. True when the unit is lock-driven
    /// (the model is then not changed).
    func lockDrivenSetTargetPortGroups(tid: Int, lun: UInt64, groupID: UInt16, state: ALUAState) -> Bool {
        guard let target = daemon.registry.target(tid: tid),
            let image = target.device.backstore(of: lun) as? RBDBackstore, let ownership = image.lockOwnership
        else { return false }
        let ownTags = Set(daemon.server.taggedPortals.map(\.tag))
        let alua = daemon.model.target(tid: tid).flatMap { configuration -> ALUAConfiguration? in
            guard let lunConfiguration = configuration.luns.first(where: { $0.lun == lun }),
                let object = daemon.model.storageObject(named: lunConfiguration.storageObject)
            else { return nil }
            let tags = daemon.model.portalGroups(of: configuration, defaultTags: Array(ownTags))
            return Self.aluaConfiguration(of: lunConfiguration, object: object, ports: tags)
        }
        if state == .activeOptimized, let alua, let index = alua.groups.firstIndex(where: { $0.id == groupID }),
            !Self.members(of: index, in: alua).isDisjoint(with: ownTags)
        {
            let logger = daemon.logger
            let path = image.location.path
            ownership.takeOver(on: daemon.group.next()).whenFailure { error in
                logger.warning("SET TARGET PORT GROUPS: \(error) (RBD image \(path))")
            }
        }
        applyALUA(tid: tid)  // undo what the engine set: the lock decides
        return true
    }

    /// Called on the lock's thread, which must never wait for the model lock (an admin request
    /// holding it may be closing that very store, waiting for the thread): moves to a queue.
    private func ownershipChanged(object: String, state: RBDLockOwnership.State) {
        daemon.logger.info("storage object \(object): RBD lock \(Self.describe(state))")
        DispatchQueue.global().async { [weak self] in
            guard let self else { return }
            self.modelLock.withLock {
                for (tid, _) in self.daemon.model.mappings(of: object) { self.applyALUA(tid: tid) }
            }
            if state == .fenced { self.reopenFenced(object: object, attempt: 1) }
        }
    }

    /// Attempts and their delays (1, 2, 4 ... 30 s) before a fenced gateway gives up reopening
    /// its image: re-adding the LU or a restart serves it again then.
    static let reopenAttempts = 8

    /// A blocklisted client can do nothing more: reopen the image with a new client and serve
    /// every mapping of the object from it (non-optimized: another gateway holds the lock).
    private func reopenFenced(object: String, attempt: Int) {
        let delay = min(30.0, Double(1 << min(attempt - 1, 5)))
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [weak self] in
            guard let self else { return }
            let found: (RBDBackstore, [(tid: Int, lun: UInt64)])? = self.modelLock.withLock {
                let mappings = self.daemon.model.mappings(of: object).map { ($0.tid, $0.lun.lun) }
                guard let first = mappings.first,
                    let store = self.daemon.registry.target(tid: first.0)?.device.backstore(of: first.1) as? RBDBackstore,
                    store.lockOwnership?.state == .fenced
                else { return nil }
                return (store, mappings)
            }
            guard let (old, mappings) = found else { return }
            let fresh: RBDBackstore
            do {
                fresh = try RBDBackstore.open(old.location)
            } catch {
                if attempt < Self.reopenAttempts {
                    self.daemon.logger.warning("storage object \(object): reopening RBD image \(old.location.path) (attempt \(attempt)): \(error)")
                    self.reopenFenced(object: object, attempt: attempt + 1)
                } else {
                    self.daemon.logger.error("storage object \(object): gave up reopening RBD image \(old.location.path) after \(attempt) attempts: \(error); re-add the LU or restart")
                }
                return
            }
            self.modelLock.withLock {
                for (tid, lun) in mappings {
                    _ = try? self.daemon.registry.target(tid: tid)?.device.replaceBackstore(lun, with: fresh)
                }
                if self.daemon.namedStores[object] === old { self.daemon.namedStores[object] = fresh }
                for (tid, _) in mappings { self.applyALUA(tid: tid) }
            }
            try? old.close()
            self.daemon.logger.info("storage object \(object): RBD image \(old.location.path) reopened with a new client")
        }
    }

    /// The ports (TPG tags) of group `index`: `aluaConfiguration` lists every port of the target
    /// in the group its LUN mapping names.
    private static func members(of index: Int, in alua: ALUAConfiguration) -> Set<UInt16> {
        Set(alua.groups[index].ports)
    }

    static func tagList(_ tags: Set<UInt16>) -> String { tags.sorted().map(String.init).joined(separator: ",") }

    static func tags(parsing text: String?) -> Set<UInt16> {
        Set((text ?? "").split(separator: ",").compactMap { UInt16($0) })
    }

    private static func describe(_ state: RBDLockOwnership.State) -> String {
        switch state {
        case .owner: return "held by this gateway"
        case .other(let tags): return "held elsewhere (port groups \(tags ?? "unknown"))"
        case .fenced: return "lost: this gateway was blocklisted"
        }
    }
}
