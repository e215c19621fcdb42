import BlockDevice
import ISCSIInitiator
import NIOCore
import XCTest

@testable import ISCSIBlockDevice

/// How command outcomes reach the block layer: which are retried, which errno a failure becomes.
final class ClassifyTests: XCTestCase {
    private func check(_ key: UInt8, _ asc: UInt8, _ ascq: UInt8 = 0) -> Result<SCSICommandResponse, ISCSIInitiatorError> {
        var sense = [UInt8](repeating: 0, count: 18)
        sense[0] = 0x70
        sense[2] = key
        sense[7] = 10
        sense[12] = asc
        sense[13] = ascq
        return .success(SCSICommandResponse(status: SCSICommandResponse.checkCondition, senseBytes: sense))
    }

    private func errno(_ result: Result<SCSICommandResponse, ISCSIInitiatorError>) -> Int32? {
        guard case .done(.failure(let error)) = SessionLUNBackend.classify(result) else { return nil }
        return error.errno
    }

    private func isRetried(_ result: Result<SCSICommandResponse, ISCSIInitiatorError>) -> Bool {
        if case .retry = SessionLUNBackend.classify(result) { return true }
        return false
    }

    func testGoodPassesThrough() {
        var data = ByteBuffer()
        data.writeBytes([1, 2, 3])
        guard case .done(.success(let response)) = SessionLUNBackend.classify(.success(SCSICommandResponse(status: 0, data: data)))
        else { return XCTFail("GOOD must complete") }
        XCTAssertEqual(response.data, data)
    }

    func testTransientConditionsAreRetried() {
        XCTAssertTrue(isRetried(check(0x06, 0x29)), "UNIT ATTENTION after a reset")
        XCTAssertTrue(isRetried(check(0x06, 0x2A, 0x09)), "CAPACITY DATA HAS CHANGED")
        XCTAssertTrue(isRetried(check(0x0B, 0x47)), "ABORTED COMMAND")
        XCTAssertTrue(isRetried(check(0x02, 0x04, 0x01)), "becoming ready")
        XCTAssertTrue(isRetried(.success(SCSICommandResponse(status: 0x08))), "BUSY")
        XCTAssertTrue(isRetried(.success(SCSICommandResponse(status: 0x28))), "TASK SET FULL")
    }

    func testFailuresMapToTheErrnoLinuxWouldGive() {
        XCTAssertEqual(errno(check(0x07, 0x27, 0x07)), ENOSPC, "space allocation failed")
        XCTAssertEqual(errno(check(0x07, 0x27)), EROFS, "write protected")
        XCTAssertEqual(errno(check(0x03, 0x11)), EIO, "unrecovered read error")
        XCTAssertEqual(errno(check(0x04, 0x44)), EIO, "internal target failure")
        XCTAssertEqual(errno(check(0x05, 0x21)), EINVAL, "LBA out of range")
        XCTAssertEqual(errno(check(0x05, 0x20)), EOPNOTSUPP, "invalid opcode")
        XCTAssertEqual(errno(check(0x05, 0x25)), EIO, "LUN not supported (removed)")
        XCTAssertEqual(errno(check(0x02, 0x3A)), EIO, "medium not present")
        XCTAssertEqual(errno(.success(SCSICommandResponse(status: 0x18))), EBADE, "reservation conflict")
        XCTAssertEqual(errno(.failure(.sessionFailed("replacement timeout"))), EIO, "session lost for good")
        XCTAssertEqual(errno(.failure(.taskAborted)), EIO)
    }
}
