import ISCSIInitiator
import MetricsHTTP
import OpenISCSIConfig

/// iscsid's Prometheus metrics (`iscsid --metrics ADDR:PORT`): each session's open-iscsi
/// statistics (`iscsiadm -m session -s`) and reconnects.
enum InitiatorMetrics {
    static func render(_ sessions: [(info: SessionInfo, statistics: InitiatorStatistics)]) -> String {
        var out = PrometheusText()
        out.gauge("iscsi_initiator_sessions", help: "Sessions iscsid has (logged in or recovering).", [([], UInt64(sessions.count))])
        func labels(_ info: SessionInfo) -> PrometheusText.Labels {
            [("sid", String(info.sid)), ("target", info.target), ("portal", info.portal.commaForm)]
        }
        let help: [String: String] = [
            "txdata_octets": "Bytes sent on the session's connections (headers, data, logins).",
            "rxdata_octets": "Bytes received on the session's connections.",
            "digest_err": "Header or data digest errors in what the target sent.",
            "timeout_err": "Unanswered pings and login timeouts.",
        ]
        let names = InitiatorStatistics().snmp.map(\.0) + InitiatorStatistics().extended.map(\.0).filter { $0 != "tx_sendpage_failures" }
        for name in names {
            out.counter(
                "iscsi_initiator_\(name)_total", help: help[name] ?? "open-iscsi's \(name) statistic (iscsiadm -m session -s).",
                sessions.map { (labels($0.info), $0.statistics.dictionary[name] ?? 0) })
        }
        out.counter(
            "iscsi_initiator_reconnects_total", help: "Connections re-established after a loss.",
            sessions.map { (labels($0.info), $0.statistics.reconnects) })
        return out.text
    }
}
