import NIOCore

/// Gathers the data segments of a login or text PDU sequence sent with the
/// Continue bit, then decodes them as one logical text segment. A pair split
/// across PDUs is therefore decoded whole. The total size is bounded so a peer
/// cannot make us buffer without limit.
public struct TextAccumulator: Sendable {
    /// RFC 7143 section 6.1 asks for at least 8192 bytes, and 64 KiB when long
    /// authentication items are in use; 64 KiB is the default bound.
    public static let defaultByteLimit = 65_536

    public let byteLimit: Int
    private var buffer: ByteBuffer

    public init(byteLimit: Int = TextAccumulator.defaultByteLimit) {
        precondition(byteLimit >= 0, "byte limit must not be negative")
        self.byteLimit = byteLimit
        self.buffer = ByteBufferAllocator().buffer(capacity: 0)
    }

    /// Bytes gathered so far.
    public var byteCount: Int { buffer.readableBytes }

    public var isEmpty: Bool { buffer.readableBytes == 0 }

    /// Adds one PDU's data segment. Throws `textTooLong` if the total would pass
    /// the bound; the accumulator is then left unchanged.
    public mutating func append(_ segment: ByteBuffer) throws {
        guard segment.readableBytes <= byteLimit - buffer.readableBytes else {
            throw TextKeyError(key: nil, reason: .textTooLong(limit: byteLimit))
        }
        var segment = segment
        buffer.writeBuffer(&segment)
    }

    /// Decodes everything gathered (call it for the PDU with C=0) and empties
    /// the accumulator, whether decoding succeeds or not.
    public mutating func finish(limits: TextKeyLimits = .standard) throws -> [TextKeyValue] {
        defer { reset() }
        return try TextKeyCodec.decode(buffer, limits: limits)
    }

    public mutating func reset() {
        buffer.clear()
    }
}
