import ISCSIAdmin
import ISCSITarget
import SCSITarget

/// tgtadm's statistics and listings, answered as tgt's daemon does: `--op stat` for the system,
/// a target, a logical unit, a session or a connection; `--op show --mode conn`; `--mode lld`;
/// `--op delete --mode conn` (closes it). `--op show --mode session` is an invalid request in
/// tgt (its iSCSI driver has no such show), and here too.
extension AdminControl {
    /// True for the requests this file answers.
    static func isStatisticsRequest(_ request: AdminRequest) -> Bool {
        request.op == .stat || [.lld, .session, .connection].contains(request.mode)
    }

    func statistics(_ request: AdminRequest) throws -> AdminResponse {
        let server = daemon.server
        switch (request.mode, request.op) {
        case (.lld, .show):
            let targets = daemon.registry.targets.map { (tid: $0.tid, name: $0.name) }
            return .success(StatisticsFormatter.drivers([(name: "iscsi", state: "ready", targets: targets)]))
        case (.lld, _):
            throw TgtadmError.unsupportedOperation
        case (.system, .stat):
            return .success(StatisticsFormatter.units(daemon.registry.targets.flatMap { unitLines($0) }))
        case (.target, .stat):
            return .success(StatisticsFormatter.units(unitLines(try target(request.tid))))
        case (.logicalUnit, .stat):
            let target = try target(request.tid)
            guard let lun = request.lun, target.device.logicalUnits.contains(where: { $0.lun == lun }) else {
                throw TgtadmError.noLogicalUnit
            }
            return .success(StatisticsFormatter.units(unitLines(target, only: lun)))
        case (.session, .stat):
            let connections = try sessionConnections(request.sid)
            let target = daemon.registry.targets.first { $0.tid == connections[0].tid }
            return .success(
                StatisticsFormatter.session(
                    // tgt lists a session's nexuses newest first: by descending LUN.
                    units: target.map { unitLines($0, session: UInt64(connections[0].tsih)).reversed() } ?? [],
                    connections: connections.map(Self.connectionLine)))
        case (.connection, .stat):
            let connections = try sessionConnections(request.sid)
            guard let connection = connections.first(where: { UInt32($0.cid) == request.cid ?? 0 }) else {
                throw TgtadmError.noConnection
            }
            return .success(StatisticsFormatter.connection(Self.connectionLine(connection)))
        case (.connection, .show):
            let target = try target(request.tid)
            let list = server.sessions.sessions(of: target).map {
                (sid: UInt64($0.tsih), cid: UInt32($0.connectionID), initiator: $0.initiatorName,
                 address: $0.peerAddress?.ipAddress ?? "")
            }
            return .success(StatisticsFormatter.shownConnections(list))
        case (.connection, .delete):
            let target = try target(request.tid)
            let sessions = server.sessions.sessions(of: target).filter { UInt64($0.tsih) == request.sid }
            guard !sessions.isEmpty else { throw TgtadmError.noSession }
            guard let session = sessions.first(where: { UInt32($0.connectionID) == request.cid ?? 0 }) else {
                throw TgtadmError.noConnection
            }
            daemon.logger.info("closing session \(session.tsih) connection \(session.connectionID) (tgtadm)")
            session.closeConnection("closed by tgtadm")
            return .success()
        default:
            throw TgtadmError.invalidRequest
        }
    }

    private func target(_ tid: Int32?) throws -> ExportedTarget {
        guard let tid, let target = daemon.registry.targets.first(where: { $0.tid == Int(tid) }) else {
            throw TgtadmError.noTarget
        }
        return target
    }

    /// The connections of the session with TSIH `sid` (tgt looks sessions up by TSIH alone).
    private func sessionConnections(_ sid: UInt64?) throws -> [ConnectionStatistics] {
        let connections = daemon.server.statistics.connections.filter { UInt64($0.tsih) == sid && $0.tid != 0 }
        guard !connections.isEmpty else { throw TgtadmError.noSession }
        return connections
    }

    /// A line per logical unit of the target and live session (tgt's I_T_L nexuses), by LUN
    /// then session.
    private func unitLines(_ target: ExportedTarget, only lun: UInt64? = nil, session: UInt64? = nil)
        -> [StatisticsFormatter.UnitLine]
    {
        let connections = daemon.server.statistics.connections.filter {
            $0.tid == target.tid && (session == nil || UInt64($0.tsih) == session)
        }
        var lines: [StatisticsFormatter.UnitLine] = []
        for unit in target.device.logicalUnits where lun == nil || unit.lun == lun {
            for connection in connections {
                var line = StatisticsFormatter.UnitLine(tid: target.tid, lun: unit.lun, sid: UInt64(connection.tsih))
                if let counts = connection.logicalUnits.first(where: { $0.lun == unit.lun })?.counters {
                    typealias S = LogicalUnitStatistics.Slot
                    line.readSubmittedBytes = counts.load(S.readSubmittedBytes)
                    line.readSubmittedCommands = counts.load(S.readSubmittedCommands)
                    line.readDoneBytes = counts.load(S.readDoneBytes)
                    line.readDoneCommands = counts.load(S.readDoneCommands)
                    line.writeSubmittedBytes = counts.load(S.writeSubmittedBytes)
                    line.writeSubmittedCommands = counts.load(S.writeSubmittedCommands)
                    line.writeDoneBytes = counts.load(S.writeDoneBytes)
                    line.writeDoneCommands = counts.load(S.writeDoneCommands)
                    line.errors = counts.load(S.errors)
                }
                lines.append(line)
            }
        }
        return lines
    }

    static func connectionLine(_ c: ConnectionStatistics) -> StatisticsFormatter.ConnectionLine {
        typealias S = ConnectionStatistics.Slot
        let n = c.counters
        return StatisticsFormatter.ConnectionLine(
            sid: UInt64(c.tsih), cid: UInt32(c.cid), rxdataOctets: n.load(S.bytesReceived),
            txdataOctets: n.load(S.bytesSent), dataoutPDUs: n.load(S.dataOut), datainPDUs: n.load(S.dataIn),
            commandPDUs: n.load(S.scsiCommands), responsePDUs: n.load(S.scsiResponses))
    }
}
