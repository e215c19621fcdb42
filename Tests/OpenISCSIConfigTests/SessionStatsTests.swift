import XCTest

@testable import OpenISCSIConfig

/// `-m session -s` in open-iscsi's layout (usr/iscsiadm.c print_stats).
final class SessionStatsTests: XCTestCase {
    func testStatsLayout() {
        var info = SessionInfo(
            sid: 3, target: "iqn.2026-11.test:ours", portal: Portal(address: "127.0.0.1", port: 3260), initiatorName: "iqn.x")
        info.statistics = ["txdata_octets": 480, "rxdata_octets": 41488, "scsicmd_pdus": 10, "datain_pdus": 10,
                           "tx_sendpage_failures": 0, "rx_discontiguous_hdr": 1, "eh_abort_cnt": 2]
        let names = ["noptx_pdus", "scsicmd_pdus", "tmfcmd_pdus", "login_pdus", "text_pdus", "dataout_pdus",
                     "logout_pdus", "snack_pdus", "noprx_pdus", "scsirsp_pdus", "tmfrsp_pdus", "textrsp_pdus",
                     "datain_pdus", "logoutrsp_pdus", "r2t_pdus", "async_pdus", "rjt_pdus", "digest_err", "timeout_err"]
        let expected = "Stats for session [sid: 3, target: iqn.2026-11.test:ours, portal: 127.0.0.1,3260]\n"
            + "iSCSI SNMP:\n\ttxdata_octets: 480\n\trxdata_octets: 41488\n"
            + names.map { "\t\($0): \($0 == "scsicmd_pdus" || $0 == "datain_pdus" ? 10 : 0)\n" }.joined()
            + "iSCSI Extended:\n\ttx_sendpage_failures: 0\n\trx_discontiguous_hdr: 1\n\teh_abort_cnt: 2\n"
        XCTAssertEqual(Iscsiadm.statsText(info), expected)
    }
}
