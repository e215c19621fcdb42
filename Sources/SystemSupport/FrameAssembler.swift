/// One length-prefixed frame (a 4-byte big-endian length, then that many bytes) put together from
/// the bytes that have arrived so far, without IO.
///
/// The announced length is checked against the limit as soon as the header is complete, and the
/// payload grows only with the bytes that arrive: a peer that announces 16 MiB and sends one byte
/// costs one byte, not 16 MiB. `bytesWanted` never reaches past the end of the frame, so a reader
/// that asks for at most that many bytes never consumes anything after it.
public struct FrameAssembler: Sendable {
    /// The header announced more than `limit` bytes; nothing of the payload was taken.
    public struct Oversized: Error, Equatable, Sendable {
        public let announced: Int
        public let limit: Int
    }

    public let limit: Int
    private var header: [UInt8] = []
    private var payload: [UInt8] = []
    /// The payload length, once the header is complete.
    public private(set) var announcedLength: Int?

    public init(limit: Int) {
        self.limit = limit
    }

    /// Bytes of the frame still to come: the rest of the header, then the rest of the payload.
    public var bytesWanted: Int {
        guard let announcedLength else { return 4 - header.count }
        return announcedLength - payload.count
    }

    public var isComplete: Bool { announcedLength != nil && bytesWanted == 0 }

    /// Header and payload bytes taken so far.
    public var bytesReceived: Int { header.count + payload.count }

    /// Bytes held for the payload (its allocation, which may exceed the bytes received by the
    /// array's growth factor, never the announced length).
    public var bytesHeld: Int { payload.capacity }

    /// Takes bytes that arrived; at most `bytesWanted` of them may be given.
    /// - Throws: `Oversized` when the header completed here announces more than `limit`.
    public mutating func take(_ bytes: UnsafeRawBufferPointer) throws(Oversized) {
        precondition(bytes.count <= bytesWanted, "took \(bytes.count) bytes, only \(bytesWanted) wanted")
        var rest = bytes[...]
        if announcedLength == nil {
            let headerPart = rest.prefix(4 - header.count)
            header += headerPart
            rest = rest.dropFirst(headerPart.count)
            guard header.count == 4 else { return }
            let length = header.reduce(0) { $0 << 8 | Int($1) }
            guard length <= limit else { throw Oversized(announced: length, limit: limit) }
            announcedLength = length
        }
        payload += rest
    }

    /// The payload once the frame is complete; nil before.
    public var frame: [UInt8]? { isComplete ? payload : nil }
}
