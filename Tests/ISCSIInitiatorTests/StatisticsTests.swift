import ISCSIProtocol
import ISCSITarget
import ISCSITestSupport
import NIOCore
import NIOPosix
import XCTest

@testable import ISCSIInitiator

/// `iscsiadm -m session -s`'s counters, counted by the session against our target.
final class StatisticsTests: XCTestCase {
    var fixture: TargetFixture!
    let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func tearDown() {
        fixture?.shutdown()
        try? clientGroup.syncShutdownGracefully()
    }

    func testCountsPDUsAndWireBytesExactly() async throws {
        fixture = try TargetFixture()
        var configuration = InitiatorConfiguration(initiatorName: "iqn.2026-11.org.example.test:statistics")
        configuration.loginTimeout = .seconds(5)
        configuration.nopInterval = nil
        let session = try await ISCSISession.login(
            host: "127.0.0.1", port: fixture.port, targetName: TargetFixture.targetName, configuration: configuration,
            group: clientGroup)
        _ = try? await session.testUnitReady(lun: 1)  // takes the power-on unit attention
        let afterLogin = await session.statistics()
        XCTAssertGreaterThanOrEqual(afterLogin.loginPDUs, 1)
        XCTAssertEqual(afterLogin.scsicmdPDUs, 1)
        // Every login request is a 48-byte header and its keys: more than 48 bytes each.
        XCTAssertGreaterThan(afterLogin.txdataOctets, 48 * afterLogin.loginPDUs)
        XCTAssertGreaterThan(afterLogin.rxdataOctets, 0)

        // Ten 4 KiB reads: ten commands of a bare header each; 40960 bytes of data back, each
        // Data-In and response a 48-byte header (no digests, no padding).
        for i in 0..<10 { _ = try await session.read(lun: 1, lba: UInt64(i * 8), blocks: 8) }
        let afterReads = await session.statistics()
        XCTAssertEqual(afterReads.scsicmdPDUs - afterLogin.scsicmdPDUs, 10)
        XCTAssertEqual(afterReads.datainPDUs - afterLogin.datainPDUs, 10)
        let responses = afterReads.scsirspPDUs - afterLogin.scsirspPDUs
        XCTAssertTrue(responses == 0 || responses == 10, "\(responses) SCSI responses")
        XCTAssertEqual(afterReads.txdataOctets - afterLogin.txdataOctets, 480)
        XCTAssertEqual(afterReads.rxdataOctets - afterLogin.rxdataOctets, 40960 + 48 * (10 + responses))

        // One 4 KiB write: its data goes out as immediate data or Data-Out, after one header each.
        try await session.write(lun: 1, lba: 0, data: TargetFixture.pattern(4096))
        let afterWrite = await session.statistics()
        XCTAssertEqual(afterWrite.scsicmdPDUs - afterReads.scsicmdPDUs, 1)
        XCTAssertEqual(afterWrite.scsirspPDUs - afterReads.scsirspPDUs, 1)
        let dataOuts = afterWrite.dataoutPDUs - afterReads.dataoutPDUs
        let r2ts = afterWrite.r2tPDUs - afterReads.r2tPDUs
        XCTAssertEqual(afterWrite.txdataOctets - afterReads.txdataOctets, 4096 + 48 * (1 + dataOuts))
        XCTAssertEqual(afterWrite.rxdataOctets - afterReads.rxdataOctets, 48 * (1 + r2ts))

        try await session.ping()
        let afterPing = await session.statistics()
        XCTAssertEqual(afterPing.noptxPDUs - afterWrite.noptxPDUs, 1)
        XCTAssertEqual(afterPing.noprxPDUs - afterWrite.noprxPDUs, 1)
        XCTAssertEqual(afterPing.digestErrors, 0)
        XCTAssertEqual(afterPing.timeoutErrors, 0)

        // The target counted the same: the two ends agree byte for byte, and its LU saw ten
        // 4 KiB reads and one 4 KiB write.
        let connection = try XCTUnwrap(fixture.server.statistics.connections.first)
        typealias C = ConnectionStatistics.Slot
        XCTAssertEqual(connection.counters.load(C.bytesReceived), afterPing.txdataOctets)
        XCTAssertEqual(connection.counters.load(C.bytesSent), afterPing.rxdataOctets)
        XCTAssertEqual(connection.counters.load(C.scsiCommands), afterPing.scsicmdPDUs)
        XCTAssertEqual(connection.counters.load(C.dataIn), afterPing.datainPDUs)
        XCTAssertEqual(connection.counters.load(C.scsiResponses), afterPing.scsirspPDUs)
        XCTAssertEqual(connection.counters.load(C.digestErrors), 0)
        let units = fixture.server.statistics.unitTotals
        let unit = try XCTUnwrap(units.first { $0.0.lun == 1 }?.1)
        typealias U = LogicalUnitStatistics.Slot
        XCTAssertEqual(unit[U.readDoneCommands], 10)
        XCTAssertEqual(unit[U.readDoneBytes], 40960)
        XCTAssertEqual(unit[U.readSubmittedBytes], 40960)
        XCTAssertEqual(unit[U.writeDoneCommands], 1)
        XCTAssertEqual(unit[U.writeDoneBytes], 4096)
        XCTAssertEqual(unit[U.errors], 1)  // the unit attention
        XCTAssertEqual(unit[U.submitted], unit[U.done])
        let bucketTotal = unit[U.readBuckets..<(U.readBuckets + LatencyBuckets.bounds.count + 1)].reduce(0, +)
        XCTAssertEqual(bucketTotal, 10)
        XCTAssertGreaterThan(unit[U.readLatencyNanoseconds], 0)
        XCTAssertEqual(fixture.server.statistics.logins["normal"], 1)

        try await session.logout()
        let afterLogout = await session.statistics()
        XCTAssertEqual(afterLogout.logoutPDUs, 1)
        XCTAssertEqual(afterLogout.logoutrspPDUs, 1)
        XCTAssertEqual(afterLogout.dictionary["scsicmd_pdus"], 12)
        XCTAssertEqual(afterLogout.snmp.map(\.0).count, 21)
    }
}

extension StatisticsTests {
    /// A closed connection's IO stays in the LU totals; failed logins are counted by reason.
    func testTargetKeepsTotalsAndCountsLoginFailures() async throws {
        fixture = try TargetFixture()
        var configuration = InitiatorConfiguration(initiatorName: "iqn.2026-11.org.example.test:statistics")
        configuration.loginTimeout = .seconds(5)
        let session = try await ISCSISession.login(
            host: "127.0.0.1", port: fixture.port, targetName: TargetFixture.targetName, configuration: configuration,
            group: clientGroup)
        _ = try? await session.testUnitReady(lun: 1)
        _ = try await session.read(lun: 1, lba: 0, blocks: 16)
        try await session.logout()
        do {
            _ = try await ISCSISession.login(
                host: "127.0.0.1", port: fixture.port, targetName: "iqn.2026-11.org.example:absent",
                configuration: configuration, group: clientGroup)
            XCTFail("logged in to a target that does not exist")
        } catch {}
        // The connection's end is seen by the target a moment later.
        for _ in 0..<100 where !fixture.server.statistics.connections.isEmpty { try await Task.sleep(nanoseconds: 10_000_000) }
        XCTAssertTrue(fixture.server.statistics.connections.isEmpty)
        let unit = try XCTUnwrap(fixture.server.statistics.unitTotals.first { $0.0.lun == 1 }?.1)
        XCTAssertEqual(unit[LogicalUnitStatistics.Slot.readDoneBytes], 8192)
        XCTAssertEqual(fixture.server.statistics.loginFailures["not_found"], 1)
    }
}
