import NIOCore

/// One PDU cut from the byte stream, digests checked and removed, padding dropped.
/// All three parts are slices of the receive buffer, never copies.
public struct PDUFrame: Hashable, Sendable {
    /// The 48-byte Basic Header Segment.
    public var bhs: ByteBuffer
    /// Additional Header Segments (a multiple of 4 bytes; usually empty).
    public var ahs: ByteBuffer
    /// The data segment without its padding.
    public var dataSegment: ByteBuffer

    public init(bhs: ByteBuffer, ahs: ByteBuffer = ByteBuffer(), dataSegment: ByteBuffer = ByteBuffer()) {
        self.bhs = bhs
        self.ahs = ahs
        self.dataSegment = dataSegment
    }

    /// The opcode byte's low six bits, or nil when the BHS is too short to have one.
    public var opcodeByte: UInt8? {
        bhs.getInteger(at: bhs.readerIndex, as: UInt8.self).map { $0 & BHS.opcodeMask }
    }
}

/// What the receiver accepts; the connection may change these after login
/// (digests, MaxRecvDataSegmentLength). Changes apply from the next PDU on.
public struct FramingLimits: Hashable, Sendable {
    /// The MaxRecvDataSegmentLength we declared (RFC 7143 default 8192). It
    /// applies as set, including to Login PDUs sent before it was negotiated.
    public var maxDataSegmentLength: Int
    /// Whether a CRC32C header digest follows BHS+AHS.
    public var headerDigest: Bool
    /// Whether a CRC32C data digest follows each non-empty data segment.
    public var dataDigest: Bool
    /// Largest TotalAHSLength accepted, in bytes (the field allows up to 1020).
    public var maxAHSLength: Int

    public init(
        maxDataSegmentLength: Int = 8192,
        headerDigest: Bool = false,
        dataDigest: Bool = false,
        maxAHSLength: Int = 1020
    ) {
        self.maxDataSegmentLength = maxDataSegmentLength
        self.headerDigest = headerDigest
        self.dataDigest = dataDigest
        self.maxAHSLength = maxAHSLength
    }
}
