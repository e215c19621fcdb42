import ISCSIProtocol
import ISCSITestSupport
import ISCSITarget
import NIOCore
import NIOPosix
import XCTest

@testable import ISCSIInitiator

final class SocketTests: XCTestCase {
    var fixture: TargetFixture!
    let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func tearDown() {
        fixture?.shutdown()
        try? clientGroup.syncShutdownGracefully()
    }

    func config() -> InitiatorConfiguration {
        var c = InitiatorConfiguration(initiatorName: "iqn.2026-11.org.example.test:initiator")
        c.loginTimeout = .seconds(5)
        return c
    }

    func login(_ c: InitiatorConfiguration? = nil) async throws -> ISCSISession {
        try await ISCSISession.login(
            host: "127.0.0.1", port: fixture.port, targetName: TargetFixture.targetName, configuration: c ?? config(),
            group: clientGroup)
    }

    func writeThenRead(_ session: ISCSISession, lba: UInt64, bytes: Int, seed: UInt8) async throws {
        let data = TargetFixture.pattern(bytes, seed: seed)
        try await session.write(lun: 1, lba: lba, data: data)
        let back = try await session.read(lun: 1, lba: lba, blocks: UInt32(bytes / 512))
        XCTAssertEqual(back, data)
    }

    func testLoginInquiryCapacityWriteReadLogout() async throws {
        fixture = try TargetFixture()
        let session = try await login()
        XCTAssertNotEqual(session.tsih, 0)
        _ = try await session.testUnitReady(lun: 1)  // may report a unit attention
        let inquiry = try await session.inquiry(lun: 1)
        XCTAssertGreaterThanOrEqual(inquiry.data.readableBytes, 36)
        XCTAssertEqual(inquiry.data.getInteger(at: inquiry.data.readerIndex, as: UInt8.self)! & 0x1f, 0)
        let capacity = try await session.readCapacity16(lun: 1)
        XCTAssertEqual(capacity.bytes, TargetFixture.lunBytes)
        XCTAssertEqual(capacity.blockSize, 512)
        let luns = try await session.reportLUNs()
        XCTAssertTrue(luns.contains(1))
        try await writeThenRead(session, lba: 8, bytes: 512 * 1024, seed: 3)  // 512 KiB: R2Ts beyond FirstBurst
        try await session.synchronizeCache(lun: 1)
        // Past the end: CHECK CONDITION with ILLEGAL REQUEST sense.
        let bad = try await session.execute(
            lun: 1, cdb: ISCSISession.rw16(0x88, lba: capacity.lastLBA, blocks: 2, fua: false), expectedDataInLength: 1024)
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.sense?.key, 5)
        XCTAssertEqual(bad.sense?.asc, 0x21)
        try await session.logout()
    }

    func testPipelinedCommands() async throws {
        fixture = try TargetFixture()
        let session = try await login()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<64 {
                group.addTask { try await self.writeThenRead(session, lba: UInt64(i * 16), bytes: 8192, seed: UInt8(i)) }
            }
            try await group.waitForAll()
        }
        try await session.logout()
    }

    func testDiscovery() async throws {
        fixture = try TargetFixture()
        let targets = try await ISCSIDiscovery.sendTargets(
            host: "127.0.0.1", port: fixture.port, configuration: config(), group: clientGroup)
        XCTAssertEqual(targets.map(\.name), [TargetFixture.targetName])
        XCTAssertEqual(targets.first?.addresses, ["127.0.0.1:\(fixture.port),1"])
    }

    func testUnknownTargetFailsWithStatus() async throws {
        fixture = try TargetFixture()
        do {
            _ = try await ISCSISession.login(
                host: "127.0.0.1", port: fixture.port, targetName: "iqn.2026-11.org.example:none", configuration: config(),
                group: clientGroup)
            XCTFail("login should fail")
        } catch let error as ISCSIInitiatorError {
            XCTAssertEqual("\(error)".contains("target not found (0x0203)"), true, "\(error)")
        }
    }

    func testCHAPOneWayAndMutual() async throws {
        fixture = try TargetFixture()
        fixture.target.authentication = TargetAuthentication(
            incoming: ["alice": "alicesecret12"], outgoing: CHAPCredential(name: "tgt", secret: "targetsecret1"))
        var c = config()
        c.chap = CHAPCredential(name: "alice", secret: "alicesecret12")
        let oneWay = try await login(c)
        try await writeThenRead(oneWay, lba: 0, bytes: 4096, seed: 1)
        try await oneWay.logout()

        c.targetCHAP = CHAPCredential(name: "tgt", secret: "targetsecret1")
        let mutual = try await login(c)
        try await mutual.logout()

        c.targetCHAP = CHAPCredential(name: "tgt", secret: "wrongsecret12")
        do {
            _ = try await login(c)
            XCTFail("mutual CHAP with a wrong target secret must fail")
        } catch let error as ISCSIInitiatorError {
            guard case .negotiationFailed = error else { return XCTFail("\(error)") }
        }

        c.chap = CHAPCredential(name: "alice", secret: "wrongsecret12")
        c.targetCHAP = nil
        do {
            _ = try await login(c)
            XCTFail("a wrong secret must fail")
        } catch let error as ISCSIInitiatorError {
            XCTAssertTrue("\(error)".contains("authentication failure (0x0201)"), "\(error)")
        }
    }

    func testDigestsAndSmallBursts() async throws {
        fixture = try TargetFixture { c in
            c.negotiation.maxBurstLength = 8192
            c.negotiation.firstBurstLength = 4096
            c.negotiation.maxRecvDataSegmentLength = 4096
        }
        var c = config()
        c.headerDigests = [.crc32c]
        c.dataDigests = [.crc32c]
        c.maxRecvDataSegmentLength = 8192
        c.initialR2T = true
        let session = try await login(c)
        let p = session.parameters
        XCTAssertTrue(p.headerDigest)
        XCTAssertTrue(p.dataDigest)
        XCTAssertEqual(p.maxBurstLength, 8192)
        try await writeThenRead(session, lba: 100, bytes: 128 * 1024, seed: 9)
        try await session.logout()
    }

    func testReconnectAfterConnectionDrop() async throws {
        fixture = try TargetFixture()
        var c = config()
        c.replacementTimeout = .seconds(10)
        let session = try await login(c)
        try await writeThenRead(session, lba: 0, bytes: 4096, seed: 5)
        let firstTSIH = session.tsih
        session.dropConnection()
        // Commands issued while the session is down wait and then run on the new connection.
        try await writeThenRead(session, lba: 64, bytes: 65536, seed: 6)
        XCTAssertGreaterThanOrEqual(session.reconnectCount, 1)
        XCTAssertNotEqual(session.tsih, 0)
        _ = firstTSIH
        // The server drops every connection: commands fail after the replacement timeout.
        try await session.logout()
    }

    func testReplacementTimeoutFailsCommands() async throws {
        fixture = try TargetFixture()
        var c = config()
        c.replacementTimeout = .seconds(1)
        c.loginTimeout = .milliseconds(300)
        let session = try await login(c)
        fixture.shutdown()
        fixture = nil
        do {
            _ = try await session.read(lun: 1, lba: 0, blocks: 1)
            XCTFail("no target: the command must fail")
        } catch let error as ISCSIInitiatorError {
            guard case .sessionFailed = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("not re-established"), "\(error)")
        }
    }

    func testSessionReopensAfterTheReplacementTimeoutOnceTheTargetIsBack() async throws {
        fixture = try TargetFixture()
        let port = fixture.port
        var c = config()
        c.replacementTimeout = .seconds(1)
        c.loginTimeout = .milliseconds(300)
        c.reopensAfterReplacementTimeout = true
        c.reopenInterval = .milliseconds(100)
        let session = try await login(c)
        try await writeThenRead(session, lba: 0, bytes: 4096, seed: 1)
        fixture.shutdown()
        fixture = nil
        do {
            _ = try await session.read(lun: 1, lba: 0, blocks: 1)
            XCTFail("no target: the command must fail after the replacement timeout")
        } catch let error as ISCSIInitiatorError {
            guard case .sessionFailed = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(session.state, .recovering)
        // Past the timeout new commands fail at once instead of waiting.
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            _ = try await session.read(lun: 1, lba: 0, blocks: 1)
            XCTFail("still no target")
        } catch {}
        XCTAssertLessThan(DispatchTime.now().uptimeNanoseconds - start, 500_000_000)
        // The target comes back on the same port: the session logs in again by itself.
        fixture = try TargetFixture(port: port)
        let deadline = DispatchTime.now().uptimeNanoseconds + 10_000_000_000
        while session.state != .loggedIn && DispatchTime.now().uptimeNanoseconds < deadline {
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTAssertEqual(session.state, .loggedIn)
        try await writeThenRead(session, lba: 8, bytes: 8192, seed: 2)
        try await session.logout()
    }

    func testCloseEndsASessionThatIsReconnecting() async throws {
        fixture = try TargetFixture()
        var c = config()
        c.replacementTimeout = .seconds(30)
        c.loginTimeout = .milliseconds(300)
        let session = try await login(c)
        fixture.shutdown()
        fixture = nil
        session.dropConnection()
        try await Task.sleep(nanoseconds: 100_000_000)
        XCTAssertEqual(session.state, .recovering)
        session.close()
        do {
            _ = try await session.read(lun: 1, lba: 0, blocks: 1)
            XCTFail("a closed session runs no commands")
        } catch {}
        XCTAssertEqual(session.state, .failed)
    }

    private func read16(_ session: ISCSISession, lba: UInt64, bytes: Int) async throws -> SCSICommandResponse {
        var cdb: [UInt8] = [0x88, 0]
        for i in 0..<8 { cdb.append(UInt8(truncatingIfNeeded: lba >> (56 - 8 * i))) }
        let blocks = UInt32(bytes / 512)
        for i in 0..<4 { cdb.append(UInt8(truncatingIfNeeded: blocks >> (24 - 8 * i))) }
        cdb += [0, 0]
        return try await session.execute(lun: 1, cdb: cdb, expectedDataInLength: bytes).checked()
    }

    func testLargeDataInStraddlingReadsArrivesInPiecesWithoutCopies() async throws {
        fixture = try TargetFixture()
        var c = config()
        c.receiveBufferLimit = 5000  // every 256 KiB Data-In spans dozens of reads
        let session = try await login(c)
        let data = TargetFixture.pattern(256 * 1024, seed: 4)
        try await session.write(lun: 1, lba: 0, data: data)
        for _ in 0..<3 {
            let response = try await read16(session, lba: 0, bytes: data.readableBytes)
            XCTAssertEqual(response.data, data)
            XCTAssertGreaterThan(response.dataSegments.count, 10, "the data came as slices of the reads")
            XCTAssertEqual(response.dataLength, data.readableBytes)
        }
        // Small PDUs and commands after the pieces still line up.
        try await writeThenRead(session, lba: 1000, bytes: 4096, seed: 5)
        try await writeThenRead(session, lba: 2000, bytes: 65536, seed: 6)
        try await session.logout()
    }

    func testStraddlingDataInWithDigestsIsCopiedTogether() async throws {
        fixture = try TargetFixture()
        var c = config()
        c.receiveBufferLimit = 5000
        c.headerDigests = [.crc32c]
        c.dataDigests = [.crc32c]
        let session = try await login(c)
        XCTAssertTrue(session.parameters.dataDigest)
        let data = TargetFixture.pattern(128 * 1024, seed: 7)
        try await session.write(lun: 1, lba: 8, data: data)
        let response = try await read16(session, lba: 8, bytes: data.readableBytes)
        XCTAssertEqual(response.data, data)
        XCTAssertEqual(response.dataSegments.count, 1, "a digest covers the whole segment, so it is checked in one piece")
        try await session.logout()
    }
}
