import NIOCore

/// Cuts PDUs out of a TCP byte stream: BHS, AHS, header digest, data segment,
/// padding, data digest (RFC 7143 §11.1). A pure state machine: feed it the
/// connection's cumulative buffer; it consumes bytes only when it returns a
/// frame, throws, or discards a refused PDU. Works with any split of the input,
/// including one byte at a time.
public struct PDUFrameDecoder: Sendable {
    /// Read when each PDU's header starts arriving, so changes apply from the next PDU.
    public var limits: FramingLimits

    private var state: State = .waitingForHeader

    public init(limits: FramingLimits = FramingLimits()) {
        self.limits = limits
    }

    /// A verified header whose PDU is still arriving.
    private struct Header {
        var ahsLength: Int
        var dataLength: Int
        var headerDigest: Bool
        var dataDigest: Bool

        var dataOffset: Int { BHS.length + ahsLength + (headerDigest ? 4 : 0) }
        var paddedDataLength: Int { dataLength + BHS.padding(dataLength) }
        var hasDataDigest: Bool { dataDigest && dataLength > 0 }
        var totalLength: Int { dataOffset + paddedDataLength + (hasDataDigest ? 4 : 0) }
    }

    private enum State {
        case waitingForHeader
        case waitingForBody(Header)
        /// Dropping the rest of a PDU refused for its size.
        case discarding(remaining: Int)
        case failed(FramingError)
    }

    /// Returns the next complete PDU from `buffer`, or nil when more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) throws -> PDUFrame? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .discarding(let remaining):
                let count = min(remaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: count)
                guard count == remaining else {
                    state = .discarding(remaining: remaining - count)
                    return nil
                }
                state = .waitingForHeader
            case .waitingForHeader:
                guard let header = try parseHeader(buffer) else { return nil }
                state = .waitingForBody(header)
            case .waitingForBody(let header):
                guard buffer.readableBytes >= header.totalLength else { return nil }
                state = .waitingForHeader
                return try readFrame(header, from: &buffer)
            }
        }
    }

    /// The caller takes over the PDU whose (validated) header the decoder stopped at, and will
    /// consume its bytes itself: the decoder expects the next PDU's header.
    public mutating func skipPendingFrame() {
        if case .waitingForBody = state { state = .waitingForHeader }
    }

    /// True when the decoder has validated the header at the buffer's reader index and waits
    /// for the rest of that PDU.
    public var hasPendingHeader: Bool {
        if case .waitingForBody = state { return true }
        return false
    }

    /// Validates the header at the buffer's reader index once it is complete.
    private mutating func parseHeader(_ buffer: ByteBuffer) throws -> Header? {
        guard buffer.readableBytes >= BHS.length else { return nil }
        let bhs = BHSReader(buffer)
        let header = Header(
            ahsLength: Int(bhs.uint8(BHS.totalAHSLength)) * 4,
            dataLength: Int(bhs.uint24(BHS.dataSegmentLength)),
            headerDigest: limits.headerDigest,
            dataDigest: limits.dataDigest)
        guard buffer.readableBytes >= header.dataOffset else { return nil }

        if header.headerDigest {
            let covered = BHS.length + header.ahsLength
            let expected = CRC32C.checksum(buffer.getSlice(at: buffer.readerIndex, length: covered)!)
            let received = buffer.getInteger(at: buffer.readerIndex + covered, endianness: .little, as: UInt32.self)!
            guard expected == received else {
                let error = FramingError.headerDigestMismatch(expected: expected, received: received)
                state = .failed(error)
                throw error
            }
        }
        // Size checks only on a trusted header, so discarding it stays in sync.
        let bhsSlice = buffer.getSlice(at: buffer.readerIndex, length: BHS.length)!
        if header.ahsLength > limits.maxAHSLength {
            state = .discarding(remaining: header.totalLength)
            throw FramingError.ahsTooLong(length: header.ahsLength, limit: limits.maxAHSLength, bhs: bhsSlice)
        }
        if header.dataLength > limits.maxDataSegmentLength {
            state = .discarding(remaining: header.totalLength)
            throw FramingError.dataSegmentTooLong(
                length: header.dataLength, limit: limits.maxDataSegmentLength, bhs: bhsSlice)
        }
        return header
    }

    /// Consumes the complete PDU described by `header`.
    private func readFrame(_ header: Header, from buffer: inout ByteBuffer) throws -> PDUFrame {
        let start = buffer.readerIndex
        let bhs = buffer.getSlice(at: start, length: BHS.length)!
        let ahs = buffer.getSlice(at: start + BHS.length, length: header.ahsLength)!
        let data = buffer.getSlice(at: start + header.dataOffset, length: header.dataLength)!

        if header.hasDataDigest {
            let digestOffset = start + header.dataOffset + header.paddedDataLength
            let received = buffer.getInteger(at: digestOffset, endianness: .little, as: UInt32.self)!
            let padded = buffer.getSlice(at: start + header.dataOffset, length: header.paddedDataLength)!
            let expected = CRC32C.checksum(padded)
            guard expected == received else {
                buffer.moveReaderIndex(forwardBy: header.totalLength)
                throw FramingError.dataDigestMismatch(expected: expected, received: received, bhs: bhs)
            }
        }
        buffer.moveReaderIndex(forwardBy: header.totalLength)
        return PDUFrame(bhs: bhs, ahs: ahs, dataSegment: data)
    }
}
