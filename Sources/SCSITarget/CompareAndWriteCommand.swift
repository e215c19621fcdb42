import Backstore
import NIOCore
import SCSIProtocol

/// COMPARE AND WRITE (SBC-3 5.2): the Data-Out holds NUMBER OF LOGICAL BLOCKS blocks to compare
/// with the medium, then as many to write there if all matched. A mismatch is MISCOMPARE /
/// MISCOMPARE DURING VERIFY OPERATION with the offset of the first differing byte in
/// INFORMATION, and nothing is written. A store that compares and writes atomically itself
/// (`CompareAndWriteBackstore`, RBD on the OSDs, so across gateways) does it; otherwise, or
/// when it cannot for this range, the unit reads, compares and writes. Either runs holding the
/// unit's exclusive gate, so this unit's other writes wait.
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
            () -> EventLoopFuture<SCSICommandResult> in
            let emulated: @Sendable () -> EventLoopFuture<SCSICommandResult> = {
                readCompareWrite(
                    store, expected: expected, replacement: replacement, offset: offset, fua: writeThrough,
                    allocator: allocator, on: eventLoop)
            }
            guard let atomic = store as? CompareAndWriteBackstore else { return emulated() }
            return atomic.compareAndWrite(
                expected: expected, replacement: replacement, offset: offset, fua: writeThrough, on: eventLoop
            ).flatMap { result -> EventLoopFuture<SCSICommandResult> in
                switch result {
                case .written: return eventLoop.makeSucceededFuture(SCSICommandResult(status: .good))
                case .mismatch(let at): return eventLoop.makeSucceededFuture(miscompare(at: at))
                case .unsupported: return emulated()
                }
            }.flatMapErrorThrowing { BackstoreCompletion.failure($0, writing: true) }
        }
        return .pending(future)
    }

    /// MISCOMPARE with the offset of the first differing byte in INFORMATION.
    private static func miscompare(at offset: Int) -> SCSICommandResult {
        .checkCondition(
            FixedFormatSense(
                key: .miscompare, code: .miscompareDuringVerify, information: UInt32(truncatingIfNeeded: offset)))
    }

    /// The unit's own compare-and-write: read, compare, write if equal.
    private static func readCompareWrite(
        _ store: Backstore, expected: ByteBuffer, replacement: ByteBuffer, offset: UInt64, fua: Bool,
        allocator: ByteBufferAllocator, on eventLoop: EventLoop
    ) -> EventLoopFuture<SCSICommandResult> {
        let length = expected.readableBytes
        return store.read(offset: offset, length: length, allocator: allocator, on: eventLoop)
            .flatMap { medium -> EventLoopFuture<SCSICommandResult> in
                if let difference = VerifyCommands.firstDifference(medium, expected, patternLength: length) {
                    return eventLoop.makeSucceededFuture(miscompare(at: difference))
                }
                return store.write(replacement, offset: offset, fua: fua, on: eventLoop)
                    .map { SCSICommandResult(status: .good) }
                    .flatMapErrorThrowing { BackstoreCompletion.failure($0, writing: true) }
            }
            .flatMapErrorThrowing { BackstoreCompletion.failure($0, writing: false) }
    }
}
