import ISCSIAdmin
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Inputs that broke the code reached by the fuzz target FuzzAdminRequest (Fuzz/, scripts/fuzz.sh),
/// replayed.
final class FuzzRegressionTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        var template = Array("/tmp/fuzz-regression-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw XCTSkip("mkdtemp failed") }
        directory = String(cString: made)
    }

    override func tearDown() {
        for name in ["config.json", "config.json.prev", "config.json.tmp"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    /// FuzzAdminRequest (the state-file decoder): a saved configuration whose target id does not
    /// fit tgt's 32-bit tid decoded fine, and replaying it trapped in Int32(_:), so tgtd died at
    /// start instead of reporting the damaged file and using the previous one.
    func testStateFileWithATargetIDPast32BitsIsUnusable() throws {
        let input = Array(
            #"{"version":1,"targets":[{"tid":3000000000,"name":"iqn.2026-11.x:y","luns":[],"addressRules":[],"nodeACLs":[],"incomingUsers":[],"generateNodeACLs":false,"tpgAuth":{},"state":"ready"}],"portals":[],"discoveryIncomingUsers":[],"storageObjects":[],"accounts":[]}"#
                .utf8)
        let store = ConfigurationStore(directory: directory)
        var good = DaemonConfiguration()
        good.targets = [TargetConfiguration(tid: 1, name: "iqn.2026-11.x:good")]
        try store.save(good)
        try store.save(good)
        let fd = open(store.path, O_WRONLY | O_TRUNC)
        XCTAssertEqual(input.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, input.count)
        close(fd)

        let result = try store.load()
        XCTAssertEqual(result.configuration, good)
        XCTAssertTrue(result.warning?.contains("target id 3000000000 is out of range") == true, "\(String(describing: result.warning))")
        XCTAssertEqual(result.configuration.replayRequests().first?.tid, 1)
    }

    /// FuzzAdminRequest (targetcli's restoreconfig decoder): a TPG with LUN indexes 0 (so every
    /// LUN moves up by one) and UInt64.max overflowed the addition and trapped.
    func testSaveconfigWithTheLastLUNIndexAndLUNZero() throws {
        let input = #"{"storage_objects":[{"name":"d","plugin":"ramdisk","size":1048576}],"targets":[{"wwn":"iqn.2026-11.x:y","fabric":"iscsi","tpgs":[{"luns":[{"index":0,"storage_object":"/backstores/ramdisk/d"},{"index":18446744073709551615,"storage_object":"/backstores/ramdisk/d"}]}]}]}"#
        let (steps, warnings) = try LIOSaveConfig(jsonText: input).restoreSteps(existingPortals: [])
        XCTAssertEqual(steps.filter { $0.request.mode == .logicalUnit }.map(\.request.lun), [1])
        XCTAssertEqual(warnings, ["Skipping LUN 18446744073709551615 of iqn.2026-11.x:y: no LUN number is left above it"])
    }
}
