/// What a `tgtadm` command line asks for.
public enum TgtadmCommand: Equatable, Sendable {
    /// Send `request` to the daemon listening on `controlPort`.
    case send(AdminRequest, controlPort: Int)
    /// Print `TgtadmCommandLine.helpText` on stdout and exit 0.
    case help
    /// Print `TgtadmCommandLine.version` on stdout and exit 0.
    case version
}

/// A command line that Debian's tgtadm would refuse: `message` is its complete stderr text
/// (newline-terminated) and `exitCode` its exit status.
public struct TgtadmUsageError: Error, Equatable, Sendable {
    public var message: String
    public var exitCode: Int32

    /// "tgtadm: <text>", as tgtadm's own checks print it.
    static func plain(_ text: String, exitCode: Int32 = einval) -> TgtadmUsageError {
        TgtadmUsageError(message: "tgtadm: \(text)\n", exitCode: exitCode)
    }

    /// A message followed by tgtadm's pointer to --help.
    static func usage(_ line: String) -> TgtadmUsageError {
        TgtadmUsageError(message: line + "\n" + "Try `tgtadm --help' for more information.\n", exitCode: einval)
    }

    static let einval: Int32 = 22
}

/// Parses tgtadm's command line (tgt 1.0.85 `usr/tgtadm.c`) with its client-side checks.
public enum TgtadmCommandLine {
    /// The tgt version whose interface this tgtadm reproduces.
    public static let version = "1.0.85"

    /// tgt's long options, in tgt's order (which getopt's "ambiguous" message lists). Note tgt's
    /// quirk, kept here: short -F and -O take an argument although --force and --outgoing do not.
    static let longOptions: [GetoptLong.LongOption] = [
        ("debug", false, "d"), ("help", false, "h"), ("version", false, "V"), ("lld", true, "L"),
        ("op", true, "o"), ("mode", true, "m"), ("tid", true, "t"), ("sid", true, "s"), ("cid", true, "c"),
        ("lun", true, "l"), ("name", true, "n"), ("value", true, "v"), ("backing-store", true, "b"),
        ("bstype", true, "E"), ("bsopts", true, "S"), ("bsoflags", true, "f"), ("blocksize", true, "y"),
        ("targetname", true, "T"), ("initiator-address", true, "I"), ("initiator-name", true, "Q"),
        ("user", true, "u"), ("password", true, "p"), ("host", true, "H"), ("force", false, "F"),
        ("params", true, "P"), ("bus", true, "B"), ("device-type", true, "Y"), ("outgoing", false, "O"),
        ("control-port", true, "C"),
    ].map { GetoptLong.LongOption(name: $0.0, takesArgument: $0.1, shortName: $0.2) }

    static let shortOptions = "dhVL:o:m:t:s:c:l:n:v:b:E:f:y:T:I:Q:u:p:H:F:P:B:Y:O:C:S:"

    /// - Parameter arguments: the arguments after the program name.
    /// - Throws: `TgtadmUsageError` for anything tgtadm itself rejects.
    public static func parse(_ arguments: [String]) throws -> TgtadmCommand {
        var options = ParsedOptions()
        var getopt = GetoptLong(arguments: arguments, shortOptions: shortOptions, longOptions: longOptions)
        while let event = getopt.next() {
            switch event {
            case .error(let text):
                throw TgtadmUsageError.usage("tgtadm: " + text)
            case .option(let option, let argument):
                options.seen.append(option)
                if let command = try options.apply(option, argument ?? "") { return command }
            }
        }
        if let operand = getopt.operands.first {
            throw TgtadmUsageError.usage("tgtadm: unrecognized option '\(operand)'")
        }
        try options.validate()
        return .send(options.request(), controlPort: Int(options.controlPort))
    }
}

/// Option values as tgtadm's main() collects them, before the per-mode checks.
struct ParsedOptions {
    var seen: [Character] = []
    var lld: String?
    var op: AdminOperation?
    var opName = ""
    var mode: AdminMode?
    var tid: Int32?
    var sid: UInt64?
    var cid: UInt32?
    var lun: UInt64?
    var hostNumber: UInt32 = 0
    var name: String?
    var value: String?
    var backingStore: String?
    var bsType: String?
    var bsOpts: String?
    var bsOFlags: String?
    var blockSize: String?
    var targetName: String?
    var initiatorAddress: String?
    var initiatorName: String?
    var user: String?
    var password: String?
    var force = false
    var outgoing = false
    /// `--params` given while the mode was already "portal" (tgt's portalOps); otherwise targetOps.
    var portalParams: String?
    var targetParams: String?
    var deviceType = "disk"
    var deviceTypeGiven = false
    var controlPort: Int16 = 0

    /// Applies one option in command-line order, failing where tgtadm exits on the spot.
    /// Returns a command when the option ends parsing (--help, --version).
    mutating func apply(_ option: Character, _ argument: String) throws -> TgtadmCommand? {
        switch option {
        case "L": lld = argument
        case "o":
            guard let parsed = AdminOperation(rawValue: argument) else {
                throw TgtadmUsageError.plain("unknown operation: \(argument)", exitCode: 1)
            }
            op = parsed
            opName = argument
        case "m":
            guard let parsed = AdminMode(tgtadmName: argument) else {
                throw TgtadmUsageError.plain("unknown mode: \(argument)", exitCode: 1)
            }
            mode = parsed
        case "t": tid = try number(argument, option, Int32.self, minimum: 0)
        case "s": sid = try number(argument, option, UInt64.self)
        case "c": cid = try number(argument, option, UInt32.self)
        case "l": lun = try number(argument, option, UInt64.self)
        case "H": hostNumber = try number(argument, option, UInt32.self, minimum: 0)
        case "C": controlPort = try number(argument, option, Int16.self, minimum: 0)
        case "P":
            if mode == .portal { portalParams = argument } else { targetParams = argument }
        case "n": name = argument
        case "v": value = argument
        case "b": backingStore = argument
        case "T": targetName = argument
        case "I": initiatorAddress = argument
        case "Q": initiatorName = argument
        case "u": user = argument
        case "p": password = argument
        case "B":
            // tgt maps a SCSI bus to a host number through sysfs; no iSCSI setup uses it.
            throw TgtadmUsageError.plain("can't find bus: \(argument.prefix { $0 != "," })")
        case "F": force = true
        case "f": bsOFlags = argument
        case "y": blockSize = argument
        case "E": bsType = argument
        case "S": bsOpts = argument
        case "Y":
            deviceType = try Self.canonicalDeviceType(argument)
            deviceTypeGiven = true
        case "O": outgoing = true
        case "V": return .version
        case "h": return .help
        default: break  // "d": debug output, which this tgtadm does not have
        }
        return nil
    }

    private func number<T: FixedWidthInteger>(_ text: String, _ option: Character, _ type: T.Type, minimum: T? = nil) throws -> T {
        switch TgtadmNumber.parse(text, as: type, minimum: minimum) {
        case .success(let value): return value
        case .failure(.invalid): throw TgtadmUsageError.usage("-\(option) argument value '\(text)' invalid")
        case .failure(.outOfRange): throw TgtadmUsageError.usage("-\(option) argument value '\(text)' out of range")
        }
    }

    /// tgt's device type names; "ssc" is another name for a tape.
    private static func canonicalDeviceType(_ name: String) throws -> String {
        switch name {
        case "disk", "tape", "cd", "changer", "osd", "pt": return name
        case "ssc": return "tape"
        default: throw TgtadmUsageError.plain("unknown target type: \(name)")
        }
    }

    func request() -> AdminRequest {
        var request = tgtRequest()
        if mode == .nodeACL, outgoing {
            // A node ACL's mutual pair travels in the mutual fields.
            (request.mutualUser, request.mutualPassword, request.user, request.password) = (user, password, nil, nil)
            request.outgoing = false
        }
        return request
    }

    private func tgtRequest() -> AdminRequest {
        AdminRequest(
            lld: lld.flatMap { $0.isEmpty ? nil : $0 }, mode: mode!, op: op!, tid: tid, lun: lun, sid: sid, cid: cid,
            targetName: targetName, backingStore: backingStore,
            // As in tgt, a tape always uses the "ssc" backing store.
            bsType: deviceType == "tape" ? "ssc" : bsType, bsOpts: bsOpts, bsOFlags: bsOFlags,
            blockSize: blockSize, deviceType: deviceTypeGiven ? deviceType : nil, params: portalParams ?? targetParams,
            initiatorAddress: initiatorAddress, initiatorName: initiatorName, user: user, password: password,
            outgoing: outgoing, force: force, name: name, value: value)
    }
}
