import SCSIProtocol

/// The SCSI target port a nexus came through (an iSCSI target portal group of one target).
public struct TargetPort: Hashable, Sendable {
    /// RELATIVE TARGET PORT IDENTIFIER; the iSCSI TPGT (tag).
    public var relativeID: UInt16
    /// SCSI target port name, "iqn...,t,0x0001" (RFC 7143 / SPC-4 iSCSI); "" reports none.
    public var name: String
    public init(relativeID: UInt16 = 1, name: String = "") {
        self.relativeID = relativeID
        self.name = name
    }
}

/// One target port group of a logical unit (LIO's tg_pt_gp).
public struct ALUAGroup: Sendable, Equatable, Codable {
    /// TARGET PORT GROUP (LIO's tg_pt_gp_id).
    public var id: UInt16
    public var state: ALUAState
    /// PREF bit: the preferred group for this logical unit.
    public var preferred: Bool
    /// Access type: implicit transitions allowed (TPGS bit 0).
    public var implicit: Bool
    /// SET TARGET PORT GROUPS allowed (TPGS bit 1).
    public var explicit: Bool
    /// Relative target port IDs that are members. A port listed nowhere belongs to the first
    /// group; a port listed twice belongs to the first group that lists it.
    public var ports: [UInt16]

    public init(
        id: UInt16, state: ALUAState = .activeOptimized, preferred: Bool = false, implicit: Bool = true,
        explicit: Bool = false, ports: [UInt16] = []
    ) {
        self.id = id
        self.state = state
        self.preferred = preferred
        self.implicit = implicit
        self.explicit = explicit
        self.ports = ports
    }
}

/// The target port groups of one logical unit.
public struct ALUAConfiguration: Sendable, Equatable, Codable {
    /// Empty = no ALUA: TPGS 0 in INQUIRY, exactly today's tgt-identical behaviour.
    public var groups: [ALUAGroup]

    public init(groups: [ALUAGroup] = []) {
        self.groups = groups
    }

    /// What an administrator should be told before applying this, or nil: a group ID used
    /// twice, a port in two groups. (Applied anyway, the first of each wins.)
    public var inconsistency: String? {
        var ids = Set<UInt16>()
        var ports = Set<UInt16>()
        for group in groups {
            if !ids.insert(group.id).inserted { return "target port group \(group.id) is defined twice" }
            for port in Set(group.ports) where !ports.insert(port).inserted {
                return "target port \(port) is in more than one target port group"
            }
        }
        return nil
    }

    /// The index of the group `port` belongs to; nil without groups.
    func groupIndex(of port: UInt16) -> Int? {
        guard !groups.isEmpty else { return nil }
        return groups.firstIndex { $0.ports.contains(port) } ?? 0
    }

    /// TPGS of the standard INQUIRY data: OR of every group's access types.
    var targetPortGroupSupport: UInt8 {
        groups.reduce(0) { $0 | ($1.implicit ? 0x01 : 0) | ($1.explicit ? 0x02 : 0) }
    }

    var allowsExplicit: Bool { groups.contains { $0.explicit } }
}
