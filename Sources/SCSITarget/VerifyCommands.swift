import Backstore
import NIOCore
import SCSIProtocol

/// VERIFY, PRE-FETCH and SYNCHRONIZE CACHE (10, 12/16).
enum VerifyCommands {
    /// BYTCHK 00b checks the range only; 01b compares the Data-Out blocks with the medium;
    /// 11b compares one Data-Out block with every block of the range. A mismatch is MISCOMPARE
    /// DURING VERIFY OPERATION with the byte offset of the first difference in INFORMATION.
    static func verify(_ context: CommandContext) -> CommandOutcome {
        let cdb = context.cdb
        if cdb[1] & 0xE0 != 0 { return .invalidField(cdbByte: 1) }  // VRPROTECT
        let byteCheck = cdb[1] >> 1 & 0x03
        guard byteCheck != 0b10 else { return .invalidField(cdbByte: 1, bit: 2) }
        let (lba, blocks) = cdb.blockRange
        guard context.inRange(lba: lba, blocks: UInt64(blocks)) else { return .lbaOutOfRange }
        let blockSize = context.unit.blockSize
        // The device refused part of a block; blocks that did not come are not compared.
        guard byteCheck != 0, blocks > 0, let expected = context.request.dataOut, expected.readableBytes >= blockSize else {
            return .good
        }
        let comparedBlocks = byteCheck == 0b11 ? UInt64(blocks) : min(UInt64(blocks), UInt64(expected.readableBytes / blockSize))
        let length = comparedBlocks << UInt64(context.unit.blockShift)
        guard length <= SCSITargetDevice.maximumTransferBytes else {
            return .invalidField(cdbByte: cdb.length == 16 ? 10 : 7)
        }
        guard let store = context.state.backstore else { return .check(.hardwareError, .internalTargetFailure) }
        let pattern = byteCheck == 0b11 ? blockSize : Int(length)
        let promise = context.eventLoop.makePromise(of: SCSICommandResult.self)
        store.read(offset: context.byteOffset(lba), length: Int(length), allocator: context.device.allocator, on: context.eventLoop)
            .whenComplete { result in
                switch result {
                case .success(let medium):
                    if let offset = firstDifference(medium, expected, patternLength: pattern) {
                        promise.succeed(
                            .checkCondition(
                                FixedFormatSense(key: .miscompare, code: .miscompareDuringVerify, information: UInt32(truncatingIfNeeded: offset))))
                    } else {
                        promise.succeed(SCSICommandResult(status: .good))
                    }
                case .failure(let error):
                    promise.succeed(BackstoreCompletion.failure(error, writing: false))
                }
            }
        return .pending(promise.futureResult)
    }

    /// Offset of the first byte of `medium` that differs from `expected`, whose first
    /// `patternLength` bytes repeat over the whole of `medium`.
    static func firstDifference(_ medium: ByteBuffer, _ expected: ByteBuffer, patternLength: Int) -> Int? {
        medium.withUnsafeReadableBytes { have in
            expected.withUnsafeReadableBytes { want in
                for index in 0..<have.count where have[index] != want[index % patternLength] {
                    return index
                }
                return nil
            }
        }
    }

    /// Nothing is cached ahead here, so this is a range check answering GOOD (CONDITION MET
    /// would promise the blocks fit in a cache; libiscsi expects GOOD).
    static func preFetch(_ context: CommandContext) -> CommandOutcome {
        let (lba, blocks) = context.cdb.blockRange
        return context.inRange(lba: lba, blocks: UInt64(blocks)) ? .good : .lbaOutOfRange
    }

    /// Flushes the whole store whatever the range (0 blocks means "to the last LBA").
    static func synchronizeCache(_ context: CommandContext) -> CommandOutcome {
        let (lba, blocks) = context.cdb.blockRange
        guard context.inRange(lba: lba, blocks: UInt64(blocks)) else { return .lbaOutOfRange }
        guard let store = context.state.backstore else { return .check(.hardwareError, .internalTargetFailure) }
        return BackstoreCompletion.status(store.flush(on: context.eventLoop), writing: true, on: context.eventLoop)
    }
}
