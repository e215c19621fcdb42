import BlockDevice
import ISCSIInitiator
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SCSIProtocol
import XCTest

@testable import ISCSIBlockDevice

/// LU identity from VPD 0x83, REPORT TARGET PORT GROUPS, path choice and the no-path queue as
/// pure values; the multipath runner against fake paths.
final class MultipathTests: XCTestCase {
    // MARK: Identity

    private func page(_ descriptors: [[UInt8]]) -> ByteBuffer {
        let body = descriptors.flatMap { $0 }
        return ByteBuffer(bytes: [0, 0x83, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body)
    }

    /// codeSet, association, type, value.
    private func designator(_ codeSet: UInt8, _ association: UInt8, _ type: UInt8, _ value: [UInt8]) -> [UInt8] {
        [codeSet, association << 4 | type, 0, UInt8(value.count)] + value
    }

    func testTgtStylePageGivesTheRegisteredExtendedNAA() {
        let t10 = Array("beaf10".utf8) + [UInt8](repeating: 0, count: 30)
        let local: [UInt8] = [0x30, 0, 0, 1, 0, 0, 0, 1]
        let extended: [UInt8] = [0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xaf, 0x10]
        let identity = LUIdentity.choose(page: page([
            designator(2, 0, 1, t10), designator(1, 0, 3, local), designator(1, 0, 3, extended),
            designator(1, 1, 4, [0, 0, 0, 1]),  // relative target port: the path's, not the LU's
        ]))
        XCTAssertEqual(identity?.kind, .naa)
        XCTAssertEqual(identity?.wwid, "360000000000000000000000000beaf10")
        XCTAssertEqual(identity?.byIDName, "wwn-0x60000000000000000000000000beaf10")
    }

    func testPriorityOrderWithoutNAA() {
        let eui = designator(1, 0, 2, [1, 2, 3, 4, 5, 6, 7, 8])
        let name = designator(3, 0, 8, Array("iqn.2026-11.org.example:lu1".utf8) + [0, 0])
        let t10 = designator(2, 0, 1, Array("VENDOR  serial 42   ".utf8))
        XCTAssertEqual(LUIdentity.choose(page: page([t10, name, eui]))?.wwid, "20102030405060708")
        XCTAssertEqual(LUIdentity.choose(page: page([t10, name]))?.wwid, "8iqn.2026-11.org.example:lu1")
        let vendorOnly = LUIdentity.choose(page: page([t10]))
        XCTAssertEqual(vendorOnly?.wwid, "1VENDOR__serial_42")
        XCTAssertEqual(vendorOnly?.byIDName, "scsi-1VENDOR__serial_42")
        // Target-port and target-device designators never name the LU.
        XCTAssertNil(LUIdentity.choose(page: page([designator(1, 1, 3, [0x60] + [UInt8](repeating: 1, count: 15))])))
        XCTAssertNil(LUIdentity.choose(page: ByteBuffer(bytes: [0, 0x83, 0, 40, 1])), "truncated")
    }

    func testPortNumbersOfThePath() {
        let numbers = Designation.portNumbers(page: page([designator(1, 1, 4, [0, 0, 0, 2]), designator(1, 1, 5, [0, 0, 0, 7])]))
        XCTAssertEqual(numbers.relativePort, 2)
        XCTAssertEqual(numbers.group, 7)
    }

    // MARK: REPORT TARGET PORT GROUPS

    func testReportTargetPortGroupsParses() {
        // Group 1 active/optimized preferred with ports 1 and 2; group 2 standby with port 3.
        let body: [UInt8] = [0x80, 0x0f, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]
            + [0x02, 0x0f, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3]
        let length = UInt8(body.count)
        let groups = TargetPortGroup.parse(ByteBuffer(bytes: [0, 0, 0, length] + body))
        XCTAssertEqual(groups, [
            TargetPortGroup(id: 1, state: .activeOptimized, preferred: true, relativePorts: [1, 2]),
            TargetPortGroup(id: 2, state: .standby, relativePorts: [3]),
        ])
        // Extended header: FORMAT TYPE 1 and an implicit transition time before the descriptors.
        let extended = TargetPortGroup.parse(ByteBuffer(bytes: [0, 0, 0, length + 4, 0x10, 5, 0, 0] + body))
        XCTAssertEqual(extended, groups)
        XCTAssertNil(TargetPortGroup.parse(ByteBuffer(bytes: [0, 0, 0, 12, 0, 1, 0, 1, 0, 0, 0, 3])), "ports cut off")
        XCTAssertEqual(TargetPortGroup.reportCDB(allocationLength: 0x1000), [0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0])
    }

    // MARK: Path choice

    private func takes(_ s: inout PathSelector, _ count: Int) -> [Int?] {
        (0..<count).map { _ in s.take() }
    }

    func testWithoutALUAEveryPathTakesItsTurn() {
        var s = PathSelector(policy: .roundRobin)
        for id in 1...3 { s.add(id: id, connected: true) }
        XCTAssertEqual(takes(&s, 6), [1, 2, 3, 1, 2, 3])
        s.pathFailed(id: 2)
        XCTAssertEqual(takes(&s, 4), [1, 3, 1, 3])
        s.reinstate(id: 2)
        s.connectionChanged(id: 3, up: false)
        XCTAssertEqual(Set(takes(&s, 4).compactMap { $0 }), [1, 2])
        s.connectionChanged(id: 3, up: true)
        XCTAssertTrue(takes(&s, 3).contains(3), "failback")
    }

    func testQueueLengthPrefersTheIdlePath() {
        var s = PathSelector(policy: .queueLength)
        s.add(id: 1, connected: true)
        s.add(id: 2, connected: true)
        XCTAssertEqual(takes(&s, 4), [1, 2, 1, 2])
        s.finished(id: 2)
        s.finished(id: 2)
        XCTAssertEqual(s.take(), 2, "two in flight on 1, none on 2")
        XCTAssertEqual(s.take(), 2)
    }

    func testALUAGroupsDecideWhichPathsCarryIO() {
        var s = PathSelector(policy: .roundRobin)
        s.add(id: 1, connected: true, group: 1, relativePort: 1)
        s.add(id: 2, connected: true, group: 2, relativePort: 2)
        s.add(id: 3, connected: true, relativePort: 3)  // group only from RTPG
        s.portGroups([
            TargetPortGroup(id: 1, state: .activeNonOptimized, relativePorts: [1]),
            TargetPortGroup(id: 2, state: .activeOptimized, relativePorts: [2, 3]),
        ])
        XCTAssertEqual(s.path(3)?.group, 2)
        XCTAssertEqual(Set(takes(&s, 4).compactMap { $0 }), [2, 3], "optimized group only")
        s.pathFailed(id: 2)
        s.pathFailed(id: 3)
        XCTAssertEqual(takes(&s, 2), [1, 1], "non-optimized when no optimized path works")
        s.reinstate(id: 2)
        s.stateReported(id: 2, .standby)  // 02/04/0B on port 2: its whole group
        XCTAssertEqual(s.path(3)?.state, .standby)
        XCTAssertEqual(takes(&s, 2), [1, 1])
        s.stateReported(id: 1, .unavailable)
        XCTAssertNil(s.take(), "never media access through standby or unavailable ports")
        XCTAssertFalse(s.hasUsablePath)
    }

    func testASinglePathIsAlwaysChosen() {
        var s = PathSelector()
        XCTAssertNil(s.take())
        s.add(id: 4, connected: false)
        XCTAssertFalse(s.isMultipath)
        XCTAssertEqual(s.take(), 4, "its session holds the command until it is back")
    }

    // MARK: No-path queue

    func testNoPathQueueWaitsThenFailsUntilAPathReturns() {
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var q = NoPathQueue<Int>(limit: .seconds(10), capacity: 2)
        q.lost(now: t0)
        XCTAssertEqual(q.add(1, now: t0 + .seconds(1)), .queued)
        XCTAssertEqual(q.add(2, now: t0 + .seconds(2)), .queued)
        XCTAssertEqual(q.add(3, now: t0 + .seconds(3)), .fail("no path to the LU and 2 commands already wait for one"))
        XCTAssertTrue(q.expire(now: t0 + .seconds(9)).items.isEmpty)
        let expired = q.expire(now: t0 + .seconds(10))
        XCTAssertEqual(expired.items, [1, 2], "the limit counts from the last path's loss")
        XCTAssertEqual(expired.reason, "no path to the LU for 10 s (no_path_retry)")
        XCTAssertEqual(q.add(4, now: t0 + .seconds(11)), .fail("no path to the LU for 10 s (no_path_retry)"))
        XCTAssertEqual(q.pathAvailable(), [])
        XCTAssertEqual(q.add(5, now: t0 + .seconds(30)), .queued, "a new outage starts a new clock")
        XCTAssertEqual(q.pathAvailable(), [5])

        var failing = NoPathQueue<Int>(limit: nil, capacity: 8)
        XCTAssertEqual(failing.add(1, now: t0), .fail("no path to the LU (no_path_retry fail)"))
    }

    // MARK: Listing and settings

    func testListingInMultipathFormat() {
        func path(_ id: Int, _ state: ALUAState, connected: Bool = true, failed: Bool = false) -> PathSelector.Path {
            PathSelector.Path(id: id, connected: connected, failed: failed, state: state)
        }
        let map = MultipathMapView(
            wwid: "360000000000000000000000000beaf10", device: "loop3", vendor: "IET", product: "VIRTUAL-DISK",
            bytes: 64 << 20, queueIfNoPath: true, alua: true, policy: .queueLength,
            paths: [
                .init(host: 2, lun: 1, portal: "127.0.0.1:4801", path: path(2, .activeOptimized)),
                .init(host: 1, lun: 1, portal: "127.0.0.1:4802", path: path(1, .activeOptimized, failed: true)),
                .init(host: 3, lun: 1, portal: "[::1]:4803", path: path(3, .activeNonOptimized, connected: false)),
            ])
        XCTAssertEqual(MultipathMapView.render([map]), """
            360000000000000000000000000beaf10 loop3 IET,VIRTUAL-DISK
            size=64M features='1 queue_if_no_path' hwhandler='1 alua' wp=rw
            |-+- policy='queue-length 0' prio=50 status=active
            | |- 1:0:0:1 session1 127.0.0.1:4802 failed faulty running
            | `- 2:0:0:1 session2 127.0.0.1:4801 active ready running
            `-+- policy='queue-length 0' prio=10 status=disabled
              `- 3:0:0:1 session3 [::1]:4803 failed faulty offline

            """)
        XCTAssertEqual(MultipathMapView.size(1 << 30), "1.0G")
        XCTAssertEqual(MultipathMapView.size(20 << 30), "20G")
    }

    func testSettingsFromIscsidConf() {
        let conf = ["multipath.polling_interval": "2", "multipath.no_path_retry": "fail", "multipath.path_selector": "round-robin 0"]
        let (settings, problems) = MultipathSettings.parse { conf[$0] }
        XCTAssertEqual(problems, [])
        XCTAssertEqual(settings.pollingInterval, .seconds(2))
        XCTAssertNil(settings.noPathRetry)
        XCTAssertEqual(settings.policy, .roundRobin)
        let (defaults, bad) = MultipathSettings.parse { ["multipath.no_path_retry": "queue"][$0] }
        XCTAssertEqual(defaults.noPathRetry, 120, "a bad value keeps the default")
        XCTAssertEqual(bad.count, 1)
        XCTAssertEqual(MultipathSettings.parse { ["multipath.no_path_retry": "12"][$0] }.0.noPathLimit, .seconds(12))
    }

    // MARK: Runner against fake paths

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func tearDown() {
        try? group.syncShutdownGracefully()
    }

    private func runner(noPathRetry: Int? = 4, alua: Bool = false) -> MultipathRunner {
        var settings = MultipathSettings()
        settings.policy = .roundRobin
        settings.pollingInterval = .milliseconds(50)
        settings.noPathRetry = noPathRetry
        let runner = MultipathRunner(alua: alua, settings: settings, timerLoop: group.next())
        runner.start()
        return runner
    }

    private func run(_ runner: MultipathRunner, opcode: UInt8 = 0x8A) async -> Result<SCSICommandResponse, BlockDeviceError> {
        await withCheckedContinuation { continuation in
            runner.run(cdb: ByteBuffer(bytes: [opcode] + [UInt8](repeating: 0, count: 15)), dataOut: nil, expected: 0) {
                continuation.resume(returning: $0)
            }
        }
    }

    func testAPathErrorMovesTheCommandToAnotherPath() async {
        let r = runner()
        let a = FakePath(answer: .pathError(BlockDeviceError(.unavailable, "connection lost")))
        let b = FakePath()
        r.addPath(id: 1, path: a, group: nil, relativePort: nil)
        r.addPath(id: 2, path: b, group: nil, relativePort: nil)
        for _ in 0..<4 {
            guard case .success = await run(r) else { return XCTFail("the application must see no error") }
        }
        XCTAssertEqual(a.sent.map(\.failFast), [true], "tried once with fail-fast, then left out")
        XCTAssertEqual(b.sent.count, 4)
        XCTAssertEqual(r.status.paths.first { $0.id == 1 }?.checkerState, "failed faulty running")
        // The checker's TEST UNIT READY brings it back once it answers.
        a.setAnswer(.done(.success(SCSICommandResponse(status: 0))))
        try? await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(r.status.paths.first { $0.id == 1 }?.checkerState, "active ready running")
        XCTAssertTrue(a.sent.contains { $0.opcode == 0x00 }, "TEST UNIT READY")
        r.stop()
    }

    func testErrorsOfTheLUGoToTheApplication() async {
        let r = runner()
        let medium = BlockDeviceError(.medium, "unrecovered read error")
        let a = FakePath(answer: .done(.failure(medium)))
        let b = FakePath(answer: .done(.failure(medium)))
        r.addPath(id: 1, path: a, group: nil, relativePort: nil)
        r.addPath(id: 2, path: b, group: nil, relativePort: nil)
        guard case .failure(let error) = await run(r) else { return XCTFail("a medium error is not a path error") }
        XCTAssertEqual(error.kind, .medium)
        XCTAssertEqual(a.sent.count + b.sent.count, 1, "not sent again")
        r.stop()
    }

    func testWithNoPathCommandsWaitForOneToReturn() async {
        let r = runner(noPathRetry: 40)  // 2 s
        let a = FakePath(connected: false)
        let b = FakePath(connected: false)
        r.addPath(id: 1, path: a, group: nil, relativePort: nil)
        r.addPath(id: 2, path: b, group: nil, relativePort: nil)
        async let result = run(r)
        try? await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(r.status.waiting, 1)
        b.setConnected(true)
        guard case .success = await result else { return XCTFail("queued, then sent when a path returned") }
        XCTAssertEqual(b.sent.count, 1)
        XCTAssertTrue(a.sent.isEmpty)
        r.stop()
    }

    func testWithNoPathPastTheLimitCommandsFail() async {
        let r = runner(noPathRetry: 4)  // 200 ms
        r.addPath(id: 1, path: FakePath(connected: false), group: nil, relativePort: nil)
        r.addPath(id: 2, path: FakePath(connected: false), group: nil, relativePort: nil)
        let started = ContinuousClock.now
        guard case .failure(let error) = await run(r) else { return XCTFail("no path for longer than no_path_retry") }
        let waited = started.duration(to: .now)
        XCTAssertEqual(error.errno, EIO)
        XCTAssertTrue(waited >= .milliseconds(150) && waited < .seconds(2), "\(waited)")
        guard case .failure = await run(r) else { return XCTFail("fails at once until a path returns") }
        XCTAssertLessThan(started.duration(to: .now), waited + .milliseconds(100))
        r.stop()
    }

    func testStandbyAnswerRereadsPortGroupsAndUsesTheOtherPath() async {
        let r = runner(alua: true)
        let groups: [UInt8] = [0, 0, 0, 24, 0x02, 0x0f, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x00, 0x0f, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]
        let rtpg = PathOutcome.done(.success(SCSICommandResponse(status: 0, data: ByteBuffer(bytes: groups))))
        let a = FakePath(answer: .accessState(.standby, BlockDeviceError(.unavailable, "standby")), rtpg: rtpg)
        let b = FakePath(rtpg: rtpg)
        r.addPath(id: 1, path: a, group: 1, relativePort: 1)
        r.addPath(id: 2, path: b, group: 2, relativePort: 2)
        try? await Task.sleep(for: .milliseconds(150))
        XCTAssertEqual(r.status.paths.map(\.state), [.standby, .activeOptimized])
        for _ in 0..<3 {
            guard case .success = await run(r) else { return XCTFail("served by the optimized path") }
        }
        XCTAssertFalse(a.sent.contains { $0.opcode == 0x8A }, "no media access to the standby port")
        XCTAssertEqual(b.sent.filter { $0.opcode == 0x8A }.count, 3)
        r.stop()
    }
}

/// A path whose answers and connection the test sets.
final class FakePath: LUPath, @unchecked Sendable {
    private let lock = NIOLock()
    private var answer: PathOutcome
    private let rtpg: PathOutcome?
    private var connected: Bool
    private var observer: (@Sendable (Bool) -> Void)?
    private var log: [(opcode: UInt8, failFast: Bool)] = []

    init(connected: Bool = true, answer: PathOutcome = .done(.success(SCSICommandResponse(status: 0))), rtpg: PathOutcome? = nil) {
        self.connected = connected
        self.answer = answer
        self.rtpg = rtpg
    }

    var sent: [(opcode: UInt8, failFast: Bool)] { lock.withLock { log } }

    func setAnswer(_ outcome: PathOutcome) { lock.withLock { answer = outcome } }

    func setConnected(_ up: Bool) {
        let observer = lock.withLock { () -> (@Sendable (Bool) -> Void)? in
            connected = up
            return self.observer
        }
        observer?(up)
    }

    func execute(
        cdb: ByteBuffer, dataOut: ByteBuffer?, expected: Int, failFast: Bool,
        completion: @escaping @Sendable (PathOutcome) -> Void
    ) {
        let opcode = cdb.getInteger(at: cdb.readerIndex, as: UInt8.self) ?? 0
        let outcome = lock.withLock { () -> PathOutcome in
            log.append((opcode, failFast))
            if opcode == 0xA3, let rtpg { return rtpg }
            return connected ? answer : .pathError(BlockDeviceError(.unavailable, "not connected"))
        }
        completion(outcome)
    }

    func observeConnection(_ observer: @escaping @Sendable (Bool) -> Void) {
        let now = lock.withLock { () -> Bool in
            self.observer = observer
            return connected
        }
        observer(now)
    }
}
