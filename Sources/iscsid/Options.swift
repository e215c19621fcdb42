import Foundation
import OpenISCSIConfig
import SystemSupport

/// iscsid's command line, with open-iscsi's flags and short forms (`iscsid --help`).
struct DaemonOptions {
    var foreground = false
    var debugLevel = 0
    var configFile: String?
    var initiatorNameFile: String?
    var pidFile: String?
    var writePIDFile = true
    var uid: uid_t?
    var gid: gid_t?
    /// `--metrics ADDR:PORT`: serve Prometheus metrics there (off by default).
    var metrics: String?
    var metricsAllowRemote = false

    static let usage = """
        Usage: iscsid [OPTION]

          -c, --config=[path]     Execute in the config file (/etc/iscsi/iscsid.conf).
          -i, --initiatorname=[path]     read initiatorname from file (/etc/iscsi/initiatorname.iscsi).
          -f, --foreground        run iscsid in the foreground
          -d, --debug debuglevel  print debugging information
          -u, --uid=uid           run as uid, default is current user
          -g, --gid=gid           run as gid, default is current user group
          -n, --no-pid-file       do not use a pid file
          -p, --pid=pidfile       also write the pid to pidfile (the lock file beside the socket always has it).
          -h, --help              display this help and exit
          -v, --version           display version and exit
              --metrics=addr:port serve Prometheus metrics (GET /metrics) there; loopback only
              --metrics-allow-remote  let --metrics listen on a non-loopback address

        """

    enum Outcome {
        case run(DaemonOptions)
        case exit(status: Int32, stdout: String?, stderr: String?)
    }

    /// getopt_long's rules: `-d8`, `-d 8`, `--debug=8`, `--debug 8`, bundled flags `-fn`.
    static func parse(_ arguments: [String]) -> Outcome {
        var options = DaemonOptions()
        let long: [String: Character] = [
            "config": "c", "initiatorname": "i", "foreground": "f", "debug": "d", "uid": "u", "gid": "g",
            "no-pid-file": "n", "pid": "p", "help": "h", "version": "v",
            // Long only: no letter a short option could reach.
            "metrics": "\u{1}", "metrics-allow-remote": "\u{2}",
        ]
        let takesValue: Set<Character> = ["c", "i", "d", "u", "g", "p", "\u{1}"]
        var queue = arguments[...]
        var flags: [(Character, String?)] = []
        while let argument = queue.popFirst() {
            if argument.hasPrefix("--"), argument.count > 2 {
                let body = argument.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let inline = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
                let matches = long.keys.filter { $0.hasPrefix(name) }
                guard let key = matches.count == 1 ? matches[0] : (long[name] != nil ? name : nil), let flag = long[key]
                else { return .exit(status: 1, stdout: nil, stderr: "iscsid: unrecognized option '\(argument)'\n" + usage) }
                if takesValue.contains(flag) {
                    guard let value = inline ?? queue.popFirst() else {
                        return .exit(status: 1, stdout: nil, stderr: "iscsid: option '--\(key)' requires an argument\n" + usage)
                    }
                    flags.append((flag, value))
                } else {
                    flags.append((flag, nil))
                }
            } else if argument.hasPrefix("-"), argument.count > 1 {
                var rest = Substring(argument.dropFirst())
                while let flag = rest.popFirst() {
                    guard long.values.contains(flag), flag.isLetter else {
                        return .exit(status: 1, stdout: nil, stderr: "iscsid: invalid option -- '\(flag)'\n" + usage)
                    }
                    if takesValue.contains(flag) {
                        let value = rest.isEmpty ? queue.popFirst() : String(rest)
                        guard let value else {
                            return .exit(status: 1, stdout: nil, stderr: "iscsid: option requires an argument -- '\(flag)'\n" + usage)
                        }
                        flags.append((flag, value))
                        rest = ""
                    } else {
                        flags.append((flag, nil))
                    }
                }
            } else {
                return .exit(status: 1, stdout: nil, stderr: "iscsid: unexpected argument '\(argument)'\n" + usage)
            }
        }
        for (flag, value) in flags {
            switch flag {
            case "h": return .exit(status: 0, stdout: usage, stderr: nil)
            case "v": return .exit(status: 0, stdout: ProductVersion.line("iscsid", reproducing: ProductVersion.openISCSI) + "\n", stderr: nil)
            case "f": options.foreground = true
            case "n": options.writePIDFile = false
            case "p": options.pidFile = value
            case "c": options.configFile = value
            case "i": options.initiatorNameFile = value
            case "\u{1}": options.metrics = value
            case "\u{2}": options.metricsAllowRemote = true
            case "d":
                guard let level = Int(value!), (0...8).contains(level) else {
                    return .exit(status: 1, stdout: nil, stderr: "iscsid: invalid debug level '\(value!)': use 0 to 8\n")
                }
                options.debugLevel = level
            case "u":
                guard let id = Self.id(value!, lookup: { getpwnam($0)?.pointee.pw_uid }) else {
                    return .exit(status: 1, stdout: nil, stderr: "iscsid: unknown user '\(value!)'\n")
                }
                options.uid = id
            case "g":
                guard let id = Self.id(value!, lookup: { getgrnam($0)?.pointee.gr_gid }) else {
                    return .exit(status: 1, stdout: nil, stderr: "iscsid: unknown group '\(value!)'\n")
                }
                options.gid = id
            default: break
            }
        }
        return .run(options)
    }

    private static func id(_ text: String, lookup: (String) -> UInt32?) -> UInt32? {
        if let number = UInt32(text) { return number }
        return lookup(text)
    }

    /// `-c` and `-i` must name the files under the configuration root: the node database lives
    /// there too, so a different file alone would split the configuration.
    func checkPaths(_ paths: ConfigPaths) -> String? {
        func same(_ a: String, _ b: String) -> Bool {
            (a as NSString).standardizingPath == (b as NSString).standardizingPath
        }
        if let configFile, !same(configFile, paths.iscsidConf) {
            return "iscsid: -c \(configFile): the configuration is \(paths.iscsidConf) (set ISCSI_ROOT to use another directory)"
        }
        if let initiatorNameFile, !same(initiatorNameFile, paths.initiatorNameFile) {
            return "iscsid: -i \(initiatorNameFile): the initiator name is read from \(paths.initiatorNameFile) (set ISCSI_ROOT to use another directory)"
        }
        return nil
    }
}
