import Backstore
import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

/// A target with LUN 1 on a `TestMemoryStore`, and helpers to send CDBs.
struct Harness {
    static let nexusA = SCSINexus(id: 1, initiatorPortName: "iqn.2026-11.test:a,i,0x023d000001")
    static let nexusB = SCSINexus(id: 2, initiatorPortName: "iqn.2026-11.test:b,i,0x023d000002")

    let device: SCSITargetDevice
    let store: TestMemoryStore
    let loop = ImmediateEventLoop()

    /// 1 GiB of 512-byte blocks, like the tgtd LUN the golden bytes came from.
    init(size: UInt64 = 1 << 30, blockSize: Int = 512, options: LogicalUnitOptions = .init(), volatileCache: Bool = true)
        throws
    {
        device = SCSITargetDevice(targetID: 1, targetName: "iqn.2026-11.test:h3")
        store = TestMemoryStore(size: size, volatileCache: volatileCache, path: "/dev/shm/h3.img")
        try device.addLogicalUnit(1, backstore: store, blockSize: blockSize, options: options)
    }

    /// LUN 1 on a store that behaves like RBD; `store` is the memory under it.
    init(fake: FakeRBDStore, blockSize: Int = 512, options: LogicalUnitOptions = .init()) throws {
        device = SCSITargetDevice(targetID: 1, targetName: "iqn.2026-11.test:h3")
        store = fake.memory
        try device.addLogicalUnit(1, backstore: fake, blockSize: blockSize, options: options)
    }

    var blockCount: UInt64 { store.byteSize / 512 }

    @discardableResult
    func run(
        _ cdb: [UInt8], lun: UInt64 = 1, dataOut: [UInt8]? = nil, nexus: SCSINexus = Harness.nexusA,
        file: StaticString = #filePath, line: UInt = #line
    ) -> SCSICommandResult {
        var padded = cdb
        padded += [UInt8](repeating: 0, count: max(0, 16 - cdb.count))
        let request = SCSICommandRequest(
            lun: lun, cdb: ByteBuffer(bytes: padded), dataOut: dataOut.map { ByteBuffer(bytes: $0) },
            expectedDataTransferLength: 1 << 24)
        var outcome: Result<SCSICommandResult, Error>?
        device.execute(request, nexus: nexus, on: loop).whenComplete { outcome = $0 }
        switch outcome {
        case .success(let result)?: return result
        case .failure(let error)?: XCTFail("command failed: \(error)", file: file, line: line)
        case nil: XCTFail("command did not complete inline", file: file, line: line)
        }
        return SCSICommandResult(status: .busy)
    }

    /// Consumes the power-on unit attention a new nexus sees on `lun`.
    func ready(lun: UInt64 = 1, nexus: SCSINexus = Harness.nexusA, file: StaticString = #filePath, line: UInt = #line) {
        let first = run([SCSIOpcode.testUnitReady], lun: lun, nexus: nexus)
        assertCheck(first, .unitAttention, .powerOnResetOrBusDeviceReset, file: file, line: line)
    }

    func write(lba: UInt64, _ data: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        let blocks = data.count / 512
        let cdb = [SCSIOpcode.write16, 0] + be(lba, 8) + be(UInt64(blocks), 4) + [0, 0]
        assertGood(run(cdb, dataOut: data), file: file, line: line)
    }

    func read(lba: UInt64, blocks: Int, file: StaticString = #filePath, line: UInt = #line) -> [UInt8] {
        assertGood(run([SCSIOpcode.read16, 0] + be(lba, 8) + be(UInt64(blocks), 4) + [0, 0]), file: file, line: line)
    }
}

/// `value`'s low `count` bytes, big-endian.
func be(_ value: UInt64, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * (count - 1 - $0))) }
}

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// The Data-In bytes of a GOOD result.
@discardableResult
func assertGood(
    _ result: SCSICommandResult, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) -> [UInt8] {
    let sense = result.senseData.map { Array($0.readableBytesView) } ?? []
    XCTAssertEqual(result.status, .good, "\(message) sense: \(sense)", file: file, line: line)
    return result.dataIn.map { Array($0.readableBytesView) } ?? []
}

/// Checks CHECK CONDITION with fixed-format sense of at least 18 bytes and the given codes.
@discardableResult
func assertCheck(
    _ result: SCSICommandResult, _ key: SenseKey, _ code: AdditionalSenseCode, file: StaticString = #filePath,
    line: UInt = #line
) -> FixedFormatSense? {
    XCTAssertEqual(result.status, .checkCondition, file: file, line: line)
    let bytes = result.senseData.map { Array($0.readableBytesView) } ?? []
    XCTAssertGreaterThanOrEqual(bytes.count, 18, file: file, line: line)
    guard let sense = FixedFormatSense(parsing: bytes) else {
        XCTFail("no fixed-format sense: \(bytes)", file: file, line: line)
        return nil
    }
    XCTAssertEqual(sense.key, key, file: file, line: line)
    XCTAssertEqual(sense.code, code, file: file, line: line)
    return sense
}
