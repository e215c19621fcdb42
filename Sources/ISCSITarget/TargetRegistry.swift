import NIOConcurrencyHelpers
import NIOCore
import SCSITarget

/// An exported iSCSI target: its name, its SCSI device (the LUNs) and its ACL.
public final class ExportedTarget: @unchecked Sendable {
    public let tid: Int
    public let name: String
    public let device: SCSITargetDevice
    private let lock = NIOLock()
    private var _rules: [AccessRule] = []

    init(tid: Int, name: String) {
        self.tid = tid
        self.name = name
        self.device = SCSITargetDevice(targetID: tid, targetName: name)
    }

    private var _authentication = TargetAuthentication()
    private var _portalGroups: Set<UInt16>?

    /// The target portal groups the target is served through; nil is every one (tgt's way: each
    /// target on each portal). LIO serves a target only through the TPGs made for it.
    public var portalGroups: Set<UInt16>? {
        get { lock.withLock { _portalGroups } }
        set { lock.withLock { _portalGroups = newValue } }
    }

    public func isServed(throughPortalGroup tag: UInt16) -> Bool {
        lock.withLock { _portalGroups?.contains(tag) ?? true }
    }

    public var accessRules: [AccessRule] { lock.withLock { _rules } }

    /// CHAP settings, read at each login.
    public var authentication: TargetAuthentication {
        get { lock.withLock { _authentication } }
        set { lock.withLock { _authentication = newValue } }
    }

    /// Adds a rule; false when it was already there.
    @discardableResult
    public func bind(_ rule: AccessRule) -> Bool {
        lock.withLock {
            if _rules.contains(rule) { return false }
            _rules.append(rule)
            return true
        }
    }

    /// Removes a rule; false when it was not there.
    @discardableResult
    public func unbind(_ rule: AccessRule) -> Bool {
        lock.withLock {
            guard let i = _rules.firstIndex(of: rule) else { return false }
            _rules.remove(at: i)
            return true
        }
    }

    /// Replaces the whole ACL (the daemon's configuration model is its source).
    public func setAccessRules(_ rules: [AccessRule]) { lock.withLock { _rules = rules } }

    /// Like tgt, a target with an empty ACL admits nobody (`ALL` is LIO's generate_node_acls).
    public func admits(initiatorName: String, address: SocketAddress?) -> Bool {
        lock.withLock { _rules.contains { $0.admits(initiatorName: initiatorName, address: address) } }
    }
}

public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case targetExists(Int)
    case targetNameInUse(String)
    case noSuchTarget(Int)
    case invalidTargetName(String)
    case targetBusy(Int)

    public var description: String {
        switch self {
        case .targetExists(let tid): return "target \(tid) already exists"
        case .targetNameInUse(let name): return "target name \(name) is already in use"
        case .noSuchTarget(let tid): return "can't find target \(tid)"
        case .invalidTargetName(let why): return "bad target name: \(why)"
        case .targetBusy(let tid): return "target \(tid) has active sessions"
        }
    }
}

/// Every target the daemon exports. Thread-safe: logins on any event loop look targets up here.
public final class TargetRegistry: @unchecked Sendable {
    private let lock = NIOLock()
    private var byTID: [Int: ExportedTarget] = [:]

    public init() {}

    public func createTarget(tid: Int, name: String) throws -> ExportedTarget {
        try lock.withLock {
            if byTID[tid] != nil { throw RegistryError.targetExists(tid) }
            if byTID.values.contains(where: { $0.name.lowercased() == name.lowercased() }) {
                throw RegistryError.targetNameInUse(name)
            }
            let target = ExportedTarget(tid: tid, name: name)
            byTID[tid] = target
            return target
        }
    }

    @discardableResult
    public func removeTarget(tid: Int) throws -> ExportedTarget {
        try lock.withLock {
            guard let target = byTID.removeValue(forKey: tid) else { throw RegistryError.noSuchTarget(tid) }
            return target
        }
    }

    public func target(tid: Int) -> ExportedTarget? { lock.withLock { byTID[tid] } }

    /// iSCSI names compare case-insensitively (RFC 7143 3.2.6.1).
    public func target(named name: String) -> ExportedTarget? {
        let key = name.lowercased()
        return lock.withLock { byTID.values.first { $0.name.lowercased() == key } }
    }

    /// All targets, ordered by tid.
    public var targets: [ExportedTarget] { lock.withLock { byTID.values.sorted { $0.tid < $1.tid } } }
}
