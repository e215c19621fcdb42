import Backstore
import NIOCore
import SCSIProtocol

/// Logical block provisioning (SBC-3 4.7): UNMAP on thin provisioned units, GET LBA STATUS on
/// every disk. Unmapped blocks are handed to the backstore (`deallocate`); they read back as
/// zeros (LBPRZ 1) unless the store says its deallocation may leave data (RBD: LBPRZ 0). No
/// per-block map is kept, so GET LBA STATUS reports every block mapped, which
/// a unit may do (an unmap is a hint, SBC-3 4.7.3.4).
enum ProvisioningCommands {
    /// Block Limits of a thin provisioned unit: at most this many blocks per UNMAP descriptor
    /// and per WRITE SAME with UNMAP (libiscsi finds more than 1 Mi "insanely big").
    static let maximumUnmapBlocks: UInt32 = 1 << 20
    /// At most this many descriptors per UNMAP.
    static let maximumUnmapDescriptors: UInt32 = 2048

    /// UNMAP (SBC-3 5.28): a header and 16-byte block descriptors.
    static func unmap(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        // ANCHOR: anchored blocks are not supported (ANC_SUP 0).
        guard cdb[1] & 0x01 == 0 else { return .invalidField(cdbByte: 1, bit: 0) }
        guard !context.state.writeProtected else { return .writeProtected }
        let listLength = Int(cdb.uint16(at: 7))
        guard listLength > 0 else { return .good }
        guard listLength >= 8, let dataOut = context.request.dataOut, dataOut.readableBytes >= listLength,
            let list = dataOut.getBytes(at: dataOut.readerIndex, length: listLength)
        else { return .parameterListLengthError }
        let descriptorLength = Int(list[2]) << 8 | Int(list[3])
        let count = min(descriptorLength, listLength - 8) / 16
        guard count <= Int(maximumUnmapDescriptors) else { return invalidParameter(byte: 2) }
        var ranges: [(lba: UInt64, blocks: UInt64)] = []
        for index in 0..<count {
            let base = 8 + 16 * index
            let lba = list[base..<base + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let blocks = list[base + 8..<base + 12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard blocks <= UInt64(maximumUnmapBlocks) else { return invalidParameter(byte: UInt16(base + 8)) }
            // A range may end at the last LBA; zero blocks at the capacity is no error.
            guard lba <= context.state.blockCount, blocks <= context.state.blockCount - lba else {
                return .lbaOutOfRange
            }
            if blocks > 0 { ranges.append((lba, blocks)) }
        }
        guard !ranges.isEmpty else { return .good }
        guard let store = context.unit.backstore else { return .check(.hardwareError, .internalTargetFailure) }
        let eventLoop = context.eventLoop
        let shift = UInt64(context.unit.blockShift)
        let futures = ranges.map { store.deallocate(offset: $0.lba << shift, length: $0.blocks << shift, on: eventLoop) }
        return BackstoreCompletion.status(
            EventLoopFuture.andAllSucceed(futures, on: eventLoop), writing: true, on: eventLoop)
    }

    private static func invalidParameter(byte: UInt16) -> CommandOutcome {
        .check(.illegalRequest, .invalidFieldInParameterList, field: .init(inCDB: false, byte: byte))
    }

    /// GET LBA STATUS (SBC-3 5.8): one descriptor, every block from STARTING LBA mapped.
    static func getLBAStatus(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        let lba = cdb.uint64(at: 2)
        let allocationLength = Int(cdb.uint32(at: 10))
        guard lba < context.state.blockCount else { return .lbaOutOfRange }
        let blocks = min(context.state.blockCount - lba, 0xFFFF_FFFF)
        var data = [UInt8].bigEndian(20, count: 4) + [0, 0, 0, 0]  // PARAMETER DATA LENGTH, reserved
        data += .bigEndian(lba, count: 8) + .bigEndian(blocks, count: 4)
        data += [0, 0, 0, 0]  // PROVISIONING STATUS 0: mapped
        return .dataIn(data, allocationLength: allocationLength)
    }
}
