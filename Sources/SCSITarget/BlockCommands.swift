import Backstore
import NIOCore
import SCSIProtocol

/// READ, WRITE and WRITE AND VERIFY (6, 10, 12, 16): the hot path. No locks, lookups or
/// allocations here beyond the data buffer and the completion future.
///
/// Data-Out shorter than the transfer length (ExpectedDataTransferLength was smaller): the
/// device has already refused part of a block, so what came is whole blocks, and only those are
/// written; the transport reports the residual. The blocks not sent stay untouched, as libiscsi's
/// residual tests check.
enum BlockCommands {
    static func read(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        // RDPROTECT: no protection information here.
        if cdb.length != 6 && cdb[1] & 0xE0 != 0 { return .invalidField(cdbByte: 1) }
        let (lba, blocks) = cdb.blockRange
        guard context.inRange(lba: lba, blocks: UInt64(blocks)) else { return .lbaOutOfRange }
        guard blocks > 0 else { return .good }
        let length = UInt64(blocks) << UInt64(context.unit.blockShift)
        guard length <= UInt64(SCSITargetDevice.maximumTransferBytes) else {
            return .invalidField(cdbByte: DataOutRule.transferLength.lengthFieldByte(cdb))
        }
        guard let store = context.state.backstore else { return .check(.hardwareError, .internalTargetFailure) }
        let future = store.read(
            offset: context.byteOffset(lba), length: Int(length), allocator: context.device.allocator,
            on: context.eventLoop)
        return BackstoreCompletion.dataIn(future, on: context.eventLoop)
    }

    static func write(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        let fua = cdb.length != 6 && cdb[1] & 0x08 != 0
        return write(context, forceUnitAccess: fua)
    }

    /// The medium is written through (FUA), which is what verifying it would check; BYTCHK
    /// 10b and 11b are reserved for this command.
    static func writeAndVerify(_ context: CommandContext) -> CommandOutcome {
        guard context.cdb[1] & 0x04 == 0 else { return .invalidField(cdbByte: 1, bit: 2) }
        return write(context, forceUnitAccess: true)
    }

    private static func write(_ context: CommandContext, forceUnitAccess: Bool) -> CommandOutcome {
        let cdb = context.cdb
        // WRPROTECT: no protection information here.
        if cdb.length != 6 && cdb[1] & 0xE0 != 0 { return .invalidField(cdbByte: 1) }
        guard !context.state.writeProtected else { return .writeProtected }
        let (lba, blocks) = cdb.blockRange
        guard context.inRange(lba: lba, blocks: UInt64(blocks)) else { return .lbaOutOfRange }
        let shift = UInt64(context.unit.blockShift)
        let wanted = Int(UInt64(blocks) << shift)
        guard let dataOut = context.request.dataOut, blocks > 0 else { return .good }
        let length = min(wanted, (dataOut.readableBytes >> shift) << shift)
        guard length > 0 else { return .good }
        guard let store = context.state.backstore,
            let data = dataOut.getSlice(at: dataOut.readerIndex, length: length)
        else { return .check(.hardwareError, .internalTargetFailure) }
        let future = store.write(
            data, offset: context.byteOffset(lba), fua: forceUnitAccess || context.state.writeThrough,
            on: context.eventLoop)
        return BackstoreCompletion.status(future, writing: true, on: context.eventLoop)
    }
}
