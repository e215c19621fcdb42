import NIOCore

/// One entry of a target's ACL, as `tgtadm --op bind --mode target` creates it.
public enum AccessRule: Hashable, Sendable, CustomStringConvertible {
    /// `-I ALL`: every initiator.
    case all
    /// `-I ADDRESS` or `-I ADDRESS/PREFIX`: initiators connecting from that address or network.
    case address(IPNetwork)
    /// `--initiator-name IQN`: initiators presenting that name.
    case initiatorName(String)

    public var description: String {
        switch self {
        case .all: return "ALL"
        case .address(let net): return net.description
        case .initiatorName(let name): return name
        }
    }

    /// Parses tgt's `-I` argument: `ALL`, an IPv4/IPv6 address, or a CIDR network.
    public static func parseAddress(_ text: String) -> AccessRule? {
        if text.uppercased() == "ALL" { return .all }
        return IPNetwork(text).map { .address($0) }
    }

    func admits(initiatorName: String, address: SocketAddress?) -> Bool {
        switch self {
        case .all: return true
        case .initiatorName(let name): return name.lowercased() == initiatorName.lowercased()
        case .address(let net): return address.map(net.contains) ?? false
        }
    }
}

/// An IPv4 or IPv6 network in CIDR form (a bare address is a /32 or /128).
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public let prefixLength: Int
    private let text: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let addr = try? SocketAddress(ipAddress: String(first), port: 0),
            let raw = IPNetwork.rawBytes(addr)
        else { return nil }
        let maxPrefix = raw.count * 8
        var prefix = maxPrefix
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maxPrefix).contains(p) else { return nil }
            prefix = p
        }
        self.bytes = raw
        self.prefixLength = prefix
        self.text = text
    }

    public var description: String { text }

    public func contains(_ address: SocketAddress) -> Bool {
        guard var raw = IPNetwork.rawBytes(address) else { return false }
        // IPv4-mapped IPv6 peers (::ffff:a.b.c.d) match IPv4 rules.
        if raw.count == 16, bytes.count == 4, raw[0..<10].allSatisfy({ $0 == 0 }), raw[10] == 0xff,
            raw[11] == 0xff
        {
            raw = Array(raw[12..<16])
        }
        guard raw.count == bytes.count else { return false }
        var remaining = prefixLength
        for i in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if raw[i] & mask != bytes[i] & mask { return false }
            remaining -= bits
        }
        return true
    }

    static func rawBytes(_ address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let a):
            var addr = a.address.sin_addr
            return withUnsafeBytes(of: &addr) { Array($0) }
        case .v6(let a):
            var addr = a.address.sin6_addr
            return withUnsafeBytes(of: &addr) { Array($0) }
        default:
            return nil
        }
    }
}
