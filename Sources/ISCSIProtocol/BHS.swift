import NIOCore

/// Layout constants of the 48-byte Basic Header Segment (RFC 7143 §11.1.1).
/// Offsets are from the first BHS byte; fields shared by every PDU live here,
/// opcode-specific offsets sit next to each PDU's coder.
enum BHS {
    static let length = 48
    static let opcodeByte = 0  // .|I|opcode
    static let flagsByte = 1
    static let totalAHSLength = 4  // in 4-byte words
    static let dataSegmentLength = 5  // 24 bits
    static let lun = 8
    static let initiatorTaskTag = 16

    static let immediateBit: UInt8 = 0x40
    static let opcodeMask: UInt8 = 0x3f
    static let finalBit: UInt8 = 0x80
    /// The largest value a 24-bit DataSegmentLength can carry.
    static let maxDataSegmentLength = 0xff_ffff

    /// Bytes needed to pad `length` up to a 4-byte boundary.
    @inline(__always)
    static func padding(_ length: Int) -> Int { (4 - (length & 3)) & 3 }
}

/// Reads fields of a BHS that is known to hold at least 48 bytes.
struct BHSReader {
    let buffer: ByteBuffer
    let base: Int

    /// `buffer` must hold `BHS.length` readable bytes (checked by the caller).
    init(_ buffer: ByteBuffer) {
        assert(buffer.readableBytes >= BHS.length)
        self.buffer = buffer
        self.base = buffer.readerIndex
    }

    @inline(__always) func uint8(_ offset: Int) -> UInt8 { buffer.getInteger(at: base + offset)! }
    @inline(__always) func uint16(_ offset: Int) -> UInt16 { buffer.getInteger(at: base + offset)! }
    @inline(__always) func uint32(_ offset: Int) -> UInt32 { buffer.getInteger(at: base + offset)! }
    @inline(__always) func uint64(_ offset: Int) -> UInt64 { buffer.getInteger(at: base + offset)! }
    @inline(__always) func uint24(_ offset: Int) -> UInt32 {
        UInt32(uint8(offset)) << 16 | UInt32(uint16(offset + 1))
    }
    @inline(__always) func flag(_ mask: UInt8, byte offset: Int = BHS.flagsByte) -> Bool {
        uint8(offset) & mask != 0
    }

    var isImmediate: Bool { flag(BHS.immediateBit, byte: BHS.opcodeByte) }
    var isFinal: Bool { flag(BHS.finalBit) }
    var lun: UInt64 { uint64(BHS.lun) }
    var initiatorTaskTag: UInt32 { uint32(BHS.initiatorTaskTag) }
    /// A slice of the BHS sharing its storage.
    func slice(_ offset: Int, length: Int) -> ByteBuffer { buffer.getSlice(at: base + offset, length: length)! }
}

/// Writes opcode-specific fields into a zeroed BHS already placed in a buffer.
struct BHSWriter {
    let base: Int

    @inline(__always)
    func set<T: FixedWidthInteger>(_ value: T, at offset: Int, in buffer: inout ByteBuffer) {
        buffer.setInteger(value, at: base + offset)
    }
}

extension BHSWriter {
    /// StatSN, ExpCmdSN, MaxCmdSN at bytes 24-35, shared by most target PDUs.
    @inline(__always)
    func writeStatusSequence(statSN: UInt32, expCmdSN: UInt32, maxCmdSN: UInt32, into buffer: inout ByteBuffer) {
        set(statSN, at: 24, in: &buffer)
        set(expCmdSN, at: 28, in: &buffer)
        set(maxCmdSN, at: 32, in: &buffer)
    }
}
