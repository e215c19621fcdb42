import ISCSIProtocol
import NIOCore

/// Thin IO layer of one initiator connection: frames PDUs and hands them to the engine,
/// writes encoded PDUs. Lives on the channel's event loop.
///
/// The receive path is zero-copy for every PDU that arrives whole in one read (the frame's
/// segments are slices of the read buffer), and for large Data-In split across reads: their data
/// goes to the session in pieces, each a slice of its read buffer. Any other PDU split across
/// reads is copied, and only its own bytes: the rest of the next read is framed in place.
final class InitiatorChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Largest receive buffer: several 256 KiB Data-In PDUs per read.
    static let maxReceiveBuffer = 1 << 20
    static func receiveAllocator(_ limit: Int? = nil) -> AdaptiveRecvByteBufferAllocator {
        let maximum = limit ?? maxReceiveBuffer
        return AdaptiveRecvByteBufferAllocator(
            minimum: min(4096, maximum), initial: min(65_536, maximum), maximum: maximum)
    }

    /// Data-In at least this large is handed over in pieces when it straddles reads; smaller ones
    /// are cheaper to copy than to track.
    static let pieceThreshold = 16_384

    /// A Data-In whose data segment is still arriving.
    private struct DataInInPieces {
        /// The PDU's header fields (F, S and status apply to the last piece only).
        var header: DataIn
        var delivered = 0
        var remaining: Int
        var padding: Int
    }

    // Only touched on the event loop: no dynamic exclusivity checks.
    @exclusivity(unchecked) var decoder: PDUFrameDecoder
    /// The start of a PDU whose remaining bytes have not arrived yet.
    @exclusivity(unchecked) private var partial: ByteBuffer?
    @exclusivity(unchecked) private var pieces: DataInInPieces?
    /// Bytes to drop before the next PDU (a piecewise Data-In's padding).
    @exclusivity(unchecked) private var skipBytes = 0
    private var context: ChannelHandlerContext?
    @exclusivity(unchecked) private(set) var isClosed = false
    /// True between channelRead and channelReadComplete: writes made meanwhile are flushed
    /// once at channelReadComplete.
    @exclusivity(unchecked) private(set) var inReadBatch = false
    @exclusivity(unchecked) private var needsFlush = false
    /// Headers (and data trailers) encoded since the last write: the BHS's of a batch of
    /// commands go out as one buffer, one allocation per flush instead of one per PDU.
    @exclusivity(unchecked) private var outbound: ByteBuffer?
    private weak var engine: SessionEngine?
    /// Bytes on the wire and framing events since the engine last took them
    /// (`SessionEngine.takeCounts`): plain integers, only touched on the event loop.
    @exclusivity(unchecked) var rxBytes: UInt64 = 0
    @exclusivity(unchecked) var txBytes: UInt64 = 0
    @exclusivity(unchecked) var digestErrors: UInt64 = 0
    @exclusivity(unchecked) var discontiguousHeaders: UInt64 = 0

    init(engine: SessionEngine, limits: FramingLimits) {
        self.engine = engine
        self.decoder = PDUFrameDecoder(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        engine?.connectionClosed(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        engine?.connectionError(self, .connectionFailed(ConnectionFailure.reason(error)))
        context.close(promise: nil)
    }

    /// The DataSegmentLength of the BHS at `buffer`'s reader index (nil before 48 bytes).
    private func dataSegmentLength(_ buffer: ByteBuffer) -> Int? {
        guard buffer.readableBytes >= 48,
            let high = buffer.getInteger(at: buffer.readerIndex + 5, as: UInt8.self),
            let low = buffer.getInteger(at: buffer.readerIndex + 6, as: UInt16.self)
        else { return nil }
        return Int(high) << 16 | Int(low)
    }

    /// Bytes of the whole PDU starting at `buffer`'s reader index (at least the BHS), under the
    /// decoder's current digest settings.
    private func frameLength(_ buffer: ByteBuffer) -> Int {
        let bhs = 48
        guard let dataLength = dataSegmentLength(buffer),
            let ahsWords = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self)
        else { return bhs }
        var total = bhs + Int(ahsWords) * 4 + (decoder.limits.headerDigest ? 4 : 0)
        total += (dataLength + 3) & ~3
        if decoder.limits.dataDigest && dataLength > 0 { total += 4 }
        return total
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inReadBatch = true
        var incoming = unwrapInboundIn(data)
        rxBytes &+= UInt64(incoming.readableBytes)
        // Continue a Data-In arriving in pieces, then drop its padding.
        if pieces != nil {
            let take = min(pieces!.remaining, incoming.readableBytes)
            deliverPiece(incoming.readSlice(length: take)!)
        }
        if skipBytes > 0 {
            let count = min(skipBytes, incoming.readableBytes)
            incoming.moveReaderIndex(forwardBy: count)
            skipBytes -= count
        }
        if pieces != nil || incoming.readableBytes == 0 || isClosed { return }
        // Complete a PDU begun in an earlier read with just the bytes it still lacks.
        while var head = partial {
            partial = nil
            let missing = frameLength(head) - head.readableBytes
            let take = min(missing, incoming.readableBytes)
            if take > 0 {
                var piece = incoming.readSlice(length: take)!
                head.writeBuffer(&piece)
            }
            guard take == missing else {
                partial = head
                return
            }
            guard decode(&head) else { return }
            if head.readableBytes > 0 {
                // Only a header so far (its length is now known), or a framing corner case.
                partial = head
                if incoming.readableBytes == 0 { return }
            }
        }
        guard decode(&incoming) else { return }
        if incoming.readableBytes > 0, startPieces(&incoming) { return }
        if incoming.readableBytes > 0 {
            // Copy the tail into a buffer sized for its whole PDU, freeing the read buffer.
            if incoming.readableBytes < 48 { discontiguousHeaders &+= 1 }
            var head = context.channel.allocator.buffer(capacity: max(frameLength(incoming), incoming.readableBytes))
            head.writeBuffer(&incoming)
            partial = head
        }
    }

    /// Starts handing over the large Data-In whose header (already validated by the decoder) is
    /// at `buffer`'s reader index and whose data runs past the end of this read. Only without
    /// digests: a digest needs the whole segment.
    private func startPieces(_ buffer: inout ByteBuffer) -> Bool {
        guard !decoder.limits.headerDigest, !decoder.limits.dataDigest, decoder.hasPendingHeader,
            buffer.readableBytes >= 48, engine?.acceptsDataInPieces == true,
            let opcode = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), opcode & 0x3f == 0x25,
            let ahsWords = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self), ahsWords == 0
        else { return false }
        guard let length = dataSegmentLength(buffer), length >= Self.pieceThreshold,
            buffer.readableBytes < frameLength(buffer),
            let bhs = buffer.getSlice(at: buffer.readerIndex, length: 48),
            case .dataIn(let header)? = try? ISCSIPDU(frame: PDUFrame(bhs: bhs, ahs: ByteBuffer(), dataSegment: ByteBuffer()))
        else { return false }
        buffer.moveReaderIndex(forwardBy: 48)
        decoder.skipPendingFrame()
        pieces = DataInInPieces(header: header, remaining: length, padding: ((length + 3) & ~3) - length)
        deliverPiece(buffer.readSlice(length: buffer.readableBytes)!, first: true)
        return true
    }

    /// Hands the next piece of the current Data-In to the session; the last one carries the
    /// PDU's F, S and status, and is followed by the padding to skip.
    private func deliverPiece(_ piece: ByteBuffer, first: Bool = false) {
        var state = pieces!
        var p = state.header
        p.dataSegment = piece
        p.bufferOffset = state.header.bufferOffset &+ UInt32(state.delivered)
        state.delivered += piece.readableBytes
        state.remaining -= piece.readableBytes
        if state.remaining == 0 {
            pieces = nil
            skipBytes = state.padding
        } else {
            p.final = false
            p.statusPresent = false
            pieces = state
        }
        engine?.receivedDataInPiece(p, continuation: !first, from: self)
    }

    /// Frames and delivers every complete PDU in `buffer`; false when the connection closed.
    private func decode(_ buffer: inout ByteBuffer) -> Bool {
        while !isClosed {
            let pdu: ISCSIPDU
            do {
                guard let frame = try decoder.next(from: &buffer) else { return true }
                pdu = try ISCSIPDU(frame: frame)
            } catch {
                switch error as? FramingError {
                case .headerDigestMismatch?, .dataDigestMismatch?: digestErrors &+= 1
                default: break
                }
                close(.protocolViolation("\(error)"))
                return false
            }
            engine?.received(pdu, from: self)
        }
        return false
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        flush()
    }

    /// Encodes `pdu` for sending at the next `flush`, in order with the PDUs before it.
    func write(_ pdu: ISCSIPDU, encoder: PDUEncoder) {
        guard let context, !isClosed else { return }
        if outbound == nil { outbound = context.channel.allocator.buffer(capacity: Self.outboundCapacity) }
        needsFlush = true
        guard let data = encoder.writeHeader(pdu, into: &outbound!) else { return }
        // The headers so far go out before the data segment; its trailer (pad, digest) starts
        // a fresh buffer, which the headers of later PDUs follow.
        txBytes &+= UInt64(outbound!.readableBytes + data.readableBytes)
        context.write(wrapOutboundOut(outbound!), promise: nil)
        outbound = nil
        context.write(wrapOutboundOut(data), promise: nil)
        var trailer = context.channel.allocator.buffer(capacity: Self.outboundCapacity)
        encoder.writeTrailer(forDataSegment: data, into: &trailer)
        outbound = trailer
    }

    /// Room for the headers of a few dozen PDUs; grows if a batch is larger.
    private static let outboundCapacity = 2048

    func flush() {
        guard needsFlush, let context else { return }
        needsFlush = false
        if let pending = outbound, pending.readableBytes > 0, !isClosed {
            outbound = nil
            txBytes &+= UInt64(pending.readableBytes)
            context.write(wrapOutboundOut(pending), promise: nil)
        }
        context.flush()
    }

    func close(_ error: ISCSIInitiatorError) {
        guard let context, !isClosed else { return }
        engine?.connectionError(self, error)
        context.close(promise: nil)
    }
}
