import ISCSIProtocol
import NIOCore

/// Thin IO layer of one initiator connection: frames PDUs and hands them to the engine,
/// writes encoded PDUs. Lives on the channel's event loop.
final class InitiatorChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var decoder: PDUFrameDecoder
    private var cumulation: ByteBuffer?
    private var context: ChannelHandlerContext?
    private(set) var isClosed = false
    private weak var engine: SessionEngine?

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
        engine?.connectionError(self, .connectionFailed("\(error)"))
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if cumulation == nil || cumulation!.readableBytes == 0 {
            cumulation = incoming
        } else {
            cumulation!.writeBuffer(&incoming)
        }
        while !isClosed, cumulation != nil {
            let pdu: ISCSIPDU
            do {
                guard let frame = try decoder.next(from: &cumulation!) else { break }
                pdu = try ISCSIPDU(frame: frame)
            } catch {
                close(.protocolViolation("\(error)"))
                return
            }
            engine?.received(pdu, from: self)
        }
        if let c = cumulation, c.readableBytes == 0 { cumulation = nil } else { cumulation?.discardReadBytes() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func write(_ encoded: EncodedPDU) {
        guard let context, !isClosed else { return }
        context.write(wrapOutboundOut(encoded.header), promise: nil)
        if let data = encoded.data { context.write(wrapOutboundOut(data), promise: nil) }
        if let trailer = encoded.trailer { context.write(wrapOutboundOut(trailer), promise: nil) }
    }

    func flush() { context?.flush() }

    func close(_ error: ISCSIInitiatorError) {
        guard let context, !isClosed else { return }
        engine?.connectionError(self, error)
        context.close(promise: nil)
    }
}
