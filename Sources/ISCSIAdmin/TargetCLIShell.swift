import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// targetcli's command interpreter over the daemon: `[path] command [args] [key=value ...]`.
public final class TargetCLIShell {
    public typealias Backend = (AdminRequest) throws -> AdminResponse

    private let backend: Backend
    let output: (String) -> Void
    public private(set) var current: TargetCLINode = .root
    /// Where saveconfig/restoreconfig read and write without a file argument.
    public var defaultSaveFile = "/etc/target/saveconfig.json"
    /// `get/set global`; saved to `preferencesPath` when set.
    public var preferences = TargetCLIPreferences()
    public var preferencesPath: String?
    /// For generated IQNs: host name, machine and 12 hex digits.
    public var hostName: () -> String = TargetCLIShell.systemHostName
    public var machine: () -> String = TargetCLIShell.systemMachine
    public var serial: () -> String = {
        var generator = SystemRandomNumberGenerator()
        return (0..<12).map { _ in String(Int.random(in: 0..<16, using: &generator), radix: 16) }.joined()
    }

    public init(backend: @escaping Backend, output: @escaping (String) -> Void) {
        self.backend = backend
        self.output = output
    }

    /// The interactive prompt: `/> `, `/backstores/block> `, long paths shortened as LIO does.
    public var prompt: String {
        var path = current.path
        if path.count > 30 {
            let components = path.split(separator: "/").map(String.init)
            path = "/" + components.map { $0.count > 12 ? $0.prefix(5) + "..." + $0.suffix(3) : $0 }.joined(separator: "/")
        }
        return path + "> "
    }

    // MARK: Parsing

    /// Splits on blanks; single and double quotes group.
    public static func tokenize(_ line: String) throws -> [String] {
        var tokens: [String] = []
        var token = ""
        var inToken = false
        var quote: Character?
        for character in line {
            if let open = quote {
                if character == open { quote = nil } else { token.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
                inToken = true
            } else if character == " " || character == "\t" {
                if inToken { tokens.append(token) }
                token = ""
                inToken = false
            } else {
                token.append(character)
                inToken = true
            }
        }
        if quote != nil { throw TargetCLIError("Unterminated quote") }
        if inToken { tokens.append(token) }
        return tokens
    }

    static func looksLikePath(_ token: String) -> Bool {
        token.hasPrefix("/") || token.hasPrefix(".") || token.contains("/")
    }

    /// Binds positional and key=value arguments to a command's parameter names.
    public static func bind(_ arguments: [String], to names: [String], command: String) throws -> [String: String] {
        var values: [String: String] = [:]
        var position = 0
        for argument in arguments {
            if let equals = argument.firstIndex(of: "="), equals != argument.startIndex,
                argument[..<equals].allSatisfy({ $0.isLetter || $0 == "_" })
            {
                let key = String(argument[..<equals])
                guard names.contains(key) else { throw TargetCLIError("Unexpected keyword parameter '\(key)'.") }
                values[key] = String(argument[argument.index(after: equals)...])
            } else if position < names.count {
                values[names[position]] = argument
                position += 1
            } else {
                throw TargetCLIError("Command \(command) takes at most \(names.count) parameters (\(arguments.count) given).")
            }
        }
        return values
    }

    static func keyValues(_ arguments: [String]) throws -> [(String, String)] {
        try arguments.map { argument in
            guard let equals = argument.firstIndex(of: "=") else {
                throw TargetCLIError("Expected key=value, got '\(argument)'")
            }
            return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
        }
    }

    // MARK: Daemon

    @discardableResult
    func send(_ request: AdminRequest) throws -> String {
        let response = try backend(request)
        guard response.exitCode == 0 else {
            throw TargetCLIError(response.message ?? "the daemon refused the request (exit \(response.exitCode))")
        }
        return response.output
    }

    public func loadTree() throws -> TargetCLITree {
        let text = try send(AdminRequest(mode: .configuration, op: .show))
        do {
            return TargetCLITree(configuration: try DaemonConfiguration(jsonText: text))
        } catch {
            throw TargetCLIError("the daemon sent an unreadable configuration: \(error)")
        }
    }

    /// Serves the target through exactly these TPG tags (an empty list: through none).
    private func setPortalGroups(_ tree: TargetCLITree, _ wwn: String, _ tags: [UInt16]) throws {
        let value = tags.isEmpty ? "none" : tags.sorted().map(String.init).joined(separator: ",")
        try send(AdminRequest(mode: .target, op: .update, tid: try tid(tree, wwn), name: "portal_groups", value: value))
    }

    func tid(_ tree: TargetCLITree, _ wwn: String) throws -> Int32 {
        guard let target = tree.target(wwn) else { throw TargetCLIError("No such target \(wwn)") }
        return Int32(target.tid)
    }

    // MARK: Execution

    /// Runs one command line; false when it was `exit`.
    @discardableResult
    public func execute(_ line: String) throws -> Bool {
        var tokens = try Self.tokenize(line)
        if tokens.first?.hasPrefix("#") == true { return true }
        guard !tokens.isEmpty else { return true }
        // `version` and `exit` (at any path) need no daemon.
        if let last = tokens.last, ["version", "exit", "quit"].contains(last),
            tokens.count == 1 || (tokens.count == 2 && Self.looksLikePath(tokens[0]))
        {
            if last == "version" {
                output(ProductVersion.line("targetcli") + "\n")
                return true
            }
            return false
        }
        let tree = try loadTree()
        var node = current
        if Self.looksLikePath(tokens[0])
            || (!Self.commands.contains(tokens[0]) && tree.children(of: current).contains { $0.name == tokens[0] })
        {
            node = try tree.resolve(tokens.removeFirst(), from: current)
        }
        guard !tokens.isEmpty else {
            current = node
            return true
        }
        let command = tokens.removeFirst()
        let arguments = tokens
        switch command {
        case "exit", "quit": return false
        case "cd":
            let args = try Self.bind(arguments, to: ["path"], command: command)
            current = try tree.resolve(args["path"] ?? "/", from: node)
        case "pwd":
            _ = try Self.bind(arguments, to: [], command: command)
            output(node.path + "\n")
        case "ls":
            let args = try Self.bind(arguments, to: ["path", "depth"], command: command)
            let target = try tree.resolve(args["path"] ?? ".", from: node)
            var depth: Int?
            if let text = args["depth"] {
                guard let value = Int(text), value >= 0 else { throw TargetCLIError("Invalid depth \(text)") }
                depth = value
            }
            output(tree.render(target, depth: depth, width: Self.terminalWidth()))
        case "help":
            let args = try Self.bind(arguments, to: ["topic"], command: command)
            output(try TargetCLIHelp.text(for: node, topic: args["topic"]))
        case "info": try info(tree, node, arguments)
        case "get": try get(tree, node, arguments)
        case "set": try set(tree, node, arguments)
        case "create": try create(tree, node, arguments)
        case "delete": try delete(tree, node, arguments)
        case "saveconfig":
            let args = try Self.bind(arguments, to: ["savefile"], command: command)
            let path = args["savefile"] ?? defaultSaveFile
            try Self.writeFile(path, try LIOSaveConfig(tree.configuration).jsonText())
            output("Configuration saved to \(path)\n")
        case "restoreconfig":
            let args = try Self.bind(arguments, to: ["savefile", "clear_existing", "target", "storage_object"], command: command)
            try restore(tree, file: args["savefile"] ?? defaultSaveFile, clear: Self.flag(args["clear_existing"]) ?? false)
        case "clearconfig":
            let args = try Self.bind(arguments, to: ["confirm"], command: command)
            guard Self.flag(args["confirm"]) == true else {
                throw TargetCLIError("As a precaution, confirm=True needs to be set")
            }
            try clear(tree)
            output("All configuration cleared\n")
        case "refresh", "status":
            break
        case "version":
            output(ProductVersion.line("targetcli") + "\n")
        default:
            throw TargetCLIError("Command not found \(command)")
        }
        return true
    }

    /// The end of an interactive session (or one fed on stdin): with auto_save_on_exit, root's
    /// configuration goes to the default save file, as LIO's targetcli does.
    public func endSession(isRoot: Bool) throws {
        guard preferences.autoSaveOnExit, isRoot else { return }
        output("Global pref auto_save_on_exit=true\n")
        try execute("saveconfig")
    }

    static let commands: Set<String> = [
        "exit", "quit", "cd", "pwd", "ls", "help", "info", "get", "set", "create", "delete", "saveconfig",
        "restoreconfig", "clearconfig", "refresh", "status", "version",
    ]

    /// LIO's auth keys (userid, password, mutual_userid, mutual_password) into a request's CHAP
    /// fields; false for any other key.
    static func setCredential(_ key: String, _ value: String, in request: inout AdminRequest) -> Bool {
        switch key {
        case "userid": request.user = value
        case "password": request.password = value
        case "mutual_userid": request.mutualUser = value
        case "mutual_password": request.mutualPassword = value
        default: return false
        }
        return true
    }

    /// Every node ACL sees every LUN of its target here (LIO's default, add_mapped_luns=true).
    static func refuseUnmappedACLs(_ args: [String: String]) throws {
        if try flagArgument(args, "add_mapped_luns") == false {
            throw TargetCLIError("add_mapped_luns=false is not supported: every ACL maps every LUN of its target")
        }
    }

    /// A boolean keyword argument; nil when absent, an error when it is not a boolean.
    static func flagArgument(_ args: [String: String], _ key: String) throws -> Bool? {
        guard let text = args[key] else { return nil }
        guard let value = flag(text) else { throw TargetCLIError("Invalid value for \(key): \(text) (true or false)") }
        return value
    }

    static func flag(_ text: String?) -> Bool? {
        guard let text else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: return nil
        }
    }

    static func terminalWidth() -> Int {
        if let columns = getenv("COLUMNS").map({ String(cString: $0) }), let width = Int(columns), width > 40 { return width }
        var size = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 40 { return Int(size.ws_col) }
        return 80
    }

    // MARK: create / delete

    private func create(_ tree: TargetCLITree, _ node: TargetCLINode, _ arguments: [String]) throws {
        switch node {
        case .backstoreGroup("fileio"):
            let args = try Self.bind(arguments, to: ["name", "file_or_dev", "size", "write_back", "sparse", "wwn"], command: "create")
            guard let name = args["name"], let path = args["file_or_dev"] else {
                throw TargetCLIError("Missing required parameters name, file_or_dev")
            }
            var size: UInt64?
            if let text = args["size"] {
                guard let parsed = TargetCLISize.parse(text) else { throw TargetCLIError("Invalid size \(text)") }
                size = parsed
            }
            try Self.checkNewObject(tree, name)
            var object = StorageObjectConfiguration(name: name, kind: .fileio, path: Self.absolute(path), size: size)
            object.writeCache = try Self.flagArgument(args, "write_back")
            object.serial = args["wwn"]
            var request = object.creationRequest
            if try Self.flagArgument(args, "sparse") == false {
                request.params = [request.params, "sparse=0"].compactMap { $0 }.joined(separator: ",")
            }
            try send(request)
            let created = try loadTree().configuration.storageObject(named: name)
            try addDefaultALUAGroup(object: name)
            output("Created fileio \(name) with size \(created?.size ?? size ?? 0)\n")
        case .backstoreGroup("block"):
            let args = try Self.bind(arguments, to: ["name", "dev", "readonly", "wwn", "exclusive"], command: "create")
            guard let name = args["name"], let dev = args["dev"] else { throw TargetCLIError("Missing required parameters name, dev") }
            try Self.checkNewObject(tree, name)
            if try Self.flagArgument(args, "exclusive") == false {
                throw TargetCLIError("exclusive=false is not supported: a block device is opened by one storage object")
            }
            var object = StorageObjectConfiguration(name: name, kind: .block, path: dev)
            object.readOnly = try Self.flagArgument(args, "readonly") ?? false
            object.serial = args["wwn"]
            try send(object.creationRequest)
            try addDefaultALUAGroup(object: name)
            output("Created block storage object \(name) using \(dev).\n")
        case .backstoreGroup("ramdisk"):
            let args = try Self.bind(arguments, to: ["name", "size", "nullio", "wwn"], command: "create")
            guard let name = args["name"], let text = args["size"] else { throw TargetCLIError("Missing required parameters name, size") }
            guard let size = TargetCLISize.parse(text) else { throw TargetCLIError("Invalid size \(text)") }
            if Self.flag(args["nullio"]) == true { throw TargetCLIError("nullio ramdisks are not supported") }
            try Self.checkNewObject(tree, name)
            var object = StorageObjectConfiguration(name: name, kind: .ramdisk, size: size)
            object.serial = args["wwn"]
            try send(object.creationRequest)
            try addDefaultALUAGroup(object: name)
            output("Created ramdisk \(name) with size \(text).\n")
        case .backstoreGroup("user:rbd"):
            try createRBD(tree, arguments)
        case .backstoreGroup(let group):
            throw TargetCLIError("\(group) storage objects are not supported")
        case .aluaGroups(_, let object):
            try createALUAGroup(object: object, arguments)
        case .iscsi:
            let args = try Self.bind(arguments, to: ["wwn"], command: "create")
            let wwn = args["wwn"]?.lowercased() ?? generatedIQN()
            guard wwn.hasPrefix("iqn.") || wwn.hasPrefix("eui.") || wwn.hasPrefix("naa."),
                (try? ISCSINameCheck.validate(wwn)) != nil
            else { throw TargetCLIError("WWN not valid as: iqn, naa, eui") }
            if tree.target(wwn) != nil { throw TargetCLIError("This Target already exists in configFS") }
            let answer = try send(AdminRequest(mode: .target, op: .new, targetName: wwn, allocateTID: true))
            guard let tid = Int32(answer.filter(\.isNumber)) else {
                throw TargetCLIError("The daemon gave no target id for \(wwn): \(answer)")
            }
            // LIO serves a new target through its tpg1 only (tgt's targets are on every portal).
            try send(AdminRequest(mode: .target, op: .update, tid: tid, name: "portal_groups", value: "1"))
            output("Created target \(wwn).\nCreated TPG 1.\n")
        case .target(let wwn):
            let args = try Self.bind(arguments, to: ["tag"], command: "create")
            let groups = tree.portalGroups(wwn)
            var tag = (groups.max() ?? 0) + 1
            if let text = args["tag"] {
                guard let value = UInt16(text), value > 0 else { throw TargetCLIError("Invalid tag \(text): TPG tags are 1 to 65535") }
                tag = value
            }
            if groups.contains(tag) { throw TargetCLIError("TPG \(tag) already exists") }
            try setPortalGroups(tree, wwn, groups + [tag])
            output("Created TPG \(tag).\n")
        case .luns(let tpg):
            let wwn = tpg.wwn
            let args = try Self.bind(arguments, to: ["storage_object", "lun", "add_mapped_luns"], command: "create")
            try Self.refuseUnmappedACLs(args)
            guard let objectPath = args["storage_object"] else { throw TargetCLIError("Missing required parameter storage_object") }
            let object = try tree.resolve(objectPath.hasPrefix("/") ? objectPath : "/backstores/" + objectPath, from: .root)
            guard case .storageObject(_, let name) = object else { throw TargetCLIError("Invalid storage object \(objectPath).") }
            var lun: UInt64?
            if let text = args["lun"] {
                guard let value = UInt64(text.hasPrefix("lun") ? String(text.dropFirst(3)) : text), value > 0 else {
                    throw TargetCLIError("Invalid LUN \(text) (LUN 0 is the target's controller)")
                }
                lun = value
            }
            // A target's TPGs share its LUNs: mapping the object again through another TPG (as
            // one does in LIO for a second path) finds it there already.
            if tree.portalGroups(wwn).count > 1,
                let mapped = tree.luns(wwn).first(where: { $0.storageObject == name && (lun == nil || $0.lun == lun) })
            {
                output("LUN \(mapped.lun) (\(name)) is already served through tpg\(tpg.tag): a target's TPGs share its LUNs.\n")
                return
            }
            let answer = try send(
                AdminRequest(mode: .logicalUnit, op: .new, tid: try tid(tree, wwn), lun: lun, storageObject: name))
            let number = lun ?? UInt64(answer.filter(\.isNumber)) ?? 0
            output("Created LUN \(number).\n")
            for acl in tree.target(wwn)?.nodeACLs ?? [] {
                output("Created LUN \(number)->\(number) mapping in node ACL \(acl.initiatorName)\n")
            }
        case .acls(let tpg):
            let wwn = tpg.wwn
            let args = try Self.bind(arguments, to: ["wwn", "add_mapped_luns"], command: "create")
            try Self.refuseUnmappedACLs(args)
            guard let name = args["wwn"] else { throw TargetCLIError("Missing required parameter wwn") }
            guard (try? ISCSINameCheck.validate(name)) != nil else { throw TargetCLIError("WWN not valid as: iqn, naa, eui") }
            try send(AdminRequest(mode: .nodeACL, op: .new, tid: try tid(tree, wwn), initiatorName: name))
            output("Created Node ACL for \(name)\n")
            for lun in tree.luns(wwn) { output("Created mapped LUN \(lun.lun).\n") }
        case .portals(let tpg):
            let args = try Self.bind(arguments, to: ["ip_address", "ip_port"], command: "create")
            var host = args["ip_address"] ?? "0.0.0.0"
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if args["ip_port"] == nil { output("Using default IP port 3260\n") }
            guard let port = Int(args["ip_port"] ?? "3260"), (1...65535).contains(port) else { throw TargetCLIError("Invalid port") }
            let wanted = PortalConfiguration(host: host, port: port, tag: tpg.tag)
            if let existing = tree.configuration.portals.first(where: { $0.hasAddress(of: wanted) }) {
                if existing.tag == tpg.tag { throw TargetCLIError("This NetworkPortal already exists in configFS") }
                throw TargetCLIError("\(existing.address) serves tpg\(existing.tag): a portal belongs to one TPG tag here")
            }
            let spelled = host.contains(":") ? "[\(host)]" : host
            let tag = tpg.tag == 1 ? "" : ",\(tpg.tag)"
            try send(AdminRequest(mode: .portal, op: .new, params: "portal=\(spelled):\(port)\(tag)"))
            output("Created network portal \(spelled):\(port).\n")
        default:
            throw TargetCLIError("Command not found create")
        }
    }

    static func checkNewObject(_ tree: TargetCLITree, _ name: String) throws {
        if tree.configuration.storageObject(named: name) != nil { throw TargetCLIError("Storage object \(name) exists") }
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let directory = String(cString: buffer)
        return directory == "/" ? "/" + path : directory + "/" + path
    }

    private func delete(_ tree: TargetCLITree, _ node: TargetCLINode, _ arguments: [String]) throws {
        switch node {
        case .aluaGroups(_, let object):
            try deleteALUAGroup(object: object, arguments)
        case .backstoreGroup(let group):
            let args = try Self.bind(arguments, to: ["name", "save"], command: "delete")
            guard let name = args["name"],
                tree.children(of: node).contains(.storageObject(group: group, name: name))
            else { throw TargetCLIError("No storage object named \(args["name"] ?? "").") }
            _ = try Self.flagArgument(args, "save")  // the backing file is kept either way
            try send(AdminRequest(mode: .storageObject, op: .delete, storageObject: name))
            output("Deleted storage object \(name).\n")
        case .iscsi:
            let args = try Self.bind(arguments, to: ["wwn"], command: "delete")
            guard let wwn = args["wwn"], let target = tree.target(wwn) else {
                throw TargetCLIError("No such Target in configfs: \(args["wwn"] ?? "")")
            }
            try send(AdminRequest(mode: .target, op: .delete, tid: Int32(target.tid), force: true))
            output("Deleted Target \(target.name).\n")
        case .target(let wwn):
            let args = try Self.bind(arguments, to: ["tag"], command: "delete")
            let groups = tree.portalGroups(wwn)
            guard let text = args["tag"], let tag = UInt16(text), groups.contains(tag) else {
                throw TargetCLIError("No such TPG: \(args["tag"] ?? "")")
            }
            try setPortalGroups(tree, wwn, groups.filter { $0 != tag })
            output("Deleted TPG \(tag).\n")
        case .luns(let tpg):
            let wwn = tpg.wwn
            let args = try Self.bind(arguments, to: ["lun"], command: "delete")
            guard let text = args["lun"], let lun = UInt64(text.hasPrefix("lun") ? String(text.dropFirst(3)) : text),
                tree.luns(wwn).contains(where: { $0.lun == lun })
            else { throw TargetCLIError("Invalid LUN \(args["lun"] ?? "")") }
            try send(AdminRequest(mode: .logicalUnit, op: .delete, tid: try tid(tree, wwn), lun: lun))
            output("Deleted LUN \(lun).\n")
        case .acls(let tpg):
            let wwn = tpg.wwn
            let args = try Self.bind(arguments, to: ["wwn"], command: "delete")
            guard let name = args["wwn"], let acl = tree.target(wwn)?.nodeACLs.first(where: { $0.initiatorName.lowercased() == name.lowercased() })
            else { throw TargetCLIError("No such NodeACL in configfs: \(args["wwn"] ?? "")") }
            try send(AdminRequest(mode: .nodeACL, op: .delete, tid: try tid(tree, wwn), initiatorName: acl.initiatorName))
            output("Deleted Node ACL \(acl.initiatorName).\n")
        case .portals(let tpg):
            let args = try Self.bind(arguments, to: ["ip_address", "ip_port"], command: "delete")
            var host = args["ip_address"] ?? ""
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard let port = Int(args["ip_port"] ?? ""),
                tree.configuration.portals.contains(PortalConfiguration(host: host, port: port, tag: tpg.tag))
            else { throw TargetCLIError("No such NetworkPortal in configfs: \(args["ip_address"] ?? ""):\(args["ip_port"] ?? "")") }
            let spelled = host.contains(":") ? "[\(host)]" : host
            try send(AdminRequest(mode: .portal, op: .delete, params: "portal=\(spelled):\(port)"))
            output("Deleted network portal \(spelled):\(port)\n")
        default:
            throw TargetCLIError("Command not found delete")
        }
    }

    // MARK: get / set / info

    private static let tpgAttributes = ["authentication", "generate_node_acls", "demo_mode_write_protect", "cache_dynamic_acls"]

    private func authValues(_ auth: CHAPCredentials) -> [(String, String)] {
        [("userid", auth.userID ?? ""), ("password", auth.password ?? ""),
         ("mutual_userid", auth.mutualUserID ?? ""), ("mutual_password", auth.mutualPassword ?? "")]
    }

    private func groups(_ tree: TargetCLITree, _ node: TargetCLINode) -> [String: [(String, String)]] {
        var groups = nodeGroups(tree, node)
        groups["global"] = preferences.values
        return groups
    }

    private func nodeGroups(_ tree: TargetCLITree, _ node: TargetCLINode) -> [String: [(String, String)]] {
        switch node {
        case .storageObject:
            guard let object = tree.storageObject(node) else { return [:] }
            let mapping = tree.configuration.mappings(of: object.name).first
            let thin = object.thinProvisioning == true || mapping?.lun.parameterValues["thin_provisioning"] == "1"
            return [
                "attribute": [
                    ("block_size", String(mapping?.lun.blockSize ?? 512)),
                    ("emulate_tpu", thin ? "1" : "0"), ("emulate_tpws", thin ? "1" : "0"),
                    ("emulate_write_cache", tree.configuration.writeBack(of: object) ? "1" : "0"),
                ]
            ]
        case .iscsi:
            // LIO's discovery_auth is tgt's accounts bound without a target.
            let auth = tree.configuration.tpgCredentials(tid: 0)
            return ["discovery_auth": [("enable", auth.userID == nil ? "False" : "True")] + authValues(auth)]
        case .tpg(let tpg):
            let wwn = tpg.wwn
            guard let target = tree.target(wwn) else { return [:] }
            return [
                "attribute": [
                    ("authentication", TargetCLITree.authenticationOn(target) ? "1" : "0"),
                    ("generate_node_acls", target.generateNodeACLs ? "1" : "0"),
                    ("demo_mode_write_protect", "0"), ("cache_dynamic_acls", "1"),
                ],
                "auth": authValues(tree.configuration.tpgCredentials(of: target)),
            ]
        case .acl(let tpg, let name):
            let wwn = tpg.wwn
            let acl = tree.target(wwn)?.nodeACLs.first { $0.initiatorName == name }
            return ["auth": authValues(acl?.auth ?? CHAPCredentials())]
        case .aluaGroup, .lun:
            return aluaValues(tree, node).map { ["alua": $0] } ?? [:]
        default:
            return [:]
        }
    }

    private func get(_ tree: TargetCLITree, _ node: TargetCLINode, _ arguments: [String]) throws {
        let all = groups(tree, node)
        let selected: [String]
        if let group = arguments.first {
            guard all[group] != nil else { throw TargetCLIError("Unknown configuration group: \(group)") }
            selected = [group]
        } else {
            selected = all.keys.sorted()
        }
        for group in selected {
            let title = "\(group.uppercased()) CONFIG GROUP"
            output("\(title)\n\(String(repeating: "=", count: title.count))\n")
            let wanted = Set(arguments.dropFirst())
            for (key, value) in all[group]! where wanted.isEmpty || wanted.contains(key) {
                output("\(key)=\(value)\n")
            }
            if !wanted.isEmpty, let unknown = wanted.first(where: { key in !all[group]!.contains { $0.0 == key } }) {
                throw TargetCLIError("Unknown \(group) parameter: \(unknown)")
            }
            output("\n")
        }
    }

    private func set(_ tree: TargetCLITree, _ node: TargetCLINode, _ arguments: [String]) throws {
        guard let group = arguments.first else { throw TargetCLIError("Missing configuration group") }
        let pairs = try Self.keyValues(Array(arguments.dropFirst()))
        guard !pairs.isEmpty else { throw TargetCLIError("Missing parameters for group \(group)") }
        let authKeys = ["userid", "password", "mutual_userid", "mutual_password"]
        switch (node, group) {
        case (.aluaGroup, "alua"), (.lun, "alua"):
            try setALUA(tree, node, pairs)
        case (_, "global"):
            for (key, value) in pairs { try preferences.set(key, value) }
            guard let preferencesPath else { throw TargetCLIError("Cannot save preferences: HOME is not set") }
            try preferences.save(to: preferencesPath)
            for (key, value) in pairs { output("Parameter \(key) is now '\(value)'.\n") }
        case (.tpg(let tpg), "attribute"):
            let wwn = tpg.wwn
            let tid = try tid(tree, wwn)
            var requests: [AdminRequest] = []
            for (key, value) in pairs {
                guard Self.tpgAttributes.contains(key) else { throw TargetCLIError("Unknown attribute parameter: \(key)") }
                guard value == "0" || value == "1" else { throw TargetCLIError("Invalid value for \(key): \(value)") }
                switch key {
                case "authentication", "generate_node_acls":
                    requests.append(AdminRequest(mode: .tpg, op: .update, tid: tid, name: key, value: value))
                case "demo_mode_write_protect" where value != "0", "cache_dynamic_acls" where value != "1":
                    throw TargetCLIError("\(key)=\(value) is not supported (this target behaves as \(key)=\(key == "cache_dynamic_acls" ? 1 : 0))")
                default: break
                }
            }
            for request in requests { try send(request) }
            for (key, value) in pairs { output("Parameter \(key) is now '\(value)'.\n") }
        case (.storageObject(_, let name), "attribute"):
            for (key, value) in pairs {
                guard key == "emulate_tpu" || key == "emulate_tpws" else {
                    throw TargetCLIError("attribute \(key) cannot be changed here (emulate_tpu and emulate_tpws can)")
                }
                guard value == "0" || value == "1" else { throw TargetCLIError("Invalid value for \(key): \(value)") }
                try send(AdminRequest(mode: .storageObject, op: .update, name: key, value: value, storageObject: name))
                output("Parameter \(key) is now '\(value)'.\n")
            }
        case (.iscsi, "discovery_auth"):
            var request = AdminRequest(mode: .tpg, op: .update, tid: 0)
            var enable: Bool?
            for (key, value) in pairs {
                switch key {
                case "enable":
                    guard let flag = Self.flag(value) else { throw TargetCLIError("Invalid value for enable: \(value)") }
                    enable = flag
                default:
                    guard Self.setCredential(key, value, in: &request) else {
                        throw TargetCLIError("Unknown discovery_auth parameter: \(key)")
                    }
                }
            }
            if enable == false {
                // Off: discovery takes no CHAP, so no account stays bound to it.
                (request.user, request.password, request.mutualUser, request.mutualPassword) = ("", "", "", "")
            } else if enable == true, request.user == nil, tree.configuration.discoveryIncomingUsers.isEmpty {
                throw TargetCLIError("discovery_auth enable=1 needs a userid and password (discovery CHAP is on when they are set)")
            }
            if [request.user, request.password, request.mutualUser, request.mutualPassword].contains(where: { $0 != nil }) {
                try send(request)
            }
            for (key, value) in pairs { output("Parameter \(key) is now '\(value)'.\n") }
        case (.tpg(let tpg), "auth"), (.acl(let tpg, _), "auth"):
            let wwn = tpg.wwn
            var request = AdminRequest(mode: .tpg, op: .update, tid: try tid(tree, wwn))
            if case .acl(_, let name) = node {
                request.mode = .nodeACL
                request.initiatorName = name
            }
            for (key, value) in pairs where !Self.setCredential(key, value, in: &request) {
                throw TargetCLIError("Unknown auth parameter: \(key) (known: \(authKeys.joined(separator: ", ")))")
            }
            try send(request)
            for (key, value) in pairs { output("Parameter \(key) is now '\(value)'.\n") }
        default:
            throw TargetCLIError("Unknown configuration group: \(group)")
        }
    }

    private func info(_ tree: TargetCLITree, _ node: TargetCLINode, _ arguments: [String]) throws {
        _ = try Self.bind(arguments, to: [], command: "info")
        var lines: [(String, String)] = [("path", node.path)]
        switch node {
        case .storageObject:
            if let object = tree.storageObject(node) {
                lines += [("name", object.name), ("plugin", TargetCLITree.group(of: object) ?? "null")]
                if let path = object.path { lines.append(("dev", path)) }
                lines.append(("size", String(object.size ?? 0)))
                lines.append(("readonly", object.readOnly ? "True" : "False"))
            }
        case .target(let wwn):
            lines += [("wwn", wwn), ("tpgs", String(tree.portalGroups(wwn).count))]
        case .lun(let tpg, let number):
            let wwn = tpg.wwn
            if let lun = tree.luns(wwn).first(where: { $0.lun == number }) {
                lines += [("lun", String(number)), ("storage_object", lun.storageObject)]
            }
        default:
            lines.append(("summary", tree.summary(node)))
        }
        for (key, value) in lines { output("\(key): \(value)\n") }
    }

    // MARK: save / restore / clear

    private func clear(_ tree: TargetCLITree) throws {
        for target in tree.configuration.targets {
            try send(AdminRequest(mode: .target, op: .delete, tid: Int32(target.tid), force: true))
        }
        for object in tree.configuration.storageObjects where DaemonConfiguration.isNamed(object) {
            try send(AdminRequest(mode: .storageObject, op: .delete, storageObject: object.name))
        }
        // The accounts are the TPGs' and discovery's CHAP: they go with the configuration.
        for account in tree.configuration.accounts {
            try send(AdminRequest(mode: .account, op: .delete, user: account.user))
        }
    }

    private func restore(_ tree: TargetCLITree, file: String, clear clearExisting: Bool) throws {
        let text = try Self.readFile(file)
        let saved: LIOSaveConfig
        do { saved = try LIOSaveConfig(jsonText: text) } catch { throw TargetCLIError("Cannot parse \(file): \(error)") }
        if !clearExisting {
            for object in saved.storage_objects ?? [] where tree.configuration.storageObject(named: object.name) != nil {
                throw TargetCLIError("Storage object \(object.name) exists; use clear_existing=true")
            }
            for target in saved.targets ?? [] where tree.target(target.wwn) != nil {
                throw TargetCLIError("Target \(target.wwn) exists; use clear_existing=true")
            }
        }
        let empty = tree.configuration.targets.isEmpty && tree.configuration.storageObjects.isEmpty
        var (steps, warnings) = saved.restoreSteps(existingPortals: tree.configuration.portals, exact: clearExisting || empty)
        if !clearExisting {
            // An account that exists with the same password is already what the file asks for.
            steps.removeAll { step in
                step.request.mode == .account && step.request.op == .new
                    && tree.configuration.account(user: step.request.user ?? "")?.password == step.request.password
            }
        }
        if clearExisting { try clear(tree) }
        for warning in warnings { output("\(warning)\n") }
        var tids: [String: Int32] = [:]
        var failures: [String] = []
        for step in steps {
            var request = step.request
            if let wwn = step.tidOf {
                guard let tid = tids[wwn.lowercased()] else { continue }
                request.tid = tid
            }
            do {
                let answer = try send(request)
                if request.mode == .target, request.op == .new, let name = request.targetName,
                    let tid = Int32(answer.filter(\.isNumber))
                {
                    tids[name.lowercased()] = tid
                }
            } catch let error as TargetCLIError {
                if step.optional {
                    output("Warning: \(request.params ?? ""): \(error.message)\n")
                } else {
                    failures.append(error.message)
                }
            }
        }
        if !failures.isEmpty {
            throw TargetCLIError("Configuration restored, \(failures.count) recoverable errors: \(failures.joined(separator: "; "))")
        }
        output("Configuration restored from \(file)\n")
    }

    static func readFile(_ path: String) throws -> String {
        guard let file = fopen(path, "r") else { throw TargetCLIError("Cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func writeFile(_ path: String, _ text: String) throws {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            var prefix = ""
            for component in path[..<slash].split(separator: "/") {
                prefix += "/" + component
                mkdir(prefix, 0o755)
            }
        }
        let temporary = path + ".temp"
        guard let file = fopen(temporary, "w") else {
            throw TargetCLIError("Cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = fwrite(bytes, 1, bytes.count, file)
        fflush(file)
        fsync(fileno(file))
        fclose(file)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TargetCLIError("Cannot write \(path)")
        }
        chmod(path, 0o600)
    }

    // MARK: Names and help

    public func generatedIQN() -> String {
        let host = hostName().split(separator: ".").first.map(String.init) ?? "localhost"
        let clean = { (text: String) in text.lowercased().filter { $0 != "_" } }
        return "iqn.2003-01.org.linux-iscsi.\(clean(host)).\(clean(machine())):sn.\(serial())"
    }

    public static func systemHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : name
    }

    public static func systemMachine() -> String {
        var info = utsname()
        guard uname(&info) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// iSCSI name syntax, as the daemon checks it (kept here so targetcli refuses before sending).
enum ISCSINameCheck {
    static func validate(_ name: String) throws {
        let lower = name.lowercased()
        if lower.hasPrefix("iqn.") {
            // iqn.YYYY-MM.reversed.domain[:anything]
            let parts = lower.dropFirst(4)
            guard parts.count >= 8, parts.prefix(7).enumerated().allSatisfy({ $0.offset == 4 ? $0.element == "-" : $0.element.isNumber })
            else { throw TargetCLIError("bad iqn") }
        } else if lower.hasPrefix("eui.") {
            guard lower.count == 20, lower.dropFirst(4).allSatisfy(\.isHexDigit) else { throw TargetCLIError("bad eui") }
        } else if lower.hasPrefix("naa.") {
            guard [20, 36].contains(lower.count), lower.dropFirst(4).allSatisfy(\.isHexDigit) else { throw TargetCLIError("bad naa") }
        } else {
            throw TargetCLIError("bad name")
        }
        guard name.utf8.count <= 223, !name.contains(where: { $0 == " " }) else { throw TargetCLIError("bad name") }
    }
}
