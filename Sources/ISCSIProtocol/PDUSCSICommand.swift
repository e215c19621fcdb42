import NIOCore

/// SCSI Command (RFC 7143 §11.3).
public struct SCSICommand: Hashable, Sendable {
    public var immediate: Bool
    /// F: no unsolicited Data-Out PDUs follow.
    public var final: Bool
    /// R: the command reads data (Data-In expected).
    public var read: Bool
    /// W: the command writes data (Data-Out expected).
    public var write: Bool
    /// Task attribute, 0-7 (0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA).
    public var attribute: UInt8
    public var lun: UInt64
    public var initiatorTaskTag: UInt32
    public var expectedDataTransferLength: UInt32
    public var cmdSN: UInt32
    public var expStatSN: UInt32
    /// The first 16 CDB bytes; decoded PDUs hold the 16-byte BHS field (a slice,
    /// trailing bytes zero). The encoder zero-fills a shorter buffer.
    public var cdb: ByteBuffer
    /// CDB bytes beyond the 16th (AHS type 1), nil when the CDB fits the BHS.
    public var extendedCDB: ByteBuffer?
    /// Expected Data-In length of a bidirectional command (AHS type 2).
    public var bidirectionalReadExpectedDataTransferLength: UInt32?
    /// Immediate data.
    public var dataSegment: ByteBuffer

    /// A `cdb` longer than 16 bytes is split: the rest becomes `extendedCDB`
    /// (unless one is given).
    public init(
        immediate: Bool = false, final: Bool = true, read: Bool = false, write: Bool = false,
        attribute: UInt8 = 1, lun: UInt64 = 0, initiatorTaskTag: UInt32 = 0,
        expectedDataTransferLength: UInt32 = 0, cmdSN: UInt32 = 0, expStatSN: UInt32 = 0,
        cdb: ByteBuffer, extendedCDB: ByteBuffer? = nil,
        bidirectionalReadExpectedDataTransferLength: UInt32? = nil,
        dataSegment: ByteBuffer = ByteBuffer()
    ) {
        self.immediate = immediate
        self.final = final
        self.read = read
        self.write = write
        self.attribute = attribute
        self.lun = lun
        self.initiatorTaskTag = initiatorTaskTag
        self.expectedDataTransferLength = expectedDataTransferLength
        self.cmdSN = cmdSN
        self.expStatSN = expStatSN
        if cdb.readableBytes > Self.bhsCDBLength {
            self.cdb = cdb.getSlice(at: cdb.readerIndex, length: Self.bhsCDBLength)!
            self.extendedCDB = extendedCDB ?? cdb.getSlice(
                at: cdb.readerIndex + Self.bhsCDBLength, length: cdb.readableBytes - Self.bhsCDBLength)
        } else {
            self.cdb = cdb
            self.extendedCDB = extendedCDB
        }
        self.bidirectionalReadExpectedDataTransferLength = bidirectionalReadExpectedDataTransferLength
        self.dataSegment = dataSegment
    }

    static let bhsCDBLength = 16
}

extension SCSICommand: PDUCodable {
    static var opcode: ISCSIOpcode { .scsiCommand }

    private enum Bits {
        static let read: UInt8 = 0x40
        static let write: UInt8 = 0x20
        static let attribute: UInt8 = 0x07
    }

    private enum AHSType {
        static let extendedCDB: UInt8 = 1
        static let bidirectionalReadLength: UInt8 = 2
    }

    init(bhs: BHSReader, frame: PDUFrame) throws {
        self.init(
            immediate: bhs.isImmediate, final: bhs.isFinal, read: bhs.flag(Bits.read),
            write: bhs.flag(Bits.write), attribute: bhs.uint8(1) & Bits.attribute, lun: bhs.lun,
            initiatorTaskTag: bhs.initiatorTaskTag, expectedDataTransferLength: bhs.uint32(20),
            cmdSN: bhs.uint32(24), expStatSN: bhs.uint32(28), cdb: bhs.slice(32, length: Self.bhsCDBLength),
            dataSegment: frame.dataSegment)
        try parseAHS(frame.ahs, bhs: frame.bhs)
    }

    /// Each AHS: AHSLength (2, counts the bytes after AHSType), AHSType (1),
    /// type-specific bytes, padding to 4. Types 0 and 3-63 are reserved (RFC 7143 11.2.2.1): a
    /// command carrying one is malformed, never run with part of its header ignored.
    private mutating func parseAHS(_ ahs: ByteBuffer, bhs: ByteBuffer) throws {
        var ahs = ahs
        while ahs.readableBytes > 0 {
            guard let length = ahs.readInteger(as: UInt16.self), let type = ahs.readInteger(as: UInt8.self),
                length >= 1, ahs.readableBytes >= Int(length)
            else { throw PDUDecodeError.malformedAHS("AHS length overruns TotalAHSLength", bhs: bhs) }
            var body = ahs.readSlice(length: Int(length))!
            body.moveReaderIndex(forwardBy: 1)  // reserved byte
            guard ahs.readableBytes >= BHS.padding(3 + Int(length)) else {
                throw PDUDecodeError.malformedAHS("AHS padding overruns TotalAHSLength", bhs: bhs)
            }
            ahs.moveReaderIndex(forwardBy: BHS.padding(3 + Int(length)))
            switch type {
            case AHSType.extendedCDB:
                extendedCDB = body
            case AHSType.bidirectionalReadLength:
                guard body.readableBytes == 4 else {
                    throw PDUDecodeError.malformedAHS("bidirectional read length AHS is not 5 bytes", bhs: bhs)
                }
                bidirectionalReadExpectedDataTransferLength = body.readInteger(as: UInt32.self)
            default:
                throw PDUDecodeError.malformedAHS("reserved AHS type \(type)", bhs: bhs)
            }
        }
    }

    var isImmediateForEncoding: Bool { immediate }
    var dataSegmentForEncoding: ByteBuffer { dataSegment }

    func writeFields(_ w: BHSWriter, into buffer: inout ByteBuffer) {
        var flags = attribute & Bits.attribute
        if final { flags |= BHS.finalBit }
        if read { flags |= Bits.read }
        if write { flags |= Bits.write }
        w.set(flags, at: 1, in: &buffer)
        w.set(lun, at: BHS.lun, in: &buffer)
        w.set(initiatorTaskTag, at: BHS.initiatorTaskTag, in: &buffer)
        w.set(expectedDataTransferLength, at: 20, in: &buffer)
        w.set(cmdSN, at: 24, in: &buffer)
        w.set(expStatSN, at: 28, in: &buffer)
        let cdbBytes = cdb.readableBytesView.prefix(Self.bhsCDBLength)
        buffer.setBytes(cdbBytes, at: w.base + 32)
    }

    var encodedAHSLength: Int {
        var length = 0
        if let extendedCDB {
            length += Self.paddedAHSLength(extendedCDB.readableBytes + 1)
        }
        if bidirectionalReadExpectedDataTransferLength != nil {
            length += Self.paddedAHSLength(5)
        }
        return length
    }

    private static func paddedAHSLength(_ ahsLength: Int) -> Int {
        3 + ahsLength + BHS.padding(3 + ahsLength)
    }

    func writeAHS(into buffer: inout ByteBuffer) {
        if let extendedCDB {
            let length = extendedCDB.readableBytes + 1
            buffer.writeInteger(UInt16(length))
            buffer.writeInteger(AHSType.extendedCDB)
            buffer.writeInteger(UInt8(0))
            buffer.writeImmutableBuffer(extendedCDB)
            buffer.writeRepeatingByte(0, count: BHS.padding(3 + length))
        }
        if let length = bidirectionalReadExpectedDataTransferLength {
            buffer.writeInteger(UInt16(5))
            buffer.writeInteger(AHSType.bidirectionalReadLength)
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(length)
        }
    }
}
