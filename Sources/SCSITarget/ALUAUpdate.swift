import SCSIProtocol

/// Target port groups as the administrator sets them (tgtadm, targetcli, a restored config).
extension SCSITargetDevice {
    /// Gives `lun` these target port groups (empty: no ALUA). A change of a group's state is an
    /// implicit transition (STATUS CODE 2) and every I_T nexus that knows the unit gets
    /// ASYMMETRIC ACCESS STATE CHANGED; a change to what INQUIRY shows (TPGS, which port is in
    /// which group) gives INQUIRY DATA HAS CHANGED. False if there is no such unit.
    @discardableResult
    public func setALUA(lun: UInt64, _ configuration: ALUAConfiguration) -> Bool {
        lock.withLock {
            guard let unit = unitLocked(lun) else { return false }
            let old = unit.profile
            guard old.alua != configuration else { return true }
            let oldStates = old.alua.statesByGroup
            let status = configuration.groups.enumerated().map { index, group -> UInt8 in
                guard let previous = old.alua.groups.firstIndex(where: { $0.id == group.id }) else {
                    return TargetPortGroupsData.StatusCode.none
                }
                return old.alua.groups[previous].state == group.state
                    ? old.aluaStatus[previous] : TargetPortGroupsData.StatusCode.changedImplicitly
            }
            unit.replaceTargetPortGroups(configuration, status: status)
            if !old.alua.groups.isEmpty, !configuration.groups.isEmpty, oldStates != configuration.statesByGroup {
                unit.postAttention(.asymmetricAccessStateChanged)
            }
            if old.alua.targetPortGroupSupport != configuration.targetPortGroupSupport
                || old.alua.membership != configuration.membership
            {
                unit.postAttention(.inquiryDataHasChanged)
            }
            return true
        }
    }

    /// The unit's target port groups with their current states (after any SET TARGET PORT
    /// GROUPS); nil if there is no such unit.
    public func aluaConfiguration(lun: UInt64) -> ALUAConfiguration? {
        lock.withLock { unitLocked(lun)?.profile.alua }
    }
}

extension LogicalUnit {
    /// Caller holds the lock. Same options, new groups.
    func replaceTargetPortGroups(_ configuration: ALUAConfiguration, status: [UInt8]) {
        profile = LogicalUnitProfile(
            lun: lun, targetID: targetID, deviceType: deviceType, blockSize: blockSize, options: profile.options,
            deallocation: deallocation, alua: configuration, aluaStatus: status)
    }

    /// Caller holds the lock. The target ports of the nexuses this unit knows.
    var knownTargetPorts: Set<UInt16> { Set(nexuses.map(\.targetPort)) }
}

extension ALUAConfiguration {
    /// Each group's state, the first group of an ID winning.
    var statesByGroup: [UInt16: ALUAState] {
        groups.reduce(into: [:]) { states, group in
            if states[group.id] == nil { states[group.id] = group.state }
        }
    }

    /// Group IDs and their ports: what VPD 0x83 and REPORT TARGET PORT GROUPS show apart from states.
    var membership: [[UInt16]] { groups.map { [$0.id] + $0.ports } }
}
