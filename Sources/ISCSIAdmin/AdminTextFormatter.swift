/// tgt 1.0.85's texts for the other `--op show` requests.
public enum AdminTextFormatter {
    /// `--op show --mode account`: nothing at all when there are no accounts. tgt lists the most
    /// recently created account first.
    public static func accountList(_ users: [String]) -> String {
        guard !users.isEmpty else { return "" }
        return "Account list:\n" + users.map { "    \($0)\n" }.joined()
    }

    /// `--op show --mode target --tid N` (the target's parameters) and `--mode session`:
    /// one "key=value" line each, in the given order.
    public static func parameters(_ pairs: [(key: String, value: String)]) -> String {
        pairs.map { "\($0.key)=\($0.value)\n" }.joined()
    }

    /// `--op show --mode connection --tid N`: every connection of every session of the target.
    /// tgt lists the newest session first.
    public static func connections(_ sessions: [TargetSnapshot.Nexus]) -> String {
        var text = ""
        for session in sessions {
            for connection in session.connections {
                text += "Session: \(session.id)\n"
                text += "    Connection: \(connection.cid)\n"
                text += "        Initiator: \(session.initiatorName)\n"
                text += "        IP Address: \(connection.address)\n"
            }
        }
        return text
    }

    /// `--op show --mode portal`: "Portal: address:port,tpgt", IPv6 addresses in brackets.
    public static func portals(_ portals: [(address: String, port: Int, tpgt: Int)]) -> String {
        portals.map { portal in
            let host = portal.address.contains(":") ? "[\(portal.address)]" : portal.address
            return "Portal: \(host):\(portal.port),\(portal.tpgt)\n"
        }.joined()
    }
}
