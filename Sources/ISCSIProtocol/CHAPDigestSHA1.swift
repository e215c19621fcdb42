/// SHA-1 (FIPS 180-4), CHAP algorithm 6.
struct SHA1: CHAPBlockHash {
    static let digestLength = 20
    static let lengthIsBigEndian = true

    var pending: [UInt8] = []
    var messageLength: UInt64 = 0
    private var state: [UInt32] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476, 0xc3d2_e1f0]

    init() {}

    mutating func compress(_ block: UnsafeRawBufferPointer) {
        var schedule = [UInt32](repeating: 0, count: 80)
        for index in 0..<16 {
            schedule[index] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
        }
        for index in 16..<80 {
            schedule[index] = Self.rotateLeft(
                schedule[index - 3] ^ schedule[index - 8] ^ schedule[index - 14] ^ schedule[index - 16], 1)
        }
        var a = state[0], b = state[1], c = state[2], d = state[3], e = state[4]
        for step in 0..<80 {
            let mixed: UInt32
            let constant: UInt32
            switch step {
            case 0..<20:
                mixed = (b & c) | (~b & d)
                constant = 0x5a82_7999
            case 20..<40:
                mixed = b ^ c ^ d
                constant = 0x6ed9_eba1
            case 40..<60:
                mixed = (b & c) | (b & d) | (c & d)
                constant = 0x8f1b_bcdc
            default:
                mixed = b ^ c ^ d
                constant = 0xca62_c1d6
            }
            let next = Self.rotateLeft(a, 5) &+ mixed &+ e &+ constant &+ schedule[step]
            e = d
            d = c
            c = Self.rotateLeft(b, 30)
            b = a
            a = next
        }
        state[0] &+= a
        state[1] &+= b
        state[2] &+= c
        state[3] &+= d
        state[4] &+= e
    }

    var stateBytes: [UInt8] { Self.bigEndianBytes(state) }
}
