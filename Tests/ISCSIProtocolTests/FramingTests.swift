import ISCSIProtocol
import ISCSITestSupport
import NIOCore
import NIOTestUtils
import XCTest

final class FramingTests: XCTestCase {
    /// PDUs covering no data, every pad length, a larger segment and an AHS.
    private let samplePDUs: [ISCSIPDU] = [
        .nopOut(NOPOut(initiatorTaskTag: 1)),
        .dataOut(DataOut(initiatorTaskTag: 2, dataSegment: ByteBuffer(bytes: [1]))),
        .dataOut(DataOut(initiatorTaskTag: 3, dataSegment: ByteBuffer(bytes: [1, 2]))),
        .dataOut(DataOut(initiatorTaskTag: 4, dataSegment: ByteBuffer(bytes: [1, 2, 3]))),
        .dataOut(DataOut(initiatorTaskTag: 5, dataSegment: ByteBuffer(bytes: [1, 2, 3, 4]))),
        .dataIn(DataIn(initiatorTaskTag: 6, dataSegment: ByteBuffer(repeating: 0x5a, count: 1021))),
        .scsiCommand(
            SCSICommand(
                initiatorTaskTag: 7, cdb: ByteBuffer(repeating: 0x11, count: 20),
                bidirectionalReadExpectedDataTransferLength: 512, dataSegment: ByteBuffer(string: "imm"))),
    ]

    private let digestModes = [(false, false), (true, false), (false, true), (true, true)]

    private func limits(headerDigest: Bool, dataDigest: Bool, max: Int = 8192) -> FramingLimits {
        FramingLimits(maxDataSegmentLength: max, headerDigest: headerDigest, dataDigest: dataDigest)
    }

    /// The frame the decoder must produce for `pdu`, built from the encoder's parts.
    private func expectedFrame(_ pdu: ISCSIPDU) -> PDUFrame {
        let encoded = PDUEncoder().encode(pdu, allocator: ByteBufferAllocator())
        var header = encoded.header
        let bhs = header.readSlice(length: 48)!
        return PDUFrame(bhs: bhs, ahs: header, dataSegment: encoded.data ?? ByteBuffer())
    }

    func testByteToMessageDecoderVerifierInAllDigestModes() throws {
        for (headerDigest, dataDigest) in digestModes {
            let wire = PDUBuilders.wire(samplePDUs, headerDigest: headerDigest, dataDigest: dataDigest)
            try ByteToMessageDecoderVerifier.verifyDecoder(
                inputOutputPairs: [(wire, samplePDUs.map(expectedFrame))],
                decoderFactory: {
                    PDUFrameByteToMessageDecoder(limits: self.limits(headerDigest: headerDigest, dataDigest: dataDigest))
                })
        }
    }

    func testBytewiseFeedingDecodesEveryPDU() throws {
        for (headerDigest, dataDigest) in digestModes {
            let wire = PDUBuilders.wire(samplePDUs, headerDigest: headerDigest, dataDigest: dataDigest)
            var decoder = PDUFrameDecoder(limits: limits(headerDigest: headerDigest, dataDigest: dataDigest))
            let frames = try PDUBuilders.framesFedBytewise(wire, decoder: &decoder)
            XCTAssertEqual(try frames.map(ISCSIPDU.init(frame:)), samplePDUs, "digests \(headerDigest) \(dataDigest)")
        }
    }

    func testWireLengthIncludesPaddingAndDigests() {
        let pdu = ISCSIPDU.dataOut(DataOut(dataSegment: ByteBuffer(bytes: [1, 2, 3, 4, 5])))
        XCTAssertEqual(PDUBuilders.wire([pdu]).readableBytes, 48 + 8)
        XCTAssertEqual(PDUBuilders.wire([pdu], headerDigest: true, dataDigest: true).readableBytes, 48 + 4 + 8 + 4)
        let empty = ISCSIPDU.nopOut(NOPOut())
        XCTAssertEqual(PDUBuilders.wire([empty], dataDigest: true).readableBytes, 48, "no data digest without data")
    }

    func testReturnsNilUntilThePDUIsComplete() throws {
        var wire = PDUBuilders.wire([samplePDUs[3]], headerDigest: true, dataDigest: true)
        var decoder = PDUFrameDecoder(limits: limits(headerDigest: true, dataDigest: true))
        var partial = wire.readSlice(length: wire.readableBytes - 1)!
        XCTAssertNil(try decoder.next(from: &partial))
        XCTAssertEqual(partial.readableBytes, 48 + 4 + 4 + 3, "nothing consumed while waiting")
        partial.writeBuffer(&wire)
        XCTAssertNotNil(try decoder.next(from: &partial))
        XCTAssertEqual(partial.readableBytes, 0)
    }

    func testHeaderDigestMismatchIsFatalAndSticky() {
        for corruptOffset in [3, 20, 48] {  // BHS field, BHS tag, the digest itself
            var wire = PDUBuilders.wire(Array(samplePDUs.prefix(2)), headerDigest: true)
            wire.setInteger(wire.getInteger(at: corruptOffset, as: UInt8.self)! ^ 0x01, at: corruptOffset)
            var decoder = PDUFrameDecoder(limits: limits(headerDigest: true, dataDigest: false))
            XCTAssertThrowsError(try decoder.next(from: &wire)) { error in
                guard case .headerDigestMismatch = error as? FramingError else {
                    return XCTFail("unexpected \(error)")
                }
                XCTAssertTrue((error as! FramingError).isConnectionFatal)
                XCTAssertNil((error as! FramingError).bhs)
            }
            XCTAssertThrowsError(try decoder.next(from: &wire), "decoder stays failed")
        }
    }

    func testDataDigestMismatchSkipsThePDUAndContinues() throws {
        let first = ISCSIPDU.dataOut(DataOut(initiatorTaskTag: 0x77, dataSegment: ByteBuffer(bytes: [9, 9, 9])))
        let second = samplePDUs[0]
        var wire = PDUBuilders.wire([first, second], headerDigest: true, dataDigest: true)
        let firstBHS = wire.getSlice(at: 0, length: 48)!
        wire.setInteger(UInt8(8), at: 48 + 4 + 1)  // a data byte

        for bytewise in [false, true] {
            var decoder = PDUFrameDecoder(limits: limits(headerDigest: true, dataDigest: true))
            var source = wire
            var input = bytewise ? ByteBuffer() : source.readSlice(length: source.readableBytes)!
            var errors: [FramingError] = []
            var frames: [PDUFrame] = []
            repeat {
                if bytewise, let byte = source.readInteger(as: UInt8.self) { input.writeInteger(byte) }
                // Keep calling after an error, as a connection that answered with Reject would.
                for _ in 0..<3 {
                    do {
                        while let frame = try decoder.next(from: &input) { frames.append(frame) }
                        break
                    } catch let error as FramingError {
                        errors.append(error)
                    }
                }
            } while source.readableBytes > 0
            XCTAssertEqual(errors.count, 1)
            guard case .dataDigestMismatch(_, _, let bhs) = errors.first else { return XCTFail("\(errors)") }
            XCTAssertEqual(bhs, firstBHS)
            XCTAssertFalse(errors[0].isConnectionFatal)
            XCTAssertEqual(try frames.map(ISCSIPDU.init(frame:)), [second])
        }
    }

    func testOverlongDataSegmentIsRefusedAtTheHeaderThenSkipped() throws {
        let big = ISCSIPDU.dataOut(DataOut(initiatorTaskTag: 1, dataSegment: ByteBuffer(repeating: 1, count: 9)))
        let next = ISCSIPDU.nopOut(NOPOut(initiatorTaskTag: 2))
        for dataDigest in [false, true] {
            var source = PDUBuilders.wire([big, next], dataDigest: dataDigest)
            var decoder = PDUFrameDecoder(limits: limits(headerDigest: false, dataDigest: dataDigest, max: 8))
            var input = source.readSlice(length: 48)!
            XCTAssertThrowsError(try decoder.next(from: &input)) { error in
                XCTAssertEqual(
                    error as? FramingError,
                    .dataSegmentTooLong(length: 9, limit: 8, bhs: PDUBuilders.wire([big]).getSlice(at: 0, length: 48)!))
            }
            // The rest arrives a byte at a time; the refused data is dropped.
            var frames: [PDUFrame] = []
            while let byte = source.readInteger(as: UInt8.self) {
                input.writeInteger(byte)
                if let frame = try decoder.next(from: &input) { frames.append(frame) }
            }
            XCTAssertEqual(try frames.map(ISCSIPDU.init(frame:)), [next])
        }
    }

    func testLimitAppliesToLoginPDUsAsSet() {
        let login = ISCSIPDU.loginRequest(LoginRequest(dataSegment: ByteBuffer(repeating: 0x41, count: 100)))
        var wire = PDUBuilders.wire([login])
        var decoder = PDUFrameDecoder(limits: limits(headerDigest: false, dataDigest: false, max: 64))
        XCTAssertThrowsError(try decoder.next(from: &wire)) { error in
            guard case .dataSegmentTooLong(100, 64, _) = error as? FramingError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("MaxRecvDataSegmentLength"))
        }
    }

    func testOverlongAHSIsRefusedThenSkipped() throws {
        let command = samplePDUs[6]
        var wire = PDUBuilders.wire([command, samplePDUs[0]])
        var decoder = PDUFrameDecoder(limits: FramingLimits(maxAHSLength: 8))
        XCTAssertThrowsError(try decoder.next(from: &wire)) { error in
            guard case .ahsTooLong(16, 8, _) = error as? FramingError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try decoder.next(from: &wire).map(ISCSIPDU.init(frame:)), samplePDUs[0])
    }

    func testDigestSettingsChangeFromTheNextPDU() throws {
        var wire = PDUBuilders.wire([samplePDUs[1]])
        wire.writeImmutableBuffer(PDUBuilders.wire([samplePDUs[2]], headerDigest: true, dataDigest: true))
        var decoder = PDUFrameDecoder()
        XCTAssertEqual(try decoder.next(from: &wire).map(ISCSIPDU.init(frame:)), samplePDUs[1])
        decoder.limits.headerDigest = true
        decoder.limits.dataDigest = true
        XCTAssertEqual(try decoder.next(from: &wire).map(ISCSIPDU.init(frame:)), samplePDUs[2])
    }

    func testFrameSlicesAreStrippedOfPaddingAndDigests() throws {
        var wire = PDUBuilders.wire([samplePDUs[6]], headerDigest: true, dataDigest: true)
        var decoder = PDUFrameDecoder(limits: limits(headerDigest: true, dataDigest: true))
        let frame = try XCTUnwrap(try decoder.next(from: &wire))
        XCTAssertEqual(frame.bhs.readableBytes, 48)
        XCTAssertEqual(frame.ahs.readableBytes, 8 + 8)
        XCTAssertEqual(frame.dataSegment, ByteBuffer(string: "imm"))
        XCTAssertEqual(frame.opcodeByte, ISCSIOpcode.scsiCommand.rawValue)
    }
}
