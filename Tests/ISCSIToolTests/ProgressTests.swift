import XCTest

@testable import iscsi_tool

final class ProgressTests: XCTestCase {
    func testLineShowsBytesRateAndTimeLeft() {
        XCTAssertEqual(
            ProgressFormat.line(done: 1_000_000_000, total: 4_000_000_000, seconds: 2),
            "1.00 GB / 4.00 GB (25%), 500 MB/s, 0:06 left")
        XCTAssertEqual(ProgressFormat.line(done: 0, total: 512, seconds: 0), "0 bytes / 512 bytes (0%), 0.0 MB/s")
        XCTAssertEqual(ProgressFormat.line(done: 2_500_000, total: 2_500_000, seconds: 1), "2.5 MB / 2.5 MB (100%), 2.5 MB/s")
    }

    func testSummary() {
        XCTAssertEqual(
            ProgressFormat.summary(verb: "copied", bytes: 1_073_741_824, seconds: 1.25),
            "copied 1073741824 bytes (1.07 GB) in 1.25 s, 859 MB/s")
    }

    func testDurations() {
        XCTAssertEqual(ProgressFormat.duration(6.2), "0:07")
        XCTAssertEqual(ProgressFormat.duration(750), "12:30")
        XCTAssertEqual(ProgressFormat.duration(3723), "1:02:03")
    }

    /// On a terminal the line is redrawn at most every 250 ms, and the summary replaces it.
    func testTerminalRedrawsAreThrottled() {
        var written: [String] = []
        let progress = CopyProgress(total: 1000, terminal: true, write: { written.append($0) })
        for _ in 0..<100 { progress.add(10) }
        XCTAssertEqual(written.count, 1)
        XCTAssertTrue(written[0].hasPrefix("\r10 bytes / 1.0 kB (1%), "), written[0])
        progress.finish(verb: "copied")
        XCTAssertEqual(written.count, 2)
        XCTAssertTrue(written[1].hasPrefix("\r\u{1B}[Kiscsi-tool: copied 1000 bytes (1.0 kB) in "), written[1])
    }

    /// Elsewhere only the summary line is written.
    func testNotATerminalWritesOnlyTheSummary() {
        var written: [String] = []
        let progress = CopyProgress(total: 1000, terminal: false, write: { written.append($0) })
        for _ in 0..<100 { progress.add(10) }
        progress.abandon()
        XCTAssertEqual(written, [])
        progress.finish(verb: "copied")
        XCTAssertEqual(written.count, 1)
        XCTAssertTrue(written[0].hasPrefix("iscsi-tool: copied 1000 bytes"), written[0])
        XCTAssertTrue(written[0].hasSuffix(" MB/s\n"), written[0])
    }
}
