/// A streaming hash function, as CHAP uses them: feed bytes, then take the digest.
///
/// The implementations (MD5, SHA-1, SHA-256, SHA3-256) are small and pure
/// Swift so the protocol module needs no crypto dependency. They compute
/// digests of public protocol data and of shared secrets; they make no attempt
/// to be constant-time, which CHAP does not need (only the comparison of
/// responses must be, see `CHAPAlgorithm.constantTimeEqual`).
protocol CHAPHashFunction {
    static var digestLength: Int { get }
    init()
    mutating func update(_ bytes: UnsafeRawBufferPointer)
    /// Pads and returns the digest; the value must not be used afterwards.
    mutating func finalize() -> [UInt8]
}

extension CHAPHashFunction {
    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = Self()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

/// The Merkle-Damgard framing shared by MD5, SHA-1 and SHA-256: 64-byte
/// blocks, padding with 0x80 and zeros, then the message length in bits as a
/// 64-bit integer (little-endian for MD5, big-endian for the SHA family).
protocol CHAPBlockHash: CHAPHashFunction {
    static var lengthIsBigEndian: Bool { get }
    /// Bytes of an incomplete block, always fewer than 64.
    var pending: [UInt8] { get set }
    /// Message bytes seen so far.
    var messageLength: UInt64 { get set }
    /// Processes one 64-byte block.
    mutating func compress(_ block: UnsafeRawBufferPointer)
    /// The chaining state as bytes, read after the final block.
    var stateBytes: [UInt8] { get }
}

extension CHAPBlockHash {
    static var blockLength: Int { 64 }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        messageLength &+= UInt64(bytes.count)
        absorb(bytes)
    }

    mutating func finalize() -> [UInt8] {
        let bitLength = messageLength &* 8
        let zeros = ((55 - Int(messageLength % 64)) % 64 + 64) % 64
        var tail = [UInt8](repeating: 0, count: 1 + zeros + 8)
        tail[0] = 0x80
        for index in 0..<8 {
            let shift = Self.lengthIsBigEndian ? 56 - 8 * index : 8 * index
            tail[1 + zeros + index] = UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))
        }
        tail.withUnsafeBytes { absorb($0) }
        precondition(pending.isEmpty, "padding must end on a block boundary")
        return stateBytes
    }

    private mutating func absorb(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        if !pending.isEmpty {
            let take = Swift.min(Self.blockLength - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            offset = take
            guard pending.count == Self.blockLength else { return }
            let block = pending
            pending.removeAll(keepingCapacity: true)
            block.withUnsafeBytes { compress($0) }
        }
        while bytes.count - offset >= Self.blockLength {
            compress(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Self.blockLength)]))
            offset += Self.blockLength
        }
        if offset < bytes.count {
            pending.append(contentsOf: bytes[offset...])
        }
    }
}

extension CHAPBlockHash {
    @inline(__always)
    static func rotateLeft(_ value: UInt32, _ count: UInt32) -> UInt32 {
        (value &<< count) | (value &>> (32 &- count))
    }

    @inline(__always)
    static func rotateRight(_ value: UInt32, _ count: UInt32) -> UInt32 {
        (value &>> count) | (value &<< (32 &- count))
    }

    /// State words, most significant byte first (the SHA family's order).
    static func bigEndianBytes(_ words: [UInt32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(words.count * 4)
        for word in words {
            for shift in stride(from: 24, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: word >> UInt32(shift)))
            }
        }
        return out
    }
}
