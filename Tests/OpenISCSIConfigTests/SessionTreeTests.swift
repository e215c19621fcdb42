import XCTest

@testable import OpenISCSIConfig

/// `-m session -P N` against the layout of open-iscsi's usr/session_info.c and iface.c.
final class SessionTreeTests: XCTestCase {
    private func session(localAddress: String = "127.0.0.1") -> SessionInfo {
        var record = Record(kind: .node)
        XCTAssertTrue(record.set("node.session.auth.authmethod", "CHAP"))
        XCTAssertTrue(record.set("node.session.auth.username", "alice"))
        XCTAssertTrue(record.set("node.session.auth.password", "secret1"))
        XCTAssertTrue(record.set("node.session.timeo.replacement_timeout", "5"))
        return SessionInfo(
            sid: 2, target: "iqn.2026-11.test:tree", portal: Portal(address: "127.0.0.1", port: 3260, tpgt: 1),
            initiatorName: "iqn.2016-04.com.open-iscsi:0001", localAddress: localAddress, record: record,
            negotiated: [
                "HeaderDigest": "CRC32C", "DataDigest": "None", "MaxRecvDataSegmentLength": "262144",
                "MaxXmitDataSegmentLength": "65536", "FirstBurstLength": "65536", "MaxBurstLength": "262144",
                "ImmediateData": "Yes", "InitialR2T": "No", "MaxOutstandingR2T": "1",
            ],
            luns: [SessionLUN(lun: 0), SessionLUN(lun: 1, device: "loop7")])
    }

    func testLevelThreeIsOpenISCSIsLayout() {
        let expected = """
            iSCSI Transport Class version 2.0-870
            version 2.1.8
            Target: iqn.2026-11.test:tree (non-flash)
            \tCurrent Portal: 127.0.0.1:3260,1
            \tPersistent Portal: 127.0.0.1:3260,1
            \t\t**********
            \t\tInterface:
            \t\t**********
            \t\tIface Name: default
            \t\tIface Transport: tcp
            \t\tIface Initiatorname: iqn.2016-04.com.open-iscsi:0001
            \t\tIface IPaddress: 127.0.0.1
            \t\tIface HWaddress: default
            \t\tIface Netdev: default
            \t\tSID: 2
            \t\tiSCSI Connection State: LOGGED IN
            \t\tiSCSI Session State: LOGGED_IN
            \t\tInternal iscsid Session State: NO CHANGE
            \t\t*********
            \t\tTimeouts:
            \t\t*********
            \t\tRecovery Timeout: 5
            \t\tTarget Reset Timeout: 30
            \t\tLUN Reset Timeout: 30
            \t\tAbort Timeout: 15
            \t\t*****
            \t\tCHAP:
            \t\t*****
            \t\tusername: alice
            \t\tpassword: ********
            \t\tusername_in: <empty>
            \t\tpassword_in: ********
            \t\t************************
            \t\tNegotiated iSCSI params:
            \t\t************************
            \t\tHeaderDigest: CRC32C
            \t\tDataDigest: None
            \t\tMaxRecvDataSegmentLength: 262144
            \t\tMaxXmitDataSegmentLength: 65536
            \t\tFirstBurstLength: 65536
            \t\tMaxBurstLength: 262144
            \t\tImmediateData: Yes
            \t\tInitialR2T: No
            \t\tMaxOutstandingR2T: 1
            \t\t************************
            \t\tAttached SCSI devices:
            \t\t************************
            \t\tHost Number: 2\tState: running
            \t\tscsi2 Channel 00 Id 0 Lun: 0
            \t\tscsi2 Channel 00 Id 0 Lun: 1
            \t\t\tAttached scsi disk loop7\t\tState: running

            """
        XCTAssertEqual(Iscsiadm.sessionTree([session()], level: 3), expected)
    }

    /// `--show` prints the secrets; open-iscsi labels the incoming one "password" too.
    func testShowPrintsSecrets() {
        var s = session()
        XCTAssertTrue(s.record.set("node.session.auth.username_in", "target1"))
        XCTAssertTrue(s.record.set("node.session.auth.password_in", "secret2"))
        let hidden = Iscsiadm.sessionTree([s], level: 2)
        XCTAssertTrue(hidden.contains("\t\tpassword: ********\n\t\tusername_in: target1\n\t\tpassword_in: ********\n"))
        XCTAssertFalse(hidden.contains("secret"))
        let shown = Iscsiadm.sessionTree([s], level: 2, showPasswords: true)
        XCTAssertTrue(shown.contains("\t\tpassword: secret1\n\t\tusername_in: target1\n\t\tpassword: secret2\n"), shown)
    }

    func testIPv6LocalAddressIsBracketed() {
        XCTAssertTrue(Iscsiadm.sessionTree([session(localAddress: "::1")], level: 1).contains("\t\tIface IPaddress: [::1]\n"))
        XCTAssertTrue(Iscsiadm.sessionTree([session(localAddress: "")], level: 1).contains("\t\tIface IPaddress: <empty>\n"))
    }
}
