import Backstore
import Foundation
import NIOCore
import NIOPosix
import SCSITarget
import XCTest

/// A logical unit on a real RBD image, driven with CDBs (in this test target because it has
/// SCSITarget, Backstore and NIOPosix). Runs only with SWIFT_ISCSI_TEST_CEPH_CONF set, on the
/// image SWIFT_ISCSI_TEST_CEPH_IMAGE ("rbd/t1" by default, at least 64 MiB, overwritten, and
/// resized and resized back):
///
///     bash scripts/ceph-cluster.sh start /tmp/rbdtest
///     rbd -c /tmp/rbdtest/ceph.conf create --size 256M rbd/t1
///     SWIFT_ISCSI_TEST_CEPH_CONF=/tmp/rbdtest/ceph.conf swift test --filter RBD
final class RBDLogicalUnitTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var device: SCSITargetDevice!
    private var store: RBDBackstore!
    private var conf = ""
    private let nexus = SCSINexus(id: 1, initiatorPortName: "iqn.2026-12.test:rbd,i,0x023d000001")

    override func setUpWithError() throws {
        guard let conf = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_CONF"], !conf.isEmpty else {
            throw XCTSkip("SWIFT_ISCSI_TEST_CEPH_CONF is not set")
        }
        self.conf = conf
        let image = ProcessInfo.processInfo.environment["SWIFT_ISCSI_TEST_CEPH_IMAGE"] ?? "rbd/t1"
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        store = try RBDBackstore.open(backingStore: image, options: "conf=\(conf)")
        device = SCSITargetDevice(targetID: 1, targetName: "iqn.2026-12.test:rbd")
        try device.addLogicalUnit(1, backstore: store, blockSize: 512, options: LogicalUnitOptions(thinProvisioning: true))
        let first = try run([0x00])  // TEST UNIT READY: the power-on unit attention
        XCTAssertEqual(sense(first)?.key, 0x6)
    }

    override func tearDownWithError() throws {
        if let device, let store {
            _ = try device.removeLogicalUnit(1)
            try store.close()
        }
        try group?.syncShutdownGracefully()
    }

    private func run(_ cdb: [UInt8], dataOut: [UInt8]? = nil) throws -> SCSICommandResult {
        let request = SCSICommandRequest(
            lun: 1, cdb: ByteBuffer(bytes: cdb + [UInt8](repeating: 0, count: max(0, 16 - cdb.count))),
            dataOut: dataOut.map { ByteBuffer(bytes: $0) }, expectedDataTransferLength: 1 << 24)
        return try device.execute(request, nexus: nexus, on: group.next()).wait()
    }

    @discardableResult
    private func good(_ cdb: [UInt8], dataOut: [UInt8]? = nil, file: StaticString = #filePath, line: UInt = #line)
        throws -> [UInt8]
    {
        let result = try run(cdb, dataOut: dataOut)
        XCTAssertEqual(result.status, .good, "sense \(String(describing: sense(result)))", file: file, line: line)
        return result.dataIn.map { Array($0.readableBytesView) } ?? []
    }

    /// Key, ASC, ASCQ and INFORMATION of fixed-format sense.
    private func sense(_ result: SCSICommandResult) -> (key: UInt8, asc: UInt8, ascq: UInt8, information: UInt32)? {
        guard result.status == .checkCondition, let bytes = result.senseData.map({ Array($0.readableBytesView) }),
            bytes.count >= 18
        else { return nil }
        let information = bytes[3..<7].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (bytes[2] & 0x0F, bytes[12], bytes[13], information)
    }

    private func be(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * (count - 1 - $0))) }
    }

    private func read(lba: UInt64, blocks: UInt32) throws -> [UInt8] {
        try good([0x88, 0] + be(lba, 8) + be(UInt64(blocks), 4) + [0, 0])
    }

    private func write(lba: UInt64, _ data: [UInt8]) throws {
        try good([0x8A, 0] + be(lba, 8) + be(UInt64(data.count / 512), 4) + [0, 0], dataOut: data)
    }

    private func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    private var readCapacity16: [UInt8] { [0x9E, 0x10] + be(0, 8) + be(32, 4) + [0, 0] }

    /// LBPRZ 0 is the truth: an UNMAP of a range smaller than librbd's discard granule leaves
    /// the data; WRITE SAME with UNMAP of zeros still reads back as zeros.
    func testUnmapReportsLBPRZZeroAndWriteSameStillZeroes() throws {
        XCTAssertEqual(try good(readCapacity16)[14], 0x80, "LBPME, LBPRZ 0")
        XCTAssertEqual(try good([0x12, 1, 0xB2, 0, 64, 0])[5], 0xE0, "LBPU, LBPWS, LBPWS10, LBPRZ 0")
        XCTAssertEqual(Array(try good([0x12, 1, 0xB0, 0, 64, 0])[28..<32]), be(128, 4), "OPTIMAL UNMAP GRANULARITY 64 KiB")
        let lba: UInt64 = (12 << 20) / 512
        let data = pattern(64 << 10, seed: 9)
        try write(lba: lba, data)
        // UNMAP 16 blocks at an unaligned LBA: GOOD, and the data is still there.
        let descriptor = be(lba + 9, 8) + be(16, 4) + [0, 0, 0, 0]
        let list = be(22, 2) + be(16, 2) + [0, 0, 0, 0] + descriptor
        try good([0x42, 0, 0, 0, 0, 0, 0] + be(UInt64(list.count), 2) + [0], dataOut: list)
        XCTAssertEqual(try read(lba: lba, blocks: 128), data, "librbd kept the partial granule")
        // WRITE SAME(16) with UNMAP, a zero block: zeros; without UNMAP (write_zeroes): zeros.
        try good([0x93, 0x08] + be(lba + 9, 8) + be(16, 4) + [0, 0], dataOut: [UInt8](repeating: 0, count: 512))
        try good([0x93, 0x00] + be(lba + 40, 8) + be(3, 4) + [0, 0], dataOut: [UInt8](repeating: 0, count: 512))
        var expected = data
        expected.replaceSubrange(9 * 512..<25 * 512, with: [UInt8](repeating: 0, count: 16 * 512))
        expected.replaceSubrange(40 * 512..<43 * 512, with: [UInt8](repeating: 0, count: 3 * 512))
        XCTAssertEqual(try read(lba: lba, blocks: 128), expected)
    }

    /// One block: the OSD compares and writes; two blocks: the unit does.
    func testCompareAndWriteOnTheImage() throws {
        let lba: UInt64 = (4 << 20) / 512 + 7
        let old = pattern(1024, seed: 1)
        let new = pattern(1024, seed: 2)
        try write(lba: lba, old)
        let caw1 = [0x89, 0] + be(lba, 8) + [0, 0, 0, 1, 0, 0]
        try good(caw1, dataOut: Array(old[0..<512]) + Array(new[0..<512]))
        XCTAssertEqual(try read(lba: lba, blocks: 1), Array(new[0..<512]))
        var wrong = Array(new[0..<512])
        wrong[200] ^= 0xFF
        let miscompare = try run(caw1, dataOut: wrong + Array(old[0..<512]))
        XCTAssertEqual(sense(miscompare)?.key, 0xE, "MISCOMPARE")
        XCTAssertEqual(sense(miscompare).map { [$0.asc, $0.ascq] }, [0x1D, 0x00])
        XCTAssertEqual(sense(miscompare)?.information, 200)
        XCTAssertEqual(try read(lba: lba, blocks: 1), Array(new[0..<512]), "a miscompare wrote")

        try write(lba: lba, old)
        let caw2 = [0x89, 0] + be(lba, 8) + [0, 0, 0, 2, 0, 0]
        var wrong2 = old
        wrong2[700] ^= 0xFF
        XCTAssertEqual(sense(try run(caw2, dataOut: wrong2 + new))?.information, 700)
        try good(caw2, dataOut: old + new)
        XCTAssertEqual(try read(lba: lba, blocks: 2), new)
    }

    /// `rbd resize` elsewhere: CAPACITY DATA HAS CHANGED and the new capacity, grown and shrunk.
    func testResizeOfTheImageReachesTheInitiator() throws {
        XCTAssertTrue(store.followsResize)
        let original = store.byteSize
        for size in [original + (64 << 20), original] {
            try runRBD("resize", "--allow-shrink", "--size", "\(size)B", store.path!)
            let deadline = Date() + 15
            var result = try run([0x00])
            while result.status == .good && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
                result = try run([0x00])
            }
            XCTAssertEqual(sense(result).map { [$0.key, $0.asc, $0.ascq] }, [0x6, 0x2A, 0x09], "size \(size)")
            XCTAssertEqual(Array(try good(readCapacity16)[0..<8]), be(size / 512 - 1, 8))
        }
    }

    private func runRBD(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/rbd")
        process.arguments = ["-c", conf] + arguments
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "rbd \(arguments.joined(separator: " "))")
    }
}
