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
    public var iface: String?
    public var discover = false
    public var version = false
    public var help = false
    public var debug: String?
    /// -H: a host number (or MAC, for offload hosts).
    public var host: String?
    /// -C: a sub mode (chap, flashnode, stats, ping).
    public var submode: String?

    public init() {}

    static let long: [String: Character] = [
        "mode": "m", "portal": "p", "targetname": "T", "type": "t", "op": "o", "name": "n", "value": "v",
        "login": "l", "logout": "u", "loginall": "L", "logoutall": "U", "print": "P", "sid": "r",
        "rescan": "R", "stats": "s", "show": "S", "interface": "I", "discover": "D", "debug": "d",
        "version": "V", "help": "h", "index": "x", "host": "H", "submode": "C", "killiscsid": "k",
        "param": "W", "portal_type": "A",
    ]
    static let withArgument: Set<Character> = ["m", "p", "T", "t", "o", "n", "v", "L", "U", "P", "r", "I", "d", "x", "H", "C", "k", "W", "A", "M"]
    static let flags: Set<Character> = ["l", "u", "R", "s", "S", "D", "V", "h"]

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
                throw ISCSIError(.invalid, "unrecognized character '\(argument)'")
            }
            index += 1
        }
        return result
    }

    private mutating func apply(_ option: Character, _ value: String?) throws {
        let value = value ?? ""
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
        case "P":
            guard let level = Int(value) else { throw ISCSIError(.invalid, "Invalid info level \(value). Try 0 - 3.") }
            printLevel = level
        case "r": sid = value
        case "R": rescan = true
        case "s": stats = true
        case "S": showPasswords = true
        case "I": iface = value
        case "D": discover = true
        case "V": version = true
        case "h": help = true
        case "d": debug = value
        case "H": host = value
        case "C": submode = value
        default: break
        }
    }
}
