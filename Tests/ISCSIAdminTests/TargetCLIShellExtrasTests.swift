import SystemSupport
import XCTest

@testable import ISCSIAdmin

/// targetcli's help, global preferences and save on exit.
final class TargetCLIShellExtrasTests: XCTestCase {
    private func shell() -> (TargetCLIShell, TargetCLITests.FakeDaemon, () -> String) {
        let daemon = TargetCLITests.FakeDaemon()
        var text = ""
        let shell = TargetCLIShell(backend: daemon.handle, output: { text += $0 })
        return (shell, daemon, { defer { text = "" }; return text })
    }

    func testHelpListsCommandsWithTheirParameters() throws {
        let (shell, _, output) = shell()
        try shell.execute("/backstores/fileio help")
        let text = output()
        XCTAssertTrue(text.contains("  - create name file_or_dev [size] [write_back] [sparse] [wwn]\n"), text)
        XCTAssertTrue(text.contains("  - saveconfig [savefile]\n"), text)
        try shell.execute("/iscsi help create")
        XCTAssertEqual(output().split(separator: "\n").prefix(3), ["SYNTAX", "======", "create [wwn]"])
        XCTAssertThrowsError(try shell.execute("/ help nosuch"))
    }

    func testGlobalPreferencesAreShownSetAndKept() throws {
        let (shell, _, output) = shell()
        let path = NSTemporaryDirectory() + "prefs-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { unlink(path) }
        shell.preferencesPath = path
        try shell.execute("get global")
        XCTAssertTrue(output().contains("auto_save_on_exit=true\n"))
        try shell.execute("/iscsi set global auto_save_on_exit=false")
        XCTAssertFalse(TargetCLIPreferences.load(from: path).autoSaveOnExit, "saved for the next session")
        XCTAssertThrowsError(try shell.execute("set global auto_add_mapped_luns=false")) {
            XCTAssertEqual(($0 as? TargetCLIError)?.message, "auto_add_mapped_luns is always true here")
        }
        XCTAssertThrowsError(try shell.execute("set global nosuch=1"))
        _ = output()
    }

    func testSessionSavesOnExitOnlyAsRootAndWhenAsked() throws {
        let (shell, _, output) = shell()
        let path = NSTemporaryDirectory() + "saved-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { unlink(path) }
        shell.defaultSaveFile = path
        try shell.endSession(isRoot: false)
        XCTAssertEqual(access(path, F_OK), -1)
        try shell.endSession(isRoot: true)
        XCTAssertEqual(output(), "Global pref auto_save_on_exit=true\nConfiguration saved to \(path)\n")
        XCTAssertNotNil(try LIOSaveConfig(jsonText: try TargetCLIShell.readFile(path)).swift_iscsi)
        unlink(path)
        shell.preferences.autoSaveOnExit = false
        try shell.endSession(isRoot: true)
        XCTAssertEqual(access(path, F_OK), -1)
    }

    /// `version` and `exit` answer without a daemon to ask.
    func testVersionAndExitNeedNoDaemon() throws {
        var text = ""
        let shell = TargetCLIShell(backend: { _ in throw TargetCLIError("no daemon") }, output: { text += $0 })
        try shell.execute("version")
        try shell.execute("/iscsi version")
        XCTAssertEqual(text, String(repeating: ProductVersion.line("targetcli") + "\n", count: 2))
        XCTAssertFalse(try shell.execute("exit"))
        XCTAssertThrowsError(try shell.execute("ls"))
    }

    func testUnhonouredArgumentsAreRefusedNotDropped() {
        let (shell, _, _) = shell()
        XCTAssertThrowsError(try shell.execute("/iscsi/\(TargetCLITests.iqn)/tpg1/acls create iqn.2026-12.x:y add_mapped_luns=false"))
        XCTAssertThrowsError(try shell.execute("/backstores/fileio create d /tmp/x 1M write_back=maybe"))
    }
}
