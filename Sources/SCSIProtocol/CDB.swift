/// A command descriptor block of up to 16 bytes, held inline so that parsing one never allocates.
///
/// Bytes past `count` read as zero, so a short CDB behaves like one padded with zeros.
public struct CDB: Sendable, Equatable {
    private var words: (UInt64, UInt64) = (0, 0)
    /// How many bytes were supplied (at most 16).
    public private(set) var count: Int

    public init(_ bytes: UnsafeRawBufferPointer) {
        count = min(bytes.count, 16)
        let n = count
        withUnsafeMutableBytes(of: &words) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
        }
    }

    public init(_ bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { CDB($0) }
    }

    public static func == (lhs: CDB, rhs: CDB) -> Bool {
        lhs.count == rhs.count && lhs.words == rhs.words
    }

    public subscript(index: Int) -> UInt8 {
        guard index >= 0 && index < 16 else { return 0 }
        return withUnsafeBytes(of: words) { $0[index] }
    }

    public var opcode: UInt8 { self[0] }

    /// The CDB length its operation code implies (16 for unknown groups).
    public var length: Int { SCSIOpcode.cdbLength(opcode) ?? 16 }

    /// The CONTROL byte (the last byte of the CDB).
    public var control: UInt8 { self[length - 1] }

    /// The service action field (CDB byte 1, bits 4-0).
    public var serviceAction: UInt16 { UInt16(self[1] & 0x1F) }

    public func uint16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    public func uint24(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 16 | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2])
    }

    public func uint32(at offset: Int) -> UInt32 {
        UInt32(uint16(at: offset)) << 16 | UInt32(uint16(at: offset + 2))
    }

    public func uint64(at offset: Int) -> UInt64 {
        UInt64(uint32(at: offset)) << 32 | UInt64(uint32(at: offset + 4))
    }

    /// LOGICAL BLOCK ADDRESS and TRANSFER LENGTH (or NUMBER OF LOGICAL BLOCKS) of the block
    /// commands, whose layout follows the CDB size: 6 (READ/WRITE(6), where a length of 0 means
    /// 256), 10, 12 and 16 bytes.
    public var blockRange: (lba: UInt64, blocks: UInt32) {
        switch length {
        case 6:
            let lba = UInt64(uint24(at: 1) & 0x1F_FFFF)
            let blocks = UInt32(self[4])
            return (lba, blocks == 0 ? 256 : blocks)
        case 10:
            return (UInt64(uint32(at: 2)), UInt32(uint16(at: 7)))
        case 12:
            return (UInt64(uint32(at: 2)), uint32(at: 6))
        default:
            return (uint64(at: 2), uint32(at: 10))
        }
    }
}
