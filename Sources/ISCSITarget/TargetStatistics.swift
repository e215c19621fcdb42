import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// Counters with one writer (a connection's event loop) that other threads read (tgtadm, the
/// metrics endpoint): a relaxed load and store per update, which compiles to plain moves, no
/// lock-prefixed read-modify-write and no lock. One allocation per block.
public final class CounterBlock: @unchecked Sendable {
    public let count: Int
    private let storage: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>

    public init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        storage.initialize(repeating: UnsafeAtomic<UInt64>.Storage(0), count: count)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    /// Only from the block's writer.
    @inline(__always)
    public func add(_ slot: Int, _ amount: UInt64 = 1) {
        let counter = UnsafeAtomic<UInt64>(at: storage + slot)
        counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// From any thread.
    @inline(__always)
    public func load(_ slot: Int) -> UInt64 {
        UnsafeAtomic<UInt64>(at: storage + slot).load(ordering: .relaxed)
    }

    public var values: [UInt64] { (0..<count).map(load) }
}

/// What one session did to one logical unit (tgt's per I_T_L `lu_stat`), and the latency of its
/// reads and writes. Written only on the session's event loop.
public final class LogicalUnitStatistics: @unchecked Sendable {
    /// Slots of `counters`.
    public enum Slot {
        public static let readSubmittedCommands = 0
        public static let readSubmittedBytes = 1
        public static let readDoneCommands = 2
        public static let readDoneBytes = 3
        public static let writeSubmittedCommands = 4
        public static let writeSubmittedBytes = 5
        public static let writeDoneCommands = 6
        public static let writeDoneBytes = 7
        /// Every command (reads, writes and the rest) in and out: their difference is the queue depth.
        public static let submitted = 8
        public static let done = 9
        /// Commands that ended with a status other than GOOD.
        public static let errors = 10
        public static let readLatencyNanoseconds = 11
        public static let writeLatencyNanoseconds = 12
        /// Then the read histogram's buckets, then the write histogram's.
        public static let readBuckets = 13
        public static let writeBuckets = readBuckets + LatencyBuckets.bounds.count + 1
        public static let count = writeBuckets + LatencyBuckets.bounds.count + 1
    }

    public let lun: UInt64
    public let counters = CounterBlock(count: Slot.count)

    init(lun: UInt64) { self.lun = lun }

    public enum Kind: Sendable { case read, write, other }

    /// READ(6/10/12/16) and WRITE(6/10/12/16) with WRITE AND VERIFY(10/12/16); the rest is other.
    @inline(__always)
    public static func kind(ofOpcode opcode: UInt8) -> Kind {
        switch opcode {
        case 0x08, 0x28, 0xA8, 0x88: return .read
        case 0x0A, 0x2A, 0xAA, 0x8A, 0x2E, 0xAE, 0x8E: return .write
        default: return .other
        }
    }

    @inline(__always)
    func submitted(_ kind: Kind, bytes: UInt64) {
        counters.add(Slot.submitted)
        switch kind {
        case .read:
            counters.add(Slot.readSubmittedCommands)
            counters.add(Slot.readSubmittedBytes, bytes)
        case .write:
            counters.add(Slot.writeSubmittedCommands)
            counters.add(Slot.writeSubmittedBytes, bytes)
        case .other: break
        }
    }

    @inline(__always)
    func completed(_ kind: Kind, bytes: UInt64, good: Bool, nanoseconds: UInt64) {
        counters.add(Slot.done)
        if !good { counters.add(Slot.errors) }
        switch kind {
        case .read:
            counters.add(Slot.readDoneCommands)
            if good { counters.add(Slot.readDoneBytes, bytes) }
            counters.add(Slot.readLatencyNanoseconds, nanoseconds)
            counters.add(Slot.readBuckets + LatencyBuckets.index(nanoseconds))
        case .write:
            counters.add(Slot.writeDoneCommands)
            if good { counters.add(Slot.writeDoneBytes, bytes) }
            counters.add(Slot.writeLatencyNanoseconds, nanoseconds)
            counters.add(Slot.writeBuckets + LatencyBuckets.index(nanoseconds))
        case .other: break
        }
    }
}

/// The latency histogram's upper bounds (a last bucket takes the rest).
public enum LatencyBuckets {
    public static let bounds: [UInt64] = [
        50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000,
        50_000_000, 100_000_000, 250_000_000, 1_000_000_000,
    ]

    @inline(__always)
    static func index(_ nanoseconds: UInt64) -> Int {
        var i = 0
        while i < bounds.count, nanoseconds > bounds[i] { i += 1 }
        return i
    }
}

/// One connection's PDUs and bytes, and what its session did to each logical unit. Created with
/// the connection; listed by `TargetStatistics` once its login completes.
public final class ConnectionStatistics: @unchecked Sendable {
    public enum Slot {
        public static let pdusReceived = 0
        public static let pdusSent = 1
        public static let bytesReceived = 2
        public static let bytesSent = 3
        public static let scsiCommands = 4
        public static let dataOut = 5
        public static let dataIn = 6
        public static let scsiResponses = 7
        public static let r2t = 8
        public static let digestErrors = 9
        public static let count = 10
    }

    public let counters = CounterBlock(count: Slot.count)
    /// Set once, at login (before the connection is listed).
    public private(set) var tid = 0
    public private(set) var targetName = ""
    public private(set) var tsih: UInt16 = 0
    public private(set) var cid: UInt16 = 0
    public private(set) var initiatorName = ""
    public private(set) var address = ""
    /// Logical units by LUN: added on the event loop under `lock`, read elsewhere under it.
    private let lock = NIOLock()
    private var units: [UInt64: LogicalUnitStatistics] = [:]
    @usableFromInline var lastUnit: LogicalUnitStatistics?

    public init() {}

    func identify(tid: Int, targetName: String, tsih: UInt16, cid: UInt16, initiatorName: String, address: String) {
        self.tid = tid
        self.targetName = targetName
        self.tsih = tsih
        self.cid = cid
        self.initiatorName = initiatorName
        self.address = address
    }

    /// The LUN's statistics (on the event loop; created on first use).
    @inline(__always)
    func unit(_ lun: UInt64) -> LogicalUnitStatistics {
        if let last = lastUnit, last.lun == lun { return last }
        return slowUnit(lun)
    }

    private func slowUnit(_ lun: UInt64) -> LogicalUnitStatistics {
        let unit = lock.withLock { () -> LogicalUnitStatistics in
            if let unit = units[lun] { return unit }
            let unit = LogicalUnitStatistics(lun: lun)
            units[lun] = unit
            return unit
        }
        lastUnit = unit
        return unit
    }

    /// Counts a PDU received (a header's opcode byte).
    @inline(__always)
    func received(opcode: ISCSIOpcodeByte) {
        counters.add(Slot.pdusReceived)
        switch opcode & 0x3f {
        case 0x01: counters.add(Slot.scsiCommands)
        case 0x05: counters.add(Slot.dataOut)
        default: break
        }
    }

    @inline(__always)
    func sent(opcode: ISCSIOpcodeByte, bytes: Int) {
        counters.add(Slot.pdusSent)
        counters.add(Slot.bytesSent, UInt64(bytes))
        switch opcode & 0x3f {
        case 0x25: counters.add(Slot.dataIn)
        case 0x21: counters.add(Slot.scsiResponses)
        case 0x31: counters.add(Slot.r2t)
        default: break
        }
    }

    public var logicalUnits: [LogicalUnitStatistics] {
        lock.withLock { units.values.sorted { $0.lun < $1.lun } }
    }
}

public typealias ISCSIOpcodeByte = UInt8

/// The daemon's statistics: its connections in full feature phase, totals of the closed ones per
/// logical unit, logins and why they failed. Login events take a lock; the IO path does not.
public final class TargetStatistics: @unchecked Sendable {
    public struct UnitKey: Hashable, Sendable, Comparable {
        public var tid: Int
        public var targetName: String
        public var lun: UInt64
        public static func < (a: UnitKey, b: UnitKey) -> Bool { (a.tid, a.lun) < (b.tid, b.lun) }
    }

    private let lock = NIOLock()
    private var live: [ObjectIdentifier: ConnectionStatistics] = [:]
    private var retiredUnits: [UnitKey: [UInt64]] = [:]
    private var _logins: [String: UInt64] = [:]
    private var _loginFailures: [String: UInt64] = [:]
    private var _reinstatements: UInt64 = 0

    public init() {}

    /// Why a login failed, as a metric label: by status (RFC 7143 11.13.5), or what we did.
    public static func reason(_ failure: LoginFailure) -> String {
        switch (failure.statusClass, failure.statusDetail) {
        case (2, 0x01): return "auth_failure"
        case (2, 0x02): return "acl_refused"
        case (2, 0x03), (2, 0x04): return "not_found"
        case (2, 0x05): return "unsupported_version"
        case (2, 0x06): return "too_many_connections"
        case (2, 0x07): return "missing_parameter"
        case (2, 0x08): return "cannot_include_in_session"
        case (2, 0x09): return "session_type_not_supported"
        case (2, 0x0a): return "session_does_not_exist"
        case (2, 0x0b): return "invalid_request"
        case (2, _): return "initiator_error"
        case (3, 0x01): return "service_unavailable"
        default: return "target_error"
        }
    }

    func loginSucceeded(discovery: Bool) {
        lock.withLock { _logins[discovery ? "discovery" : "normal", default: 0] += 1 }
    }

    /// `reason`: `reason(_:)`'s labels, or "timeout", "refused" (too many logins in progress),
    /// "connection_closed" (the initiator went away mid-login), "protocol_error".
    func loginFailed(_ reason: String) {
        lock.withLock { _loginFailures[reason, default: 0] += 1 }
    }

    func reinstated() { lock.withLock { _reinstatements += 1 } }

    func connectionStarted(_ connection: ConnectionStatistics) {
        lock.withLock { live[ObjectIdentifier(connection)] = connection }
    }

    /// The connection is gone: its logical units' counts go into the per-unit totals.
    func connectionEnded(_ connection: ConnectionStatistics) {
        let units = connection.logicalUnits.map { ($0.lun, $0.counters.values) }
        lock.withLock {
            guard live.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
            for (lun, values) in units {
                let key = UnitKey(tid: connection.tid, targetName: connection.targetName, lun: lun)
                var total = retiredUnits[key] ?? Array(repeating: 0, count: values.count)
                for i in values.indices { total[i] &+= values[i] }
                retiredUnits[key] = total
            }
        }
    }

    /// Connections in full feature phase, by target, session and connection id.
    public var connections: [ConnectionStatistics] {
        lock.withLock { Array(live.values) }.sorted { ($0.tid, $0.tsih, $0.cid) < ($1.tid, $1.tsih, $1.cid) }
    }

    public var logins: [String: UInt64] { lock.withLock { _logins } }
    public var loginFailures: [String: UInt64] { lock.withLock { _loginFailures } }
    public var reinstatements: UInt64 { lock.withLock { _reinstatements } }

    /// Per logical unit: closed connections' totals plus the live ones' counts (slots of
    /// `LogicalUnitStatistics.Slot`; the queue depth is `submitted - done`).
    public var unitTotals: [(UnitKey, [UInt64])] {
        let (retired, current) = lock.withLock { (retiredUnits, Array(live.values)) }
        var totals = retired
        for connection in current {
            for unit in connection.logicalUnits {
                let key = UnitKey(tid: connection.tid, targetName: connection.targetName, lun: unit.lun)
                let values = unit.counters.values
                var total = totals[key] ?? Array(repeating: 0, count: values.count)
                for i in values.indices { total[i] &+= values[i] }
                totals[key] = total
            }
        }
        return totals.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
