import NIOCore

/// A PDU ready for the socket, in up to three parts so the data segment is
/// written as-is (zero copy): write `header`, `data`, `trailer`, then flush.
public struct EncodedPDU: Hashable, Sendable {
    /// BHS, AHS and header digest.
    public var header: ByteBuffer
    /// The PDU's data segment slice, untouched; nil when empty.
    public var data: ByteBuffer?
    /// Padding to 4 bytes plus data digest; nil when both are empty.
    public var trailer: ByteBuffer?

    public init(header: ByteBuffer, data: ByteBuffer? = nil, trailer: ByteBuffer? = nil) {
        self.header = header
        self.data = data
        self.trailer = trailer
    }

    /// Bytes on the wire.
    public var count: Int { header.readableBytes + (data?.readableBytes ?? 0) + (trailer?.readableBytes ?? 0) }
}

/// Turns typed PDUs into wire bytes (RFC 7143 §11.1). Digests follow the
/// negotiated HeaderDigest/DataDigest; change them after login completes.
public struct PDUEncoder: Hashable, Sendable {
    public var headerDigest: Bool
    public var dataDigest: Bool

    public init(headerDigest: Bool = false, dataDigest: Bool = false) {
        self.headerDigest = headerDigest
        self.dataDigest = dataDigest
    }

    /// Encodes into one fresh buffer holding header and trailer, returned as two slices.
    public func encode(_ pdu: ISCSIPDU, allocator: ByteBufferAllocator) -> EncodedPDU {
        var ahsLength = 0
        if case .scsiCommand(let command) = pdu { ahsLength = command.encodedAHSLength }
        var buffer = allocator.buffer(capacity: BHS.length + ahsLength + 4 + Self.maxTrailerLength)
        let data = writeHeader(pdu, into: &buffer)
        let headerLength = buffer.readableBytes
        if let data {
            writeTrailer(forDataSegment: data, into: &buffer)
        }
        // Slice only after the last write, so the writes never copy on write.
        let header = buffer.readSlice(length: headerLength)!
        let trailer = buffer.readableBytes > 0 ? buffer.readSlice(length: buffer.readableBytes) : nil
        return EncodedPDU(header: header, data: data, trailer: trailer)
    }

    /// Appends the whole PDU (copying the data segment) to `buffer`; for control traffic and tests.
    public func encode(_ pdu: ISCSIPDU, into buffer: inout ByteBuffer) {
        if let data = writeHeader(pdu, into: &buffer) {
            buffer.writeImmutableBuffer(data)
            writeTrailer(forDataSegment: data, into: &buffer)
        }
    }

    /// Appends BHS, AHS and header digest to `buffer` (which may already hold
    /// other PDUs' headers) and returns the data segment to send after them, or
    /// nil when there is none. Follow the data with `writeTrailer`.
    @discardableResult
    public func writeHeader(_ pdu: ISCSIPDU, into buffer: inout ByteBuffer) -> ByteBuffer? {
        switch pdu {
        case .nopOut(let body): return writeHeader(body, into: &buffer)
        case .scsiCommand(let body): return writeHeader(body, into: &buffer)
        case .taskManagementRequest(let body): return writeHeader(body, into: &buffer)
        case .loginRequest(let body): return writeHeader(body, into: &buffer)
        case .textRequest(let body): return writeHeader(body, into: &buffer)
        case .dataOut(let body): return writeHeader(body, into: &buffer)
        case .logoutRequest(let body): return writeHeader(body, into: &buffer)
        case .snackRequest(let body): return writeHeader(body, into: &buffer)
        case .nopIn(let body): return writeHeader(body, into: &buffer)
        case .scsiResponse(let body): return writeHeader(body, into: &buffer)
        case .taskManagementResponse(let body): return writeHeader(body, into: &buffer)
        case .loginResponse(let body): return writeHeader(body, into: &buffer)
        case .textResponse(let body): return writeHeader(body, into: &buffer)
        case .dataIn(let body): return writeHeader(body, into: &buffer)
        case .logoutResponse(let body): return writeHeader(body, into: &buffer)
        case .r2t(let body): return writeHeader(body, into: &buffer)
        case .asyncMessage(let body): return writeHeader(body, into: &buffer)
        case .reject(let body): return writeHeader(body, into: &buffer)
        }
    }

    /// Appends the pad bytes and, if enabled, the data digest (over data and pad)
    /// that follow a non-empty `data` segment.
    public func writeTrailer(forDataSegment data: ByteBuffer, into buffer: inout ByteBuffer) {
        let pad = BHS.padding(data.readableBytes)
        buffer.writeRepeatingByte(0, count: pad)
        if dataDigest && data.readableBytes > 0 {
            let digest = CRC32C.extend(CRC32C.checksum(data), zeroBytes: pad)
            buffer.writeInteger(digest, endianness: .little)
        }
    }

    /// Three pad bytes + data digest.
    static let maxTrailerLength = 3 + 4

    private func writeHeader<PDU: PDUCodable>(_ pdu: PDU, into buffer: inout ByteBuffer) -> ByteBuffer? {
        let data = pdu.dataSegmentForEncoding
        precondition(data.readableBytes <= BHS.maxDataSegmentLength, "data segment exceeds 24-bit length")
        let ahsLength = pdu.encodedAHSLength
        precondition(ahsLength % 4 == 0 && ahsLength <= 1020, "AHS exceeds TotalAHSLength")

        let start = buffer.writerIndex
        buffer.writeRepeatingByte(0, count: BHS.length)
        let writer = BHSWriter(base: start)
        writer.set(PDU.opcode.rawValue | (pdu.isImmediateForEncoding ? BHS.immediateBit : 0), at: 0, in: &buffer)
        writer.set(UInt8(ahsLength / 4), at: BHS.totalAHSLength, in: &buffer)
        writer.set(UInt8(truncatingIfNeeded: data.readableBytes >> 16), at: BHS.dataSegmentLength, in: &buffer)
        writer.set(UInt16(truncatingIfNeeded: data.readableBytes), at: BHS.dataSegmentLength + 1, in: &buffer)
        pdu.writeFields(writer, into: &buffer)
        pdu.writeAHS(into: &buffer)
        assert(buffer.writerIndex - start == BHS.length + ahsLength, "AHS length mismatch")

        if headerDigest {
            let offset = start - buffer.readerIndex
            let digest = buffer.withUnsafeReadableBytes {
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[offset...]))
            }
            buffer.writeInteger(digest, endianness: .little)
        }
        return data.readableBytes > 0 ? data : nil
    }
}
