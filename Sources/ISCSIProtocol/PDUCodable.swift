import NIOCore

/// The all-ones tag value RFC 7143 reserves for "no tag" (ITT of unsolicited
/// NOP-In and Async Message, TTT of NOP-Out not answering a NOP-In, ...).
public enum ISCSITag {
    public static let reserved: UInt32 = 0xffff_ffff
}

/// How one PDU struct maps to the wire. The encoder writes byte 0 (opcode and
/// I bit) and bytes 4-7 (TotalAHSLength, DataSegmentLength) of a zeroed BHS;
/// the struct fills everything else.
protocol PDUCodable {
    static var opcode: ISCSIOpcode { get }
    /// Decodes from `frame`, whose BHS the caller checked is 48 bytes (`bhs` reads it).
    init(bhs: BHSReader, frame: PDUFrame) throws
    /// The I bit.
    var isImmediateForEncoding: Bool { get }
    /// Opcode-specific BHS fields (bytes 1-3 and 8-47).
    func writeFields(_ writer: BHSWriter, into buffer: inout ByteBuffer)
    /// Bytes of AHS `writeAHS` appends, a multiple of 4.
    var encodedAHSLength: Int { get }
    func writeAHS(into buffer: inout ByteBuffer)
    /// The data segment to send; empty when the PDU carries none.
    var dataSegmentForEncoding: ByteBuffer { get }
}

extension PDUCodable {
    var isImmediateForEncoding: Bool { false }
    var encodedAHSLength: Int { 0 }
    func writeAHS(into buffer: inout ByteBuffer) {}
    var dataSegmentForEncoding: ByteBuffer { ByteBuffer() }
}

/// A PDU that could not be turned into a typed value. The raw BHS is kept so the
/// receiver can answer with a Reject carrying it.
public enum PDUDecodeError: Error, Hashable, CustomStringConvertible {
    /// The frame's BHS is not 48 bytes (only possible for hand-built frames).
    case invalidBHSLength(Int)
    /// Byte 0 holds an opcode this implementation does not know (vendor-specific or reserved).
    case unknownOpcode(UInt8, bhs: ByteBuffer)
    /// The AHS list does not parse (lengths overrun, wrong size for its type).
    case malformedAHS(String, bhs: ByteBuffer)

    /// The offending header, when there is one.
    public var bhs: ByteBuffer? {
        switch self {
        case .invalidBHSLength: return nil
        case .unknownOpcode(_, let bhs), .malformedAHS(_, let bhs): return bhs
        }
    }

    public var description: String {
        switch self {
        case .invalidBHSLength(let length):
            return "PDU decode error: basic header segment is \(length) bytes, expected 48"
        case .unknownOpcode(let opcode, _):
            return "PDU decode error: unknown opcode 0x\(String(opcode, radix: 16))"
        case .malformedAHS(let reason, _):
            return "PDU decode error: malformed additional header segment: \(reason)"
        }
    }
}
