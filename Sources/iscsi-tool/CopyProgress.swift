import Dispatch
import Foundation

/// What a long copy reports on stderr: on a terminal, a progress line (bytes done of the total,
/// rate, time left) redrawn at most four times a second; at the end, one summary line (bytes,
/// seconds, MB/s), terminal or not, so that logs of scripted copies say what was done.
final class CopyProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let total: UInt64
    private var done: UInt64 = 0
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0
    private let terminal: Bool
    private let write: (String) -> Void
    /// Redraws at most this often (nanoseconds).
    static let redrawInterval: UInt64 = 250_000_000

    init(total: UInt64, terminal: Bool = isatty(STDERR_FILENO) != 0, write: @escaping (String) -> Void = CopyProgress.standardError) {
        self.total = total
        self.terminal = terminal
        self.write = write
    }

    static func standardError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    private var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    func add(_ bytes: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        done += bytes
        guard terminal else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if now - lastDraw >= Self.redrawInterval {
            lastDraw = now
            // \r and clear to the end of the line: the line may have become shorter.
            write("\r" + ProgressFormat.line(done: done, total: total, seconds: elapsed) + "\u{1B}[K")
        }
    }

    /// Replaces the progress line with the summary.
    func finish(verb: String) {
        lock.lock()
        defer { lock.unlock() }
        write((terminal ? "\r\u{1B}[K" : "") + "iscsi-tool: " + ProgressFormat.summary(verb: verb, bytes: done, seconds: elapsed) + "\n")
    }

    /// On a failure: ends the progress line, so the error starts on a line of its own.
    func abandon() {
        lock.lock()
        defer { lock.unlock() }
        if terminal && lastDraw != 0 { write("\n") }
    }
}

/// The text of the progress and summary lines (MB and GB are powers of ten, GiB of two, as dd's).
enum ProgressFormat {
    static func line(done: UInt64, total: UInt64, seconds: Double) -> String {
        let percent = total == 0 ? 100 : Int(Double(done) * 100 / Double(total))
        let rate = seconds > 0 ? Double(done) / seconds : 0
        var text = "\(size(done)) / \(size(total)) (\(percent)%), \(megabytesPerSecond(rate)) MB/s"
        if rate > 0, done < total {
            text += ", \(duration(Double(total - done) / rate)) left"
        }
        return text
    }

    static func summary(verb: String, bytes: UInt64, seconds: Double) -> String {
        let rate = seconds > 0 ? Double(bytes) / seconds : 0
        return "\(verb) \(bytes) bytes (\(size(bytes))) in \(String(format: "%.2f", seconds)) s, \(megabytesPerSecond(rate)) MB/s"
    }

    /// 512 bytes, 1.5 MB, 4.29 GB.
    static func size(_ bytes: UInt64) -> String {
        let value = Double(bytes)
        if value >= 1e9 { return String(format: "%.2f GB", value / 1e9) }
        if value >= 1e6 { return String(format: "%.1f MB", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1f kB", value / 1e3) }
        return "\(bytes) bytes"
    }

    static func megabytesPerSecond(_ bytesPerSecond: Double) -> String {
        String(format: bytesPerSecond >= 1e8 ? "%.0f" : "%.1f", bytesPerSecond / 1e6)
    }

    /// 0:07, 12:30, 1:02:03.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }
}
