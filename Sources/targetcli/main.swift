#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ISCSIAdmin
import SystemSupport

// targetcli: LIO's object tree and commands over tgtd's control socket.
//   targetcli [-C N] [PATH] COMMAND [ARGS...]   one command
//   targetcli [-C N]                             interactive shell (or commands from stdin)

let usage = """
    Usage: targetcli [-C|--control-port N] [--version|--help|[PATH] COMMAND [ARGS...]]
      -C, --control-port N   the tgtd started with -C N (default 0)
      --version, -v          print the version
      --help, -h             print this text
      [PATH] COMMAND ARGS    run one shell command and exit ("targetcli /iscsi help" lists commands)
      <nothing>              the configuration shell: a prompt on a terminal, else commands from stdin
    Without a file, saveconfig and restoreconfig use /etc/target/saveconfig.json (or $TARGETCLI_SAVEFILE);
    a shell session saves there on exit as root unless `set global auto_save_on_exit=false`.
    See targetcli(8).

    """

var arguments = Array(CommandLine.arguments.dropFirst())
var controlPort = 0
var index = 0
while index < arguments.count {
    let argument = arguments[index]
    if argument == "-C" || argument == "--control-port" {
        guard index + 1 < arguments.count, let port = Int(arguments[index + 1]), port >= 0 else {
            fputs("targetcli: \(argument) needs a port number\n", stderr)
            exit(1)
        }
        controlPort = port
        arguments.removeSubrange(index...(index + 1))
    } else if argument.hasPrefix("--control-port=") {
        guard let port = Int(argument.dropFirst("--control-port=".count)), port >= 0 else {
            fputs("targetcli: bad \(argument)\n", stderr)
            exit(1)
        }
        controlPort = port
        arguments.remove(at: index)
    } else if argument == "-h" || argument == "--help" {
        fputs(usage, stdout)
        exit(0)
    } else if argument == "--version" || argument == "-v" {
        print(ProductVersion.line("targetcli"))
        exit(0)
    } else {
        break
    }
}

let shell = TargetCLIShell(
    backend: { request in
        do {
            return try ControlClient.send(request, controlPort: controlPort)
        } catch let error as ControlClientError {
            throw TargetCLIError("cannot reach tgtd on control port \(controlPort): \(error.message)")
        }
    },
    output: { text in
        fputs(text, stdout)
        fflush(stdout)
    })

shell.preferencesPath = TargetCLIPreferences.defaultPath
shell.preferences = TargetCLIPreferences.load(from: shell.preferencesPath)
// Where saveconfig, restoreconfig and the save on exit go without a file (LIO's /etc/target/saveconfig.json).
if let file = getenv("TARGETCLI_SAVEFILE"), file.pointee != 0 { shell.defaultSaveFile = String(cString: file) }

/// Quotes arguments that need it, so the one-shot line re-tokenizes to the same words.
func quoted(_ word: String) -> String {
    if word.isEmpty { return "''" }
    if word.contains(where: { $0 == " " || $0 == "\t" || $0 == "'" || $0 == "\"" }) {
        return word.contains("'") ? "\"\(word)\"" : "'\(word)'"
    }
    return word
}

if !arguments.isEmpty {
    do {
        try shell.execute(arguments.map(quoted).joined(separator: " "))
        exit(0)
    } catch let error as TargetCLIError {
        fputs("\(error.message)\n", stderr)
        exit(1)
    } catch {
        fputs("\(error)\n", stderr)
        exit(1)
    }
}

let interactive = isatty(0) != 0
var failed = false
while true {
    if interactive {
        fputs(shell.prompt, stdout)
        fflush(stdout)
    }
    guard let line = readLine(strippingNewline: true) else {
        if interactive { fputs("\n", stdout) }
        break
    }
    do {
        if try !shell.execute(line) { break }
    } catch let error as TargetCLIError {
        fputs("\(error.message)\n", stderr)
        failed = true
    } catch {
        fputs("\(error)\n", stderr)
        failed = true
    }
}
do {
    try shell.endSession(isRoot: geteuid() == 0)
} catch let error as TargetCLIError {
    fputs("\(error.message)\n", stderr)
    failed = true
} catch {
    fputs("\(error)\n", stderr)
    failed = true
}
exit(interactive || !failed ? 0 : 1)
