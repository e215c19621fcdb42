import SCSIProtocol

/// How many bytes of Data-Out a command's CDB asks for: what SAM calls the SCSI-command's
/// Data-Out length and RFC 7143 compares with ExpectedDataTransferLength for the residual.
///
/// The transport asks before moving any data (`SCSITargetDevice.dataOutDemand`), so it solicits
/// exactly what the command will use and never sizes a buffer from a header field alone.
enum DataOutRule: Sendable {
    /// No Data-Out (reads, reports, SYNCHRONIZE CACHE, ...).
    case none
    /// TRANSFER LENGTH blocks of medium data (WRITE, WRITE AND VERIFY).
    case transferLength
    /// VERIFY: BYTCHK 01b sends the range, 11b one block, 00b nothing (10b is refused).
    case verify
    /// WRITE SAME: one block, none with NDOB (WRITE SAME(16) byte 1 bit 0).
    case writeSame
    /// COMPARE AND WRITE: the compare blocks and the write blocks.
    case compareAndWrite
    /// A parameter list whose length is the big-endian field at `offset` of `width` bytes.
    case parameterList(offset: Int, width: Int)

    func length(of cdb: CDB, blockShift: Int) -> Int {
        switch self {
        case .none:
            return 0
        case .transferLength:
            return Int(cdb.blockRange.blocks) << blockShift
        case .verify:
            let blocks = Int(cdb.blockRange.blocks)
            switch cdb[1] >> 1 & 0x03 {
            case 0b01: return blocks << blockShift
            case 0b11: return blocks == 0 ? 0 : 1 << blockShift
            default: return 0
            }
        case .writeSame:
            let noDataOut = cdb.opcode == SCSIOpcode.writeSame16 && cdb[1] & 0x01 != 0
            return noDataOut ? 0 : 1 << blockShift
        case .compareAndWrite:
            return 2 * Int(cdb[13]) << blockShift
        case .parameterList(let offset, let width):
            switch width {
            case 1: return Int(cdb[offset])
            case 2: return Int(cdb.uint16(at: offset))
            default: return Int(cdb.uint32(at: offset))
            }
        }
    }

    /// What a command may do with fewer (or more) bytes than it asks for.
    enum Shortfall {
        /// The handler judges the parameter list it got (PARAMETER LIST LENGTH ERROR and such).
        case handler
        /// The command runs on what came, as long as that is whole blocks: blocks the initiator
        /// did not send are neither written nor compared, and the residual says so (FCP-4 9.4.2
        /// a). Part of a block is refused (FCP-4 9.4.2 b), never written in part or dropped.
        case wholeBlocks
        /// Exactly what the CDB names: one WRITE SAME block, the compare and write blocks of
        /// COMPARE AND WRITE. What the initiator announced is gathered (up to the maximum
        /// transfer), so a mismatch shows and is refused as `misfit` says (libiscsi's
        /// InvalidDataOutSize tests; a COMPARE AND WRITE of 256 blocks wraps its length to 0).
        case exact
    }

    var shortfall: Shortfall {
        switch self {
        case .transferLength, .verify: return .wholeBlocks
        case .writeSame, .compareAndWrite: return .exact
        case .none, .parameterList: return .handler
        }
    }

    /// The answer of an `.exact` command whose Data-Out is not what its CDB names.
    var misfit: CommandOutcome {
        switch self {
        case .compareAndWrite: return .invalidField(cdbByte: 13)
        default: return .parameterListLengthError
        }
    }

    /// The CDB byte of the length field, for the sense-key-specific field pointer.
    func lengthFieldByte(_ cdb: CDB) -> UInt16 {
        switch self {
        case .parameterList(let offset, _): return UInt16(offset)
        case .compareAndWrite: return 13
        default:
            switch cdb.length {
            case 6: return 4
            case 10: return 7
            case 12: return 6
            default: return 10
            }
        }
    }
}
