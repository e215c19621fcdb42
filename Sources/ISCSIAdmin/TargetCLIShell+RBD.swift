/// `/backstores/user:rbd create name=NAME size=SIZE cfgstring=POOL/IMAGE[;conf=...;id=...]`, as
/// ceph-iscsi drives TCMU's rbd handler through targetcli.
extension TargetCLIShell {
    func createRBD(_ tree: TargetCLITree, _ arguments: [String]) throws {
        let args = try Self.bind(arguments, to: ["name", "size", "cfgstring", "wwn", "hw_max_sectors", "control"], command: "create")
        guard let name = args["name"], let sizeText = args["size"], let configString = args["cfgstring"] else {
            throw TargetCLIError("Missing required parameters name, size, cfgstring")
        }
        guard let size = TargetCLISize.parse(sizeText) else { throw TargetCLIError("Invalid size \(sizeText)") }
        if args["hw_max_sectors"] != nil || args["control"] != nil {
            throw TargetCLIError("hw_max_sectors and control are TCMU settings this daemon does not have")
        }
        try Self.checkNewObject(tree, name)
        let (path, options) = StorageObjectConfiguration.rbdLocation(configString: configString)
        var object = StorageObjectConfiguration(name: name, kind: .rbd, path: path)
        object.bsOptions = options
        object.serial = args["wwn"]
        try send(object.creationRequest)
        // TCMU's rbd handler refuses a size other than the image's; so does this one, once the
        // image is open and its size known.
        let created = try loadTree().configuration.storageObject(named: name)
        if let actual = created?.size, actual != size {
            _ = try? send(AdminRequest(mode: .storageObject, op: .delete, storageObject: name))
            throw TargetCLIError("size \(sizeText) (\(size) bytes) disagrees with RBD image \(path): \(actual) bytes")
        }
        try addDefaultALUAGroup(object: name)
        output("Created user-backed storage object \(name) size \(size).\n")
    }
}
