/// ALUA edits of the one model: LIO's groups under a storage object, the group a LUN uses in
/// each target portal group, and tgt-style LU parameters that say the same per portal group.
extension DaemonConfiguration {
    /// The LU parameters (ours, tgt's `--params` style) that edit ALUA rather than the unit:
    /// `alua=0|1`, `alua_state=TPG:STATE`, `alua_preferred=TPG:0|1`,
    /// `alua_access_type=TPG:implicit|explicit|both|none`, `alua_tg_pt_gp=TPG:GROUP`.
    public static let aluaParameterKeys: Set<String> = [
        "alua", "alua_state", "alua_preferred", "alua_access_type", "alua_tg_pt_gp",
    ]

    private func objectIndex(_ name: String) throws(AdminRefusal) -> Int {
        guard let index = storageObjects.firstIndex(where: { $0.name == name }) else {
            throw AdminRefusal("No storage object named \(name)")
        }
        return index
    }

    /// LIO's `alua create NAME TAG`: a new group, in Active/Optimized state.
    public mutating func createALUAGroup(object: String, name: String, id: UInt16) throws(AdminRefusal) {
        let index = try objectIndex(object)
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }) else {
            throw AdminRefusal("invalid ALUA group name \(name): letters, digits, _ - . only")
        }
        var groups = storageObjects[index].aluaGroups ?? []
        if groups.contains(where: { $0.name == name }) { throw AdminRefusal("ALUA group \(name) of \(object) already exists") }
        if let other = groups.first(where: { $0.id == id }) {
            throw AdminRefusal("ALUA group id \(id) of \(object) is taken by \(other.name)")
        }
        groups.append(ALUAGroupConfiguration(name: name, id: id))
        storageObjects[index].aluaGroups = groups
    }

    /// LIO's `alua delete NAME`: LUNs that used it go back to the object's first group.
    public mutating func deleteALUAGroup(object: String, name: String) throws(AdminRefusal) {
        let index = try objectIndex(object)
        guard name != ALUAGroupConfiguration.defaultName else { throw AdminRefusal("\(name) cannot be deleted") }
        guard storageObjects[index].aluaGroups?.contains(where: { $0.name == name }) == true else {
            throw AdminRefusal("Invalid ALUA group name \(name)")
        }
        storageObjects[index].aluaGroups?.removeAll { $0.name == name }
        if storageObjects[index].aluaGroups?.isEmpty == true { storageObjects[index].aluaGroups = nil }
        forEachLUN(mapping: object) { lun in
            for member in lun.aluaMembership ?? [] where member.group == name {
                lun.setALUAGroup(nil, inPortalGroup: member.portalGroup)
            }
        }
    }

    /// LIO's `set alua KEY=VALUE` on a group: alua_access_state, alua_access_type, preferred,
    /// tg_pt_gp_id.
    public mutating func setALUAGroupAttribute(object: String, group: String, key: String, value: String) throws(AdminRefusal) {
        let index = try objectIndex(object)
        guard let position = storageObjects[index].aluaGroups?.firstIndex(where: { $0.name == group }) else {
            throw AdminRefusal("Invalid ALUA group name \(group)")
        }
        var entry = storageObjects[index].aluaGroups![position]
        switch key {
        case "alua_access_state":
            guard let state = ALUAGroupConfiguration.State(name: value) else {
                throw AdminRefusal("alua_access_state is 0 (Active/optimized), 1 (Active/non-optimized), 2 (Standby), 3 (Unavailable), 14 (Offline) or 15 (Transitioning), not \(value)")
            }
            entry.state = state
        case "alua_access_type":
            guard let type = Self.accessType(value) else {
                throw AdminRefusal("alua_access_type is 0 (None), 1 (Implicit), 2 (Explicit) or 3 (Implicit and Explicit), not \(value)")
            }
            entry.accessType = type
        case "preferred":
            guard value == "0" || value == "1" else { throw AdminRefusal("preferred takes 0 or 1, not \(value)") }
            entry.preferred = value == "1"
        case "tg_pt_gp_id":
            guard let id = UInt16(value), group == ALUAGroupConfiguration.defaultName || id > 0 else {
                throw AdminRefusal("tg_pt_gp_id is a number from 1 to 65535, not \(value)")
            }
            if let other = storageObjects[index].aluaGroups!.first(where: { $0.id == id && $0.name != group }) {
                throw AdminRefusal("ALUA group id \(id) of \(object) is taken by \(other.name)")
            }
            entry.id = id
        default:
            throw AdminRefusal("Unknown alua parameter \(key) (alua_access_state, alua_access_type, preferred, tg_pt_gp_id)")
        }
        storageObjects[index].aluaGroups![position] = entry
    }

    /// LIO's `set alua alua_tg_pt_gp_name=GROUP` on a TPG's LUN.
    public mutating func setLUNALUAGroup(tid: Int, lun: UInt64, portalGroup: UInt16, group: String) throws(AdminRefusal) {
        guard let targetIndex = targetIndex(tid: tid), let lunIndex = targets[targetIndex].luns.firstIndex(where: { $0.lun == lun })
        else { throw AdminRefusal("No LUN \(lun) in target \(tid)") }
        let objectName = targets[targetIndex].luns[lunIndex].storageObject
        guard let object = storageObject(named: objectName), object.aluaGroups?.contains(where: { $0.name == group }) == true
        else { throw AdminRefusal("No ALUA group \(group) in storage object \(objectName)") }
        let first = object.aluaGroups?.first?.name
        targets[targetIndex].luns[lunIndex].setALUAGroup(group == first ? nil : group, inPortalGroup: portalGroup)
    }

    /// Applies one of `aluaParameterKeys` to the unit `lun` of `tid`.
    public mutating func applyALUAParameter(tid: Int, lun: UInt64, key: String, value: String) throws(AdminRefusal) {
        guard let target = target(tid: tid), let unit = target.luns.first(where: { $0.lun == lun }) else {
            throw AdminRefusal("No LUN \(lun) in target \(tid)")
        }
        let object = unit.storageObject
        let index = try objectIndex(object)
        if key == "alua" {
            switch value {
            case "1":
                if storageObjects[index].aluaGroups?.isEmpty ?? true { storageObjects[index].aluaGroups = [.lioDefault] }
            case "0":
                storageObjects[index].aluaGroups = nil
                forEachLUN(mapping: object) { $0.aluaMembership = nil }
            default: throw AdminRefusal("alua takes 0 or 1, not \(value)")
            }
            return
        }
        let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let tag = UInt16(parts[0]), tag > 0 else {
            throw AdminRefusal("\(key) takes TPG:VALUE (a portal group tag from 1 to 65535, a colon, the value), not \(value)")
        }
        if key == "alua_tg_pt_gp" {
            return try setLUNALUAGroup(tid: tid, lun: lun, portalGroup: tag, group: parts[1])
        }
        // The group this LUN uses through `tag`; a portal group on the shared first group gets
        // its own, named tpgN, so that the change is about that portal group alone.
        if storageObjects[index].aluaGroups?.isEmpty ?? true { storageObjects[index].aluaGroups = [.lioDefault] }
        var group = unit.aluaGroup(inPortalGroup: tag)
        if group == nil {
            let name = "tpg\(tag)"
            let groups = storageObjects[index].aluaGroups!
            if !groups.contains(where: { $0.name == name }) {
                let used = Set(groups.map(\.id))
                let id = used.contains(tag) ? (1...UInt16.max).first { !used.contains($0) } ?? tag : tag
                try createALUAGroup(object: object, name: name, id: id)
            }
            try setLUNALUAGroup(tid: tid, lun: lun, portalGroup: tag, group: name)
            group = name
        }
        let attribute: String
        var setting = parts[1]
        switch key {
        case "alua_state": attribute = "alua_access_state"
        case "alua_preferred": attribute = "preferred"
        case "alua_access_type":
            attribute = "alua_access_type"
            setting = ["none": "0", "implicit": "1", "explicit": "2", "both": "3"][setting.lowercased()] ?? setting
        default: throw AdminRefusal("unknown ALUA parameter \(key)")
        }
        try setALUAGroupAttribute(object: object, group: group!, key: attribute, value: setting)
    }

    private static func accessType(_ value: String) -> ALUAGroupConfiguration.AccessType? {
        if let number = Int(value) { return ALUAGroupConfiguration.AccessType(rawValue: number) }
        return ["none": .none, "implicit": .implicit, "explicit": .explicit, "both": .implicitAndExplicit][value.lowercased()]
    }

    private mutating func forEachLUN(mapping object: String, _ change: (inout LUNConfiguration) -> Void) {
        for t in targets.indices {
            for l in targets[t].luns.indices where targets[t].luns[l].storageObject == object { change(&targets[t].luns[l]) }
        }
    }

    /// The requests that rebuild an object's ALUA groups (after the object exists).
    func aluaGroupRequests(of object: StorageObjectConfiguration) -> [AdminRequest] {
        var requests: [AdminRequest] = []
        for group in object.aluaGroups ?? [] {
            func set(_ key: String, _ value: String) {
                requests.append(
                    AdminRequest(mode: .storageObject, op: .update, name: "alua:\(group.name):\(key)", value: value, storageObject: object.name))
            }
            requests.append(
                AdminRequest(mode: .storageObject, op: .update, name: "alua_create", value: "\(group.name):\(group.id)", storageObject: object.name))
            set("alua_access_state", String(group.state.rawValue))
            set("alua_access_type", String(group.accessType.rawValue))
            set("preferred", group.preferred ? "1" : "0")
        }
        return requests
    }
}
