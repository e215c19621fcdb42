/// A re-implementation of GNU `getopt_long` as tgtadm uses it, so our tgtadm accepts and rejects
/// exactly the same command lines with the same messages: long options by unique prefix, `--x=v`
/// and `--x v`, clustered short options (`-C9`, `-dC 9`), operands permuted to the end, `--` ends
/// the options.
struct GetoptLong {
    struct LongOption {
        let name: String
        let takesArgument: Bool
        let shortName: Character
    }

    enum Event: Equatable {
        /// An option by its short name, with its argument.
        case option(Character, String?)
        /// getopt's own complaint, without the program-name prefix.
        case error(String)
    }

    private let arguments: [String]
    private let shortOptions: [Character: Bool]
    private let longOptions: [LongOption]
    private var index = 0
    /// Remaining characters of a short-option cluster being scanned.
    private var cluster: Substring = ""
    /// Non-option arguments, in order, available once `next()` returned nil.
    private(set) var operands: [String] = []

    /// - Parameter shortOptions: getopt's optstring ("ab:" = -a, and -b with an argument).
    init(arguments: [String], shortOptions: String, longOptions: [LongOption]) {
        self.arguments = arguments
        self.longOptions = longOptions
        var table: [Character: Bool] = [:]
        var characters = Array(shortOptions)[...]
        while let option = characters.popFirst() {
            let takesArgument = characters.first == ":"
            if takesArgument { characters.removeFirst() }
            table[option] = takesArgument
        }
        self.shortOptions = table
    }

    mutating func next() -> Event? {
        if !cluster.isEmpty { return nextShort() }
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                operands.append(contentsOf: arguments[index...])
                index = arguments.count
                return nil
            }
            if argument.hasPrefix("--") { return nextLong(argument) }
            if argument.hasPrefix("-") && argument.count > 1 {
                cluster = argument.dropFirst()
                return nextShort()
            }
            operands.append(argument)
        }
        return nil
    }

    private mutating func nextShort() -> Event {
        let option = cluster.removeFirst()
        guard option != ":", let takesArgument = shortOptions[option] else {
            cluster = ""
            return .error("invalid option -- '\(option)'")
        }
        guard takesArgument else { return .option(option, nil) }
        if !cluster.isEmpty {
            defer { cluster = "" }
            return .option(option, String(cluster))
        }
        guard index < arguments.count else {
            return .error("option requires an argument -- '\(option)'")
        }
        index += 1
        return .option(option, arguments[index - 1])
    }

    private mutating func nextLong(_ argument: String) -> Event {
        let body = argument.dropFirst(2)
        let name = body.prefix { $0 != "=" }
        let inlineValue = name.endIndex < body.endIndex ? String(body[body.index(after: name.endIndex)...]) : nil

        let option: LongOption
        if let exact = longOptions.first(where: { $0.name == name }) {
            option = exact
        } else {
            let candidates = longOptions.filter { $0.name.hasPrefix(name) }
            if candidates.isEmpty { return .error("unrecognized option '\(argument)'") }
            if candidates.count > 1 {
                let possibilities = candidates.map { "'--\($0.name)'" }.joined(separator: " ")
                return .error("option '\(argument)' is ambiguous; possibilities: \(possibilities)")
            }
            option = candidates[0]
        }

        if !option.takesArgument {
            if inlineValue != nil { return .error("option '--\(option.name)' doesn't allow an argument") }
            return .option(option.shortName, nil)
        }
        if let inlineValue { return .option(option.shortName, inlineValue) }
        guard index < arguments.count else { return .error("option '--\(option.name)' requires an argument") }
        index += 1
        return .option(option.shortName, arguments[index - 1])
    }
}
