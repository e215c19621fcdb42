import Backstore
import NIOCore
import SCSIProtocol

/// WRITE SAME (10) and (16): one block (or zeros with NDOB) repeated over the range, written in
/// chunks of at most 1 MiB, or zeroed by the store when the block is zeros and the store can
/// zero; with UNMAP on a thin provisioned unit whose unmapped blocks read as zeros the range is
/// unmapped instead.
enum WriteSameCommand {
    static let chunkBytes = 1 << 20

    static func writeSame(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        let flags = cdb[1]
        let sixteen = cdb.opcode == SCSIOpcode.writeSame16
        if flags & 0xE0 != 0 { return .invalidField(cdbByte: 1) }  // WRPROTECT
        // UNMAP and ANCHOR on a fully provisioned unit: "not supported" as LIO answers it, so
        // an initiator probing them (libiscsi's UnmapVPD cases) reads the command as absent.
        let thin = context.profile.isThinProvisioned
        if flags & 0x18 != 0 && !thin { return .check(.illegalRequest, .invalidCommandOperationCode) }
        guard !context.state.writeProtected else { return .writeProtected }
        // Anchored blocks are not supported (ANC_SUP 0); LBDATA and PBDATA are obsolete.
        if flags & 0x16 != 0 { return .invalidField(cdbByte: 1) }
        let unmap = flags & 0x08 != 0
        let noDataOut = sixteen && flags & 0x01 != 0
        let (lba, requested) = cdb.blockRange
        guard lba < context.state.blockCount else { return .lbaOutOfRange }
        // NUMBER OF LOGICAL BLOCKS 0 means through the last LBA (WSNZ is 0).
        let blocks = requested == 0 ? context.state.blockCount - lba : UInt64(requested)
        let limit = UInt64(context.profile.maximumWriteSameBlocks)
        if limit > 0 && blocks > limit { return .invalidField(cdbByte: sixteen ? 10 : 7) }
        guard context.inRange(lba: lba, blocks: blocks) else { return .lbaOutOfRange }

        let blockSize = context.unit.blockSize
        let block: ByteBuffer
        if noDataOut {
            block = ByteBuffer(repeating: 0, count: blockSize)
        } else {
            guard let dataOut = context.request.dataOut, dataOut.readableBytes == blockSize else {
                return .parameterListLengthError
            }
            block = dataOut
        }
        guard let store = context.unit.backstore else { return .check(.hardwareError, .internalTargetFailure) }
        let shift = UInt64(context.unit.blockShift)
        let eventLoop = context.eventLoop
        let fua = context.state.writeThrough
        if unmap && context.profile.unmapReadsZeros {
            // The range is unmapped whatever the block holds, as LIO and tgt do (and libiscsi's
            // UnmapUntilEnd expects): it reads back as zeros (LBPRZ).
            return BackstoreCompletion.status(
                store.discardOrZero(offset: lba << shift, length: blocks << shift, on: eventLoop),
                writing: true, on: eventLoop)
        }
        // LBPRZ 0 (an unmap may leave data) or no UNMAP: the range must read back as the block.
        // Zeros go to the store's zeroing (RBD write_zeroes, which also deallocates whole
        // objects) when it has one; other stores keep writing the pattern.
        if unmap || store is ZeroingBackstore, noDataOut || block.readableBytesView.allSatisfy({ $0 == 0 }) {
            let zeroed = store.zeroFill(offset: lba << shift, length: blocks << shift, on: eventLoop)
            return BackstoreCompletion.status(
                fua ? zeroed.flatMap { store.flush(on: eventLoop) } : zeroed, writing: true, on: eventLoop)
        }

        let chunkBlocks = min(blocks, UInt64(max(1, chunkBytes / blockSize)))
        var pattern = context.device.allocator.buffer(capacity: Int(chunkBlocks) * blockSize)
        for _ in 0..<chunkBlocks { pattern.writeImmutableBuffer(block) }
        let chunks = pattern

        @Sendable func writeChunks(from start: UInt64, remaining: UInt64) -> EventLoopFuture<Void> {
            let count = min(remaining, chunkBlocks)
            let chunk = chunks.getSlice(at: chunks.readerIndex, length: Int(count << shift))!
            return store.write(chunk, offset: start << shift, fua: fua, on: eventLoop).flatMap {
                guard remaining > count else { return eventLoop.makeSucceededVoidFuture() }
                // Hop through the loop so long ranges do not deepen the stack.
                return eventLoop.flatSubmit { writeChunks(from: start + count, remaining: remaining - count) }
            }
        }
        return BackstoreCompletion.status(
            writeChunks(from: lba, remaining: blocks), writing: true, on: eventLoop)
    }
}
