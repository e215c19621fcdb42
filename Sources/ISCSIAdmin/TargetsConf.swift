/// A checked targets.conf: what tgt-admin applies with `-e` or `--update`.
///
/// The directives are tgt-admin's (tgt 1.0.85). Unlike tgt-admin, which silently ignores directives
/// it does not know and finds a missing value only when it reaches it (after changing targets
/// before it), the whole file is checked first and anything unknown or malformed is an error.
public struct TargetsConf: Equatable, Sendable {
    /// One directive, with every value it was given, in order.
    public struct Setting: Equatable, Sendable {
        public var key: String
        public var values: [String]
        public var location: TargetsConfLocation

        public var value: String { values[0] }
    }

    /// A `<backing-store PATH>` or `<direct-store PATH>` block (duplicate blocks merged).
    public struct Store: Equatable, Sendable {
        public var path: String
        /// In file order.
        public var settings: [Setting]
        public var location: TargetsConfLocation

        public func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }
    }

    /// The stores of one kind in a target: plain `backing-store PATH` lines or blocks, never both
    /// (tgt-admin's configuration reader refuses the mixture).
    public enum Stores: Equatable, Sendable {
        /// Unique paths in byte order, tgt-admin's processing order.
        case paths([String])
        /// Blocks in byte order of their paths.
        case blocks([Store])

        public var paths: [String] {
            switch self {
            case .paths(let paths): return paths
            case .blocks(let blocks): return blocks.map(\.path)
            }
        }
    }

    public struct Target: Equatable, Sendable {
        public var name: String
        public var location: TargetsConfLocation
        /// Scalar directives by key.
        public var settings: [String: Setting]
        public var backingStores: Stores?
        public var directStores: Stores?

        public func value(_ key: String) -> String? { settings[key]?.values.first }
        public func values(_ key: String) -> [String] { settings[key]?.values ?? [] }
    }

    /// Top-level directives by key (default-driver, ignore-errors, control-port, iSNS*, discovery users).
    public var settings: [String: Setting]
    /// Targets in byte order of their names (duplicate blocks merged), tgt-admin's order.
    public var targets: [Target]

    public func value(_ key: String) -> String? { settings[key]?.values.first }
    public func target(named name: String) -> Target? { targets.first { $0.name == name } }

    // MARK: Vocabulary

    static let topLevelSingle: Set<String> = [
        "default-driver", "ignore-errors", "control-port", "iSNS", "iSNSServerIP", "iSNSServerPort",
        "iSNSAccessControl", "incomingdiscoveryuser", "outgoingdiscoveryuser",
    ]

    /// tgt-admin's per-target iSCSI parameters, sent with `--op update --mode target --name K`.
    public static let targetParameters: [String] = [
        "MaxRecvDataSegmentLength", "MaxXmitDataSegmentLength", "HeaderDigest", "DataDigest", "InitialR2T",
        "MaxOutstandingR2T", "ImmediateData", "FirstBurstLength", "MaxBurstLength", "DataPDUInOrder",
        "DataSequenceInOrder", "ErrorRecoveryLevel", "IFMarker", "OFMarker", "DefaultTime2Wait",
        "DefaultTime2Retain", "OFMarkInt", "IFMarkInt", "MaxConnections", "state",
    ]

    /// Logical-unit parameters tgt-admin forwards as `--params key="value"`.
    public static let unitParameters: [String] = [
        "scsi_id", "scsi_sn", "vendor_id", "product_id", "product_rev", "sense_format", "removable", "online",
        "path", "mode_page", "lbppbe", "la_lba", "optimal_xfer_gran", "optimal_xfer_len", "readonly",
    ]

    /// Directives allowed once in a store block.
    static let storeSingle: Set<String> = Set(unitParameters).subtracting(["mode_page"]).union([
        "lun", "allow-in-use", "write-cache", "device-type", "bs-type", "bsopts", "bsoflags", "block-size",
    ])
    static let storeMultiple: Set<String> = ["mode_page", "params"]

    /// Directives allowed once in a target (besides its parameters, which may repeat: only the
    /// first is used, with a warning, as tgt-admin does).
    static let targetSingle: Set<String> = Set(unitParameters).subtracting(["mode_page"]).union([
        "driver", "lun", "allow-in-use", "write-cache", "device-type", "bs-type", "bsopts", "bsoflags",
        "controller_tid", "authentication", "allow-all",
    ])
    static let targetMultiple: Set<String> = Set(targetParameters).union([
        "incominguser", "outgoinguser", "initiator-address", "initiator-name", "mode_page", "params",
        "initiator-incominguser", "initiator-outgoinguser",
    ])
    static let storeKinds: Set<String> = ["backing-store", "direct-store"]
    static let numeric: Set<String> = ["lun", "block-size", "controller_tid"]
    static let credentials: Set<String> = [
        "incominguser", "outgoinguser", "incomingdiscoveryuser", "outgoingdiscoveryuser",
    ]

    // MARK: Reading

    /// Reads and checks a configuration file and its includes.
    public static func load(file path: String, fileSystem: TargetsConfFileSystem = .live) throws -> TargetsConf {
        try TargetsConf(nodes: TargetsConfSyntax.parse(file: path, fileSystem: fileSystem))
    }

    /// Checks configuration text.
    public static func parse(_ text: String, name: String = "targets.conf") throws -> TargetsConf {
        try TargetsConf(nodes: TargetsConfSyntax.parse(text: text, name: name))
    }

    public init(nodes: [TargetsConfNode]) throws {
        var settings: [String: Setting] = [:]
        var targets: [String: TargetBuilder] = [:]
        for node in nodes {
            switch node {
            case .option(let key, let value, let location):
                guard Self.topLevelSingle.contains(key) else {
                    throw TargetsConfError(Self.unknown(key, in: nil), at: location)
                }
                let value = try Self.checked(key, value, at: location)
                if settings[key] != nil {
                    throw TargetsConfError("\(key) may be given only once", at: location)
                }
                settings[key] = Setting(key: key, values: [value], location: location)
            case .block(let kind, let name, let children, let location):
                guard kind == "target" else {
                    throw TargetsConfError("unknown block <\(kind)> (only <target NAME> blocks are allowed here)", at: location)
                }
                guard let name, !name.isEmpty else {
                    throw TargetsConfError("<target> needs a target name, as in <target iqn.2001-04.com.example:disk1>", at: location)
                }
                var builder = targets[name] ?? TargetBuilder(name: name, location: location)
                try builder.add(children)
                targets[name] = builder
            }
        }
        if let ignore = settings["ignore-errors"], ignore.value != "yes" && ignore.value != "no" {
            throw TargetsConfError("ignore-errors must be yes or no", at: ignore.location)
        }
        self.settings = settings
        self.targets = try targets.keys.sorted(by: TargetsConfSyntax.byteOrder).map { try targets[$0]!.build() }
    }

    static func unknown(_ key: String, in context: String?) -> String {
        let place = context.map { " in \($0)" } ?? ""
        if key == "block-size" && context?.hasPrefix("<target") == true {
            return "block-size is allowed only in a <backing-store PATH> or <direct-store PATH> block"
        }
        return "unknown directive \"\(key)\"\(place)"
    }

    /// A directive's value, checked: present, and of the right shape for a few directives.
    static func checked(_ key: String, _ value: String?, at location: TargetsConfLocation) throws -> String {
        guard let value, !value.isEmpty else {
            throw TargetsConfError("\(key) has a missing value", at: location)
        }
        if numeric.contains(key) && !value.allSatisfy({ $0.isASCII && $0.isNumber }) {
            throw TargetsConfError("\(key) must be a number, not \"\(value)\"", at: location)
        }
        if credentials.contains(key) {
            // tgt-admin splits at single spaces and takes the first two fields.
            let fields = value.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw TargetsConfError("\(key) needs a user name and a password, as in \"\(key) USER PASSWORD\"", at: location)
            }
        }
        if key == "initiator-incominguser" || key == "initiator-outgoinguser" {
            let fields = value.split(separator: " ")
            guard fields.count == 3 else {
                throw TargetsConfError("\(key) needs an initiator name, a user name and a password, as in \"\(key) IQN USER PASSWORD\"", at: location)
            }
        }
        if key == "allow-all" && value != "yes" && value != "no" {
            throw TargetsConfError("allow-all is yes or no, not \"\(value)\"", at: location)
        }
        if key == "authentication" && value != "0" && value != "1" {
            throw TargetsConfError("authentication is 0 or 1, not \"\(value)\"", at: location)
        }
        return value
    }

    /// Collects one target's directives across its (possibly repeated) blocks.
    private struct TargetBuilder {
        let name: String
        let location: TargetsConfLocation
        var settings: [String: Setting] = [:]
        var plainStores: [String: [String]] = [:]
        var storeBlocks: [String: [String: Store]] = [:]

        init(name: String, location: TargetsConfLocation) {
            self.name = name
            self.location = location
        }

        var context: String { "<target \(name)>" }

        mutating func add(_ children: [TargetsConfNode]) throws {
            for child in children {
                switch child {
                case .option(let key, let value, let location):
                    if TargetsConf.storeKinds.contains(key) {
                        let path = try TargetsConf.checked(key, value, at: location)
                        if storeBlocks[key] != nil { throw mixture(key, at: location) }
                        if !(plainStores[key] ?? []).contains(path) { plainStores[key, default: []].append(path) }
                        continue
                    }
                    guard TargetsConf.targetSingle.contains(key) || TargetsConf.targetMultiple.contains(key) else {
                        throw TargetsConfError(TargetsConf.unknown(key, in: context), at: location)
                    }
                    let value = try TargetsConf.checked(key, value, at: location)
                    if var setting = settings[key] {
                        if TargetsConf.targetSingle.contains(key) {
                            throw TargetsConfError("\(key) may be given only once in \(context)", at: location)
                        }
                        setting.values.append(value)
                        settings[key] = setting
                    } else {
                        settings[key] = Setting(key: key, values: [value], location: location)
                    }
                case .block(let kind, let path, let children, let location):
                    guard TargetsConf.storeKinds.contains(kind) else {
                        throw TargetsConfError("unknown block <\(kind)> in \(context)", at: location)
                    }
                    guard let path, !path.isEmpty else {
                        throw TargetsConfError("<\(kind)> needs a path, as in <\(kind) /dev/sdb>", at: location)
                    }
                    if plainStores[kind] != nil { throw mixture(kind, at: location) }
                    var store = storeBlocks[kind]?[path] ?? Store(path: path, settings: [], location: location)
                    try Self.add(children, to: &store, kind: kind)
                    storeBlocks[kind, default: [:]][path] = store
                }
            }
        }

        private func mixture(_ kind: String, at location: TargetsConfLocation) -> TargetsConfError {
            TargetsConfError(
                "\(context) mixes \"\(kind) PATH\" lines with <\(kind) PATH> blocks; use one form for all", at: location)
        }

        private static func add(_ children: [TargetsConfNode], to store: inout Store, kind: String) throws {
            let context = "<\(kind) \(store.path)>"
            for child in children {
                switch child {
                case .block(let nested, _, _, let location):
                    throw TargetsConfError("<\(nested)> cannot be nested in \(context)", at: location)
                case .option(let key, let value, let location):
                    guard TargetsConf.storeSingle.contains(key) || TargetsConf.storeMultiple.contains(key) else {
                        throw TargetsConfError(TargetsConf.unknown(key, in: context), at: location)
                    }
                    let value = try TargetsConf.checked(key, value, at: location)
                    if let index = store.settings.firstIndex(where: { $0.key == key }) {
                        if TargetsConf.storeSingle.contains(key) {
                            throw TargetsConfError("\(key) may be given only once in \(context)", at: location)
                        }
                        store.settings[index].values.append(value)
                    } else {
                        store.settings.append(Setting(key: key, values: [value], location: location))
                    }
                }
            }
        }

        func build() throws -> Target {
            func stores(_ kind: String) -> Stores? {
                if let blocks = storeBlocks[kind] {
                    return .blocks(blocks.keys.sorted(by: TargetsConfSyntax.byteOrder).map { blocks[$0]! })
                }
                return plainStores[kind].map { .paths($0.sorted(by: TargetsConfSyntax.byteOrder)) }
            }
            return Target(
                name: name, location: location, settings: settings, backingStores: stores("backing-store"),
                directStores: stores("direct-store"))
        }
    }
}
