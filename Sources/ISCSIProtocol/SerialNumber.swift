/// A 32-bit sequence number compared with serial number arithmetic (RFC 1982),
/// as RFC 7143 requires for CmdSN, StatSN, DataSN and R2TSN.
///
/// Two numbers exactly 2^31 apart are incomparable (RFC 1982 leaves the result
/// undefined): here both `<` and `>` are false for them and `distance(to:)`
/// returns nil. For that reason the type is not `Comparable`.
public struct SerialNumber: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// The largest increment RFC 1982 allows in one addition: 2^31 - 1.
    public static let maxIncrement: UInt32 = 0x7fff_ffff

    /// Adds with wrap-around. `increment` must not exceed `maxIncrement`.
    public static func + (lhs: SerialNumber, increment: UInt32) -> SerialNumber {
        precondition(increment <= maxIncrement, "serial number increment exceeds 2^31 - 1")
        return SerialNumber(lhs.rawValue &+ increment)
    }

    public static func += (lhs: inout SerialNumber, increment: UInt32) {
        lhs = lhs + increment
    }

    public static func < (lhs: SerialNumber, rhs: SerialNumber) -> Bool {
        guard let distance = lhs.distance(to: rhs) else { return false }
        return distance > 0
    }

    public static func > (lhs: SerialNumber, rhs: SerialNumber) -> Bool {
        rhs < lhs
    }

    public static func <= (lhs: SerialNumber, rhs: SerialNumber) -> Bool {
        lhs == rhs || lhs < rhs
    }

    public static func >= (lhs: SerialNumber, rhs: SerialNumber) -> Bool {
        lhs == rhs || lhs > rhs
    }

    /// How far `other` is ahead of `self` (negative when behind), or nil when
    /// the two are exactly 2^31 apart and so incomparable.
    public func distance(to other: SerialNumber) -> Int32? {
        let difference = Int32(bitPattern: other.rawValue &- rawValue)
        return difference == .min ? nil : difference
    }

    /// Whether `self` lies in the closed window `lower...upper` (e.g. ExpCmdSN...MaxCmdSN).
    /// An empty window (upper = lower - 1, RFC 7143 §4.2.2.1) contains nothing.
    public func isWithin(_ lower: SerialNumber, _ upper: SerialNumber) -> Bool {
        lower <= self && self <= upper
    }

    public var description: String { String(rawValue) }
}
