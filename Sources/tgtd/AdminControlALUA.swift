import ISCSIAdmin
import ISCSITarget
import SCSIProtocol
import SCSITarget

/// The model's ALUA groups brought to the running units, and initiators' SET TARGET PORT GROUPS
/// brought back to the model.
extension AdminControl {
    /// Pushes the ALUA groups of every unit of `tid` from the model to the running target. Each
    /// target portal group of the target is one SCSI target port (relative port ID = its tag).
    func applyALUA(tid: Int) {
        guard let target = daemon.registry.target(tid: tid), let configuration = daemon.model.target(tid: tid) else { return }
        let tags = daemon.model.portalGroups(of: configuration, defaultTags: daemon.server.taggedPortals.map(\.tag))
        for lun in configuration.luns where lun.lun != 0 {
            guard let object = daemon.model.storageObject(named: lun.storageObject) else { continue }
            let alua = lockDrivenALUA(
                Self.aluaConfiguration(of: lun, object: object, ports: tags), store: target.device.backstore(of: lun.lun),
                object: object.name)
            target.device.setALUA(lun: lun.lun, alua)
        }
    }

    func applyALUAEverywhere() {
        for target in daemon.model.targets { applyALUA(tid: target.tid) }
    }

    /// The engine's view of one unit's groups: each group with the ports (TPG tags) whose LUN
    /// mapping uses it; groups no port uses are left out (LIO lists only groups with members).
    static func aluaConfiguration(of lun: LUNConfiguration, object: StorageObjectConfiguration, ports: [UInt16]) -> ALUAConfiguration {
        guard let groups = object.aluaGroups, let first = groups.first else { return ALUAConfiguration() }
        let engineGroups = groups.compactMap { group -> ALUAGroup? in
            let members = ports.filter { (lun.aluaGroup(inPortalGroup: $0) ?? first.name) == group.name }
            guard !members.isEmpty || group.name == first.name else { return nil }
            return ALUAGroup(
                id: group.id, state: group.state,
                preferred: group.preferred, implicit: group.accessType.implicit, explicit: group.accessType.explicit,
                ports: members)
        }
        return ALUAConfiguration(groups: engineGroups)
    }

    /// An initiator moved a group with SET TARGET PORT GROUPS: the model follows (and is saved),
    /// and every other unit of the same storage object with it.
    func aluaChangedByInitiator(tid: Int, lun: UInt64, groupID: UInt16, state: ALUAState) {
        modelLock.withLock {
            if lockDrivenSetTargetPortGroups(tid: tid, lun: lun, groupID: groupID, state: state) { return }
            guard let objectName = daemon.model.target(tid: tid)?.luns.first(where: { $0.lun == lun })?.storageObject,
                let object = daemon.model.storageObject(named: objectName),
                let group = object.aluaGroups?.first(where: { $0.id == groupID })
            else { return }
            do {
                try daemon.model.setALUAGroupAttribute(
                    object: objectName, group: group.name, key: "alua_access_state", value: String(state.rawValue))
            } catch {
                daemon.logger.warning("SET TARGET PORT GROUPS of target \(tid) LUN \(lun): \(error)")
                return
            }
            daemon.logger.info("target \(tid) LUN \(lun): ALUA group \(group.name) is now \(state) (SET TARGET PORT GROUPS)")
            for (other, _) in daemon.model.mappings(of: objectName) { applyALUA(tid: other) }
            daemon.persistence.save()
        }
    }
}
