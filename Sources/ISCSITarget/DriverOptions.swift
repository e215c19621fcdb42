import NIOCore

/// tgtd's `--iscsi` options, as tgt takes them: `KEY=VALUE`, several per option separated by
/// commas, the option repeatable. `portal=HOST:PORT` adds a portal, and a bare number after it
/// (`portal=HOST:PORT,2`, the `ADDRESS,TPGT` spelling of SendTargets and iscsiadm) puts it in that
/// target portal group instead of group 1; the rest set the engine's bounds (times in seconds,
/// budgets in MiB).
public struct ISCSIDriverOptions: Sendable {
    public var portals: [(portal: Portal, tag: UInt16)] = []
    public var configuration = TargetServerConfiguration()

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The keys besides `portal`, for the help text.
    public static let keys = [
        "portal=HOST:PORT[,TPGT]", "nop_interval=S (0: no pings)", "nop_timeout=S", "nop_count=N", "login_timeout=S",
        "max_logins=N", "max_logins_per_address=N", "cmdsn_depth=N", "connection_data_budget=MiB",
        "data_budget=MiB",
    ]

    public init(parsing options: [String]) throws(ParseError) {
        var nopCount: Int?
        for option in options {
            var lastWasPortal = false
            for item in option.split(separator: ",", omittingEmptySubsequences: false) {
                if lastWasPortal, let tag = UInt16(item) {
                    guard tag > 0 else { throw ParseError(description: "bad --iscsi portal group tag 0: tags are 1 to 65535") }
                    portals[portals.count - 1].tag = tag
                    lastWasPortal = false
                    continue
                }
                lastWasPortal = false
                let parts = item.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else {
                    throw ParseError(description: "bad --iscsi option '\(item)': expected KEY=VALUE")
                }
                let key = String(parts[0])
                let value = String(parts[1])
                if key == "portal" {
                    guard let portal = Portal(parsing: value) else {
                        throw ParseError(description: "bad --iscsi portal '\(value)': expected HOST:PORT")
                    }
                    portals.append((portal, configuration.portalGroupTag))
                    lastWasPortal = true
                    continue
                }
                guard let number = Int(value), number >= 0 else {
                    throw ParseError(description: "bad --iscsi \(key) '\(value)': expected a whole number")
                }
                func positive() throws(ParseError) -> Int {
                    guard number > 0 else { throw ParseError(description: "--iscsi \(key) must be above 0") }
                    return number
                }
                switch key {
                case "nop_interval": configuration.nopInterval = number == 0 ? nil : .seconds(Int64(number))
                case "nop_timeout": configuration.nopTimeout = .seconds(Int64(try positive()))
                case "nop_count": nopCount = try positive()
                case "login_timeout": configuration.loginTimeout = .seconds(Int64(try positive()))
                case "max_logins": configuration.maxLoginsInProgress = try positive()
                case "max_logins_per_address": configuration.maxLoginsPerAddress = try positive()
                case "cmdsn_depth":
                    guard (1...65536).contains(number) else {
                        throw ParseError(description: "--iscsi cmdsn_depth must be 1 to 65536")
                    }
                    configuration.commandWindow = UInt32(number)
                case "connection_data_budget": configuration.connectionDataBudget = try Self.mebibytes(positive(), key)
                case "data_budget": configuration.daemonDataBudget = try Self.mebibytes(positive(), key)
                default:
                    throw ParseError(
                        description: "unknown --iscsi option '\(key)' (known: \(Self.keys.joined(separator: ", ")))")
                }
            }
        }
        // tgt's nop_count: pings that may go unanswered before the connection is dropped.
        if let nopCount, let interval = configuration.nopInterval {
            configuration.nopTimeout = .nanoseconds(interval.nanoseconds * Int64(nopCount))
        }
    }

    private static func mebibytes(_ value: Int, _ key: String) throws(ParseError) -> Int {
        // A terabyte is beyond any machine this runs on; the bound keeps the shift from overflowing.
        guard value <= 1 << 20 else { throw ParseError(description: "--iscsi \(key) is too large") }
        return value << 20
    }
}
