#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns byte-granular file requests into whole-block backend requests. Pure arithmetic, so it can
/// be tested without FUSE.
///
/// The usable size is the backend size rounded down to whole blocks. Reads past it return fewer
/// (or zero) bytes, as on a block device; a write that starts past it fails with ENOSPC and one
/// that straddles it is cut short. Loop devices configured with the LUN's block size only send
/// aligned requests, so read-modify-write serves direct users of the file.
public enum BlockAlignment {
    public struct ReadPlan: Equatable, Sendable {
        /// Whole-block range to read from the backend; length 0 means "reply with no data".
        public var backendOffset: UInt64
        public var backendLength: Int
        /// The caller's bytes start `skip` bytes into the backend data; `replyLength` of them.
        public var skip: Int
        public var replyLength: Int
    }

    /// A write that is not block-aligned: the aligned range is assembled in one buffer holding the
    /// caller's bytes at `dataOffset`, with the partly covered first and last blocks filled in
    /// from reads of `headBlock` and `tailBlock`.
    public struct ReadModifyWrite: Equatable, Sendable {
        public var alignedOffset: UInt64
        public var alignedLength: Int
        public var dataOffset: Int
        /// Bytes of the caller's data written (and replied), after any cut at the end.
        public var dataLength: Int
        /// Offset of the first block when it is only partly covered.
        public var headBlock: UInt64?
        /// Offset of the last block when it is only partly covered and differs from `headBlock`.
        public var tailBlock: UInt64?
    }

    public enum WritePlan: Equatable, Sendable {
        /// Already aligned: hand the first `length` bytes to the backend as they are.
        case direct(offset: UInt64, length: Int)
        case readModifyWrite(ReadModifyWrite)
        /// Nothing can be written; answer this errno.
        case rejected(errno: Int32)
    }

    /// The size the FUSE file exposes: whole blocks only.
    public static func usableSize(deviceSize: UInt64, blockSize: Int) -> UInt64 {
        let block = UInt64(max(blockSize, 1))
        return deviceSize - deviceSize % block
    }

    public static func planRead(
        offset: UInt64, length: Int, blockSize: Int, deviceSize: UInt64
    ) -> ReadPlan {
        let size = usableSize(deviceSize: deviceSize, blockSize: blockSize)
        guard length > 0, offset < size else {
            return ReadPlan(backendOffset: offset, backendLength: 0, skip: 0, replyLength: 0)
        }
        let block = UInt64(blockSize)
        let end = clampedEnd(offset: offset, length: length, size: size)
        let start = offset - offset % block
        let alignedEnd = roundUp(end, block)
        return ReadPlan(
            backendOffset: start, backendLength: Int(alignedEnd - start),
            skip: Int(offset - start), replyLength: Int(end - offset))
    }

    public static func planWrite(
        offset: UInt64, length: Int, blockSize: Int, deviceSize: UInt64
    ) -> WritePlan {
        let size = usableSize(deviceSize: deviceSize, blockSize: blockSize)
        if length <= 0 { return .direct(offset: offset, length: 0) }
        if offset >= size { return .rejected(errno: ENOSPC) }
        let block = UInt64(blockSize)
        let end = clampedEnd(offset: offset, length: length, size: size)
        let dataLength = Int(end - offset)
        if offset % block == 0 && end % block == 0 {
            return .direct(offset: offset, length: dataLength)
        }
        let start = offset - offset % block
        let alignedEnd = roundUp(end, block)
        let head: UInt64? = offset % block != 0 ? start : nil
        var tail: UInt64? = end % block != 0 ? alignedEnd - block : nil
        if tail == head { tail = nil }  // one block covers both ends: read it once
        return .readModifyWrite(
            ReadModifyWrite(
                alignedOffset: start, alignedLength: Int(alignedEnd - start),
                dataOffset: Int(offset - start), dataLength: dataLength,
                headBlock: head, tailBlock: tail))
    }

    private static func clampedEnd(offset: UInt64, length: Int, size: UInt64) -> UInt64 {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        return overflow ? size : min(end, size)
    }

    private static func roundUp(_ value: UInt64, _ block: UInt64) -> UInt64 {
        let rest = value % block
        return rest == 0 ? value : value + (block - rest)
    }
}

extension BlockAlignment.ReadModifyWrite {
    /// Where, in the assembled buffer, the bytes read from a partly covered block go: the part of
    /// that block the caller's data leaves uncovered, as (range in the block, same range in the
    /// buffer). One or two ranges (two when a single block holds both ends).
    public func fills(forBlockAt blockOffset: UInt64, blockSize: Int) -> [(block: Range<Int>, buffer: Range<Int>)] {
        let blockStart = Int(blockOffset - alignedOffset)  // position of the block in the buffer
        let blockRange = blockStart..<(blockStart + blockSize)
        let data = dataOffset..<(dataOffset + dataLength)
        var result: [(block: Range<Int>, buffer: Range<Int>)] = []
        if blockRange.lowerBound < data.lowerBound {
            let upper = min(data.lowerBound, blockRange.upperBound)
            result.append((0..<(upper - blockStart), blockRange.lowerBound..<upper))
        }
        if data.upperBound < blockRange.upperBound {
            let lower = max(data.upperBound, blockRange.lowerBound)
            result.append(((lower - blockStart)..<blockSize, lower..<blockRange.upperBound))
        }
        return result
    }
}
