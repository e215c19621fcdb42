import NIOCore

/// Why `PDUFrameDecoder` refused a PDU. Cases carrying `bhs` hold the offending
/// header (a slice) so the receiver can answer with a Reject.
public enum FramingError: Error, Hashable, CustomStringConvertible {
    /// DataSegmentLength exceeds `FramingLimits.maxDataSegmentLength`. Calling
    /// the decoder again discards this PDU's remaining bytes without buffering them.
    case dataSegmentTooLong(length: Int, limit: Int, bhs: ByteBuffer)
    /// TotalAHSLength exceeds `FramingLimits.maxAHSLength`. Calling the decoder
    /// again discards this PDU.
    case ahsTooLong(length: Int, limit: Int, bhs: ByteBuffer)
    /// The header digest is wrong: no length in the header can be trusted, so the
    /// stream cannot be resynchronised and the connection must be dropped. The
    /// decoder keeps throwing this error.
    case headerDigestMismatch(expected: UInt32, received: UInt32)
    /// The data digest is wrong. The PDU has been consumed; the receiver may
    /// answer Reject with reason 0x02 (data digest error) and carry on.
    case dataDigestMismatch(expected: UInt32, received: UInt32, bhs: ByteBuffer)

    /// The offending header, when it could be trusted.
    public var bhs: ByteBuffer? {
        switch self {
        case .dataSegmentTooLong(_, _, let bhs), .ahsTooLong(_, _, let bhs), .dataDigestMismatch(_, _, let bhs):
            return bhs
        case .headerDigestMismatch:
            return nil
        }
    }

    /// True when the connection cannot continue after this error.
    public var isConnectionFatal: Bool {
        if case .headerDigestMismatch = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .dataSegmentTooLong(let length, let limit, _):
            return "framing error: data segment of \(length) bytes exceeds MaxRecvDataSegmentLength \(limit)"
        case .ahsTooLong(let length, let limit, _):
            return "framing error: additional header segments of \(length) bytes exceed the limit of \(limit)"
        case .headerDigestMismatch(let expected, let received):
            return "framing error: header digest mismatch (computed 0x\(hex(expected)), received 0x\(hex(received)))"
        case .dataDigestMismatch(let expected, let received, _):
            return "framing error: data digest mismatch (computed 0x\(hex(expected)), received 0x\(hex(received)))"
        }
    }

    private func hex(_ value: UInt32) -> String { String(value, radix: 16) }
}
