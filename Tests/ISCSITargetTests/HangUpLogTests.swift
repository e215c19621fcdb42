import NIOCore
import XCTest

@testable import ISCSITarget

#if canImport(Glibc)
    import Glibc
#endif

/// open-iscsi resets the connection after a discovery: that is a hang-up, logged at debug.
final class HangUpLogTests: XCTestCase {
    func testResetAndBrokenPipeAreHangUps() {
        XCTAssertTrue(TargetConnectionHandler.isHangUp(IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)")))
        XCTAssertTrue(TargetConnectionHandler.isHangUp(IOError(errnoCode: EPIPE, reason: "writev")))
        XCTAssertFalse(TargetConnectionHandler.isHangUp(IOError(errnoCode: EIO, reason: "read")))
        XCTAssertFalse(TargetConnectionHandler.isHangUp(ChannelError.ioOnClosedChannel))
    }
}
