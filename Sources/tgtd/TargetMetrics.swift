import ISCSITarget
import MetricsHTTP
import NIOCore

/// tgtd's Prometheus metrics (`tgtd --metrics ADDR:PORT`), read from the server's statistics at
/// scrape time.
enum TargetMetrics {
    /// Reasons always listed, at 0 until they happen, so that a dashboard sees the series.
    static let commonFailures = ["auth_failure", "acl_refused", "not_found", "timeout", "refused", "connection_closed"]

    static func render(_ server: TargetServer) -> String {
        let statistics = server.statistics
        var out = PrometheusText()
        typealias U = LogicalUnitStatistics.Slot
        let units = statistics.unitTotals
        func unitLabels(_ key: TargetStatistics.UnitKey) -> PrometheusText.Labels {
            [("tid", String(key.tid)), ("target", key.targetName), ("lun", String(key.lun))]
        }
        func perUnit(_ slot: Int) -> [(PrometheusText.Labels, UInt64)] { units.map { (unitLabels($0.0), $0.1[slot]) } }
        out.counter("iscsi_target_lu_reads_total", help: "READ commands completed, per logical unit.", perUnit(U.readDoneCommands))
        out.counter("iscsi_target_lu_writes_total", help: "WRITE commands completed, per logical unit.", perUnit(U.writeDoneCommands))
        out.counter("iscsi_target_lu_read_bytes_total", help: "Bytes read by initiators (READ commands with GOOD status).", perUnit(U.readDoneBytes))
        out.counter("iscsi_target_lu_written_bytes_total", help: "Bytes written by initiators (WRITE commands with GOOD status).", perUnit(U.writeDoneBytes))
        out.counter("iscsi_target_lu_commands_total", help: "SCSI commands of every kind completed.", perUnit(U.done))
        out.counter("iscsi_target_lu_errors_total", help: "Commands completed with a status other than GOOD.", perUnit(U.errors))
        out.gauge(
            "iscsi_target_lu_queue_depth", help: "Commands in the SCSI layer now.",
            units.map { (unitLabels($0.0), $0.1[U.submitted] &- $0.1[U.done]) })
        let bounds = LatencyBuckets.bounds
        for (name, what, first, sum) in [
            ("iscsi_target_lu_read_latency_seconds", "READ", U.readBuckets, U.readLatencyNanoseconds),
            ("iscsi_target_lu_write_latency_seconds", "WRITE", U.writeBuckets, U.writeLatencyNanoseconds),
        ] {
            out.histogram(
                name, help: "Time from a \(what) command's arrival to its completion by the backing store.",
                boundsNanoseconds: bounds,
                units.map {
                    .init(
                        labels: unitLabels($0.0), buckets: Array($0.1[first..<(first + bounds.count + 1)]),
                        sumNanoseconds: $0.1[sum])
                })
        }

        typealias C = ConnectionStatistics.Slot
        let connections = statistics.connections
        func connectionLabels(_ c: ConnectionStatistics) -> PrometheusText.Labels {
            [("target", c.targetName.isEmpty ? "discovery" : c.targetName), ("sid", String(c.tsih)),
             ("cid", String(c.cid)), ("initiator", c.initiatorName), ("address", c.address)]
        }
        func perConnection(_ slot: Int) -> [(PrometheusText.Labels, UInt64)] {
            connections.map { (connectionLabels($0), $0.counters.load(slot)) }
        }
        out.gauge("iscsi_target_connections", help: "Connections in full feature phase.", [([], UInt64(connections.count))])
        out.counter("iscsi_target_connection_pdus_received_total", help: "PDUs received on the connection.", perConnection(C.pdusReceived))
        out.counter("iscsi_target_connection_pdus_sent_total", help: "PDUs sent on the connection.", perConnection(C.pdusSent))
        out.counter("iscsi_target_connection_received_bytes_total", help: "Bytes received on the connection (from its login on).", perConnection(C.bytesReceived))
        out.counter("iscsi_target_connection_sent_bytes_total", help: "Bytes sent on the connection (from its login on).", perConnection(C.bytesSent))
        out.counter("iscsi_target_connection_digest_errors_total", help: "Header and data digest errors.", perConnection(C.digestErrors))

        out.counter(
            "iscsi_target_logins_total", help: "Logins that reached full feature phase, by session type.",
            ["normal", "discovery"].map { ([("type", $0)], statistics.logins[$0] ?? 0) })
        var failures = statistics.loginFailures
        for reason in commonFailures where failures[reason] == nil { failures[reason] = 0 }
        out.counter(
            "iscsi_target_login_failures_total", help: "Logins that failed, by reason.",
            failures.sorted { $0.key < $1.key }.map { ([("reason", $0.key)], $0.value) })
        out.counter(
            "iscsi_target_session_reinstatements_total", help: "Sessions replaced by a new login of the same initiator port (reconnects).",
            [([], statistics.reinstatements)])
        return out.text
    }
}
