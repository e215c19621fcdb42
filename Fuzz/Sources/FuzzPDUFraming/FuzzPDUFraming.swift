// Fuzz target: PDUFrameDecoder (incremental framing, digests, size limits) and ISCSIPDU(frame:).
//
// Input: byte 0 chooses the framing limits (bit 0 header digest, bit 1 data digest, bits 2-3
// MaxRecvDataSegmentLength 8192/512/16M-1/0, bit 4 an AHS limit of 16 bytes, bit 5 compact the
// buffer between reads), byte 1 seeds the chunk sizes, the rest is the byte stream.
//
// Invariants: the same events (frames and errors) whatever the split of the stream; every frame
// within the limits; every decoded PDU re-encodes (both encoder forms agree) to a frame that
// decodes to the same PDU.
import FuzzSupport
import ISCSIProtocol
import NIOCore

private enum Event: Equatable {
    case frame(PDUFrame)
    case error(FramingError)
}

private struct Outcome: Equatable {
    var events: [Event] = []
    /// Bytes left in the buffer, not yet consumed.
    var leftover: [UInt8] = []
}

private func decode(_ stream: [UInt8], limits: FramingLimits, chunks: [Int]?, compact: Bool) -> Outcome {
    var decoder = PDUFrameDecoder(limits: limits)
    var buffer = ByteBuffer()
    var outcome = Outcome()
    var offset = 0
    var chunkIndex = 0
    var fatal = false
    while offset < stream.count, !fatal {
        let size = chunks.map { $0[chunkIndex % $0.count] } ?? stream.count
        chunkIndex += 1
        let end = min(stream.count, offset + size)
        if compact { buffer.discardReadBytes() }
        buffer.writeBytes(stream[offset..<end])
        offset = end
        while true {
            do {
                guard let frame = try decoder.next(from: &buffer) else { break }
                outcome.events.append(.frame(frame))
            } catch let error as FramingError {
                outcome.events.append(.error(error))
                if error.isConnectionFatal {
                    // It keeps failing, and consumes nothing more.
                    let failedAt = buffer.readerIndex
                    do {
                        _ = try decoder.next(from: &buffer)
                        fuzzCheck(false, "decoder went on after a fatal error")
                    } catch let again as FramingError {
                        fuzzCheck(again == error, "a different fatal error the second time")
                        fuzzCheck(buffer.readerIndex == failedAt, "a fatal error consumed bytes")
                    } catch {
                        fuzzCheck(false, "unexpected error \(error)")
                    }
                    fatal = true
                    break
                }
            } catch {
                fuzzCheck(false, "decoder threw something else than a FramingError: \(error)")
            }
        }
    }
    // After a fatal error the connection is gone: what is left unread does not matter.
    outcome.leftover = fatal ? [] : Array(buffer.readableBytesView)
    return outcome
}

private func describe(_ outcome: Outcome) -> String {
    let events = outcome.events.map { event -> String in
        switch event {
        case .frame(let frame):
            return "frame(opcode \(frame.opcodeByte ?? 0xFF), ahs \(frame.ahs.readableBytes), data \(frame.dataSegment.readableBytes))"
        case .error(let error):
            return "\(error)"
        }
    }
    return "\(events) leaving \(outcome.leftover.count) bytes"
}

private func check(_ frame: PDUFrame, limits: FramingLimits) {
    fuzzCheck(frame.bhs.readableBytes == 48, "BHS of \(frame.bhs.readableBytes) bytes")
    fuzzCheck(frame.ahs.readableBytes % 4 == 0, "AHS of \(frame.ahs.readableBytes) bytes")
    fuzzCheck(frame.ahs.readableBytes <= limits.maxAHSLength, "AHS over the limit")
    fuzzCheck(frame.dataSegment.readableBytes <= limits.maxDataSegmentLength, "data segment over the limit")
    let bhs = Array(frame.bhs.readableBytesView)
    fuzzCheck(Int(bhs[4]) * 4 == frame.ahs.readableBytes, "AHS length differs from TotalAHSLength")
    let dataLength = Int(bhs[5]) << 16 | Int(bhs[6]) << 8 | Int(bhs[7])
    fuzzCheck(dataLength == frame.dataSegment.readableBytes, "data length differs from DataSegmentLength")

    let pdu: ISCSIPDU
    do {
        pdu = try ISCSIPDU(frame: frame)
    } catch let error as PDUDecodeError {
        fuzzCheck(error.bhs == nil || error.bhs == frame.bhs, "decode error names another header")
        return
    } catch {
        fuzzCheck(false, "ISCSIPDU(frame:) threw \(error)")
        return
    }
    fuzzCheck(pdu.opcode.rawValue == frame.opcodeByte, "opcode \(pdu.opcode) from byte \(String(describing: frame.opcodeByte))")

    // Re-encode with the same digests, in both encoder forms, and decode again.
    let encoder = PDUEncoder(headerDigest: limits.headerDigest, dataDigest: limits.dataDigest)
    var whole = ByteBuffer()
    encoder.encode(pdu, into: &whole)
    let parts = encoder.encode(pdu, allocator: ByteBufferAllocator())
    var joined = parts.header
    if var data = parts.data { joined.writeBuffer(&data) }
    if var trailer = parts.trailer { joined.writeBuffer(&trailer) }
    fuzzCheck(joined == whole, "the two encoder forms differ")
    fuzzCheck(parts.count == whole.readableBytes, "EncodedPDU.count is wrong")

    var again = PDUFrameDecoder(
        limits: FramingLimits(
            maxDataSegmentLength: 1 << 24, headerDigest: limits.headerDigest, dataDigest: limits.dataDigest))
    do {
        guard let reframed = try again.next(from: &whole) else {
            return fuzzCheck(false, "re-encoded \(pdu.opcode) is not a complete frame")
        }
        fuzzCheck(whole.readableBytes == 0, "re-encoded \(pdu.opcode) has \(whole.readableBytes) extra bytes")
        let redecoded = try ISCSIPDU(frame: reframed)
        fuzzCheck(redecoded == pdu, "round trip changed the PDU:\n  \(pdu)\n  \(redecoded)")
    } catch {
        fuzzCheck(false, "re-encoded \(pdu.opcode) does not decode: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPDUFraming(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let seed = input.byte()
    let stream = input.rest()
    let limits = FramingLimits(
        maxDataSegmentLength: [8192, 512, (1 << 24) - 1, 0][Int(flags >> 2 & 3)],
        headerDigest: flags & 1 != 0, dataDigest: flags & 2 != 0, maxAHSLength: flags & 0x10 != 0 ? 16 : 1020)

    var random = FuzzRandom(seed: UInt64(seed))
    let chunks = (0..<8).map { _ in [1, 2, 3, 7, 47, 48, 49, 52, 100, 4096][random.next(below: 10)] }
    let whole = decode(stream, limits: limits, chunks: nil, compact: false)
    let pieces = decode(stream, limits: limits, chunks: chunks, compact: flags & 0x20 != 0)
    fuzzCheck(whole == pieces, "decoding in chunks \(chunks) differs from decoding at once:\n  \(describe(whole))\n  \(describe(pieces))")
    for case .frame(let frame) in whole.events { check(frame, limits: limits) }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(seeds)
    return 0
}

/// A conversation's worth of PDUs of every kind, under each digest setting.
private func seeds() -> [[UInt8]] {
    func text(_ pairs: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for pair in pairs {
            buffer.writeString(pair)
            buffer.writeInteger(UInt8(0))
        }
        return buffer
    }
    let cdb = ByteBuffer(bytes: [0x2A, 0, 0, 0, 0, 8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    let pdus: [ISCSIPDU] = [
        .loginRequest(
            LoginRequest(
                transit: true, csg: .securityNegotiation, nsg: .loginOperationalNegotiation, isid: 0x80_1234_5678,
                initiatorTaskTag: 1, cmdSN: 1, expStatSN: 0,
                dataSegment: text(["InitiatorName=iqn.2026-11.org.example:i", "SessionType=Normal", "AuthMethod=None"]))),
        .scsiCommand(
            SCSICommand(
                write: true, lun: 1 << 48, initiatorTaskTag: 2, expectedDataTransferLength: 512, cmdSN: 2,
                cdb: cdb, dataSegment: ByteBuffer(repeating: 0xA5, count: 13))),
        .scsiCommand(
            SCSICommand(
                read: true, write: true, lun: 1 << 48, initiatorTaskTag: 3, expectedDataTransferLength: 512,
                cdb: cdb, extendedCDB: ByteBuffer(bytes: [1, 2, 3, 4, 5]),
                bidirectionalReadExpectedDataTransferLength: 4096)),
        .dataOut(DataOut(initiatorTaskTag: 2, targetTransferTag: 9, dataSN: 1, bufferOffset: 13,
                         dataSegment: ByteBuffer(repeating: 0x5A, count: 499))),
        .nopOut(NOPOut(initiatorTaskTag: 4, dataSegment: ByteBuffer(bytes: [1, 2, 3]))),
        .textRequest(TextRequest(initiatorTaskTag: 5, dataSegment: text(["SendTargets=All"]))),
        .taskManagementRequest(TaskManagementRequest(function: .abortTask, initiatorTaskTag: 6, referencedTaskTag: 2)),
        .snackRequest(SNACKRequest(type: .status, begRun: 1, runLength: 2)),
        .logoutRequest(LogoutRequest(initiatorTaskTag: 7, cmdSN: 3)),
        .dataIn(DataIn(final: true, statusPresent: true, initiatorTaskTag: 3, statSN: 5,
                       dataSegment: ByteBuffer(repeating: 0x11, count: 6))),
        .r2t(R2T(initiatorTaskTag: 2, targetTransferTag: 9, r2tSN: 0, bufferOffset: 13, desiredDataTransferLength: 499)),
        .scsiResponse(SCSIResponse(status: 2, initiatorTaskTag: 2, dataSegment: ByteBuffer(bytes: [0, 18] + [0x70] + [UInt8](repeating: 0, count: 17)))),
        .reject(Reject(reason: .protocolError, dataSegment: ByteBuffer(repeating: 0, count: 48))),
        .asyncMessage(AsyncMessage(asyncEvent: .logoutRequest, parameter3: 2)),
    ]
    var seeds: [[UInt8]] = []
    for flags: UInt8 in [0, 1, 2, 3] {
        let encoder = PDUEncoder(headerDigest: flags & 1 != 0, dataDigest: flags & 2 != 0)
        var all = ByteBuffer()
        for pdu in pdus { encoder.encode(pdu, into: &all) }
        seeds.append([flags, 0x5C] + Array(all.readableBytesView))
        // Each PDU alone too, so mutations of one kind start small.
        if flags == 0 || flags == 3 {
            for pdu in pdus {
                var one = ByteBuffer()
                encoder.encode(pdu, into: &one)
                seeds.append([flags, 0x11] + Array(one.readableBytesView))
            }
        }
    }
    return seeds
}
