/// A target portal, `IP[:PORT][,TPGT]` on the command line (`[IPv6]:PORT` for IPv6) and
/// `IP,PORT[,TPGT]` in record paths.
public struct Portal: Hashable, Sendable, Codable {
    public var address: String
    public var port: Int
    public var tpgt: Int

    public static let defaultPort = 3260

    public init(address: String, port: Int = Portal.defaultPort, tpgt: Int = -1) {
        self.address = address
        self.port = port
        self.tpgt = tpgt
    }

    /// Parses the `-p` argument; nil when it is malformed.
    public init?(argument: String) {
        var rest = Substring(argument)
        var tpgt = -1
        if let comma = rest.lastIndex(of: ",") {
            guard let value = Int(rest[rest.index(after: comma)...]) else { return nil }
            tpgt = value
            rest = rest[..<comma]
        }
        var address: Substring
        var port = Portal.defaultPort
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            address = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()) else { return nil }
                port = value
            } else if !after.isEmpty {
                return nil
            }
        } else if rest.filter({ $0 == ":" }).count == 1, let colon = rest.firstIndex(of: ":") {
            address = rest[..<colon]
            guard let value = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = value
        } else {
            address = rest
        }
        guard !address.isEmpty, (1...65535).contains(port) else { return nil }
        self.init(address: String(address), port: port, tpgt: tpgt)
    }

    var isIPv6: Bool { address.contains(":") }

    /// `ip:port` (bracketed for IPv6), as in `-m node` and session lines.
    public var hostPort: String { isIPv6 ? "[\(address)]:\(port)" : "\(address):\(port)" }

    /// `ip,port` as in record directory names and login messages.
    public var commaForm: String { "\(address),\(port)" }
}
