/// SHA3-256 (FIPS 202), CHAP algorithm 8: the Keccak-f[1600] sponge with a
/// 136-byte rate, the SHA-3 domain bits 01 and pad10*1.
struct SHA3_256: CHAPHashFunction {
    static let digestLength = 32
    static let rate = 136

    /// Round constants of the iota step, one per round.
    private static let roundConstants: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808a, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808b, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008a, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000a,
        0x0000_0000_8000_808b, 0x8000_0000_0000_008b, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800a, 0x8000_0000_8000_000a,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]

    /// Rotation of lane (x, y) in the rho step, indexed x + 5y.
    private static let rotations: [UInt64] = [
        0, 1, 62, 28, 27,
        36, 44, 6, 55, 20,
        3, 10, 43, 25, 39,
        41, 45, 15, 21, 8,
        18, 2, 61, 56, 14,
    ]

    /// Lanes indexed x + 5y; bytes enter each lane little-endian.
    private var lanes = [UInt64](repeating: 0, count: 25)
    /// Bytes of an incomplete rate block, always fewer than `rate`.
    private var pending: [UInt8] = []

    init() {}

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        if !pending.isEmpty {
            let take = min(Self.rate - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            offset = take
            guard pending.count == Self.rate else { return }
            let block = pending
            pending.removeAll(keepingCapacity: true)
            block.withUnsafeBytes { absorb($0) }
        }
        while bytes.count - offset >= Self.rate {
            absorb(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Self.rate)]))
            offset += Self.rate
        }
        if offset < bytes.count {
            pending.append(contentsOf: bytes[offset...])
        }
    }

    mutating func finalize() -> [UInt8] {
        var block = pending
        block.append(0x06)
        block.append(contentsOf: [UInt8](repeating: 0, count: Self.rate - block.count))
        block[Self.rate - 1] |= 0x80
        pending.removeAll()
        block.withUnsafeBytes { absorb($0) }
        var out: [UInt8] = []
        out.reserveCapacity(Self.digestLength)
        for lane in lanes[0..<(Self.digestLength / 8)] {
            for shift in stride(from: 0, to: 64, by: 8) {
                out.append(UInt8(truncatingIfNeeded: lane >> UInt64(shift)))
            }
        }
        return out
    }

    private mutating func absorb(_ block: UnsafeRawBufferPointer) {
        for index in 0..<(Self.rate / 8) {
            lanes[index] ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
        }
        Self.permute(&lanes)
    }

    /// Keccak-f[1600]: 24 rounds of theta, rho, pi, chi and iota.
    static func permute(_ a: inout [UInt64]) {
        var columns = [UInt64](repeating: 0, count: 5)
        var moved = [UInt64](repeating: 0, count: 25)
        for round in 0..<24 {
            // theta: fold each column's parity into its neighbours.
            for x in 0..<5 {
                columns[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20]
            }
            for x in 0..<5 {
                let mix = columns[(x + 4) % 5] ^ rotateLeft(columns[(x + 1) % 5], 1)
                for y in stride(from: 0, to: 25, by: 5) {
                    a[x + y] ^= mix
                }
            }
            // rho and pi: rotate each lane and move (x, y) to (y, 2x + 3y).
            for x in 0..<5 {
                for y in 0..<5 {
                    let source = x + 5 * y
                    moved[y + 5 * ((2 * x + 3 * y) % 5)] = rotateLeft(a[source], rotations[source])
                }
            }
            // chi: the only non-linear step, along each row.
            for y in stride(from: 0, to: 25, by: 5) {
                for x in 0..<5 {
                    a[x + y] = moved[x + y] ^ (~moved[(x + 1) % 5 + y] & moved[(x + 2) % 5 + y])
                }
            }
            // iota
            a[0] ^= roundConstants[round]
        }
    }

    @inline(__always)
    private static func rotateLeft(_ value: UInt64, _ count: UInt64) -> UInt64 {
        (value &<< count) | (value &>> (64 &- count))
    }
}
