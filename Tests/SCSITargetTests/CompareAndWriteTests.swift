import Backstore
import Foundation
import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

/// COMPARE AND WRITE as libiscsi's CompareAndWrite.* and MultipathIO.CompareAndWrite* use it.
final class CompareAndWriteTests: XCTestCase {
    func caw(lba: UInt64, blocks: UInt8, fua: Bool = false) -> [UInt8] {
        [SCSIOpcode.compareAndWrite, fua ? 0x08 : 0] + be(lba, 8) + [0, 0, 0, blocks, 0, 0]
    }

    func block(_ byte: UInt8, count: Int = 1) -> [UInt8] { [UInt8](repeating: byte, count: 512 * count) }

    func testWritesWhenTheMediumMatches() throws {
        let harness = try Harness()
        harness.ready()
        harness.write(lba: 10, block(0x41, count: 2))
        assertGood(harness.run(caw(lba: 10, blocks: 2, fua: true), dataOut: block(0x41, count: 2) + block(0x42, count: 2)))
        XCTAssertEqual(harness.read(lba: 10, blocks: 2), block(0x42, count: 2))
        XCTAssertEqual(harness.store.writes.last?.fua, true)
    }

    func testMiscompareReportsTheOffsetAndWritesNothing() throws {
        let harness = try Harness()
        harness.ready()
        harness.write(lba: 0, block(0x41, count: 2))
        var compare = block(0x41, count: 2)
        compare[1024 - 27] = 0x43
        let sense = assertCheck(
            harness.run(caw(lba: 0, blocks: 2), dataOut: compare + block(0x42, count: 2)), .miscompare,
            .miscompareDuringVerify)
        XCTAssertEqual(sense?.information, 1024 - 27)
        XCTAssertEqual(harness.read(lba: 0, blocks: 2), block(0x41, count: 2))
    }

    func testLimitsAndMalformedTransfers() throws {
        let harness = try Harness()
        harness.ready()
        // 128 blocks at most, as the Block Limits page says.
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.inquiry, 1, 0xB0, 0, 64, 0]))[5], 128)
        assertCheck(harness.run(caw(lba: 0, blocks: 129), dataOut: block(0, count: 258)), .illegalRequest, .invalidFieldInCDB)
        // 256 blocks wrap NUMBER OF LOGICAL BLOCKS to 0: the Data-Out gives it away.
        assertCheck(harness.run(caw(lba: 0, blocks: 0), dataOut: block(0, count: 2)), .illegalRequest, .invalidFieldInCDB)
        assertGood(harness.run(caw(lba: 0, blocks: 0)))
        // Too little or too much Data-Out.
        assertCheck(harness.run(caw(lba: 0, blocks: 1), dataOut: block(0, count: 4)), .illegalRequest, .invalidFieldInCDB)
        assertCheck(harness.run(caw(lba: 0, blocks: 3), dataOut: block(0, count: 4)), .illegalRequest, .invalidFieldInCDB)
        assertCheck(
            harness.run(caw(lba: harness.blockCount - 1, blocks: 2), dataOut: block(0, count: 4)), .illegalRequest,
            .lbaOutOfRange)
        var protected = caw(lba: 0, blocks: 1)
        protected[1] = 0x20
        assertCheck(harness.run(protected, dataOut: block(0, count: 2)), .illegalRequest, .invalidFieldInCDB)
    }

    func testWriteProtected() throws {
        let harness = try Harness(options: LogicalUnitOptions(readOnly: true))
        harness.ready()
        assertCheck(harness.run(caw(lba: 0, blocks: 1), dataOut: block(0, count: 2)), .dataProtect, .writeProtected)
    }

    /// Two COMPARE AND WRITEs racing over one block: the second compares after the first
    /// wrote, and a WRITE arriving meanwhile waits too.
    func testSerializedWithOtherCompareAndWritesAndWrites() throws {
        let store = HeldReadStore(size: 1 << 20)
        let device = SCSITargetDevice(targetID: 1, targetName: "iqn.2026-11.test:caw")
        try device.addLogicalUnit(1, backstore: store)
        let loop = ImmediateEventLoop()
        func send(_ cdb: [UInt8], _ data: [UInt8]?, _ nexus: SCSINexus) -> EventLoopFuture<SCSICommandResult> {
            let request = SCSICommandRequest(
                lun: 1, cdb: ByteBuffer(bytes: cdb + [UInt8](repeating: 0, count: 16 - cdb.count)),
                dataOut: data.map { ByteBuffer(bytes: $0) }, expectedDataTransferLength: 1 << 20)
            return device.execute(request, nexus: nexus, on: loop)
        }
        func result(_ future: EventLoopFuture<SCSICommandResult>) -> SCSICommandResult? {
            var value: SCSICommandResult?
            future.whenSuccess { value = $0 }
            return value
        }
        for nexus in [Harness.nexusA, Harness.nexusB] {
            XCTAssertEqual(result(send([SCSIOpcode.testUnitReady], nil, nexus))?.status, .checkCondition)
        }
        // 0 -> 1 from A, 1 -> 0 from B, then a WRITE of 7s from A.
        let first = send(caw(lba: 0, blocks: 1), block(0) + block(1), Harness.nexusA)
        let second = send(caw(lba: 0, blocks: 1), block(1) + block(0), Harness.nexusB)
        let write = send([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0], block(7), Harness.nexusA)
        XCTAssertEqual(store.heldReads, 1, "the second compare waits for the first write")
        XCTAssertNil(result(write), "a write waits for the running COMPARE AND WRITE")
        store.releaseReads()
        XCTAssertEqual(result(first)?.status, .good)
        XCTAssertEqual(store.heldReads, 1)
        store.releaseReads()
        XCTAssertEqual(result(second)?.status, .good)
        XCTAssertEqual(result(write)?.status, .good)
        XCTAssertEqual(store.bytes(at: 0, count: 512), block(7))
        // The gate is free again: a write goes straight through.
        XCTAssertEqual(result(send([SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 1, 0], block(8), Harness.nexusA))?.status, .good)
    }
}

/// A RAM store whose reads complete only when the test releases them.
final class HeldReadStore: Backstore, @unchecked Sendable {
    private let lock = NSLock()
    private var data: [UInt8]
    private var held: [(EventLoopPromise<ByteBuffer>, UInt64, Int)] = []
    let hasVolatileWriteCache = false
    let typeName = "ram"
    let path: String? = nil

    init(size: Int) { data = [UInt8](repeating: 0, count: size) }

    var byteSize: UInt64 { UInt64(data.count) }
    var heldReads: Int { lock.withLock { held.count } }

    func bytes(at offset: UInt64, count: Int) -> [UInt8] {
        lock.withLock { Array(data[Int(offset)..<Int(offset) + count]) }
    }

    func releaseReads() {
        let reads = lock.withLock {
            defer { held.removeAll() }
            return held
        }
        for (promise, offset, length) in reads {
            promise.succeed(ByteBuffer(bytes: bytes(at: offset, count: length)))
        }
    }

    func read(offset: UInt64, length: Int, allocator: ByteBufferAllocator, on eventLoop: EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        let promise = eventLoop.makePromise(of: ByteBuffer.self)
        lock.withLock { held.append((promise, offset, length)) }
        return promise.futureResult
    }

    func write(_ buffer: ByteBuffer, offset: UInt64, fua: Bool, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        lock.withLock { data.replaceSubrange(Int(offset)..<Int(offset) + buffer.readableBytes, with: buffer.readableBytesView) }
        return eventLoop.makeSucceededVoidFuture()
    }

    func flush(on eventLoop: EventLoop) -> EventLoopFuture<Void> { eventLoop.makeSucceededVoidFuture() }
    func close() throws {}
}
