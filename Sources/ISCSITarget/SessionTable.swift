import NIOConcurrencyHelpers
import NIOCore
import SCSITarget

/// A logged-in session as the rest of the daemon sees it (for tgtadm show, reinstatement, reset).
public final class TargetSessionRecord: @unchecked Sendable {
    public let tsih: UInt16
    public let isid: UInt64
    public let initiatorName: String
    public let initiatorAlias: String?
    public let target: ExportedTarget?
    /// The target portal group the session logged in through (with the target, its SCSI target port).
    public let portalGroupTag: UInt16
    public let nexus: SCSINexus
    public let connectionID: UInt16
    public let peerAddress: SocketAddress?
    /// Closes the session's connection from any thread (reinstatement, target reset, shutdown).
    public let closeConnection: @Sendable (String) -> Void

    init(
        tsih: UInt16, isid: UInt64, initiatorName: String, initiatorAlias: String?, target: ExportedTarget?,
        portalGroupTag: UInt16, nexus: SCSINexus, connectionID: UInt16, peerAddress: SocketAddress?,
        closeConnection: @escaping @Sendable (String) -> Void
    ) {
        self.tsih = tsih
        self.portalGroupTag = portalGroupTag
        self.isid = isid
        self.initiatorName = initiatorName
        self.initiatorAlias = initiatorAlias
        self.target = target
        self.nexus = nexus
        self.connectionID = connectionID
        self.peerAddress = peerAddress
        self.closeConnection = closeConnection
    }

    public var isDiscovery: Bool { target == nil }
}

/// Every session of the daemon, keyed by TSIH. Thread-safe.
public final class SessionTable: @unchecked Sendable {
    private let lock = NIOLock()
    private var sessions: [UInt16: TargetSessionRecord] = [:]
    private var nextTSIH: UInt16 = 1
    private var nextNexusID: UInt64 = 1

    public init() {}

    struct NewSession {
        var record: TargetSessionRecord
        /// A session with the same initiator, ISID, target and portal group that this login
        /// replaces (ERL 0 reinstatement; through another group it is another I_T nexus): the caller closes it and tells the SCSI layer its nexus is gone.
        var reinstated: TargetSessionRecord?
    }

    func register(
        isid: UInt64, initiatorName: String, initiatorAlias: String?, target: ExportedTarget?,
        portalGroupTag: UInt16 = 1, connectionID: UInt16, peerAddress: SocketAddress?, closeConnection: @escaping @Sendable (String) -> Void
    ) -> NewSession {
        lock.withLock {
            let key = initiatorName.lowercased()
            let old = sessions.values.first {
                $0.isid == isid && $0.initiatorName.lowercased() == key && $0.target === target
                    && $0.portalGroupTag == portalGroupTag
            }
            if let old { sessions[old.tsih] = nil }
            var tsih = nextTSIH
            while tsih == 0 || sessions[tsih] != nil { tsih &+= 1 }
            nextTSIH = tsih &+ 1
            let nexusID = nextNexusID
            nextNexusID += 1
            let portName = "\(initiatorName),i,0x\(hexString(isid, width: 12))"
            let record = TargetSessionRecord(
                tsih: tsih, isid: isid, initiatorName: initiatorName, initiatorAlias: initiatorAlias,
                target: target, portalGroupTag: portalGroupTag,
                nexus: SCSINexus(
                    id: nexusID, initiatorPortName: portName,
                    targetPort: TargetPort(
                        relativeID: portalGroupTag,
                        name: target.map { "\($0.name),t,0x\(hexString(UInt64(portalGroupTag), width: 4))" } ?? "")),
                connectionID: connectionID, peerAddress: peerAddress, closeConnection: closeConnection)
            sessions[tsih] = record
            return NewSession(record: record, reinstated: old)
        }
    }

    /// Removes the session if it is still the registered one for its TSIH.
    func remove(_ record: TargetSessionRecord) {
        lock.withLock {
            if sessions[record.tsih] === record { sessions[record.tsih] = nil }
        }
    }

    public func session(tsih: UInt16) -> TargetSessionRecord? { lock.withLock { sessions[tsih] } }

    /// The session with this TSIH, if the initiator port (name and ISID) is the one that owns it.
    func session(tsih: UInt16, isid: UInt64, initiatorName: String) -> TargetSessionRecord? {
        lock.withLock {
            guard let record = sessions[tsih], record.isid == isid,
                record.initiatorName.lowercased() == initiatorName.lowercased()
            else { return nil }
            return record
        }
    }

    public var all: [TargetSessionRecord] { lock.withLock { sessions.values.sorted { $0.tsih < $1.tsih } } }

    public func sessions(of target: ExportedTarget) -> [TargetSessionRecord] {
        all.filter { $0.target === target }
    }
}
