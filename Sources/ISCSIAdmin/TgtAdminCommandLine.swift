/// tgt-admin's options (tgt 1.0.85's Perl script, read with Getopt::Long and no_ignore_case).
///
/// Values are kept as the strings tgt-admin compares: an option left out is "0", so, as in
/// tgt-admin, `--delete 0` is the same as no `--delete`.
public struct TgtAdminOptions: Equatable, Sendable {
    public var execute = false
    public var delete = "0"
    public var offline = "0"
    public var ready = "0"
    public var update = "0"
    public var show = false
    /// `-c/--conf`; "0" means /etc/tgt/targets.conf.
    public var conf = "0"
    public var ignoreErrors = false
    public var force = false
    public var pretend = false
    public var dump = false
    public var verbose = false
    public var help = false
    /// `-C/--control-port`, passed to every tgtadm command as given.
    public var controlPort = "0"
    /// No arguments at all (or an empty first one): tgt-admin prints its usage.
    public var noArguments = false

    public init() {}
}

/// Parses tgt-admin's command line the way Getopt::Long does: options by full name or unique
/// prefix, with one or two dashes, `--name=value` or `--name value` (the next argument is taken
/// whatever it looks like), no bundling of short options. Problems are reported on stderr and
/// parsing goes on, as tgt-admin ignores GetOptions' result.
public enum TgtAdminCommandLine {
    public static let defaultConfigFile = "/etc/tgt/targets.conf"

    private enum Kind { case flag, string }

    /// Option names in tgt-admin's order; aliases share the key.
    private static let names: [(name: String, key: String, kind: Kind)] = [
        ("e", "execute", .flag), ("execute", "execute", .flag), ("delete", "delete", .string),
        ("offline", "offline", .string), ("ready", "ready", .string), ("update", "update", .string),
        ("s", "show", .flag), ("show", "show", .flag), ("c", "conf", .string), ("conf", "conf", .string),
        ("ignore-errors", "ignore-errors", .flag), ("f", "force", .flag), ("force", "force", .flag),
        ("p", "pretend", .flag), ("pretend", "pretend", .flag), ("dump", "dump", .flag), ("v", "verbose", .flag),
        ("verbose", "verbose", .flag), ("h", "help", .flag), ("help", "help", .flag),
        ("C", "control-port", .string), ("control-port", "control-port", .string),
    ]

    /// - Returns: the options and Getopt::Long's complaints (for stderr), if any.
    public static func parse(_ arguments: [String]) -> (options: TgtAdminOptions, diagnostics: String) {
        var options = TgtAdminOptions()
        options.noArguments = arguments.first.map(\.isEmpty) ?? true
        var diagnostics = ""
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" { break }
            guard argument.hasPrefix("-"), argument.count > 1 else { continue }
            let body = argument.hasPrefix("--") ? argument.dropFirst(2) : argument.dropFirst()
            let name = String(body.prefix { $0 != "=" })
            let inline = body.firstIndex(of: "=").map { String(body[body.index(after: $0)...]) }

            let matched: (name: String, key: String, kind: Kind)
            if let exact = names.first(where: { $0.name == name }) {
                matched = exact
            } else {
                let candidates = names.filter { $0.name.hasPrefix(name) && !name.isEmpty }
                let keys = Set(candidates.map(\.key))
                if keys.isEmpty {
                    diagnostics += "Unknown option: \(name)\n"
                    continue
                }
                if keys.count > 1 {
                    let list = candidates.map(\.name).sorted().joined(separator: ", ")
                    diagnostics += "Option \(name) is ambiguous (\(list))\n"
                    continue
                }
                matched = candidates.first { $0.name.count > 1 } ?? candidates[0]
            }

            switch matched.kind {
            case .flag:
                if inline != nil {
                    diagnostics += "Option \(matched.name) does not take an argument\n"
                    continue
                }
                options.setFlag(matched.key)
            case .string:
                if let inline {
                    options.set(matched.key, inline)
                } else if index < arguments.count {
                    options.set(matched.key, arguments[index])
                    index += 1
                } else {
                    diagnostics += "Option \(matched.name) requires an argument\n"
                }
            }
        }
        return (options, diagnostics)
    }

    public static func usage(configFile: String = defaultConfigFile) -> String {
        """
        Usage:
        tgt-admin [OPTION]...
        This tool configures tgt targets.

          -e, --execute\t\t\tread \(configFile) and execute tgtadm commands
              --delete <value>\t\tdelete all or selected targets
        \t\t\t\t(see "--delete help" for more info)
              --offline <value>\t\tput all or selected targets in offline state
        \t\t\t\t(see "--offline help" for more info)
              --ready <value>\t\tput all or selected targets in ready state
        \t\t\t\t(see "--ready help" for more info)
              --update <value>\t\tupdate configuration for all or selected targets
        \t\t\t\t(see "--update help" for more info)
          -s, --show\t\t\tshow all the targets
          -C, --control-port <NNNN>\tspecify the control port to connect to
          -c, --conf <conf file>\tspecify an alternative configuration file
              --ignore-errors\t\tcontinue even if tgtadm exits with non-zero code
          -f, --force\t\t\tforce some operations even if the target is in use
          -p, --pretend\t\t\tonly print tgtadm options
              --dump\t\t\tdump current tgtd configuration (note: does not
        \t\t\t\tinclude detailed parameters, like write caching)
          -v, --verbose\t\t\tincrease verbosity (show tgtadm commands)
          -h, --help\t\t\tshow this help


        """
    }

    /// `--delete help` and `--update help`.
    static func deleteOrUpdateHelp(_ action: String) -> String {
        let past = action == "delete" ? "deleted" : "updated"
        return """
                  --\(action) <value>\t\t\(action) all or selected targets
            \t\t\t\tThe target will be \(past) only if it's not used
            \t\t\t\t(no initiator is connected to it).
            \t\t\t\tIf you want to \(action) targets which are in use,
            \t\t\t\tyou have to add "--force" flag.

            Example usage:
                  --\(action) help\t      - display this help
                  --\(action) ALL\t      - \(action) all targets
                  --\(action) tid=4\t      - \(action) target 4 (target with tid 4)
                  --\(action) iqn.2008-08.com.example:some.target - \(action) this target


            """
    }

    /// `--offline help` and `--ready help`.
    static func stateHelp(_ state: String) -> String {
        """
              --\(state) <value>\t\t\(state) all or selected targets

        Example usage:
              --\(state) help\t      - display this help
              --\(state) ALL\t      - \(state) all targets
              --\(state) tid=4\t      - \(state) target 4 (target with tid 4)
              --\(state) iqn.2008-08.com.example:some.target - \(state) this target


        """
    }
}

extension TgtAdminOptions {
    fileprivate mutating func setFlag(_ key: String) {
        switch key {
        case "execute": execute = true
        case "show": show = true
        case "ignore-errors": ignoreErrors = true
        case "force": force = true
        case "pretend": pretend = true
        case "dump": dump = true
        case "verbose": verbose = true
        default: help = true
        }
    }

    fileprivate mutating func set(_ key: String, _ value: String) {
        switch key {
        case "delete": delete = value
        case "offline": offline = value
        case "ready": ready = value
        case "update": update = value
        case "conf": conf = value
        default: controlPort = value
        }
    }
}
