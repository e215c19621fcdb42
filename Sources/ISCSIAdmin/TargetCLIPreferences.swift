#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// targetcli's `global` preferences (`get global`, `set global key=value`), kept per user in
/// `~/.targetcli/prefs.swift-iscsi.json` (LIO's own prefs.bin is a Python pickle, left alone).
/// Only preferences this targetcli honours are listed; the fixed ones say how it behaves.
public struct TargetCLIPreferences: Codable, Equatable, Sendable {
    /// Save the configuration to the default save file when an interactive session (or a
    /// session fed on stdin) ends, as root: LIO's default.
    public var autoSaveOnExit = true

    public init() {}

    /// Preferences whose value this target fixes: LUNs are mapped to every ACL, portals are the
    /// daemon's, a TPG is always enabled, the model name is tgt's VIRTUAL-DISK.
    static let fixed: [(String, String)] = [
        ("auto_add_default_portal", "true"), ("auto_add_mapped_luns", "true"), ("auto_enable_tpgt", "true"),
        ("export_backstore_name_as_model", "false"),
    ]

    /// `get global`: every preference with its value.
    public var values: [(String, String)] {
        ([("auto_save_on_exit", autoSaveOnExit ? "true" : "false")] + Self.fixed).sorted { $0.0 < $1.0 }
    }

    /// `set global key=value`.
    public mutating func set(_ key: String, _ value: String) throws {
        if let fixed = Self.fixed.first(where: { $0.0 == key }) {
            guard TargetCLIShell.flag(value) == TargetCLIShell.flag(fixed.1) else {
                throw TargetCLIError("\(key) is always \(fixed.1) here")
            }
            return
        }
        guard key == "auto_save_on_exit" else { throw TargetCLIError("Unknown global parameter: \(key)") }
        guard let flag = TargetCLIShell.flag(value) else { throw TargetCLIError("Invalid value for \(key): \(value) (true or false)") }
        autoSaveOnExit = flag
    }

    /// The file of the user running targetcli.
    public static var defaultPath: String? {
        guard let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty else { return nil }
        return home + "/.targetcli/prefs.swift-iscsi.json"
    }

    /// The saved preferences, or the defaults when there are none (or they cannot be read).
    public static func load(from path: String?) -> TargetCLIPreferences {
        guard let path, let text = try? TargetCLIShell.readFile(path),
            let preferences = try? JSONDecoder().decode(TargetCLIPreferences.self, from: Data(text.utf8))
        else { return TargetCLIPreferences() }
        return preferences
    }

    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try TargetCLIShell.writeFile(path, String(decoding: try encoder.encode(self), as: UTF8.self) + "\n")
    }
}
