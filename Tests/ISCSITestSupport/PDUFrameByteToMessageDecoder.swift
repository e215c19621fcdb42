import ISCSIProtocol
import NIOCore

/// Runs `PDUFrameDecoder` inside a channel pipeline, emitting `PDUFrame`s. For
/// tests (and `ByteToMessageDecoderVerifier`); framing errors propagate as
/// decoder errors.
public struct PDUFrameByteToMessageDecoder: ByteToMessageDecoder {
    public typealias InboundOut = PDUFrame

    public var decoder: PDUFrameDecoder

    public init(limits: FramingLimits = FramingLimits()) {
        self.decoder = PDUFrameDecoder(limits: limits)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try decoder.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
