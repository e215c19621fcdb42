/// tgt's statistics and connection listings (usr/target.c tgt_stat_*, usr/iscsi/target.c
/// iscsi_stat_* and iscsi_target_show_connections), byte for byte.
public enum StatisticsFormatter {
    /// One I_T_L nexus: a session's use of one logical unit.
    public struct UnitLine: Sendable, Equatable {
        public var tid: Int
        public var lun: UInt64
        public var sid: UInt64
        public var readSubmittedBytes: UInt64 = 0
        public var readSubmittedCommands: UInt64 = 0
        public var readDoneBytes: UInt64 = 0
        public var readDoneCommands: UInt64 = 0
        public var writeSubmittedBytes: UInt64 = 0
        public var writeSubmittedCommands: UInt64 = 0
        public var writeDoneBytes: UInt64 = 0
        public var writeDoneCommands: UInt64 = 0
        public var errors: UInt64 = 0

        public init(tid: Int, lun: UInt64, sid: UInt64) {
            self.tid = tid
            self.lun = lun
            self.sid = sid
        }
    }

    /// One connection's transport counts.
    public struct ConnectionLine: Sendable, Equatable {
        public var sid: UInt64
        public var cid: UInt32
        public var rxdataOctets: UInt64
        public var txdataOctets: UInt64
        public var dataoutPDUs: UInt64
        public var datainPDUs: UInt64
        public var commandPDUs: UInt64
        public var responsePDUs: UInt64

        public init(
            sid: UInt64, cid: UInt32, rxdataOctets: UInt64, txdataOctets: UInt64, dataoutPDUs: UInt64,
            datainPDUs: UInt64, commandPDUs: UInt64, responsePDUs: UInt64
        ) {
            self.sid = sid
            self.cid = cid
            self.rxdataOctets = rxdataOctets
            self.txdataOctets = txdataOctets
            self.dataoutPDUs = dataoutPDUs
            self.datainPDUs = datainPDUs
            self.commandPDUs = commandPDUs
            self.responsePDUs = responsePDUs
        }
    }

    public static let unitHeader =
        "tgt lun sid rd_subm(bytes,cmds) rd_done(bytes,cmds) wr_subm(bytes,cmds) wr_done(bytes,cmds) errs\n"
    public static let connectionHeader =
        "sid cid rxdata_octets txdata_octets dataout_pdus datain_pdus cmd_pdus rsp_pdus\n"

    /// printf's `%Nd`: right-aligned in `width`, never cut.
    static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    public static func unitLine(_ l: UnitLine) -> String {
        "\(pad(l.tid, 3)) \(pad(l.lun, 3)) \(pad(l.sid, 3)) "
            + "\(pad(l.readSubmittedBytes, 12)) \(pad(l.readSubmittedCommands, 6)) "
            + "\(pad(l.readDoneBytes, 12)) \(pad(l.readDoneCommands, 6)) "
            + "\(pad(l.writeSubmittedBytes, 12)) \(pad(l.writeSubmittedCommands, 6)) "
            + "\(pad(l.writeDoneBytes, 12)) \(pad(l.writeDoneCommands, 6)) "
            + "\(pad(l.errors, 4))\n"
    }

    public static func connectionLine(_ c: ConnectionLine) -> String {
        "\(pad(c.sid, 3)) \(pad(c.cid, 3)) \(pad(c.rxdataOctets, 13)) \(pad(c.txdataOctets, 13)) "
            + "\(pad(c.dataoutPDUs, 12)) \(pad(c.datainPDUs, 11)) \(pad(c.commandPDUs, 8)) \(pad(c.responsePDUs, 8))\n"
    }

    /// `--op stat --mode system|target|logicalunit`: the header, then a line per I_T_L nexus.
    public static func units(_ lines: [UnitLine]) -> String {
        unitHeader + lines.map(unitLine).joined()
    }

    /// `--op stat --mode session`: its nexuses, then (after a blank line) its connections.
    public static func session(units lines: [UnitLine], connections: [ConnectionLine]) -> String {
        var text = units(lines)
        if !connections.isEmpty { text += "\n" + connectionHeader + connections.map(connectionLine).joined() }
        return text
    }

    /// `--op stat --mode conn`.
    public static func connection(_ line: ConnectionLine) -> String { connectionHeader + connectionLine(line) }

    /// `--op show --mode conn --tid T`: every connection of the target's sessions.
    public static func shownConnections(_ list: [(sid: UInt64, cid: UInt32, initiator: String, address: String)]) -> String {
        list.map { "Session: \($0.sid)\n    Connection: \($0.cid)\n        Initiator: \($0.initiator)\n        IP Address: \($0.address)\n" }
            .joined()
    }

    /// `--op show --mode lld`: the drivers, and the targets of each.
    public static func drivers(_ drivers: [(name: String, state: String, targets: [(tid: Int, name: String)])]) -> String {
        var text = "LLDs:\n"
        for driver in drivers {
            text += "    \(driver.name): \(driver.state)\n"
            for target in driver.targets { text += "        Target \(target.tid): \(target.name)\n" }
        }
        return text
    }
}
