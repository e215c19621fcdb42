import SCSIProtocol

/// One ALUA target port group of a storage object, as LIO keeps it under
/// `/backstores/TYPE/NAME/alua/NAME`: the TARGET PORT GROUP number, its asymmetric access
/// state, the transitions it allows and the PREF bit. Numbers are LIO's configfs values.
public struct ALUAGroupConfiguration: Codable, Equatable, Sendable {
    /// LIO's alua_access_state values are SPC-4's asymmetric access states.
    public typealias State = ALUAState

    /// LIO's alua_access_type: which transitions the group allows.
    public enum AccessType: Int, Codable, Sendable {
        case none = 0
        case implicit = 1
        case explicit = 2
        case implicitAndExplicit = 3

        public var implicit: Bool { self == .implicit || self == .implicitAndExplicit }
        public var explicit: Bool { self == .explicit || self == .implicitAndExplicit }
    }

    /// LIO's default group, which every new LIO storage object has.
    public static let defaultName = "default_tg_pt_gp"

    public var name: String
    /// TARGET PORT GROUP (LIO's tg_pt_gp_id).
    public var id: UInt16
    public var state = State.activeOptimized
    public var accessType = AccessType.implicitAndExplicit
    public var preferred = false

    public init(
        name: String, id: UInt16, state: State = .activeOptimized, accessType: AccessType = .implicitAndExplicit,
        preferred: Bool = false
    ) {
        self.name = name
        self.id = id
        self.state = state
        self.accessType = accessType
        self.preferred = preferred
    }

    public static var lioDefault: ALUAGroupConfiguration { ALUAGroupConfiguration(name: defaultName, id: 0) }
}

extension ALUAState {
    /// Names accepted besides the numbers: LIO's short ones (ao, an, s, u, o, t) and
    /// multipath-tools' words. LBA dependent is not one LIO takes.
    public init?(name: String) {
        switch name.lowercased() {
        case "0", "ao", "active", "active/optimized", "active_optimized", "optimized": self = .activeOptimized
        case "1", "an", "ano", "active/non-optimized", "active_nonoptimized", "nonoptimized", "non-optimized":
            self = .activeNonOptimized
        case "2", "s", "standby": self = .standby
        case "3", "u", "unavailable": self = .unavailable
        case "14", "o", "offline": self = .offline
        case "15", "t", "transitioning": self = .transitioning
        default: return nil
        }
    }

    /// As targetcli's `ls` names it.
    public var lioName: String {
        switch self {
        case .activeOptimized: return "Active/optimized"
        case .activeNonOptimized: return "Active/non-optimized"
        case .standby: return "Standby"
        case .unavailable: return "Unavailable"
        case .logicalBlockDependent: return "LBA Dependent"
        case .offline: return "Offline"
        case .transitioning: return "Transitioning"
        }
    }
}

/// Which ALUA group a LUN belongs to in one target portal group.
public struct ALUAMembership: Codable, Equatable, Sendable {
    public var portalGroup: UInt16
    public var group: String

    public init(portalGroup: UInt16, group: String) {
        self.portalGroup = portalGroup
        self.group = group
    }
}

extension LUNConfiguration {
    /// The name of the ALUA group this LUN uses in `portalGroup`, or nil for the object's first.
    public func aluaGroup(inPortalGroup portalGroup: UInt16) -> String? {
        aluaMembership?.first { $0.portalGroup == portalGroup }?.group
    }

    public mutating func setALUAGroup(_ group: String?, inPortalGroup portalGroup: UInt16) {
        var members = aluaMembership ?? []
        members.removeAll { $0.portalGroup == portalGroup }
        if let group { members.append(ALUAMembership(portalGroup: portalGroup, group: group)) }
        members.sort { $0.portalGroup < $1.portalGroup }
        aluaMembership = members.isEmpty ? nil : members
    }
}

extension DaemonConfiguration {
    /// The target portal groups `target` is served through: its own list, else every tag that
    /// has a portal (tgt's way), `defaultTags` standing for portals given on tgtd's command line.
    public func portalGroups(of target: TargetConfiguration, defaultTags: [UInt16] = [1]) -> [UInt16] {
        if let own = target.portalGroups { return own.sorted() }
        return Array(Set(portals.map(\.tag) + defaultTags)).sorted()
    }
}
