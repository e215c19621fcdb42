import XCTest

@testable import ISCSIAdmin

final class TargetsConfTests: XCTestCase {
    private func parse(_ text: String, files: [String: String] = [:]) throws -> TargetsConf {
        let environment = FakeTgtAdminEnvironment()
        environment.files = files
        environment.files["main.conf"] = text
        return try TargetsConf.load(file: "main.conf", fileSystem: environment.fileSystem)
    }

    private func error(_ text: String, files: [String: String] = [:]) -> String? {
        do {
            _ = try parse(text, files: files)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Config::General's syntax as tgt-admin reads it (checked against Perl's Config::General 2.65).
    func testSyntax() throws {
        let conf = try parse(
            """
            # comment
            default-driver = iscsi  \u{20}
            /* a C comment */
            <target "iqn.2026-11.test:quoted">
              backing-store "/dev/shm/q q"     # trailing comment
              initiator-address 1.2.3.4 # c
              initiator-address=1.2.3.5
              params a=1,\\
                 b=2
              vendor_id MyCompany Inc.
              scsi_sn a\\#b
            </target>
            <target iqn.2026-11.test:merged>
              incominguser a secretpass12
            </target>
            <target iqn.2026-11.test:merged>
              incominguser c secretpass34
            </target>
            """)
        XCTAssertEqual(conf.value("default-driver"), "iscsi")
        XCTAssertEqual(conf.targets.map(\.name), ["iqn.2026-11.test:merged", "iqn.2026-11.test:quoted"])
        let quoted = conf.targets[1]
        XCTAssertEqual(quoted.backingStores, .paths(["/dev/shm/q q"]))
        XCTAssertEqual(quoted.values("initiator-address"), ["1.2.3.4", "1.2.3.5"])
        XCTAssertEqual(quoted.value("params"), "a=1,b=2")
        XCTAssertEqual(quoted.value("vendor_id"), "MyCompany Inc.")
        XCTAssertEqual(quoted.value("scsi_sn"), "a#b")
        XCTAssertEqual(quoted.location, TargetsConfLocation(file: "main.conf", line: 4))
        XCTAssertEqual(conf.targets[0].values("incominguser"), ["a secretpass12", "c secretpass34"])
    }

    func testStoresAreSortedAndBlocksMerged() throws {
        let conf = try parse(
            """
            <target iqn.2026-11.test:a>
              backing-store /dev/b
              backing-store /dev/a
              backing-store /dev/b
              <direct-store /dev/sdc>
                lun 4
              </direct-store>
              <direct-store /dev/sdb>
                vendor_id X
              </direct-store>
              <direct-store /dev/sdc>
                mode_page 1
                mode_page 2
              </direct-store>
            </target>
            """)
        let target = conf.targets[0]
        XCTAssertEqual(target.backingStores, .paths(["/dev/a", "/dev/b"]))
        guard case .blocks(let blocks)? = target.directStores else { return XCTFail() }
        XCTAssertEqual(blocks.map(\.path), ["/dev/sdb", "/dev/sdc"])
        XCTAssertEqual(blocks[1].settings.map(\.key), ["lun", "mode_page"])
        XCTAssertEqual(blocks[1].setting("mode_page")?.values, ["1", "2"])
    }

    func testIncludesFilesDirectoriesAndGlobs() throws {
        let conf = try parse(
            "include conf.d/*.conf\ninclude extra\nincludeoptional /nowhere.conf\n",
            files: [
                "conf.d/b.conf": "<target iqn.2026-11.test:b>\n</target>\n",
                "conf.d/a.conf": "default-driver iscsi\ninclude conf.d/a.conf\n",
                "conf.d/notes.txt": "garbage\n",
                "extra/1": "<target iqn.2026-11.test:c>\n</target>\n",
            ])
        XCTAssertEqual(conf.targets.map(\.name), ["iqn.2026-11.test:b", "iqn.2026-11.test:c"])
        XCTAssertEqual(conf.value("default-driver"), "iscsi")
        XCTAssertEqual(error("include missing.conf\n"), "main.conf:1: include: missing.conf does not exist")
    }

    /// One clear line for each problem, naming the file and line.
    func testErrors() {
        XCTAssertEqual(
            error("<target iqn.a>\n  foo bar\n</target>\n"), "main.conf:2: unknown directive \"foo\" in <target iqn.a>")
        XCTAssertEqual(error("defaultdriver iscsi\n"), "main.conf:1: unknown directive \"defaultdriver\"")
        XCTAssertEqual(error("<target iqn.a>\n  lun 3\n"), "main.conf:1: <target> has no closing </target>")
        XCTAssertEqual(error("<target iqn.a>\n</targe>\n"), "main.conf:2: </targe> closes <target> opened at line 1")
        XCTAssertEqual(error("</target>\n"), "main.conf:1: </target> without an opening <target>")
        XCTAssertEqual(
            error("<target>\n</target>\n"),
            "main.conf:1: <target> needs a target name, as in <target iqn.2001-04.com.example:disk1>")
        XCTAssertEqual(
            error("<lun 1>\n</lun>\n"), "main.conf:1: unknown block <lun> (only <target NAME> blocks are allowed here)")
        XCTAssertEqual(error("<target iqn.a>\n  initiator-name\n</target>\n"), "main.conf:2: initiator-name has a missing value")
        XCTAssertEqual(
            error("<target iqn.a>\n  incominguser alice\n</target>\n"),
            "main.conf:2: incominguser needs a user name and a password, as in \"incominguser USER PASSWORD\"")
        XCTAssertEqual(error("<target iqn.a>\n  lun one\n</target>\n"), "main.conf:2: lun must be a number, not \"one\"")
        XCTAssertEqual(
            error("<target iqn.a>\n  driver iscsi\n  driver iser\n</target>\n"),
            "main.conf:3: driver may be given only once in <target iqn.a>")
        XCTAssertEqual(error("default-driver iscsi\ndefault-driver iser\n"), "main.conf:2: default-driver may be given only once")
        XCTAssertEqual(
            error("<target iqn.a>\n  backing-store /a\n  <backing-store /b>\n  </backing-store>\n</target>\n"),
            "main.conf:3: <target iqn.a> mixes \"backing-store PATH\" lines with <backing-store PATH> blocks; use one form for all")
        XCTAssertEqual(
            error("<target iqn.a>\n  <backing-store /b>\n    <foo x>\n    </foo>\n  </backing-store>\n</target>\n"),
            "main.conf:3: <foo> cannot be nested in <backing-store /b>")
        XCTAssertEqual(
            error("<target iqn.a>\n  <backing-store /b>\n    initiator-address 1.2.3.4\n  </backing-store>\n</target>\n"),
            "main.conf:3: unknown directive \"initiator-address\" in <backing-store /b>")
        XCTAssertEqual(
            error("<target iqn.a>\n  block-size 4096\n</target>\n"),
            "main.conf:2: block-size is allowed only in a <backing-store PATH> or <direct-store PATH> block")
        XCTAssertEqual(error("ignore-errors maybe\n"), "main.conf:1: ignore-errors must be yes or no")
    }

    /// Every directive tgt-admin acts on is accepted (tgt's targets.conf.example, uncommented).
    func testTgtExampleDirectivesAreAccepted() throws {
        let conf = try parse(
            """
            default-driver iscsi
            ignore-errors yes
            iSNSServerIP 192.168.111.222
            iSNSServerPort 3205
            iSNSAccessControl Off
            iSNS On
            incomingdiscoveryuser disc secretpass12
            outgoingdiscoveryuser discout secretpass34
            <target iqn.2008-09.com.example:server.target5>
                <direct-store /dev/sdd>
                    vendor_id VENDOR1
                    removable 1
                    device-type cd
                    lun 1
                </direct-store>
                <backing-store /dev/sdd1>
                    vendor_id back2
                    mode_page 8:0:18:0x10:0:0xff
                    bs-type aio
                    bsopts x=1
                    bsoflags direct
                    block-size 4096
                    params element_type=4,address=500,tid=1,lun=1
                    allow-in-use yes
                    write-cache on
                    scsi_id a
                    scsi_sn b
                    product_id c
                    product_rev d
                    sense_format 1
                    online 1
                    readonly 0
                    path /x
                    lbppbe 3
                    la_lba 0
                    optimal_xfer_gran 8
                    optimal_xfer_len 16
                    lun 15
                </backing-store>
                write-cache off
                scsi_sn multipath-10
                initiator-address 192.168.100.1
                initiator-name iqn.1994-05.com.redhat:x
                MaxRecvDataSegmentLength 8192
                MaxXmitDataSegmentLength 8192
                HeaderDigest None
                DataDigest None
                InitialR2T Yes
                MaxOutstandingR2T 1
                ImmediateData Yes
                FirstBurstLength 65536
                MaxBurstLength 262144
                DataPDUInOrder Yes
                DataSequenceInOrder Yes
                ErrorRecoveryLevel 0
                IFMarker No
                OFMarker No
                DefaultTime2Wait 2
                DefaultTime2Retain 20
                OFMarkInt Reject
                IFMarkInt Reject
                MaxConnections 1
                state offline
                incominguser user1 secretpass12
                outgoinguser userA secretpassA
                controller_tid 10
                driver iscsi
                bs-type rdwr
                device-type disk
                bsopts y=2
                bsoflags sync
                allow-in-use yes
                lun 3
                vendor_id v
                product_id p
                product_rev r
                mode_page 1
                params p=1
            </target>
            """)
        XCTAssertEqual(conf.targets.count, 1)
        XCTAssertEqual(conf.value("iSNS"), "On")
        XCTAssertEqual(conf.targets[0].settings.count, 39)
    }
}
