import Foundation

/// `initiatorname.iscsi`: `InitiatorName=...`, created on first use with a name in the format of
/// open-iscsi's `iscsi-iname` (`iqn.2016-04.com.open-iscsi:` and 12 hex digits).
public enum InitiatorName {
    public static let prefix = "iqn.2016-04.com.open-iscsi"

    public static func generate() -> String {
        let hex = (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        return "\(prefix):\(hex)"
    }

    public static func parse(_ text: String) -> String? {
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            if trimmed[..<equals].trimmingCharacters(in: .whitespaces) == "InitiatorName" {
                let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                if !value.isEmpty { return value }
            }
        }
        return nil
    }

    public static func fileText(_ name: String) -> String {
        """
        ## DO NOT EDIT OR REMOVE THIS FILE!
        ## If you remove this file, the iSCSI daemon will not start.
        ## If you change the InitiatorName, existing access control lists
        ## may reject this initiator.  The InitiatorName must be unique
        ## for each iSCSI initiator.  Do NOT duplicate iSCSI InitiatorNames.
        InitiatorName=\(name)

        """
    }

    /// The configured name, generating and saving one when the file is missing or has none.
    public static func loadOrCreate(_ paths: ConfigPaths) throws -> String {
        if let text = AtomicFile.read(paths.initiatorNameFile), let name = parse(text) { return name }
        let name = generate()
        try AtomicFile.write(fileText(name), to: paths.initiatorNameFile)
        return name
    }
}

/// iscsid.conf: `key = value` settings that supply defaults for new node and discovery records.
public struct IscsidConf: Sendable, Equatable {
    public var settings: [(key: String, value: String)]

    public init(settings: [(key: String, value: String)] = []) { self.settings = settings }

    public init(text: String) {
        settings = KeyValueText.parse(text).map { (key: $0.0, value: $0.1) }
    }

    public static func load(_ paths: ConfigPaths) -> IscsidConf {
        AtomicFile.read(paths.iscsidConf).map(IscsidConf.init(text:)) ?? IscsidConf()
    }

    public func value(_ key: String) -> String? { settings.last(where: { $0.key == key })?.value }

    /// Applies every setting the record's schema knows (later lines win).
    public func apply(to record: inout Record) {
        for (key, value) in settings where record.isKnown(key) { record.set(key, value) }
    }

    public static func == (lhs: IscsidConf, rhs: IscsidConf) -> Bool {
        lhs.settings.map(\.key) == rhs.settings.map(\.key) && lhs.settings.map(\.value) == rhs.settings.map(\.value)
    }
}
