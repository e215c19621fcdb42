import XCTest

@testable import ISCSIAdmin

/// The layouts printed by Debian's tgt 1.0.85 (captured from its tgtadm on this machine).
final class StatisticsFormatterTests: XCTestCase {
    func testUnitAndConnectionTablesMatchTgt() {
        var line = StatisticsFormatter.UnitLine(tid: 1, lun: 1, sid: 1)
        line.readSubmittedBytes = 42_930_208
        line.readSubmittedCommands = 10482
        line.readDoneBytes = 42_922_016
        line.readDoneCommands = 10480
        line.errors = 1
        let connection = StatisticsFormatter.ConnectionLine(
            sid: 1, cid: 0, rxdataOctets: 503_696, txdataOctets: 43_417_280, dataoutPDUs: 0, datainPDUs: 0,
            commandPDUs: 10484, responsePDUs: 0)
        XCTAssertEqual(
            StatisticsFormatter.session(units: [line, .init(tid: 1, lun: 0, sid: 1)], connections: [connection]),
            """
            tgt lun sid rd_subm(bytes,cmds) rd_done(bytes,cmds) wr_subm(bytes,cmds) wr_done(bytes,cmds) errs
              1   1   1     42930208  10482     42922016  10480            0      0            0      0    1
              1   0   1            0      0            0      0            0      0            0      0    0

            sid cid rxdata_octets txdata_octets dataout_pdus datain_pdus cmd_pdus rsp_pdus
              1   0        503696      43417280            0           0    10484        0

            """)
    }

    func testConnectionsAndDrivers() {
        XCTAssertEqual(
            StatisticsFormatter.shownConnections([(sid: 1, cid: 0, initiator: "iqn.2010-11.libiscsi:iscsi-perf", address: "127.0.0.1")]),
            "Session: 1\n    Connection: 0\n        Initiator: iqn.2010-11.libiscsi:iscsi-perf\n        IP Address: 127.0.0.1\n")
        XCTAssertEqual(
            StatisticsFormatter.drivers([(name: "iscsi", state: "ready", targets: [(tid: 1, name: "iqn.2026-12.test:peer")])]),
            "LLDs:\n    iscsi: ready\n        Target 1: iqn.2026-12.test:peer\n")
    }
}
