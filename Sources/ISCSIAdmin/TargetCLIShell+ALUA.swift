/// targetcli's ALUA commands: groups under `/backstores/TYPE/NAME/alua` and the group a TPG's
/// LUN uses (`set alua alua_tg_pt_gp_name=NAME`).
extension TargetCLIShell {
    /// Every LIO storage object starts with `default_tg_pt_gp` (id 0, Active/optimized).
    func addDefaultALUAGroup(object: String) throws {
        try send(
            AdminRequest(
                mode: .storageObject, op: .update, name: "alua_create", value: "\(ALUAGroupConfiguration.defaultName):0",
                storageObject: object))
    }

    func createALUAGroup(object: String, _ arguments: [String]) throws {
        let args = try Self.bind(arguments, to: ["name", "tag"], command: "create")
        guard let name = args["name"], let tagText = args["tag"] else { throw TargetCLIError("Missing required parameters name, tag") }
        guard let tag = UInt16(tagText), tag > 0 else { throw TargetCLIError("Invalid tag \(tagText): 1 to 65535") }
        try send(AdminRequest(mode: .storageObject, op: .update, name: "alua_create", value: "\(name):\(tag)", storageObject: object))
        output("Created ALUA TPG \(name).\n")
    }

    func deleteALUAGroup(object: String, _ arguments: [String]) throws {
        let args = try Self.bind(arguments, to: ["name"], command: "delete")
        guard let name = args["name"] else { throw TargetCLIError("Missing required parameter name") }
        try send(AdminRequest(mode: .storageObject, op: .update, name: "alua_delete", value: name, storageObject: object))
        output("Deleted ALUA TPG \(name).\n")
    }

    /// The `alua` configuration group of an ALUA group or a TPG's LUN.
    func aluaValues(_ tree: TargetCLITree, _ node: TargetCLINode) -> [(String, String)]? {
        switch node {
        case .aluaGroup(_, let object, let name):
            guard let group = tree.aluaGroup(object: object, name) else { return nil }
            let members = tree.configuration.targets.flatMap { target in
                target.luns.filter { $0.storageObject == object }.flatMap { lun in
                    tree.configuration.portalGroups(of: target).filter { tag in
                        tree.aluaGroupName(of: lun, in: tag, object: tree.configuration.storageObject(named: object)!) == name
                    }.map { "iscsi/\(target.name)/tpgt_\($0)/lun_\(lun.lun)" }
                }
            }
            return [
                ("alua_access_state", String(group.state.rawValue)), ("alua_access_type", String(group.accessType.rawValue)),
                ("members", members.joined(separator: " ")), ("preferred", group.preferred ? "1" : "0"),
                ("tg_pt_gp_id", String(group.id)),
            ]
        case .lun(let tpg, let number):
            guard let lun = tree.luns(tpg.wwn).first(where: { $0.lun == number }),
                let object = tree.configuration.storageObject(named: lun.storageObject)
            else { return nil }
            return [("alua_tg_pt_gp_name", tree.aluaGroupName(of: lun, in: tpg.tag, object: object))]
        default:
            return nil
        }
    }

    func setALUA(_ tree: TargetCLITree, _ node: TargetCLINode, _ pairs: [(String, String)]) throws {
        for (key, value) in pairs {
            switch node {
            case .aluaGroup(_, let object, let name):
                guard ["alua_access_state", "alua_access_type", "preferred"].contains(key) else {
                    if key == "tg_pt_gp_id" || key == "members" { throw TargetCLIError("Parameter \(key) is read-only") }
                    throw TargetCLIError("Unknown alua parameter: \(key) (alua_access_state, alua_access_type, preferred)")
                }
                try send(AdminRequest(mode: .storageObject, op: .update, name: "alua:\(name):\(key)", value: value, storageObject: object))
            case .lun(let tpg, let number):
                guard key == "alua_tg_pt_gp_name" else { throw TargetCLIError("Unknown alua parameter: \(key) (alua_tg_pt_gp_name)") }
                try send(
                    AdminRequest(
                        mode: .logicalUnit, op: .update, tid: try tid(tree, tpg.wwn), lun: number,
                        params: "alua_tg_pt_gp=\(tpg.tag):\(value)"))
            default:
                throw TargetCLIError("Unknown configuration group: alua")
            }
            output("Parameter \(key) is now '\(value)'.\n")
        }
    }
}
