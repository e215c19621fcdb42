import XCTest

@testable import ISCSIAdmin

final class TgtadmCommandLineTests: XCTestCase {
    private struct NotARequest: Error {}

    private func parse(_ arguments: [String]) throws -> (AdminRequest, Int) {
        guard case .send(let request, let port) = try TgtadmCommandLine.parse(arguments) else { throw NotARequest() }
        return (request, port)
    }

    // MARK: forms

    func testLongOptionsWithSeparateValues() throws {
        let (request, port) = try parse(
            ["--lld", "iscsi", "--op", "new", "--mode", "target", "--tid", "1", "--targetname", "iqn.2026-11.test:a",
             "--control-port", "9"])
        XCTAssertEqual(request, AdminRequest(lld: "iscsi", mode: .target, op: .new, tid: 1, targetName: "iqn.2026-11.test:a"))
        XCTAssertEqual(port, 9)
    }

    func testLongOptionsWithEqualsAndUniquePrefixes() throws {
        let (request, port) = try parse(["--lld=iscsi", "--op=show", "--mo=tgt", "--ti=3", "--control=12"])
        XCTAssertEqual(request, AdminRequest(lld: "iscsi", mode: .target, op: .show, tid: 3))
        XCTAssertEqual(port, 12)
    }

    func testShortOptionsSeparateAttachedAndClustered() throws {
        let (separate, _) = try parse(["-L", "iscsi", "-o", "show", "-m", "target", "-t", "1"])
        let (attached, port) = try parse(["-Liscsi", "-oshow", "-mtarget", "-t1", "-C77"])
        let (clustered, _) = try parse(["-dLiscsi", "-o", "show", "-m", "target", "-dt", "1"])
        let expected = AdminRequest(lld: "iscsi", mode: .target, op: .show, tid: 1)
        XCTAssertEqual(separate, expected)
        XCTAssertEqual(attached, expected)
        XCTAssertEqual(clustered, expected)
        XCTAssertEqual(port, 77)
    }

    func testEveryLogicalUnitOption() throws {
        let (request, _) = try parse(
            ["-o", "new", "-m", "lu", "--tid", "2", "--lun", "0x10", "--backing-store", "/dev/shm/a.img",
             "--bstype", "aio", "--bsopts", "x=y", "--bsoflags", "sync:direct", "--blocksize", "4096", "-Y", "disk"])
        XCTAssertEqual(
            request,
            AdminRequest(
                mode: .logicalUnit, op: .new, tid: 2, lun: 16, backingStore: "/dev/shm/a.img", bsType: "aio",
                bsOpts: "x=y", bsOFlags: "sync:direct", blockSize: "4096", deviceType: "disk"))
        let (short, _) = try parse(["-o", "new", "-m", "lu", "-t", "2", "-l", "010", "-b", "f", "-E", "null", "-y", "512", "-f", "sync"])
        XCTAssertEqual(short.lun, 8, "a leading 0 means octal, as with strtoull")
        XCTAssertEqual(short.bsType, "null")
        XCTAssertEqual(short.blockSize, "512")
        XCTAssertEqual(short.bsOFlags, "sync")
    }

    func testTapeForcesTheSSCBackingStore() throws {
        let (request, _) = try parse(["-o", "new", "-m", "lu", "-t", "1", "-l", "1", "-Y", "ssc", "-E", "rdwr"])
        XCTAssertEqual(request.deviceType, "tape")
        XCTAssertEqual(request.bsType, "ssc")
    }

    func testAccountAndACLOptions() throws {
        let (account, _) = try parse(["--op", "new", "--mode", "account", "--user", "alice", "--password", "s3cret"])
        XCTAssertEqual(account, AdminRequest(mode: .account, op: .new, user: "alice", password: "s3cret"))
        let (bind, _) = try parse(["-o", "bind", "-m", "account", "-t", "1", "-u", "bob", "--outgoing"])
        XCTAssertEqual(bind, AdminRequest(mode: .account, op: .bind, tid: 1, user: "bob", outgoing: true))
        let (global, _) = try parse(["-o", "bind", "-m", "account", "-u", "bob", "-O", "x"])
        XCTAssertNil(global.tid, "no --tid binds the global (discovery) account")
        XCTAssertTrue(global.outgoing)
        let (acl, _) = try parse(
            ["-o", "bind", "-m", "target", "-t", "1", "--initiator-address", "ALL", "--initiator-name", "iqn.x"])
        XCTAssertEqual(acl, AdminRequest(mode: .target, op: .bind, tid: 1, initiatorAddress: "ALL", initiatorName: "iqn.x"))
        let (short, _) = try parse(["-o", "unbind", "-m", "target", "-t", "1", "-I", "10.0.0.1", "-Q", "iqn.y"])
        XCTAssertEqual(short.initiatorAddress, "10.0.0.1")
        XCTAssertEqual(short.initiatorName, "iqn.y")
    }

    func testUpdateDeleteSessionAndPortalOptions() throws {
        let (update, _) = try parse(["-o", "update", "-m", "target", "-t", "1", "-n", "MaxRecvDataSegmentLength", "-v", "65536"])
        XCTAssertEqual(update, AdminRequest(mode: .target, op: .update, tid: 1, name: "MaxRecvDataSegmentLength", value: "65536"))
        let (delete, _) = try parse(["-o", "delete", "-m", "target", "-t", "1", "--force"])
        XCTAssertTrue(delete.force)
        let (shortForce, _) = try parse(["-o", "delete", "-m", "target", "-t", "1", "-F", "1"])
        XCTAssertTrue(shortForce.force)
        let (connection, _) = try parse(["-o", "delete", "-m", "conn", "-t", "1", "--sid", "281474976710656", "--cid", "3"])
        XCTAssertEqual(connection, AdminRequest(mode: .connection, op: .delete, tid: 1, sid: 1 << 48, cid: 3))
        let (portal, _) = try parse(["-o", "new", "-m", "portal", "-P", "portal=10.0.0.1:3260"])
        XCTAssertEqual(portal, AdminRequest(mode: .portal, op: .new, params: "portal=10.0.0.1:3260"))
        let (lunUpdate, _) = try parse(["-o", "update", "-m", "lu", "-t", "1", "-l", "1", "--params", "readonly=1"])
        XCTAssertEqual(lunUpdate.params, "readonly=1")
    }

    func testEmptyLLDMeansTheDefaultDriverAndPortDefaultsToZero() throws {
        let (request, port) = try parse(["--lld=", "-o", "show", "-m", "target"])
        XCTAssertNil(request.lld)
        XCTAssertEqual(port, 0)
    }

    func testHelpAndVersionEndParsingWhereTheyAppear() throws {
        XCTAssertEqual(try TgtadmCommandLine.parse(["-o", "show", "--help", "--bogus"]), .help)
        XCTAssertEqual(try TgtadmCommandLine.parse(["-h"]), .help)
        XCTAssertEqual(try TgtadmCommandLine.parse(["--vers"]), .version)
        XCTAssertEqual(try TgtadmCommandLine.parse(["-V"]), .version)
        // An earlier error wins over a later --help.
        assertFails(["--tid", "x", "--help"], "-t argument value 'x' invalid\n" + tryHelp, 22)
        XCTAssertTrue(TgtadmCommandLine.helpText.contains("--control-port"))
    }

    // MARK: errors, each measured with Debian's tgtadm 1.0.85

    private let tryHelp = "Try `tgtadm --help' for more information.\n"

    func testGetoptErrors() {
        assertFails(["--bogus"], "tgtadm: unrecognized option '--bogus'\n" + tryHelp, 22)
        assertFails(["--bogus=1"], "tgtadm: unrecognized option '--bogus=1'\n" + tryHelp, 22)
        assertFails(["-Z"], "tgtadm: invalid option -- 'Z'\n" + tryHelp, 22)
        assertFails(["-:"], "tgtadm: invalid option -- ':'\n" + tryHelp, 22)
        assertFails(["--tid"], "tgtadm: option '--tid' requires an argument\n" + tryHelp, 22)
        assertFails(["--ti"], "tgtadm: option '--tid' requires an argument\n" + tryHelp, 22)
        assertFails(["-o", "show", "-t"], "tgtadm: option requires an argument -- 't'\n" + tryHelp, 22)
        assertFails(["--forc=1"], "tgtadm: option '--force' doesn't allow an argument\n" + tryHelp, 22)
        assertFails(["--help=1"], "tgtadm: option '--help' doesn't allow an argument\n" + tryHelp, 22)
        assertFails(
            ["--init=1"],
            "tgtadm: option '--init=1' is ambiguous; possibilities: '--initiator-address' '--initiator-name'\n" + tryHelp, 22)
        // tgt's short -F and -O take an argument although the long forms do not.
        assertFails(["-o", "delete", "-m", "target", "-t", "1", "-F"], "tgtadm: option requires an argument -- 'F'\n" + tryHelp, 22)
        assertFails(["-o", "bind", "-m", "account", "-u", "x", "-O"], "tgtadm: option requires an argument -- 'O'\n" + tryHelp, 22)
    }

    func testOperandsAreRejectedAfterAllOptions() {
        assertFails(["-o", "show", "-m", "tgt", "extra"], "tgtadm: unrecognized option 'extra'\n" + tryHelp, 22)
        assertFails(["extra1", "-o", "show", "extra2", "-m", "tgt"], "tgtadm: unrecognized option 'extra1'\n" + tryHelp, 22)
        assertFails(["-o", "show", "-m", "tgt", "--", "foo"], "tgtadm: unrecognized option 'foo'\n" + tryHelp, 22)
        assertFails(["-o", "show", "-m", "tgt", "-"], "tgtadm: unrecognized option '-'\n" + tryHelp, 22)
    }

    func testNumericArguments() throws {
        assertFails(["-t", "abc"], "-t argument value 'abc' invalid\n" + tryHelp, 22)
        assertFails(["-t", ""], "-t argument value '' invalid\n" + tryHelp, 22)
        assertFails(["--ti="], "-t argument value '' invalid\n" + tryHelp, 22)
        assertFails(["-t=1"], "-t argument value '=1' invalid\n" + tryHelp, 22)
        assertFails(["-t", "-1"], "-t argument value '-1' invalid\n" + tryHelp, 22)
        assertFails(["-t", "-2"], "-t argument value '-2' out of range\n" + tryHelp, 22)
        assertFails(["-t", "2147483648"], "-t argument value '2147483648' out of range\n" + tryHelp, 22)
        assertFails(["-t", "99999999999"], "-t argument value '99999999999' out of range\n" + tryHelp, 22)
        assertFails(["-l", "18446744073709551615"], "-l argument value '18446744073709551615' invalid\n" + tryHelp, 22)
        assertFails(["-c", "4294967296"], "-c argument value '4294967296' out of range\n" + tryHelp, 22)
        assertFails(["-s", "abc"], "-s argument value 'abc' invalid\n" + tryHelp, 22)
        assertFails(["-C", "70000"], "-C argument value '70000' out of range\n" + tryHelp, 22)
        assertFails(["-C", "32768"], "-C argument value '32768' out of range\n" + tryHelp, 22)
        assertFails(["-C", "-1"], "-C argument value '-1' invalid\n" + tryHelp, 22)
        // strtoull leniency: blanks before and junk after the digits, hex prefix.
        XCTAssertEqual(try parse(["-o", "show", "-m", "tgt", "-t", " 5"]).0.tid, 5)
        XCTAssertEqual(try parse(["-o", "show", "-m", "tgt", "-t", "1a"]).0.tid, 1)
        XCTAssertEqual(try parse(["-o", "show", "-m", "tgt", "-t", "0x10"]).0.tid, 16)
        XCTAssertEqual(try parse(["-o", "show", "-m", "tgt", "-C", "32767"]).1, 32767)
    }

    func testUnknownModeOperationAndDeviceTypeExitAtOnce() {
        assertFails(["-o", "new", "-m", "bogus"], "tgtadm: unknown mode: bogus\n", 1)
        assertFails(["-o", "bogus", "-m", "target"], "tgtadm: unknown operation: bogus\n", 1)
        assertFails(["-m", "bogus", "-o", "bogus"], "tgtadm: unknown mode: bogus\n", 1)
        assertFails(["-t", "abc", "-m", "bogus"], "-t argument value 'abc' invalid\n" + tryHelp, 22)
        assertFails(["-o", "new", "-m", "lu", "-t", "1", "-l", "1", "-Y", "foo"], "tgtadm: unknown target type: foo\n", 22)
    }

    func testMissingOperationOrMode() {
        assertFails(["--lld", "iscsi", "--mode", "target"], "tgtadm: specify the operation type\n", 22)
        assertFails(["--lld", "iscsi", "--op", "show"], "tgtadm: specify the mode\n", 22)
    }

    func testTargetModeChecks() {
        assertFails(["-o", "new", "-m", "target"], "tgtadm: 'tid' option is necessary\n", 22)
        assertFails(["-o", "new", "-m", "target", "-t", "0", "-T", "x"], "tgtadm: 'tid' cannot be 0\n", 22)
        assertFails(["-o", "new", "-m", "target", "-t", "1"], "tgtadm: creating new target requires a name, use --targetname\n", 22)
        assertFails(["-o", "show", "-m", "target", "-l", "3"], "tgtadm: target mode: option '-l' is not allowed/supported\n", 22)
        assertFails(["-o", "show", "-m", "target", "--force"], "tgtadm: target mode: option '-F' is not allowed/supported\n", 22)
        assertFails(["-o", "show", "-m", "target", "--targ=1"], "tgtadm: target mode: option '-T' is not allowed/supported\n", 22)
        assertFails(
            ["-o", "bind", "-m", "target", "-t", "1"], "tgtadm: bind operation requires initiator-address, initiator-nameor bus\n", 22)
        assertFails(
            ["-o", "unbind", "-m", "target", "-t", "1", "-H", "0"],
            "tgtadm: unbind operation requires initiator-address, initiator-nameor bus\n", 22)
        assertFails(["-o", "update", "-m", "target", "-t", "1", "-n", "x"], "tgtadm: update operation requires 'name' and 'value' options\n", 22)
        assertFails(["-o", "start", "-m", "target", "-t", "1"], "tgtadm: operation start not supported in target mode\n", 22)
        XCTAssertNoThrow(try TgtadmCommandLine.parse(["-o", "show", "-m", "target", "-t", "0"]), "show accepts tid 0")
    }

    func testLogicalUnitModeChecks() {
        assertFails(["-o", "new", "-m", "lu", "-l", "1"], "tgtadm: 'tid' option is necessary\n", 22)
        assertFails(["-o", "new", "-m", "lu", "-t", "0", "-l", "1"], "tgtadm: 'tid' must not be 0\n", 22)
        assertFails(["-o", "new", "-m", "lu", "-t", "1"], "tgtadm: 'lun' option is necessary\n", 22)
        assertFails(["-o", "new", "-m", "lu", "-t", "1", "-l", "1", "-b", "x", "-u", "u"],
                    "tgtadm: logicalunit mode: option '-u' is not allowed/supported\n", 22)
        assertFails(["-o", "new", "-m", "lu", "-t", "1", "-l", "1", "-Y", "changer"], "tgtadm: 'backing-store' option is necessary\n", 22)
        assertFails(["-o", "update", "-m", "lu", "-t", "1", "-l", "1", "-n", "x"], "tgtadm: option '-n' not supported in logicalunit mode\n", 22)
        assertFails(["-o", "bind", "-m", "lu", "-t", "1", "-l", "1"], "tgtadm: operation bind not supported in logicalunit mode\n", 22)
        XCTAssertNoThrow(try TgtadmCommandLine.parse(["-o", "new", "-m", "lu", "-t", "1", "-l", "1", "-Y", "cd"]))
    }

    func testAccountSystemPortalAndLLDModeChecks() {
        assertFails(["-o", "new", "-m", "account", "-u", "a"], "tgtadm: 'user' and 'password' options are required\n", 22)
        assertFails(["-o", "new", "-m", "account", "-u", "a", "-p", "b", "-t", "1"],
                    "tgtadm: account mode: option '-t' is not allowed/supported\n", 22)
        assertFails(["-o", "bind", "-m", "account", "-t", "1"], "tgtadm: 'user' option is necessary\n", 22)
        assertFails(["-o", "stop", "-m", "account"], "tgtadm: operation stop not supported in account mode\n", 22)
        assertFails(["-o", "update", "-m", "sys", "-n", "x"], "tgtadm: update operation requires 'name' and 'value' options\n", 22)
        assertFails(["-o", "update", "-m", "sys", "-t", "1", "-n", "a", "-v", "b"],
                    "tgtadm: system mode: option '-t' is not allowed/supported\n", 22)
        assertFails(["-o", "new", "-m", "system"], "tgtadm: operation new not supported in system mode\n", 22)
        assertFails(["-o", "new", "-m", "portal"], "tgtadm: you must specify --param portal=<portal>\n", 22)
        // --params only counts as the portal when given after --mode portal, as in tgt.
        assertFails(["-P", "portal=1.2.3.4", "-o", "new", "-m", "portal"], "tgtadm: you must specify --param portal=<portal>\n", 22)
        assertFails(["-o", "show", "-m", "portal", "-t", "1"], "tgtadm: option '-t' not supported in portal mode\n", 22)
        assertFails(["-o", "new", "-m", "lld"], "tgtadm: option 0 not supported in lld mode\n", 22)
        XCTAssertNoThrow(try TgtadmCommandLine.parse(["-o", "new", "-m", "session"]), "tgtadm leaves sessions to the daemon")
    }

    private func assertFails(
        _ arguments: [String], _ message: String, _ exitCode: Int32, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try TgtadmCommandLine.parse(arguments), file: file, line: line) { error in
            XCTAssertEqual(error as? TgtadmUsageError, TgtadmUsageError(message: message, exitCode: exitCode), file: file, line: line)
        }
    }
}
