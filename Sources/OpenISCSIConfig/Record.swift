import Foundation

/// One open-iscsi record (node, iface or discovery): an ordered set of `key = value` settings over
/// a fixed schema. Empty values are printed as `<empty>` and omitted from the file, as open-iscsi does.
public struct Record: Equatable, Sendable, Codable {
    public enum Kind: String, Sendable, Codable {
        case node, iface, sendTargets

        var schema: [(key: String, value: String)] {
            switch self {
            case .node: return RecordSchema.node
            case .iface: return RecordSchema.iface
            case .sendTargets: return RecordSchema.sendTargets
            }
        }

        var extensions: [(key: String, value: String)] { self == .node ? RecordSchema.nodeExtensions : [] }
    }

    public let kind: Kind
    public private(set) var values: [String: String]

    /// A record holding the schema's defaults.
    public init(kind: Kind) {
        self.kind = kind
        var values: [String: String] = [:]
        for entry in kind.schema + kind.extensions { values[entry.key] = entry.value }
        self.values = values
    }

    /// open-iscsi's keys, then those of ours whose value is not the default (see
    /// `RecordSchema.nodeExtensions`).
    public var keys: [String] {
        kind.schema.map(\.key) + kind.extensions.filter { values[$0.key] != $0.value }.map(\.key)
    }

    public func isKnown(_ key: String) -> Bool { values[key] != nil }

    public subscript(key: String) -> String? {
        values[key].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Sets a known key (an empty value clears it); false for a key outside the schema.
    @discardableResult
    public mutating func set(_ key: String, _ value: String) -> Bool {
        guard values[key] != nil else { return false }
        values[key] = value == "<empty>" ? "" : value
        return true
    }

    /// The record file: `# BEGIN RECORD`, the non-empty settings, `# END RECORD`.
    public func fileText() -> String {
        var text = "# BEGIN RECORD \(RecordSchema.version)\n"
        for key in keys {
            if let value = values[key], !value.isEmpty { text += "\(key) = \(value)\n" }
        }
        return text + "# END RECORD\n"
    }

    /// What `-o show` prints: every key, `<empty>` for unset ones and passwords masked unless
    /// `showPasswords`.
    public func showText(showPasswords: Bool = false) -> String {
        var text = "# BEGIN RECORD \(RecordSchema.version)\n"
        for key in keys {
            let value = values[key] ?? ""
            var shown = value.isEmpty ? "<empty>" : value
            if !showPasswords && !value.isEmpty && Record.isPassword(key) { shown = "********" }
            text += "\(key) = \(shown)\n"
        }
        return text + "# END RECORD\n"
    }

    static func isPassword(_ key: String) -> Bool {
        key.hasSuffix(".password") || key.hasSuffix(".password_in")
    }

    /// Parses a record file or `-o show` text; unknown keys and comments are skipped.
    public static func parse(_ text: String, kind: Kind) -> Record {
        var record = Record(kind: kind)
        for (key, value) in KeyValueText.parse(text) { record.set(key, value) }
        return record
    }
}

/// `key = value` lines, as in record files and iscsid.conf; `#` starts a comment line.
public enum KeyValueText {
    public static func parse(_ text: String) -> [(String, String)] {
        var result: [(String, String)] = []
        // "\r\n" is one Character in Swift, equal to neither "\n" nor "\r".
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { continue }
            result.append((key, value))
        }
        return result
    }
}
