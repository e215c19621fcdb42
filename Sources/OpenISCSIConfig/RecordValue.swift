/// How open-iscsi 2.1.8 takes a value for each record key (usr/idbm.c, idbm_rec_update_param):
/// choices must match one option exactly (case counts), numbers go through strtoul and are cut
/// to the field's width (so `abc` stores 0 and `-5` stores -5), the CHAP algorithm list keeps
/// the names it knows, and strings are taken as they are.
public enum RecordValueKind: Equatable, Sendable {
    case string
    /// A C field of `bits` bits; `signed` for `int`, else `uint8_t`...`uint32_t`.
    case number(bits: Int, signed: Bool)
    case choice([String])
    case algorithms([String])
}

public enum RecordValues {
    static let yesNo = ["No", "Yes"]
    static let startups = ["manual", "automatic", "onboot"]
    static let digests = ["None", "CRC32C", "CRC32C,None", "None,CRC32C"]
    public static let chapAlgorithms = ["MD5", "SHA1", "SHA256", "SHA3-256"]

    static let choices: [String: [String]] = [
        "discovery.startup": ["manual", "automatic"],
        "discovery.type": ["sendtargets", "isns", "offload_send_targets", "slp", "static", "fw"],
        "discovery.sendtargets.auth.authmethod": ["None", "CHAP"],
        "discovery.sendtargets.use_discoveryd": yesNo,
        "node.startup": startups,
        "node.leading_login": yesNo,
        "node.discovery_type": ["send_targets", "isns", "offload_send_targets", "slp", "static", "fw"],
        "node.session.auth.authmethod": ["None", "CHAP"],
        "node.session.iscsi.FastAbort": yesNo,
        "node.session.iscsi.InitialR2T": yesNo,
        "node.session.iscsi.ImmediateData": yesNo,
        "node.session.scan": ["manual", "auto"],
        "node.conn[0].startup": startups,
        "node.conn[0].iscsi.HeaderDigest": digests,
        "node.conn[0].iscsi.DataDigest": digests,
        "node.conn[0].iscsi.IFMarker": yesNo,
        "node.conn[0].iscsi.OFMarker": yesNo,
    ]

    /// iface fields narrower than an int.
    static let ifaceNumbers: [String: (bits: Int, signed: Bool)] = [
        "iface.prefix_len": (8, false), "iface.vlan_id": (16, false), "iface.vlan_priority": (8, false),
        "iface.iface_num": (32, true), "iface.mtu": (16, false), "iface.port": (16, false),
        "iface.tos": (8, false), "iface.ttl": (8, false), "iface.tcp_wsf": (8, false),
        "iface.tcp_timer_scale": (8, false), "iface.def_task_mgmt_timeout": (16, false), "iface.erl": (8, false),
        "iface.max_receive_data_len": (32, false), "iface.first_burst_len": (32, false),
        "iface.max_outstanding_r2t": (16, false), "iface.max_burst_len": (32, false),
    ]

    /// Keys that name the record (open-iscsi's `can_modify` 0): "It is used to look up the record
    /// and cannot be changed."
    public static let lookupKeys: Set<String> = [
        "node.name", "node.tpgt", "node.discovery_address", "node.discovery_port", "node.discovery_type",
        "node.conn[0].address", "node.conn[0].port", "iface.iscsi_ifacename",
        "discovery.type", "discovery.sendtargets.address", "discovery.sendtargets.port",
    ]

    static let strings: Set<String> = [
        "node.name", "node.discovery_address", "node.conn[0].address",
        "node.session.auth.username", "node.session.auth.password",
        "node.session.auth.username_in", "node.session.auth.password_in",
        "discovery.sendtargets.address", "discovery.sendtargets.auth.username",
        "discovery.sendtargets.auth.password", "discovery.sendtargets.auth.username_in",
        "discovery.sendtargets.auth.password_in",
    ]

    /// How `key` takes its value. Keys of ours (`RecordSchema.nodeExtensions`) are numbers.
    public static func kind(of key: String) -> RecordValueKind {
        if let options = choices[key] { return .choice(options) }
        if key == "node.session.auth.chap_algs" { return .algorithms(chapAlgorithms) }
        if let number = ifaceNumbers[key] { return .number(bits: number.bits, signed: number.signed) }
        if key.hasPrefix("iface.") || strings.contains(key) { return .string }
        return .number(bits: 32, signed: true)
    }

    /// What a value becomes when open-iscsi stores it.
    public enum Outcome: Equatable, Sendable {
        /// Stored as `value`; `warnings` are open-iscsi's lines about names it ignored.
        case stored(String, warnings: [String])
        /// Refused: "unknown value format 'V' for parameter name 'K'".
        case unknownFormat(String)
    }

    public static func take(_ key: String, _ value: String) -> Outcome {
        // An empty value (or `<empty>`) clears the setting, as before.
        if value.isEmpty || value == "<empty>" { return .stored("", warnings: []) }
        switch kind(of: key) {
        case .string:
            return .stored(value, warnings: [])
        case .choice(let options):
            guard options.contains(value) else {
                return .unknownFormat("unknown value format '\(value)' for parameter name '\(key)'")
            }
            return .stored(value, warnings: [])
        case .number(let bits, let signed):
            return .stored(strtoulText(value, bits: bits, signed: signed), warnings: [])
        case .algorithms(let known):
            var kept: [String] = []
            var warnings: [String] = []
            for token in value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" }).map(String.init) {
                if kept.contains(token) {
                    warnings.append("Ignoring repeated value '\(token)' for '\(key)'")
                } else if known.contains(token) {
                    kept.append(token)
                } else {
                    warnings.append("Ignoring unknown value '\(token)' for '\(key)'")
                }
            }
            return .stored(kept.joined(separator: ","), warnings: warnings)
        }
    }

    /// C's `strtoul(text, NULL, 10)` on a 64-bit machine, stored into a field of `bits` bits and
    /// printed back (`%d` for signed fields, `%u` otherwise).
    public static func strtoulText(_ text: String, bits: Int, signed: Bool) -> String {
        var characters = Substring(text).drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" }
        var negative = false
        if let sign = characters.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            characters = characters.dropFirst()
        }
        var value: UInt64 = 0
        var overflow = false
        for character in characters {
            guard let digit = character.wholeNumberValue, character.isASCII else { break }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(digit))
            if o1 || o2 { overflow = true }
            value = sum
        }
        if overflow { value = UInt64.max } else if negative { value = 0 &- value }
        let mask: UInt64 = bits >= 64 ? UInt64.max : (1 << UInt64(bits)) - 1
        let cut = value & mask
        if signed && bits < 64 && cut & (1 << UInt64(bits - 1)) != 0 {
            return String(Int64(bitPattern: cut | ~mask))
        }
        return String(cut)
    }
}
