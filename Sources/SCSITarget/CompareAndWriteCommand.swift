import Backstore
import NIOCore
import SCSIProtocol

/// COMPARE AND WRITE (SBC-3 5.2): the Data-Out holds NUMBER OF LOGICAL BLOCKS blocks to compare
/// with the medium, then as many to write there if all matched. A mismatch is MISCOMPARE /
/// MISCOMPARE DURING VERIFY OPERATION with the offset of the first differing byte in
/// INFORMATION, and nothing is written. The read-compare-write holds the unit's exclusive gate.
enum CompareAndWriteCommand {
    /// MAXIMUM COMPARE AND WRITE LENGTH of the Block Limits page (what tgtd reports).
    static let maximumBlocks = 128

    static func compareAndWrite(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        if cdb[1] & 0xE0 != 0 { return .invalidField(cdbByte: 1) }  // WRPROTECT
        let fua = cdb[1] & 0x08 != 0
        let lba = cdb.uint64(at: 2)
        let blocks = Int(cdb[13])
        guard blocks <= maximumBlocks else { return .invalidField(cdbByte: 13) }
        guard context.inRange(lba: lba, blocks: UInt64(blocks)) else { return .lbaOutOfRange }
        let length = blocks << context.unit.blockShift
        // Exactly the compare and the write blocks, or the command is malformed (a transfer
        // for 256 blocks whose NUMBER OF LOGICAL BLOCKS wrapped to 0 included).
        let dataOut = context.request.dataOut ?? ByteBuffer()
        guard dataOut.readableBytes == 2 * length else { return .invalidField(cdbByte: 13) }
        guard blocks > 0 else { return .good }
        guard !context.state.writeProtected else { return .writeProtected }
        guard let expected = dataOut.getSlice(at: dataOut.readerIndex, length: length),
            let replacement = dataOut.getSlice(at: dataOut.readerIndex + length, length: length)
        else { return .invalidField(cdbByte: 13) }
        guard let store = context.unit.backstore else { return .check(.hardwareError, .internalTargetFailure) }

        let eventLoop = context.eventLoop
        let offset = context.byteOffset(lba)
        let allocator = context.device.allocator
        let writeThrough = fua || context.state.writeThrough
        let future = context.device.runExclusive(context.unit, on: eventLoop) {
            store.read(offset: offset, length: length, allocator: allocator, on: eventLoop)
                .flatMap { medium -> EventLoopFuture<SCSICommandResult> in
                    if let difference = VerifyCommands.firstDifference(medium, expected, patternLength: length) {
                        let sense = FixedFormatSense(
                            key: .miscompare, code: .miscompareDuringVerify,
                            information: UInt32(truncatingIfNeeded: difference))
                        return eventLoop.makeSucceededFuture(.checkCondition(sense))
                    }
                    return store.write(replacement, offset: offset, fua: writeThrough, on: eventLoop)
                        .map { SCSICommandResult(status: .good) }
                        .flatMapErrorThrowing { BackstoreCompletion.failure($0, writing: true) }
                }
                .flatMapErrorThrowing { BackstoreCompletion.failure($0, writing: false) }
        }
        return .pending(future)
    }
}
