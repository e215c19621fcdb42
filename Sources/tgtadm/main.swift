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

do {
    switch try TgtadmCommandLine.parse(Array(CommandLine.arguments.dropFirst())) {
    case .help:
        finish(output: TgtadmCommandLine.helpText, exitCode: 0)
    case .version:
        finish(output: ProductVersion.line("tgtadm") + "\n", exitCode: 0)
    case .send(let request, let controlPort):
        let response = try ControlClient.send(request, controlPort: controlPort)
        finish(
            output: response.output, diagnostics: response.message.map { "tgtadm: \($0)\n" } ?? "",
            exitCode: response.exitCode)
    }
} catch let error as TgtadmUsageError {
    finish(diagnostics: error.message, exitCode: error.exitCode)
} catch let error as ControlClientError {
    finish(diagnostics: "tgtadm: \(error.message)\n", exitCode: error.exitCode)
} catch {
    finish(diagnostics: "tgtadm: \(error)\n", exitCode: 1)
}
