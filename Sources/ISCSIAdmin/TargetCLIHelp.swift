/// targetcli's `help` and `help COMMAND`: the commands of a node with their parameters, as
/// targetcli-fb lists them, in this project's words.
enum TargetCLIHelp {
    struct Command {
        var syntax: String
        var description: String
    }

    /// The commands every node has.
    static let common: [String: Command] = [
        "cd": Command(syntax: "cd [path]", description: "Go to another node: an absolute path, a relative one, or .."),
        "clearconfig": Command(
            syntax: "clearconfig [confirm]", description: "Delete every target and storage object (confirm=True is required)."),
        "exit": Command(syntax: "exit", description: "Leave the shell (saving the configuration when auto_save_on_exit is set)."),
        "get": Command(
            syntax: "get [group] [parameter...]",
            description: "Show a configuration group of this node (global everywhere; alua, attribute, auth, discovery_auth where they exist)."),
        "help": Command(syntax: "help [topic]", description: "List this node's commands, or describe one."),
        "info": Command(syntax: "info", description: "Show what this node is."),
        "ls": Command(syntax: "ls [path] [depth]", description: "Show the tree below a node."),
        "pwd": Command(syntax: "pwd", description: "Show the current path."),
        "refresh": Command(syntax: "refresh", description: "Read the tree again (every command already does)."),
        "restoreconfig": Command(
            syntax: "restoreconfig [savefile] [clear_existing] [target] [storage_object]",
            description: "Build the configuration saved in savefile (default /etc/target/saveconfig.json)."),
        "saveconfig": Command(
            syntax: "saveconfig [savefile]", description: "Save the configuration as LIO's saveconfig.json (default /etc/target/saveconfig.json)."),
        "set": Command(syntax: "set [group] [parameter=value...]", description: "Change parameters of a configuration group."),
        "status": Command(syntax: "status", description: "Show the node's status."),
        "version": Command(syntax: "version", description: "Show targetcli's version."),
    ]

    /// Every backstore group deletes alike (a file or device behind the object is kept).
    private static let deleteObject = Command(
        syntax: "delete name [save]", description: "Delete a storage object and the LUNs that map it; its file or device is kept.")

    /// The create and delete commands of the nodes that have them.
    static func specific(_ node: TargetCLINode) -> [String: Command] {
        switch node {
        case .backstoreGroup("fileio"):
            return [
                "create": Command(
                    syntax: "create name file_or_dev [size] [write_back] [sparse] [wwn]",
                    description: "Create a fileio storage object on a file (made with size if it does not exist)."),
                "delete": deleteObject,
            ]
        case .backstoreGroup("block"):
            return [
                "create": Command(syntax: "create name dev [readonly] [wwn]", description: "Create a block storage object on a block device."),
                "delete": deleteObject,
            ]
        case .backstoreGroup("ramdisk"):
            return ["create": Command(syntax: "create name size [nullio] [wwn]", description: "Create a storage object in memory."), "delete": deleteObject]
        case .backstoreGroup("user:rbd"):
            return [
                "create": Command(
                    syntax: "create name size cfgstring [wwn]",
                    description: "Serve a Ceph RBD image; cfgstring is pool/image[;conf=FILE;id=USER], size the image's."),
                "delete": deleteObject,
            ]
        case .aluaGroups:
            return [
                "create": Command(
                    syntax: "create name tag", description: "Create an ALUA target port group (Active/optimized) with id tag."),
                "delete": Command(syntax: "delete name", description: "Delete an ALUA group; LUNs in it go back to the first group."),
            ]
        case .target:
            return [
                "create": Command(syntax: "create [tag]", description: "Create a TPG (the next free tag without one); it shares the target's LUNs and ACL."),
                "delete": Command(syntax: "delete tag", description: "Delete a TPG: the target is no longer served through its portals."),
            ]
        case .iscsi:
            return [
                "create": Command(syntax: "create [wwn]", description: "Create a target (a generated IQN without wwn) with its TPG 1."),
                "delete": Command(syntax: "delete wwn", description: "Delete a target."),
            ]
        case .luns:
            return [
                "create": Command(
                    syntax: "create storage_object [lun] [add_mapped_luns]", description: "Map a storage object as a LUN."),
                "delete": Command(syntax: "delete lun", description: "Remove a LUN."),
            ]
        case .acls:
            return [
                "create": Command(syntax: "create wwn [add_mapped_luns]", description: "Allow an initiator by name (a node ACL)."),
                "delete": Command(syntax: "delete wwn", description: "Remove a node ACL."),
            ]
        case .portals:
            return [
                "create": Command(syntax: "create [ip_address] [ip_port]", description: "Listen on another portal."),
                "delete": Command(syntax: "delete ip_address ip_port", description: "Stop listening on a portal."),
            ]
        default:
            return [:]
        }
    }

    static func text(for node: TargetCLINode, topic: String?) throws -> String {
        let commands = common.merging(specific(node)) { $1 }
        guard let topic else {
            return """
                GENERALITIES
                ============
                A shell over tgtd's configuration, as LIO's targetcli: go to a node with cd, look with ls,
                change it with the commands below. Parameters are given in order or as name=value.

                AVAILABLE COMMANDS
                ==================
                The following commands are available in the current path:

                \(commands.keys.sorted().map { "  - " + commands[$0]!.syntax }.joined(separator: "\n"))

                """
        }
        guard let command = commands[topic] else { throw TargetCLIError("No help topic \(topic) at \(node.path)") }
        return "SYNTAX\n======\n\(command.syntax)\n\nDESCRIPTION\n===========\n\(command.description)\n"
    }
}
