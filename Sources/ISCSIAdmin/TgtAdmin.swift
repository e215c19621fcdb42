/// tgt-admin: configures targets from targets.conf and dumps the running configuration, with
/// the command line, messages, tgtadm command sequence and exit codes of tgt 1.0.85's tgt-admin.
///
/// Every change goes through a tgtadm command line, built as tgt-admin builds it: `-p` prints
/// them, `-v` prints them before running them, and the live environment runs each through our
/// tgtadm's parser and control socket. Where tgt-admin's Perl iterates a hash (targets of the
/// daemon, a block's settings) the order here is tid order and file order.
///
/// Departures from tgt-admin, all on purpose:
/// - the configuration is read and checked completely before anything is changed; unknown
///   directives and malformed blocks are errors (tgt-admin ignores the former);
/// - `control-port` in the file applies to every command (tgt-admin starts using it half-way);
/// - a `null` backing store needs no existing file and is never "in use" (like rbd/glfs);
/// - `--delete/--update -f` on a target with initiator-name rules unbinds them with `-Q`
///   (tgt-admin uses `-I` and fails), and deletes every connection of every session;
/// - an `initiator-name` rule, like an `initiator-address` one, keeps the target from being
///   opened to ALL (tgt-admin binds ALL unless an address rule exists, which makes name rules
///   admit everyone);
/// - LIO's settings that tgt has no directive for, as targetcli makes them, have directives of
///   ours: `initiator-incominguser IQN USER PASSWORD` and `initiator-outgoinguser IQN USER
///   PASSWORD` (a node ACL's own CHAP, sent with `tgtadm --mode nodeacl`) and `authentication
///   0|1` (LIO's TPG attribute, sent with `tgtadm --mode tpg`), and `allow-all no` for a target
///   whose ACL is empty (tgt-admin would open it to ALL);
/// - `--dump`: see `TgtAdminDump`.
public final class TgtAdmin {
    /// Ends the run with tgt-admin's exit status.
    struct Exit: Error {
        var status: Int32
    }

    let options: TgtAdminOptions
    let environment: TgtAdminEnvironment
    var controlPort: String
    var ignoreErrors: Bool

    var conf: TargetsConf?
    /// What `show` said about each target, by name (tgt-admin's %tgtadm_output).
    var shown: [String: TgtAdminShownTarget] = [:]
    /// %tgtadm_output_tid and %tgtadm_output_name.
    var tidByName: [String: String] = [:]
    var nameByTid: [String: String] = [:]
    var nextTid = 0
    var existingAccounts: Set<String> = []
    var defaultDriver: String?

    public init(options: TgtAdminOptions, environment: TgtAdminEnvironment) {
        self.options = options
        self.environment = environment
        self.controlPort = options.controlPort
        self.ignoreErrors = options.ignoreErrors
    }

    /// Parses the command line, runs, and returns the exit status.
    public static func main(_ arguments: [String], environment: TgtAdminEnvironment) -> Int32 {
        let (options, diagnostics) = TgtAdminCommandLine.parse(arguments)
        if !diagnostics.isEmpty { environment.errorOutput(diagnostics) }
        return TgtAdmin(options: options, environment: environment).run()
    }

    public func run() -> Int32 {
        do {
            try dispatch()
            return 0
        } catch let exit as Exit {
            return exit.status
        } catch {
            environment.errorOutput("tgt-admin: \(error)\n")
            return 1
        }
    }

    private var isUpdate: Bool { options.update != "0" }

    private func dispatch() throws {
        if options.help || options.noArguments {
            print(TgtAdminCommandLine.usage())
            return
        }
        if options.show {
            try execute("tgtadm -C \(controlPort) --op show --mode target")
            return
        }
        if options.execute {
            try parseConfigs()
            try processTargets()
            try processAccounts()
            try addTargets()
            try removeTargets()
        } else if options.delete != "0" {
            try deleteTargets()
        } else if isUpdate {
            try updateTargets()
        } else if options.dump {
            try processTargets()
            print(TgtAdminDump.render(Array(shown.values), model: environment.configuration(controlPort: controlPort)))
        } else if options.offline != "0" {
            try readyOrOffline("offline")
        } else if options.ready != "0" {
            try readyOrOffline("ready")
        } else {
            print("No action specified.\n")
        }
    }

    private func print(_ text: String) {
        environment.output(text)
    }

    // MARK: Running commands

    /// tgt-admin's execute(): print (with -p or -v) and run a command line; a line starting with
    /// "#" is a comment, an empty one prints a blank line. A failing command ends tgt-admin with
    /// its status unless errors are ignored.
    func execute(_ line: String = "") throws {
        if options.pretend {
            print(line + "\n")
            return
        }
        if options.verbose { print(line + "\n") }
        if line.isEmpty || line.hasPrefix("#") { return }
        let status = environment.system(line) & 0xff
        if status != 0 && !ignoreErrors {
            print("Command:\n\t\(line)\nexited with code: \(status).\n")
            throw Exit(status: status)
        }
    }

    private func requireRoot() throws {
        guard environment.isRoot else {
            environment.errorOutput("You must be root to run this program.\n")
            throw Exit(status: 255)
        }
    }

    private func fail(_ message: String, status: Int32 = 1) throws -> Never {
        print(message)
        throw Exit(status: status)
    }

    // MARK: Reading the daemon's state

    /// Reads `--op show --mode target` (tgt-admin's process_targets). Entries of targets that
    /// went away stay, as in tgt-admin.
    func processTargets() throws {
        try requireRoot()
        let text = environment.capture("tgtadm -C \(controlPort) --op show --mode target")
        for target in TgtAdminShownTarget.parse(text) {
            shown[target.name] = target
            tidByName[target.name] = target.tid
            nameByTid[target.tid] = target.name
        }
        nextTid = tidByName.values.compactMap { Int($0) }.max() ?? 0
    }

    func processAccounts() throws {
        try requireRoot()
        let text = environment.capture("tgtadm -C \(controlPort) --op show --mode account")
        for line in text.split(separator: "\n") where line.first?.isConfBlank == true {
            existingAccounts.insert(line.confTrimmed())
        }
    }

    private func isnsEnabled() throws -> Bool {
        try requireRoot()
        return environment.capture("tgtadm -C \(controlPort) --op show --mode sys").contains("iSNS=On")
    }

    /// The daemon's targets, in tid order.
    private var shownInTidOrder: [String] {
        tidByName.keys.sorted { (Int(tidByName[$0]!) ?? 0, $0) < (Int(tidByName[$1]!) ?? 0, $1) }
    }

    // MARK: The configuration file

    func parseConfigs() throws {
        let path: String
        if options.conf != "0" {
            path = options.conf
            guard environment.fileSystem.kind(path) != nil else {
                environment.errorOutput("Config file \(path) not found. Exiting...\n")
                throw Exit(status: 2)
            }
            try execute("# Using \(path) as configuration file\n")
        } else {
            path = TgtAdminCommandLine.defaultConfigFile
            guard environment.fileSystem.kind(path) != nil else {
                environment.errorOutput("Config file \(path) not found. Exiting...\n")
                throw Exit(status: 2)
            }
        }
        let conf: TargetsConf
        do {
            conf = try TargetsConf.load(file: path, fileSystem: environment.fileSystem)
        } catch let error as TargetsConfError {
            environment.errorOutput("tgt-admin: \(error)\n")
            throw Exit(status: 1)
        }
        if let port = conf.settings["control-port"] {
            guard controlPort == "0" else {
                try fail("Multiple control-port definitions are not allowed!\nCheck your config file for errors.\n")
            }
            controlPort = port.value
        }
        self.conf = conf
    }

    // MARK: Adding targets

    /// tgt-admin's add_targets: for `-e` (no single target) or for one target of `--update`.
    /// `configured`, `inConfigFile` are nil for `-e`, as in tgt-admin.
    func addTargets(single: String? = nil, configured: Bool? = nil, inConfigFile: Bool? = nil) throws {
        guard let conf else { return }
        let isns = try isnsEnabled()
        for (key, setting) in conf.settings.sorted(by: { TargetsConfSyntax.byteOrder($0.key, $1.key) }) {
            switch key {
            case "default-driver":
                defaultDriver = setting.value
            case "ignore-errors":
                if setting.value == "yes" { ignoreErrors = true }
            case "iSNSAccessControl", "iSNSServerIP", "iSNSServerPort":
                if !isns { try execute("tgtadm -C \(controlPort) --op update --mode sys --name \(key) -v \(setting.value)") }
            case "incomingdiscoveryuser", "outgoingdiscoveryuser":
                let (user, password) = Self.credentials(setting.value)
                if !existingAccounts.contains(user) {
                    try execute("tgtadm -C \(controlPort) --mode account --op new --user=\(user) --password=\(password)")
                    existingAccounts.insert(user)
                }
                let extra = key == "outgoingdiscoveryuser" ? " --outgoing" : ""
                try execute("tgtadm -C \(controlPort) --mode account --op bind --user=\(user) \(extra)")
            default:
                break
            }
        }
        if let setting = conf.settings["iSNS"] {
            if !isns {
                try execute("tgtadm -C \(controlPort) --op update --mode sys --name iSNS -v \(setting.value)")
            } else {
                try execute("# iSNS already enabled")
            }
        }
        if defaultDriver == nil {
            try execute("# default-driver not defined, defaulting to iscsi.\n")
            defaultDriver = "iscsi"
        }
        guard !conf.targets.isEmpty else { return }

        for target in conf.targets {
            if let single, !single.isEmpty, single != target.name { continue }
            let name = target.name
            var inUse = false
            if let single, !single.isEmpty { inUse = try mainDelete(name) }
            if shown[name] == nil || (isUpdate && !inUse) || (isUpdate && inUse && options.pretend && options.force) {
                if inConfigFile == true && configured == false && !options.pretend {
                    nextTid = maximumTid() + 1
                } else if let single, !single.isEmpty, configured == true {
                    nextTid = Int(tidByName[name] ?? "") ?? 0
                } else {
                    nextTid += 1
                }
                if let tid = target.value("controller_tid") { nextTid = Int(tid) ?? nextTid }
                try add(target)
            } else if configured == nil && !inUse {
                try execute("# Target \(name) already exists!")
            }
            tidByName[name] = String(nextTid)
        }
        if let single, !single.isEmpty, inConfigFile != true, configured != true {
            try fail("Target \(single) is currently not configured\nand does not exist in the config file - can't continue!\n")
        }
        try execute()
    }

    private func driver(of target: TargetsConf.Target) -> String {
        target.value("driver") ?? defaultDriver ?? "iscsi"
    }

    /// Creates one target and applies its directives in tgt-admin's (sorted) order.
    private func add(_ target: TargetsConf.Target) throws {
        let driver = driver(of: target)
        try execute("# Adding target: \(target.name)")
        try execute("tgtadm -C \(controlPort) --lld \(driver) --op new --mode target --tid \(nextTid) -T \(target.name)")

        // LUNs reserved by `lun` in store blocks, and LUNs handed out so far (tgt-admin's data_key).
        var reserved: [String: [String: String]] = [:]
        for stores in [target.backingStores, target.directStores] {
            guard case .blocks(let blocks)? = stores else { continue }
            for block in blocks {
                var entry = reserved[block.path] ?? [:]
                if let lun = block.setting("lun")?.value { entry["lun"] = lun }
                if let allow = block.setting("allow-in-use")?.value { entry["allow-in-use"] = allow }
                reserved[block.path] = entry
            }
        }

        var keys = Array(target.settings.keys)
        if target.backingStores != nil { keys.append("backing-store") }
        if target.directStores != nil { keys.append("direct-store") }
        var allowAll = true
        for key in keys.sorted(by: TargetsConfSyntax.byteOrder) {
            try apply(key, of: target, driver: driver, reserved: &reserved)
            if key == "initiator-address" || key == "initiator-name" || (key == "allow-all" && target.value(key) == "no") {
                allowAll = false
            }
        }
        if allowAll {
            try execute("tgtadm -C \(controlPort) --lld \(driver) --op bind --mode target --tid \(nextTid) -I ALL")
        }
    }

    /// tgt-admin's process_options for one directive of a target.
    private func apply(
        _ key: String, of target: TargetsConf.Target, driver: String, reserved: inout [String: [String: String]]
    ) throws {
        let values = target.values(key)
        switch key {
        case "backing-store", "direct-store":
            let direct = key == "direct-store"
            if direct && !environment.commandExists("sg_inq") {
                try fail("Command 'sg_inq' (needed by 'option direct-store') is not in your path - can't continue!\n")
            }
            guard let stores = direct ? target.directStores : target.backingStores else { return }
            for path in stores.paths {
                var block: TargetsConf.Store?
                if case .blocks(let blocks) = stores { block = blocks.first { $0.path == path } }
                try addStore(path, block: block, of: target, driver: driver, direct: direct, reserved: &reserved)
            }
        case "incominguser":
            for value in values {
                let (user, password) = Self.credentials(value)
                try createAccount(user, password, driver: driver)
                try execute("tgtadm -C \(controlPort) --lld \(driver) --mode account --op bind --tid=\(nextTid) --user=\(user)")
            }
        case "outgoinguser":
            if values.count > 1 { try execute("# Warning: only one \(key) is allowed. Will only use the first one.") }
            let (user, password) = Self.credentials(values[0])
            try createAccount(user, password, driver: driver)
            try execute(
                "tgtadm -C \(controlPort) --lld \(driver) --mode account --op bind --tid=\(nextTid) --user=\(user) --outgoing")
        case "initiator-address":
            for value in values {
                try execute("tgtadm -C \(controlPort) --lld \(driver) --op bind --mode target --tid \(nextTid) -I \(value)")
            }
        case "initiator-name":
            for value in values {
                try execute("tgtadm -C \(controlPort) --lld \(driver) --op bind --mode target --tid \(nextTid) -Q \(value)")
                for (key, outgoing) in [("initiator-incominguser", ""), ("initiator-outgoinguser", " --outgoing")] {
                    for credential in target.values(key) where Self.initiatorCredentials(credential).initiator == value {
                        let (_, user, password) = Self.initiatorCredentials(credential)
                        try execute(
                            "tgtadm -C \(controlPort) --lld \(driver) --op update --mode nodeacl --tid \(nextTid) -Q \(value) "
                                + "--user=\(user) --password=\(password)\(outgoing)")
                    }
                }
            }
        case "initiator-incominguser", "initiator-outgoinguser":
            // Applied with their initiator-name rule; one without it is a mistake in the file.
            let names = target.values("initiator-name")
            for value in values where !names.contains(Self.initiatorCredentials(value).initiator) {
                try fail("\(key) \(Self.initiatorCredentials(value).initiator): no initiator-name rule for it in target \(target.name)\n")
            }
        case "authentication":
            try execute(
                "tgtadm -C \(controlPort) --lld \(driver) --op update --mode tpg --tid \(nextTid) --name authentication --value \(values[0])")
        case _ where TargetsConf.targetParameters.contains(key):
            if values.count > 1 { try execute("# Warning: only one \(key) is allowed. Will only use the first one.") }
            try execute(
                "tgtadm -C \(controlPort) --lld \(driver) --mode target --op update --tid \(nextTid) --name \(key) --value \(values[0])")
        default:
            break  // used while adding logical units, or (controller_tid, driver) already
        }
    }

    private func createAccount(_ user: String, _ password: String, driver: String) throws {
        guard !existingAccounts.contains(user) else { return }
        try execute("tgtadm -C \(controlPort) --lld \(driver) --mode account --op new --user=\(user) --password=\(password)")
        existingAccounts.insert(user)
    }

    /// "IQN USER PASSWORD" of our initiator-incominguser/initiator-outgoinguser directives.
    static func initiatorCredentials(_ value: String) -> (initiator: String, user: String, password: String) {
        let fields = value.split(separator: " ").map(String.init)
        return (fields.first ?? "", fields.count > 1 ? fields[1] : "", fields.count > 2 ? fields[2] : "")
    }

    /// "USER PASSWORD" as tgt-admin splits it (at single spaces).
    static func credentials(_ value: String) -> (String, String) {
        let fields = value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        return (fields[0], fields.count > 1 ? fields[1] : "")
    }

    /// The first LUN from 1 up that no store of the target holds (tgt-admin's find_next_lun).
    private func nextFreeLUN(for path: String, reserved: inout [String: [String: String]]) -> String {
        var lun = 1
        while reserved.values.contains(where: { $0.values.contains(String(lun)) }) { lun += 1 }
        reserved[path, default: [:]]["lun"] = String(lun)
        return String(lun)
    }

    /// tgt-admin's add_backing_direct: one logical unit and its parameters.
    private func addStore(
        _ path: String, block: TargetsConf.Store?, of target: TargetsConf.Target, driver: String, direct: Bool,
        reserved: inout [String: [String: String]]
    ) throws {
        let bsType = block?.setting("bs-type")?.value ?? target.value("bs-type") ?? ""
        let needsNoFile = bsType.contains("glfs") || bsType.contains("rbd") || bsType == "null"
        var canAllocate = true
        if !bsType.contains("rbd") && bsType != "null" && !options.force && target.value("allow-in-use") != "yes" {
            canAllocate = try checkDevice(path, reserved: reserved)
        }
        let kind = environment.fileSystem.kind(path)
        guard canAllocate && (needsNoFile || kind == .file) else {
            if !canAllocate {
                try execute("# Skipping device \(path) - it is in use.")
                try execute("# You can override it with --force or 'allow-in-use yes' config option.")
                try execute("# Note - do so only if you know what you're doing, you may damage your data.")
            } else {
                try execute("# Skipping device: \(path)")
                try execute("# \(path) does not exist - please check the configuration file")
            }
            return
        }

        var lun = reserved[path]?["lun"] ?? nextFreeLUN(for: path, reserved: &reserved)
        if let targetLUN = target.value("lun") { lun = targetLUN }

        var commands: [String?] = []
        var added: Set<String> = []
        var storeOptions: [String: String] = [:]
        for setting in block?.settings ?? [] {
            let key = setting.key
            switch key {
            case "mode_page", "params":
                for value in setting.values { commands.append(parameterCommand(key, value, lun: lun, driver: driver)) }
            case "write-cache":
                commands.append(parameterCommand(key, setting.value, lun: lun, driver: driver))
                added.insert("write_cache")
            default:
                commands.append(parameterCommand(key, setting.value, lun: lun, driver: driver))
                added.insert(key)
                if ["device-type", "bs-type", "bsopts", "bsoflags", "block-size"].contains(key) {
                    storeOptions[key] = setting.value
                }
            }
        }

        var inquiry: [String: String] = [:]
        if direct { inquiry = deviceInquiry(path, blockSize: &storeOptions["block-size"]) }

        for key in ["scsi_id", "sense_format", "removable", "online", "path", "readonly"] {
            if !added.contains(key), let value = target.value(key) {
                commands.append(parameterCommand(key, value, lun: lun, driver: driver))
                added.insert(key)
            }
        }
        for key in ["vendor_id", "product_id", "product_rev", "scsi_sn", "lbppbe", "la_lba", "optimal_xfer_gran", "optimal_xfer_len"] {
            if !added.contains(key), let value = target.value(key) ?? inquiry[key], !value.isEmpty {
                commands.append(parameterCommand(key, value, lun: lun, driver: driver))
                added.insert(key)
            }
        }
        if !added.contains("write_cache") {
            commands.append(parameterCommand("write-cache", target.value("write-cache") ?? "", lun: lun, driver: driver))
        }
        for value in target.values("mode_page") { commands.append(parameterCommand("mode_page", value, lun: lun, driver: driver)) }
        for value in target.values("params") { commands.append(parameterCommand("params", value, lun: lun, driver: driver)) }
        for key in ["device-type", "bs-type", "bsopts", "bsoflags"] where !added.contains(key) {
            storeOptions[key] = target.value(key)
        }

        func option(_ key: String, _ flag: String) -> String { storeOptions[key].map { "\(flag) \($0)" } ?? "" }
        try execute(
            "tgtadm -C \(controlPort) --lld \(driver) --op new --mode logicalunit --tid \(nextTid) --lun \(lun) -b \"\(path)\" "
                + [
                    option("device-type", "--device-type"), option("bs-type", "--bstype"), option("bsopts", "--bsopts"),
                    option("bsoflags", "--bsoflags"), option("block-size", "--blocksize"),
                ].joined(separator: " "))
        // Mode pages (write-cache off is one) go first, as in tgt-admin.
        let lines = commands.compactMap { $0 }.filter { !$0.isEmpty }
        for line in lines where line.contains("params mode_page") { try execute(line) }
        for line in lines where !line.contains("params mode_page") { try execute(line) }
    }

    /// tgt-admin's add_params: the command (or comment) for one logical-unit parameter.
    private func parameterCommand(_ key: String, _ value: String, lun: String, driver: String) -> String? {
        let prefix = "tgtadm -C \(controlPort) --lld \(driver) --op update --mode logicalunit --tid \(nextTid) --lun=\(lun) --params"
        switch key {
        case "write-cache":
            if value == "off" {
                return "\(prefix) mode_page=8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0"
            }
            if value == "on" || value.isEmpty { return "# Write cache is enabled (default) for lun \(lun)." }
            return "# WARNING! Unknown value (\(value)) to write-cache! Accepted values are \"on\" and \"off\"."
        case "params":
            return "\(prefix) \"\(value)\""
        case _ where TargetsConf.unitParameters.contains(key):
            return "\(prefix) \(key)=\"\(value)\""
        default:
            return nil
        }
    }

    /// tgt-admin's check_device: false (with its comments) when the device is in use.
    private func checkDevice(_ path: String, reserved: [String: [String: String]]) throws -> Bool {
        if reserved[path]?["allow-in-use"] == "yes" { return true }
        guard environment.fileSystem.kind(path) != nil else { return true }
        switch environment.deviceUse(path) {
        case .free:
            return true
        case .bySystem:
            try execute("# Device \(path) is used by the system (mounted, used by swap?).")
        case .byProcess:
            try execute("# Device \(path) is used (already tgtd target?).")
            try execute("# Run 'lsof \(path)' to see the details.")
        }
        return false
    }

    /// direct-store: the device's identification and limits, from sg_inq and sg_readcap.
    private func deviceInquiry(_ path: String, blockSize: inout String?) -> [String: String] {
        var result: [String: String] = [:]
        func field(_ text: String, _ label: String) -> String? {
            for line in text.split(separator: "\n") {
                let trimmed = line.confTrimmed()
                if trimmed.hasPrefix(label) { return trimmed.dropFirst(label.count).confTrimmed() }
            }
            return nil
        }
        func number(_ text: String?) -> String? { text.map { String($0.prefix { $0.isASCII && $0.isNumber }) } }
        let quoted = "\"" + path.replacing("\"", with: "\\\"") + "\""
        let inquiry = environment.shellOutput("sg_inq \(quoted)")
        if let vendor = field(inquiry, "Vendor identification:"), let product = field(inquiry, "Product identification:"),
            let revision = field(inquiry, "Product revision level:")
        {
            result["vendor_id"] = vendor
            result["product_id"] = product
            result["product_rev"] = revision
            result["scsi_sn"] = field(inquiry, "Unit serial number:") ?? ""
        }
        let limits = environment.shellOutput("sg_inq -p 0xb0 \(quoted)")
        if let granularity = number(field(limits, "Optimal transfer length granularity:")),
            let length = number(field(limits, "Optimal transfer length:"))
        {
            result["optimal_xfer_gran"] = granularity
            result["optimal_xfer_len"] = length
        }
        let capacity = environment.shellOutput("sg_readcap -16 \(quoted)")
        if let logical = number(field(capacity, "Logical block length=")),
            let exponent = number(field(capacity, "Logical blocks per physical block exponent=")),
            let lowest = number(field(capacity, "Lowest aligned logical block address="))
        {
            if blockSize == nil { blockSize = logical }
            result["lbppbe"] = exponent
            result["la_lba"] = lowest
        }
        return result
    }

    // MARK: Removing targets

    /// Deletes targets the daemon has and the file does not (the end of `-e`).
    private func removeTargets() throws {
        try processTargets()
        guard let conf, !conf.targets.isEmpty else { return }
        for name in shownInTidOrder where conf.target(named: name) == nil {
            _ = try mainDelete(name)
        }
    }

    /// tgt-admin's main_delete. Returns true when the target is in use and was left alone.
    @discardableResult
    func mainDelete(_ name: String?, tid: String? = nil) throws -> Bool {
        let currentTid = name.flatMap { tidByName[$0] } ?? ""
        let configured = !currentTid.isEmpty
        if let name, let target = shown[name], target.hasConnection {
            guard options.force else {
                let what = isUpdate ? "updated" : "deleted"
                try execute("# Target with tid \(currentTid) (\(name)) is in use, it won't be \(what).")
                return true
            }
            try execute("# Removing target: \(name)")
            for rule in target.acl {
                let flag = TgtAdminAddress.isAddressRule(rule) ? "-I" : "-Q"
                try execute("tgtadm -C \(controlPort) --op unbind --mode target --tid \(currentTid) \(flag) \(rule)")
            }
            for session in target.sessions {
                for cid in session.cids {
                    try execute(
                        "tgtadm -C \(controlPort) --op delete --mode conn --tid \(currentTid) --sid \(session.sid) --cid \(cid)")
                }
            }
            try execute("tgtadm -C \(controlPort) --mode target --op delete --tid=\(currentTid)")
        } else if configured, let name {
            try execute("# Removing target: \(name)")
            try execute("tgtadm -C \(controlPort) --mode target --op delete --tid=\(currentTid)")
        } else if let tid, !tid.isEmpty {
            try execute("# Target with tid \(tid) does not exist!")
        } else {
            try execute("# Target with name \(name ?? "") does not exist!")
        }
        if configured { try execute() }
        return false
    }

    private func deleteTargets() throws {
        let value = options.delete
        if value == "help" {
            print(TgtAdminCommandLine.deleteOrUpdateHelp("delete"))
            return
        }
        try processTargets()
        if value == "ALL" {
            for name in shownInTidOrder { try mainDelete(name) }
        } else if value.hasPrefix("tid="), value.count > 4 {
            let tid = String(value.dropFirst(4))
            try mainDelete(nameByTid[tid], tid: tid)
        } else {
            try mainDelete(value)
        }
    }

    // MARK: Updating targets

    private func updateTargets() throws {
        let value = options.update
        if value == "help" {
            print(TgtAdminCommandLine.deleteOrUpdateHelp("update"))
            return
        }
        try parseConfigs()
        try processTargets()
        try processAccounts()
        guard let conf else { return }
        if value == "ALL" {
            let configuredOnly = shownInTidOrder.filter { conf.target(named: $0) == nil }
            for name in configuredOnly + conf.targets.map(\.name) {
                try update(name)
            }
        } else if value.hasPrefix("tid="), value.count > 4 {
            let tid = String(value.dropFirst(4))
            guard let name = nameByTid[tid], tidByName[name]?.isEmpty == false else {
                try fail("There is no target with tid \(tid), can't continue!\n")
            }
            try update(name)
        } else {
            try update(value)
        }
    }

    private func update(_ name: String) throws {
        let configured = tidByName[name].map { !$0.isEmpty } ?? false
        let inConfigFile = conf?.target(named: name) != nil
        if !inConfigFile && configured {
            try mainDelete(name)
        } else {
            try addTargets(single: name, configured: configured, inConfigFile: inConfigFile)
        }
    }

    private func maximumTid() -> Int {
        tidByName.values.compactMap { Int($0) }.max() ?? 0
    }

    // MARK: Offline and ready

    private func readyOrOffline(_ state: String) throws {
        let value: String
        if options.ready == "0" {
            value = options.offline
        } else if options.offline == "0" {
            value = options.ready
        } else {
            try fail("Invalid value (you can't use both ready and offline)!\n")
        }
        if value == "help" {
            print(TgtAdminCommandLine.stateHelp(state))
            return
        }
        try processTargets()
        if value == "ALL" {
            for name in shownInTidOrder {
                try execute("tgtadm -C \(controlPort) --op update --mode target --tid=\(tidByName[name]!) -n state -v \(state)")
            }
        } else if let range = value.firstRange(of: "tid="), range.upperBound < value.endIndex {
            let tid = value[range.upperBound...]
            try execute("tgtadm -C \(controlPort) --op update --mode target --tid=\(tid) -n state -v \(state)")
        } else if let tid = tidByName[value], !tid.isEmpty {
            try execute("tgtadm -C \(controlPort) --op update --mode target --tid=\(tid) --name=\"\(value)\" -n state -v \(state)")
        } else {
            try fail("There is no target with name \"\(value)\", can't \(state) it!\n")
        }
    }
}
