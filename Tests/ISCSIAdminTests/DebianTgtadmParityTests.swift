import Foundation
import XCTest

@testable import ISCSIAdmin

/// Runs Debian's own tgtadm on command lines it rejects before contacting a daemon, and checks that
/// our parser prints the same text with the same exit code.
final class DebianTgtadmParityTests: XCTestCase {
    private let debianTgtadm = "/usr/sbin/tgtadm"

    private let rejectedCommandLines: [[String]] = [
        ["-o", "new", "-m", "target"], ["-o", "new", "-m", "target", "-t", "0", "-T", "x"],
        ["-o", "new", "-m", "target", "-t", "1"], ["-o", "new", "-m", "bogus"], ["-o", "bogus", "-m", "target"],
        ["-m", "target"], ["-o", "show"], ["-o", "new", "-m", "lu", "-t", "1"], ["-o", "new", "-m", "lu", "-l", "1"],
        ["-o", "new", "-m", "lu", "-t", "0", "-l", "1"], ["-t", "abc"], ["-t", "-1"], ["-t", "-2"], ["-t", "99999999999"],
        ["-o", "show", "-m", "target", "-l", "3"], ["-o", "new", "-m", "account", "-u", "a"],
        ["-o", "bind", "-m", "account", "-t", "1"], ["-o", "bind", "-m", "target", "-t", "1"],
        ["-o", "update", "-m", "target", "-t", "1", "-n", "x"], ["-o", "new", "-m", "system"],
        ["-o", "bind", "-m", "lu", "-t", "1", "-l", "1"], ["-o", "show", "-m", "target", "extra"], ["--bogus"], ["-Z"],
        ["--tid"], ["--init=1"], ["--forc=1"], ["-o", "delete", "-m", "target", "-t", "1", "-F"],
        ["-o", "new", "-m", "portal"], ["-o", "show", "-m", "portal", "-t", "1"],
        ["-o", "update", "-m", "lu", "-t", "1", "-l", "1", "-b", "x"], ["-o", "new", "-m", "lu", "-t", "1", "-l", "1", "-Y", "foo"],
        ["-o", "new", "-m", "lu", "-t", "1", "-l", "1", "-Y", "changer"], ["-o", "new", "-m", "lld"],
        ["-C", "70000"], ["-C", "-1"], ["-l", "18446744073709551615"], ["-c", "4294967296"], ["--", "x"],
    ]

    func testRejectionsMatchDebiansTgtadm() throws {
        guard FileManager.default.isExecutableFile(atPath: debianTgtadm) else {
            throw XCTSkip("Debian's tgtadm is not installed")
        }
        for arguments in rejectedCommandLines {
            let (stderr, status) = try runDebianTgtadm(arguments)
            XCTAssertThrowsError(try TgtadmCommandLine.parse(arguments), "\(arguments)") { error in
                XCTAssertEqual(error as? TgtadmUsageError, TgtadmUsageError(message: stderr, exitCode: status), "\(arguments)")
            }
        }
    }

    private func runDebianTgtadm(_ arguments: [String]) throws -> (stderr: String, status: Int32) {
        // Through env, so that argv[0] (which getopt prints) is "tgtadm" as when run from a shell.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "tgtadm"] + arguments
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = errorPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: stderr, as: UTF8.self), process.terminationStatus)
    }
}
