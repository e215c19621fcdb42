import XCTest

@testable import BlockDevice

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class BlockAlignmentTests: XCTestCase {
    private let mib: UInt64 = 1 << 20

    func testAlignedReadPassesThrough() {
        let plan = BlockAlignment.planRead(offset: 8192, length: 65536, blockSize: 4096, deviceSize: mib)
        XCTAssertEqual(plan, .init(backendOffset: 8192, backendLength: 65536, skip: 0, replyLength: 65536))
    }

    func testUnalignedReadWidensToBlocksAndSkips() {
        let plan = BlockAlignment.planRead(offset: 1000, length: 100, blockSize: 512, deviceSize: mib)
        XCTAssertEqual(plan, .init(backendOffset: 512, backendLength: 1024, skip: 488, replyLength: 100))
        let spanning = BlockAlignment.planRead(offset: 4095, length: 2, blockSize: 4096, deviceSize: mib)
        XCTAssertEqual(spanning, .init(backendOffset: 0, backendLength: 8192, skip: 4095, replyLength: 2))
    }

    func testReadAtOrPastEndIsEmptyAndStraddlingReadIsShort() {
        XCTAssertEqual(
            BlockAlignment.planRead(offset: mib, length: 4096, blockSize: 4096, deviceSize: mib).replyLength, 0)
        XCTAssertEqual(
            BlockAlignment.planRead(offset: mib + 5, length: 1, blockSize: 512, deviceSize: mib).backendLength, 0)
        let short = BlockAlignment.planRead(offset: mib - 100, length: 4096, blockSize: 512, deviceSize: mib)
        XCTAssertEqual(short, .init(backendOffset: mib - 512, backendLength: 512, skip: 412, replyLength: 100))
        // Overflowing offset + length does not trap.
        let huge = BlockAlignment.planRead(offset: UInt64.max - 10, length: 100, blockSize: 512, deviceSize: mib)
        XCTAssertEqual(huge.replyLength, 0)
    }

    func testPartialTrailingBlockOfBackendIsNotExposed() {
        XCTAssertEqual(BlockAlignment.usableSize(deviceSize: 10_000, blockSize: 4096), 8192)
        let plan = BlockAlignment.planRead(offset: 8000, length: 2000, blockSize: 4096, deviceSize: 10_000)
        XCTAssertEqual(plan.replyLength, 192)
        XCTAssertEqual(plan.backendOffset + UInt64(plan.backendLength), 8192)
    }

    func testAlignedWriteIsDirect() {
        XCTAssertEqual(
            BlockAlignment.planWrite(offset: 4096, length: 8192, blockSize: 4096, deviceSize: mib),
            .direct(offset: 4096, length: 8192))
        XCTAssertEqual(
            BlockAlignment.planWrite(offset: 0, length: 0, blockSize: 512, deviceSize: mib),
            .direct(offset: 0, length: 0))
    }

    func testUnalignedWriteReadsOnlyPartialEndBlocks() {
        // 100 bytes inside one 512-byte block: one block read, both ends filled from it.
        guard
            case .readModifyWrite(let inside) = BlockAlignment.planWrite(
                offset: 1100, length: 100, blockSize: 512, deviceSize: mib)
        else { return XCTFail("expected read-modify-write") }
        XCTAssertEqual(inside.alignedOffset, 1024)
        XCTAssertEqual(inside.alignedLength, 512)
        XCTAssertEqual(inside.dataOffset, 76)
        XCTAssertEqual(inside.dataLength, 100)
        XCTAssertEqual(inside.headBlock, 1024)
        XCTAssertNil(inside.tailBlock)
        let fills = inside.fills(forBlockAt: 1024, blockSize: 512)
        XCTAssertEqual(fills.map(\.block), [0..<76, 176..<512])
        XCTAssertEqual(fills.map(\.buffer), [0..<76, 176..<512])

        // Spanning three blocks with both ends partial.
        guard
            case .readModifyWrite(let span) = BlockAlignment.planWrite(
                offset: 4000, length: 5000, blockSize: 4096, deviceSize: mib)
        else { return XCTFail("expected read-modify-write") }
        XCTAssertEqual(span.alignedOffset, 0)
        XCTAssertEqual(span.alignedLength, 12288)
        XCTAssertEqual(span.headBlock, 0)
        XCTAssertEqual(span.tailBlock, 8192)
        XCTAssertEqual(span.fills(forBlockAt: 0, blockSize: 4096).map(\.buffer), [0..<4000])
        let tail = span.fills(forBlockAt: 8192, blockSize: 4096)
        XCTAssertEqual(tail.map(\.block), [808..<4096])
        XCTAssertEqual(tail.map(\.buffer), [9000..<12288])

        // Aligned start, partial end: only the tail is read.
        guard
            case .readModifyWrite(let tailOnly) = BlockAlignment.planWrite(
                offset: 512, length: 700, blockSize: 512, deviceSize: mib)
        else { return XCTFail("expected read-modify-write") }
        XCTAssertNil(tailOnly.headBlock)
        XCTAssertEqual(tailOnly.tailBlock, 1024)
        XCTAssertEqual(tailOnly.alignedLength, 1024)

        // Partial start, aligned end: only the head is read.
        guard
            case .readModifyWrite(let headOnly) = BlockAlignment.planWrite(
                offset: 100, length: 924, blockSize: 512, deviceSize: mib)
        else { return XCTFail("expected read-modify-write") }
        XCTAssertEqual(headOnly.headBlock, 0)
        XCTAssertNil(headOnly.tailBlock)
    }

    func testWritesAtTheEnd() {
        XCTAssertEqual(
            BlockAlignment.planWrite(offset: mib, length: 512, blockSize: 512, deviceSize: mib),
            .rejected(errno: ENOSPC))
        XCTAssertEqual(
            BlockAlignment.planWrite(offset: mib - 512, length: 4096, blockSize: 512, deviceSize: mib),
            .direct(offset: mib - 512, length: 512))
        guard
            case .readModifyWrite(let cut) = BlockAlignment.planWrite(
                offset: mib - 100, length: 4096, blockSize: 512, deviceSize: mib)
        else { return XCTFail("expected read-modify-write") }
        XCTAssertEqual(cut.dataLength, 100)
        XCTAssertEqual(cut.alignedOffset + UInt64(cut.alignedLength), mib)
        XCTAssertEqual(cut.headBlock, mib - 512)
        XCTAssertNil(cut.tailBlock)
    }

    /// Every planned write, applied to a model disk, gives the same bytes as a plain byte write.
    func testPlansMatchAByteModel() {
        var generator = SplitMix(seed: 7)
        let blockSize = 512
        let size = 8 * 1024
        for _ in 0..<600 {
            let offset = Int(generator.next() % UInt64(size + 600))
            let length = Int(generator.next() % 3000)
            var disk = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            var expected = disk
            let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ 101) }
            let plan = BlockAlignment.planWrite(
                offset: UInt64(offset), length: length, blockSize: blockSize, deviceSize: UInt64(size))
            var written = 0
            switch plan {
            case .rejected(let code):
                XCTAssertEqual(code, ENOSPC)
                XCTAssertGreaterThanOrEqual(offset, size)
            case .direct(let start, let count):
                XCTAssertEqual(Int(start) % blockSize, 0)
                XCTAssertEqual(count % blockSize, 0)
                disk.replaceSubrange(Int(start)..<(Int(start) + count), with: data[0..<count])
                written = count
            case .readModifyWrite(let cycle):
                XCTAssertEqual(Int(cycle.alignedOffset) % blockSize, 0)
                XCTAssertEqual(cycle.alignedLength % blockSize, 0)
                var buffer = [UInt8](repeating: 0xEE, count: cycle.alignedLength)
                buffer.replaceSubrange(
                    cycle.dataOffset..<(cycle.dataOffset + cycle.dataLength), with: data[0..<cycle.dataLength])
                for block in [cycle.headBlock, cycle.tailBlock].compactMap({ $0 }) {
                    XCTAssertEqual(Int(block) % blockSize, 0)
                    let blockBytes = Array(disk[Int(block)..<(Int(block) + blockSize)])
                    for fill in cycle.fills(forBlockAt: block, blockSize: blockSize) {
                        buffer.replaceSubrange(fill.buffer, with: blockBytes[fill.block])
                    }
                }
                let start = Int(cycle.alignedOffset)
                disk.replaceSubrange(start..<(start + cycle.alignedLength), with: buffer)
                written = cycle.dataLength
            }
            if offset < size {
                XCTAssertEqual(written, min(length, size - offset))
                expected.replaceSubrange(offset..<(offset + written), with: data[0..<written])
            }
            XCTAssertEqual(disk, expected, "offset \(offset) length \(length)")
        }
    }

    func testErrnoMapping() {
        XCTAssertEqual(BlockDeviceError(.io).errno, EIO)
        XCTAssertEqual(BlockDeviceError(.targetFailure).errno, EIO)
        XCTAssertEqual(BlockDeviceError(.medium).errno, EIO)
        XCTAssertEqual(BlockDeviceError(.unavailable).errno, EIO)
        XCTAssertEqual(BlockDeviceError(.noSpace).errno, ENOSPC)
        XCTAssertEqual(BlockDeviceError(.writeProtected).errno, EROFS)
        XCTAssertEqual(BlockDeviceError(.outOfRange).errno, EINVAL)
        XCTAssertEqual(BlockDeviceError(.timedOut).errno, ETIMEDOUT)
        XCTAssertEqual(BlockDeviceError(.notSupported).errno, EOPNOTSUPP)
        XCTAssertEqual(BlockDeviceError(.errno(EAGAIN)).errno, EAGAIN)
        XCTAssertEqual(BlockDeviceError(.errno(0)).errno, EIO)
        XCTAssertEqual(BlockDeviceError(.errno(5000)).errno, EIO)
        XCTAssertEqual(
            BlockDeviceError(.noSpace, "thin pool exhausted").description,
            "thin pool exhausted (No space left on device)")
    }

    #if os(Linux)
    func testFileNameValidation() {
        XCTAssertNoThrow(try LUNFileSystem.validate(name: "session1-lun1"))
        for bad in ["", ".", "..", "a/b", String(repeating: "x", count: 256), "nul\u{0}"] {
            XCTAssertThrowsError(try LUNFileSystem.validate(name: bad), bad)
        }
    }
    #endif
}

/// Deterministic pseudo-random numbers for repeatable tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
