import Backstore
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
            ownership = try image.enableLockOwnership(
                tags: Self.tagList(ownTags), eventLoop: daemon.group.next()
            ) { [weak self] state in
                self?.ownershipChanged(object: object, state: state)
            }
        } catch {
            daemon.logger.warning("RBD image \(image.location.path): no lock ownership: \(error)")
            return alua
        }
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

    private func ownershipChanged(object: String, state: RBDLockOwnership.State) {
        daemon.logger.info("storage object \(object): RBD lock \(Self.describe(state))")
        modelLock.withLock {
            for (tid, _) in daemon.model.mappings(of: object) { applyALUA(tid: tid) }
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
