/// iscsiadm's command line, parsed as open-iscsi's getopt_long does (short options with attached
/// or separate arguments, `--long=value` and `--long value`).
public struct AdminCommandLine: Equatable, Sendable {
    public var mode: String?
    public var portal: String?
    public var target: String?
    public var discoveryType: String?
    public var ops: [String] = []
    public var names: [String] = []
    public var values: [String] = []
    public var login = false
    public var logout = false
    public var loginAll: String?
    public var logoutAll: String?
    public var printLevel: Int?
    public var sid: String?
    public var rescan = false
    public var stats = false
    public var showPasswords = false
    /// Every `-I`, in order (open-iscsi works on each of them).
    public var ifaces: [String] = []
    /// The first `-I`.
    public var iface: String? { ifaces.first }
    public var discover = false
    public var version = false
    public var help = false
    public var debug: String?
    /// -H: a host number (or MAC, for offload hosts).
    public var host: String?
    /// -C: a sub mode (chap, flashnode, stats, ping).
    public var submode: String?
    /// -k PRIORITY: tell iscsid to exit.
    public var killIscsid: Int?
    /// -a, -b, -c, -i: `-C ping`'s address, packet size, count and interval.
    public var pingAddress: String?
    public var packetSize = 32
    public var pingCount = 1
    public var pingInterval = 0
    /// -W: do not wait for logins.
    public var noWait = false
    /// The options in the order given (short names), for open-iscsi's per-mode check.
    public var options: [Character] = []

    public init() {}

    static let long: [String: Character] = [
        "mode": "m", "portal": "p", "targetname": "T", "type": "t", "op": "o", "name": "n", "value": "v",
        "login": "l", "logout": "u", "loginall": "L", "logoutall": "U", "print": "P", "sid": "r",
        "rescan": "R", "stats": "s", "show": "S", "interface": "I", "discover": "D", "debug": "d",
        "version": "V", "help": "h", "index": "x", "host": "H", "submode": "C", "killiscsid": "k",
        "no_wait": "W", "portal_type": "A", "ip": "a", "packetsize": "b", "count": "c", "interval": "i",
    ]
    static let withArgument: Set<Character> = ["m", "p", "T", "t", "o", "n", "v", "L", "U", "P", "r", "I", "d", "x", "H", "C", "k", "A", "a", "b", "c", "i"]
    static let flags: Set<Character> = ["l", "u", "R", "s", "S", "D", "V", "h", "W"]

    /// The options each mode takes (iscsiadm.c's mode_paras); others are refused with
    /// "MODE mode: option '-X' is not allowed/supported".
    static let allowedOptions: [String: (name: String, options: String)] = [
        "discovery": ("discovery", "DSIPdmntplov"), "discoverydb": ("discovery", "DSIPdmntplov"),
        "node": ("node", "RsPIdmlSonvupTULW"), "session": ("session", "PiRdrmusonuSv"),
        "host": ("host", "CHdmPotnvxA"), "iface": ("iface", "HIdnvmPoCabci"), "fw": ("fw", "dmlWnv"),
        // Ours: the block devices as multipath maps (`multipath -ll`).
        "multipath": ("multipath", "dm"),
    ]

    /// open-iscsi's check of the options against the mode; nil when they fit (or the mode is
    /// unknown: that is reported on its own).
    public func optionNotAllowed() -> ISCSIError? {
        guard let mode, let allowed = Self.allowedOptions[mode] else { return nil }
        // -h and -V act as soon as they are read; like open-iscsi, they are not checked here.
        for option in options where !allowed.options.contains(option) && option != "m" {
            return ISCSIError(.invalid, "\(allowed.name) mode: option '-\(option)' is not allowed/supported")
        }
        return nil
    }

    /// C's atoi: leading blanks, a sign and digits; anything else ends the number (0 if none).
    public static func atoi(_ text: String) -> Int {
        Int(RecordValues.strtoulText(text, bits: 32, signed: true)) ?? 0
    }

    /// Parses argv (without the program name).
    public static func parse(_ arguments: [String]) throws -> AdminCommandLine {
        var result = AdminCommandLine()
        var index = 0
        func nextArgument(_ option: String) throws -> String {
            index += 1
            guard index < arguments.count else {
                throw ISCSIError(.invalid, "option requires an argument -- '\(option)'")
            }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--") && argument.count > 2 {
                let body = argument.dropFirst(2)
                let name: String
                var value: String?
                if let equals = body.firstIndex(of: "=") {
                    name = String(body[..<equals])
                    value = String(body[body.index(after: equals)...])
                } else {
                    name = String(body)
                }
                guard let short = long[name] else { throw ISCSIError(.invalid, "unrecognized option '\(argument)'") }
                if withArgument.contains(short) {
                    let argumentValue = try value ?? nextArgument(name)
                    try result.apply(short, argumentValue)
                } else {
                    guard value == nil else {
                        throw ISCSIError(.invalid, "option '--\(name)' doesn't allow an argument")
                    }
                    try result.apply(short, nil)
                }
            } else if argument.hasPrefix("-") && argument.count > 1 {
                var characters = Array(argument.dropFirst())
                while !characters.isEmpty {
                    let option = characters.removeFirst()
                    if withArgument.contains(option) {
                        let value = characters.isEmpty ? try nextArgument(String(option)) : String(characters)
                        characters = []
                        try result.apply(option, value)
                    } else if flags.contains(option) {
                        try result.apply(option, nil)
                    } else {
                        throw ISCSIError(.invalid, "invalid option -- '\(option)'")
                    }
                }
            } else {
                // open-iscsi's getopt skips words that are no option (so `-m node IQN -u` logs
                // out of every session); we refuse them and say how to name a target.
                throw ISCSIError(.invalid, "unexpected argument '\(argument)': name a target with -T \(argument)")
            }
            index += 1
        }
        return result
    }

    private mutating func apply(_ option: Character, _ value: String?) throws {
        let value = value ?? ""
        options.append(option)
        switch option {
        case "m": mode = value
        case "p": portal = value
        case "T": target = value
        case "t": discoveryType = value
        case "o": ops.append(value)
        case "n": names.append(value)
        case "v": values.append(value)
        case "l": login = true
        case "u": logout = true
        case "L": loginAll = value
        case "U": logoutAll = value
        case "P": printLevel = Self.atoi(value)
        case "r":
            // A number, or a session's sysfs directory (which a userspace initiator has not).
            guard let number = UInt32(value) else {
                throw ISCSIError(.generic, "\(value) is an invalid session ID or path")
            }
            sid = String(number)
        case "R": rescan = true
        case "s": stats = true
        case "S": showPasswords = true
        case "I": ifaces.append(value)
        case "D": discover = true
        case "V": version = true
        case "h": help = true
        case "d": debug = value
        case "H": host = value
        case "C": submode = value
        case "k":
            let priority = Self.atoi(value)
            guard priority >= 0 else {
                throw ISCSIError(.invalid, "Invalid killiscsid priority \(priority) Priority must be greater than or equal to zero.")
            }
            killIscsid = priority
        case "a": pingAddress = value
        case "b": packetSize = Self.atoi(value)
        case "c": pingCount = Self.atoi(value)
        case "i": pingInterval = Self.atoi(value)
        case "W": noWait = true
        default: break
        }
    }
}
