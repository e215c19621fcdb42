import Backstore
import Dispatch
import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

final class DeviceTests: XCTestCase {
    func testControllerExistsFromTheStart() {
        let device = SCSITargetDevice(targetID: 3, targetName: "iqn.2026-11.test:t3")
        XCTAssertEqual(
            device.logicalUnits,
            [
                LogicalUnitInfo(
                    lun: 0, type: "controller", scsiID: "IET     00030000", scsiSerial: "beaf30", size: 0, blockSize: 1,
                    online: true, removable: false, preventRemoval: false, readOnly: false, softwareWriteProtect: false,
                    thinProvisioning: false, backingStoreType: "null", backingStorePath: nil)
            ])
    }

    func testDiskInfoAsTgtadmShowsIt() throws {
        let harness = try Harness()
        try harness.device.addLogicalUnit(20, backstore: TestMemoryStore(size: 1 << 20), options: .init(readOnly: true))
        let units = harness.device.logicalUnits
        XCTAssertEqual(units.map(\.lun), [0, 1, 20])
        XCTAssertEqual(
            units[1],
            LogicalUnitInfo(
                lun: 1, type: "disk", scsiID: "IET     00010001", scsiSerial: "beaf11", size: 1 << 30, blockSize: 512,
                online: true, removable: false, preventRemoval: false, readOnly: false, softwareWriteProtect: false,
                thinProvisioning: false, backingStoreType: "ram", backingStorePath: "/dev/shm/h3.img"))
        XCTAssertEqual(units[2].scsiID, "IET     00010014")
        XCTAssertEqual(units[2].scsiSerial, "beaf120")
        XCTAssertTrue(units[2].readOnly)
    }

    func testConfigurationErrors() throws {
        let harness = try Harness()
        let store = TestMemoryStore(size: 1 << 20)
        func kind(_ body: () throws -> Void) -> SCSITargetError.Kind? {
            do {
                try body()
                return nil
            } catch {
                return (error as? SCSITargetError)?.kind
            }
        }
        XCTAssertEqual(kind { try harness.device.addLogicalUnit(1, backstore: store) }, .duplicateLUN)
        XCTAssertEqual(kind { try harness.device.addLogicalUnit(0, backstore: store) }, .duplicateLUN)
        XCTAssertEqual(kind { try harness.device.addLogicalUnit(16384, backstore: store) }, .lunOutOfRange)
        XCTAssertEqual(kind { try harness.device.addLogicalUnit(2, backstore: store, blockSize: 520) }, .invalidBlockSize)
        XCTAssertEqual(kind { try harness.device.addLogicalUnit(2, backstore: store, blockSize: 256) }, .invalidBlockSize)
        XCTAssertEqual(kind { try harness.device.addLogicalUnit(2, backstore: TestMemoryStore(size: 100)) }, .storeTooSmall)
        XCTAssertEqual(kind { _ = try harness.device.removeLogicalUnit(0) }, .lunZeroIsController)
        XCTAssertEqual(kind { _ = try harness.device.removeLogicalUnit(5) }, .noSuchLUN)
        XCTAssertEqual(harness.device.logicalUnits.map(\.lun), [0, 1])
    }

    func testRemovedUnitIsGone() throws {
        let harness = try Harness()
        harness.ready()
        let removed = try harness.device.removeLogicalUnit(1)
        XCTAssertTrue(removed === harness.store)
        assertCheck(harness.run([SCSIOpcode.testUnitReady]), .illegalRequest, .logicalUnitNotSupported)
        try harness.device.addLogicalUnit(1, backstore: harness.store)
        harness.ready()
    }

    func testMissingLUN() throws {
        let harness = try Harness()
        assertCheck(harness.run([SCSIOpcode.testUnitReady], lun: 9), .illegalRequest, .logicalUnitNotSupported)
        assertCheck(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0], lun: 9), .illegalRequest, .logicalUnitNotSupported)
        let sense = assertGood(harness.run([SCSIOpcode.requestSense, 0, 0, 0, 252, 0], lun: 9))
        XCTAssertEqual(sense, hex("700005000000000a00000000250000000000"))
    }

    func testUnknownOpcodesAndControlByte() throws {
        let harness = try Harness()
        harness.ready()
        harness.ready(lun: 0)
        for opcode: UInt8 in [0x01, 0x04, 0x42, 0x4D, 0x7F, 0x8C, 0xC0, 0xFF] {
            assertCheck(harness.run([opcode]), .illegalRequest, .invalidCommandOperationCode)
        }
        assertCheck(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0], lun: 0), .illegalRequest, .invalidCommandOperationCode)
        assertCheck(harness.run([SCSIOpcode.modeSelect6, 0x10, 0, 0, 0, 0], lun: 0), .illegalRequest, .invalidCommandOperationCode)
        let naca = assertCheck(harness.run([SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0x04]), .illegalRequest, .invalidFieldInCDB)
        XCTAssertEqual(naca?.fieldPointer?.byte, 9)
        assertCheck(harness.run([SCSIOpcode.testUnitReady, 0, 0, 0, 0, 0x01]), .illegalRequest, .invalidFieldInCDB)
        assertGood(harness.run([SCSIOpcode.testUnitReady, 0, 0, 0, 0, 0x80]), "vendor bits are ignored")
    }

    /// Several threads (event loops) at once on shared units: results stay per nexus.
    func testConcurrentCommands() throws {
        let harness = try Harness(size: 1 << 24)
        let device = harness.device
        let failures = ManagedCounter()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            let nexus = SCSINexus(id: UInt64(100 + worker), initiatorPortName: "iqn.test:\(worker)")
            let loop = ImmediateEventLoop()
            let block = [UInt8](repeating: UInt8(worker), count: 512)
            func run(_ cdb: [UInt8], _ data: [UInt8]? = nil) -> SCSICommandResult? {
                var result: SCSICommandResult?
                let request = SCSICommandRequest(
                    lun: 1, cdb: ByteBuffer(bytes: cdb + [UInt8](repeating: 0, count: 16 - cdb.count)),
                    dataOut: data.map { ByteBuffer(bytes: $0) }, expectedDataTransferLength: 512)
                device.execute(request, nexus: nexus, on: loop).whenSuccess { result = $0 }
                return result
            }
            if run([SCSIOpcode.testUnitReady])?.status != .checkCondition { failures.increment() }
            for round in 0..<200 {
                let lba = UInt64(worker * 1000 + round)
                if run([SCSIOpcode.write10, 0] + be(lba, 4) + [0, 0, 1, 0], block)?.status != .good { failures.increment() }
                let data = run([SCSIOpcode.read10, 0] + be(lba, 4) + [0, 0, 1, 0])?.dataIn
                if data.map({ Array($0.readableBytesView) }) != block { failures.increment() }
            }
            device.nexusLost(nexus)
        }
        XCTAssertEqual(failures.value, 0)
    }
}

/// A thread-safe counter for the concurrency test.
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
