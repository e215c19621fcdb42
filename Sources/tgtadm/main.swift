#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ISCSIAdmin
import SystemSupport

// tgtadm: parse tgt's command line, send the request to tgtd, print its answer.

func finish(output: String = "", diagnostics: String = "", exitCode: Int32) -> Never {
    fputs(output, stdout)
    fputs(diagnostics, stderr)
    exit(exitCode)
}

/// Beside Debian's tgt, a tgtadm first on PATH may be ours while the daemon asked for is Debian's
/// (Debian's tgt-admin runs `tgtadm` from PATH): say so when ours finds no tgtd and Debian's
/// socket for that control port exists.
func debianTgtdHint(_ error: ControlClientError) -> String {
    guard error.exitCode == ENOTCONN else { return "" }
    var controlPort = 0
    if case .send(_, let port)? = try? TgtadmCommandLine.parse(Array(CommandLine.arguments.dropFirst())) {
        controlPort = port
    }
    let debianSocket = "/var/run/tgtd/socket.\(controlPort)"
    var st = stat()
    guard stat(debianSocket, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else { return "" }
    return "tgtadm: this is swift-iscsi's tgtadm (no swift-iscsi tgtd on control port \(controlPort)); "
        + "Debian's tgtd listens on \(debianSocket): use /usr/sbin/tgtadm\n"
}

do {
    switch try TgtadmCommandLine.parse(Array(CommandLine.arguments.dropFirst())) {
    case .help:
        finish(output: TgtadmCommandLine.helpText, exitCode: 0)
    case .version:
        finish(output: ProductVersion.line("tgtadm", reproducing: ProductVersion.tgt) + "\n", exitCode: 0)
    case .send(let request, let controlPort):
        let response = try ControlClient.send(request, controlPort: controlPort)
        finish(
            output: response.output, diagnostics: response.message.map { "tgtadm: \($0)\n" } ?? "",
            exitCode: response.exitCode)
    }
} catch let error as TgtadmUsageError {
    finish(diagnostics: error.message, exitCode: error.exitCode)
} catch let error as ControlClientError {
    finish(diagnostics: "tgtadm: \(error.message)\n" + debianTgtdHint(error), exitCode: error.exitCode)
} catch {
    finish(diagnostics: "tgtadm: \(error)\n", exitCode: 1)
}
