import ISCSIProtocol
import NIOCore

/// Small helpers for building and checking PDUs in tests.
public enum PDUBuilders {
    /// A buffer from hex digits; spaces and newlines are ignored. Traps on bad input.
    public static func hex(_ string: String) -> ByteBuffer {
        let digits = string.filter { !$0.isWhitespace }
        do {
            return try ByteBuffer(plainHexEncodedBytes: digits)
        } catch {
            preconditionFailure("bad hex in test: \(string)")
        }
    }

    /// Bytes as a buffer.
    public static func bytes(_ bytes: [UInt8]) -> ByteBuffer {
        ByteBuffer(bytes: bytes)
    }

    /// A 16-byte CDB field holding `bytes` followed by zeros, as a decoded PDU carries it.
    public static func cdb(_ bytes: UInt8...) -> ByteBuffer {
        precondition(bytes.count <= 16)
        var buffer = ByteBuffer(bytes: bytes)
        buffer.writeRepeatingByte(0, count: 16 - bytes.count)
        return buffer
    }

    /// Text keys as a login/text data segment: each "key=value" NUL-terminated.
    public static func textSegment(_ pairs: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for pair in pairs {
            buffer.writeString(pair)
            buffer.writeInteger(UInt8(0))
        }
        return buffer
    }

    /// A complete wire image of `pdus`, in order.
    public static func wire(
        _ pdus: [ISCSIPDU], headerDigest: Bool = false, dataDigest: Bool = false
    ) -> ByteBuffer {
        let encoder = PDUEncoder(headerDigest: headerDigest, dataDigest: dataDigest)
        var buffer = ByteBuffer()
        for pdu in pdus {
            encoder.encode(pdu, into: &buffer)
        }
        return buffer
    }

    /// Decodes every complete PDU in `buffer` (the whole buffer at once).
    public static func decodeAll(_ buffer: ByteBuffer, limits: FramingLimits = FramingLimits()) throws -> [ISCSIPDU] {
        var buffer = buffer
        var decoder = PDUFrameDecoder(limits: limits)
        var pdus: [ISCSIPDU] = []
        while let frame = try decoder.next(from: &buffer) {
            pdus.append(try ISCSIPDU(frame: frame))
        }
        return pdus
    }

    /// Feeds `buffer` to a decoder one byte at a time, the way a slow socket
    /// would, collecting frames. Errors are thrown as they occur.
    public static func framesFedBytewise(
        _ buffer: ByteBuffer, decoder: inout PDUFrameDecoder
    ) throws -> [PDUFrame] {
        var pending = ByteBuffer()
        var frames: [PDUFrame] = []
        for byte in buffer.readableBytesView {
            pending.writeInteger(byte)
            while let frame = try decoder.next(from: &pending) {
                frames.append(frame)
            }
        }
        return frames
    }
}
