import Backstore
import Foundation
import NIOCore
import NIOPosix
import SCSIProtocol
import XCTest

@testable import SCSITarget

/// Persistent reservations shared by two gateways (two `SCSITargetDevice`s) through one
/// `FakeBlobCluster`, as RBD gateways share them through RADOS (issue 14).
final class SharedReservationTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    static let initiatorA = SCSINexus(id: 1, initiatorPortName: "iqn.2026-12.test:a,i,0x023d000001")
    static let initiatorB = SCSINexus(id: 2, initiatorPortName: "iqn.2026-12.test:b,i,0x023d000002")

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 2) }
    override func tearDown() { try? group.syncShutdownGracefully() }

    static var quickTiming: SharedReservations.Timing {
        var timing = SharedReservations.Timing()
        timing.stepTimeout = .milliseconds(300)
        timing.commandDeadline = .seconds(3)
        timing.notifyTimeoutMilliseconds = 200
        timing.renotifyInterval = .milliseconds(20)
        timing.renotifyAttempts = 3
        timing.maximumAttempts = 5
        timing.backoffBase = .milliseconds(1)
        timing.backoffCap = .milliseconds(5)
        timing.openTimeout = .milliseconds(500)
        timing.reloadAttempts = 2
        return timing
    }

    /// One gateway: a target whose LUN 1 has its PR state in `cluster`.
    struct Gateway {
        let device: SCSITargetDevice
        let store: Backstore
        let loop: EventLoop

        func run(_ cdb: [UInt8], dataOut: [UInt8]? = nil, nexus: SCSINexus) -> SCSICommandResult {
            let request = SCSICommandRequest(
                lun: 1, cdb: ByteBuffer(bytes: cdb + [UInt8](repeating: 0, count: max(0, 16 - cdb.count))),
                dataOut: dataOut.map { ByteBuffer(bytes: $0) }, expectedDataTransferLength: 1 << 20)
            let device = self.device
            do {
                return try loop.flatSubmit { device.execute(request, nexus: nexus, on: self.loop) }.wait()
            } catch {
                XCTFail("command failed: \(error)")
                return SCSICommandResult(status: .busy)
            }
        }

        /// Consumes the power-on unit attention of `nexus`.
        func ready(_ nexus: SCSINexus) {
            assertCheck(run([SCSIOpcode.testUnitReady], nexus: nexus), .unitAttention, .powerOnResetOrBusDeviceReset)
        }

        func prout(_ action: UInt8, key: UInt64 = 0, serviceKey: UInt64 = 0, type: UInt8 = 0, flags: UInt8 = 0, nexus: SCSINexus)
            -> SCSICommandResult
        {
            let list = be(key, 8) + be(serviceKey, 8) + [0, 0, 0, 0, flags, 0, 0, 0]
            return run([SCSIOpcode.persistentReserveOut, action, type, 0, 0] + be(24, 4) + [0], dataOut: list, nexus: nexus)
        }

        func prin(_ action: UInt8, nexus: SCSINexus) -> [UInt8] {
            assertGood(run([SCSIOpcode.persistentReserveIn, action, 0, 0, 0, 0, 0, 0x20, 0, 0], nexus: nexus))
        }

        /// (PRGENERATION, keys) of READ KEYS.
        func keys(_ nexus: SCSINexus) -> (UInt32, [UInt64]) {
            let data = prin(0, nexus: nexus)
            guard data.count >= 8 else { return (0, []) }
            let keys = stride(from: 8, to: data.count, by: 8).map { number(data, $0, 8) }
            return (UInt32(number(data, 0, 4)), keys)
        }

        func write(_ nexus: SCSINexus) -> SCSICommandResult {
            run([SCSIOpcode.write10, 0, 0, 0, 0, 1, 0, 0, 1, 0], dataOut: [UInt8](repeating: 0x5A, count: 512), nexus: nexus)
        }

        func read(_ nexus: SCSINexus) -> SCSICommandResult {
            run([SCSIOpcode.read10, 0, 0, 0, 0, 1, 0, 0, 1, 0], nexus: nexus)
        }
    }

    func gateway(_ cluster: FakeBlobCluster, timing: SharedReservations.Timing = quickTiming) throws -> Gateway {
        let device = SCSITargetDevice(targetID: 1, targetName: "iqn.2026-12.test:shared")
        device.sharedReservationTiming = timing
        let store = SharedTestStore(cluster: cluster)
        try device.addLogicalUnit(1, backstore: store)
        return Gateway(device: device, store: store, loop: group.next())
    }

    /// Two gateways, initiator A on the first and B on the second, both past their power-on UA.
    func pair(_ cluster: FakeBlobCluster = FakeBlobCluster()) throws -> (Gateway, Gateway) {
        let a = try gateway(cluster)
        let b = try gateway(cluster)
        a.ready(Self.initiatorA)
        b.ready(Self.initiatorB)
        return (a, b)
    }

    // MARK: Coherence

    func testReservationThroughAConflictsWithWriteThroughB() throws {
        let (a, b) = try pair()
        assertGood(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA))
        assertGood(a.prout(1, key: 0xA, type: 1, nexus: Self.initiatorA))  // WRITE EXCLUSIVE
        XCTAssertEqual(b.write(Self.initiatorB).status, .reservationConflict)
        assertGood(b.read(Self.initiatorB))  // reads stay open under write exclusive
        let reservation = b.prin(1, nexus: Self.initiatorB)
        XCTAssertEqual(number(reservation, 4, 4), 16)
        XCTAssertEqual(number(reservation, 8, 8), 0xA)
        XCTAssertEqual(reservation[21], 1)
        assertGood(a.write(Self.initiatorA))
        // Released through A: B writes again.
        assertGood(a.prout(2, key: 0xA, type: 1, nexus: Self.initiatorA))
        assertGood(b.write(Self.initiatorB))
    }

    /// An SPC-2 reservation would bind one gateway only: refused as an unknown operation code.
    func testSPC2ReserveAndReleaseAreRefused() throws {
        let (a, _) = try pair()
        for opcode: UInt8 in [0x16, 0x56, 0x17, 0x57] {  // RESERVE(6), RESERVE(10), RELEASE(6), RELEASE(10)
            let cdb = [opcode] + [UInt8](repeating: 0, count: opcode < 0x20 ? 5 : 9)
            let result = a.run(cdb, nexus: Self.initiatorA)
            XCTAssertEqual(result.status, .checkCondition, "opcode \(opcode)")
            XCTAssertEqual(result.senseData.map { Array($0.readableBytesView)[12...13] }, [0x20, 0x00], "opcode \(opcode)")
        }
        assertGood(a.write(Self.initiatorA))
    }

    func testRegistrationThroughBIsInReadKeysThroughA() throws {
        let (a, b) = try pair()
        assertGood(b.prout(0, serviceKey: 0xB0B, nexus: Self.initiatorB))
        XCTAssertEqual(a.keys(Self.initiatorA).1, [0xB0B])
        assertGood(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA))
        XCTAssertEqual(b.keys(Self.initiatorB).0, 2)
        XCTAssertEqual(b.keys(Self.initiatorB).1, [0xB0B, 0xA])
        // B's cache is also what B's checks use: a conflict decided on stale state would say GOOD.
        XCTAssertEqual(b.prout(0, key: 0x1234, serviceKey: 0x1, nexus: Self.initiatorB).status, .reservationConflict)
    }

    /// A preemption through B reaches initiator A's I_T nexus on gateway A as a unit attention.
    func testPreemptThroughBPostsUnitAttentionOnA() throws {
        let (a, b) = try pair()
        assertGood(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA))
        assertGood(a.prout(1, key: 0xA, type: 5, nexus: Self.initiatorA))  // WRITE EXCLUSIVE, REGISTRANTS ONLY
        assertGood(b.prout(0, serviceKey: 0xB, nexus: Self.initiatorB))
        assertGood(b.prout(4, key: 0xB, serviceKey: 0xA, type: 1, nexus: Self.initiatorB))  // PREEMPT A's reservation
        assertCheck(a.run([SCSIOpcode.testUnitReady], nexus: Self.initiatorA), .unitAttention, .registrationsPreempted)
        XCTAssertEqual(a.write(Self.initiatorA).status, .reservationConflict)
        assertGood(b.write(Self.initiatorB))
        // B's own nexus got nothing.
        assertGood(b.run([SCSIOpcode.testUnitReady], nexus: Self.initiatorB))
    }

    /// Both gateways register many I_T nexuses at once: lost races are retried until all land.
    func testConcurrentReserveOutsOnBothGatewaysConverge() throws {
        let cluster = FakeBlobCluster()
        var timing = Self.quickTiming
        timing.maximumAttempts = 16
        timing.commandDeadline = .seconds(20)
        let a = try gateway(cluster, timing: timing)
        let b = try gateway(cluster, timing: timing)
        cluster.tune { $0.latency = 0.002 }
        let perGateway = 12
        let results = NSLock()
        var statuses: [SCSIStatus] = []
        DispatchQueue.concurrentPerform(iterations: 2 * perGateway) { index in
            let gateway = index % 2 == 0 ? a : b
            let nexus = SCSINexus(id: UInt64(100 + index), initiatorPortName: "iqn.2026-12.test:n\(index),i,0x023d0000aa")
            _ = gateway.run([SCSIOpcode.testUnitReady], nexus: nexus)
            let status = gateway.prout(0, serviceKey: UInt64(0x100 + index), nexus: nexus).status
            results.withLock { statuses.append(status) }
        }
        XCTAssertEqual(statuses, [SCSIStatus](repeating: .good, count: 2 * perGateway))
        XCTAssertGreaterThan(cluster.stats.conflicts, 0, "no race was lost: the test did not test retries")
        a.ready(Self.initiatorA)
        b.ready(Self.initiatorB)
        let expected = Set((0..<2 * perGateway).map { UInt64(0x100 + $0) })
        for gateway in [a, b] {
            let nexus = gateway.device === a.device ? Self.initiatorA : Self.initiatorB
            let (generation, keys) = gateway.keys(nexus)
            XCTAssertEqual(generation, UInt32(2 * perGateway))
            XCTAssertEqual(Set(keys), expected)
        }
        print("shared PR: \(2 * perGateway) concurrent REGISTERs, \(cluster.stats.stores) stores, \(cluster.stats.conflicts) lost races")
    }

    /// PR OUTs arriving at once on one gateway queue there instead of racing each other.
    func testOneGatewaysReserveOutsDoNotRaceEachOther() throws {
        let cluster = FakeBlobCluster()
        let (a, _) = try pair(cluster)
        cluster.tune { $0.latency = 0.002 }
        DispatchQueue.concurrentPerform(iterations: 10) { index in
            let nexus = SCSINexus(id: UInt64(200 + index), initiatorPortName: "iqn.2026-12.test:q\(index),i,0x023d0000bb")
            _ = a.run([SCSIOpcode.testUnitReady], nexus: nexus)
            assertGood(a.prout(0, serviceKey: UInt64(0x200 + index), nexus: nexus))
        }
        XCTAssertEqual(cluster.stats.conflicts, 0)
        XCTAssertEqual(cluster.stats.stores, 10)
        XCTAssertEqual(a.keys(Self.initiatorA).1.count, 10)
    }

    // MARK: Bounds

    func testRetriesAreBounded() throws {
        let cluster = FakeBlobCluster()
        let (a, _) = try pair(cluster)
        cluster.tune { $0.injectedConflicts = 1000 }
        let start = Date()
        assertCheck(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA), .abortedCommand, .internalTargetFailure)
        XCTAssertEqual(cluster.stats.stores, Self.quickTiming.maximumAttempts)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        // The store is healthy again: the next one lands.
        cluster.tune { $0.injectedConflicts = 0 }
        assertGood(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA))
    }

    func testStoreThatNeverAnswersEndsTheCommand() throws {
        let cluster = FakeBlobCluster()
        let (a, b) = try pair(cluster)
        for hang in [\FakeBlobCluster.Knobs.hangLoads, \.hangStores] {
            cluster.tune { $0[keyPath: hang] = true }
            let start = Date()
            assertCheck(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA), .abortedCommand, .logicalUnitCommunicationTimeout)
            let elapsed = Date().timeIntervalSince(start)
            XCTAssertLessThan(elapsed, 1.5, "a step bounded at 0.3 s took \(elapsed) s")
            cluster.tune { $0[keyPath: hang] = false }
        }
        // Reads of the cached state and IO never waited on the store.
        XCTAssertEqual(b.keys(Self.initiatorB).1, [])
        assertGood(b.write(Self.initiatorB))
    }

    /// While a PR OUT waits on the store, the same gateway's other commands do not wait: the
    /// device lock is not held across the wait.
    func testCommandsRunWhileReserveOutWaits() throws {
        let cluster = FakeBlobCluster()
        let (a, _) = try pair(cluster)
        let other = SCSINexus(id: 9, initiatorPortName: "iqn.2026-12.test:c,i,0x023d000003")
        a.ready(other)
        cluster.tune { $0.hangStores = true }
        let request = SCSICommandRequest(
            lun: 1,
            cdb: ByteBuffer(bytes: [SCSIOpcode.persistentReserveOut, 0, 0, 0, 0] + be(24, 4) + [0] + [UInt8](repeating: 0, count: 6)),
            dataOut: ByteBuffer(bytes: be(0, 8) + be(0xA, 8) + [UInt8](repeating: 0, count: 8)), expectedDataTransferLength: 24)
        let pending = try a.loop.submit { a.device.execute(request, nexus: Self.initiatorA, on: a.loop) }.wait()
        let start = Date()
        assertGood(a.write(other))
        XCTAssertEqual(a.keys(other).1, [])
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.2)
        assertCheck(try pending.wait(), .abortedCommand, .logicalUnitCommunicationTimeout)
    }

    /// RELEASE of a registrants only reservation through A: B's registrant hears RESERVATIONS
    /// RELEASED on B (SPC-4 5.13.11.2.2).
    func testReleaseTellsRegistrantsOnTheOtherGateway() throws {
        let (a, b) = try pair()
        assertGood(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA))
        assertGood(b.prout(0, serviceKey: 0xB, nexus: Self.initiatorB))
        assertGood(a.prout(1, key: 0xA, type: 5, nexus: Self.initiatorA))  // WRITE EXCLUSIVE, REGISTRANTS ONLY
        assertGood(a.prout(2, key: 0xA, type: 5, nexus: Self.initiatorA))
        assertCheck(b.run([SCSIOpcode.testUnitReady], nexus: Self.initiatorB), .unitAttention, .reservationsReleased)
        assertGood(a.run([SCSIOpcode.testUnitReady], nexus: Self.initiatorA))
    }

    /// A store that lands after its command gave up (ABORTED COMMAND) still reaches the peers.
    func testLateStoreStillReachesPeers() throws {
        let cluster = FakeBlobCluster()
        let (a, b) = try pair(cluster)
        cluster.tune { $0.storeDelay = 0.6 }
        assertCheck(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA), .abortedCommand, .logicalUnitCommunicationTimeout)
        let deadline = Date() + 3
        while b.keys(Self.initiatorB).1 != [0xA], Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(b.keys(Self.initiatorB).1, [0xA])
        XCTAssertEqual(a.keys(Self.initiatorA).1, [0xA])
    }

    /// A PR OUT that changes nothing but finds a version no notify announced tells the peers.
    func testUnannouncedVersionIsAnnounced() throws {
        let cluster = FakeBlobCluster()
        let (a, b) = try pair(cluster)
        var state = PersistentReservationState()
        state.registrations = [.init(nexus: Self.initiatorA.itNexusName, key: 0xA, allTargetPorts: false)]
        state.generation = 1
        state.reservation = .init(type: .writeExclusive, holder: Self.initiatorA.itNexusName)
        cluster.overwrite(try PersistentReservationCoding.encode(state))
        // The retry of a RESERVE whose first attempt landed unannounced: nothing to change.
        assertGood(a.prout(1, key: 0xA, type: 1, nexus: Self.initiatorA))
        XCTAssertEqual(b.write(Self.initiatorB).status, .reservationConflict)
        XCTAssertEqual(cluster.stats.stores, 0)
    }

    /// Peers that do not acknowledge in time: the change is stored, the command answers GOOD
    /// after the bounded wait.
    func testUnacknowledgedNotifyIsBounded() throws {
        let cluster = FakeBlobCluster()
        let (a, _) = try pair(cluster)
        cluster.tune { $0.notifiesTimeOut = true }
        assertGood(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA))
        XCTAssertEqual(cluster.snapshot.version, 1)
        // Sent again in the background, a bounded number of times.
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(cluster.stats.notifies, 1 + Self.quickTiming.renotifyAttempts)
    }

    // MARK: Corruption and format

    func testCorruptBlobIsRefused() throws {
        let cluster = FakeBlobCluster()
        let (a, b) = try pair(cluster)
        assertGood(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA))
        // A future format, then garbage: PR OUT refuses to act on what it cannot read.
        for bytes: [UInt8] in [[0x50, 0x52, 9, 0], [0x50, 0x52, 1, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0, 0xFF, 0xFF]] {
            cluster.overwrite(bytes)
            assertCheck(b.prout(0, serviceKey: 0xB, nexus: Self.initiatorB), .hardwareError, .internalTargetFailure)
            // The cached state still answers PR IN.
            XCTAssertEqual(b.keys(Self.initiatorB).1, [0xA])
        }
        // A gateway starting now cannot serve the unit: adding it fails with one clear line.
        XCTAssertThrowsError(try gateway(cluster)) { error in
            XCTAssertEqual((error as? SCSITargetError)?.kind, .sharedStateUnavailable)
            XCTAssertTrue("\(error)".hasPrefix("can't load the shared persistent reservation state: "), "\(error)")
        }
    }

    func testReportCapabilitiesAndAPTPLAreShared() throws {
        let (a, b) = try pair()
        let capabilities = a.prin(2, nexus: Self.initiatorA)
        XCTAssertEqual(capabilities[2] & 0x01, 0x01, "PTPL_C")
        XCTAssertEqual(capabilities[3] & 0x01, 0, "PTPL_A")
        assertGood(a.prout(0, serviceKey: 0xA, flags: 0x01, nexus: Self.initiatorA))  // APTPL
        XCTAssertEqual(b.prin(2, nexus: Self.initiatorB)[3] & 0x01, 0x01)
        assertGood(b.prout(0, serviceKey: 0xB, nexus: Self.initiatorB))  // APTPL 0 now
        XCTAssertEqual(a.prin(2, nexus: Self.initiatorA)[3] & 0x01, 0)
    }

    /// A gateway added after changes starts from the stored state; a removed unit stops
    /// following the blob.
    func testLateGatewayLoadsStateAndRemovalDetaches() throws {
        let cluster = FakeBlobCluster()
        let (a, _) = try pair(cluster)
        assertGood(a.prout(0, serviceKey: 0xA, nexus: Self.initiatorA))
        assertGood(a.prout(1, key: 0xA, type: 3, nexus: Self.initiatorA))  // EXCLUSIVE ACCESS
        let late = try gateway(cluster)
        late.ready(Self.initiatorB)
        XCTAssertEqual(late.read(Self.initiatorB).status, .reservationConflict)
        _ = try late.device.removeLogicalUnit(1)
        XCTAssertFalse((late.store as? SharedTestStore)?.blob.hasHandler ?? true)
    }

    /// A resync (watch lost and set up again) reloads what was missed.
    func testResyncReloads() throws {
        let cluster = FakeBlobCluster()
        let (a, b) = try pair(cluster)
        var state = PersistentReservationState()
        state.registrations = [.init(nexus: Self.initiatorA.itNexusName, key: 0x77, allTargetPorts: false)]
        state.generation = 5
        cluster.overwrite(try PersistentReservationCoding.encode(state))
        XCTAssertEqual(b.keys(Self.initiatorB).1, [])
        try XCTUnwrap(b.store as? SharedTestStore).blob.deliver(.resync)
        XCTAssertEqual(b.keys(Self.initiatorB).1, [0x77])
        XCTAssertEqual(a.keys(Self.initiatorA).0, 0, "A missed it too and was not told")
    }
}

/// A big-endian number from `count` bytes of `data` at `offset`.
func number(_ data: [UInt8], _ offset: Int, _ count: Int) -> UInt64 {
    data[offset..<offset + count].reduce(0) { $0 << 8 | UInt64($1) }
}
