#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension DaemonConfiguration {
    /// The configuration as pretty-printed JSON (what `--mode configuration --op show` answers).
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public init(jsonText: String) throws {
        self = try JSONDecoder().decode(DaemonConfiguration.self, from: Data(jsonText.utf8))
    }

    /// Whether a storage object was made by name (LIO's backstores, targetcli) rather than
    /// generated for a tgtadm LUN, which records its tgt backing-store type.
    public static func isNamed(_ object: StorageObjectConfiguration) -> Bool { object.bsType == nil }
}

extension StorageObjectConfiguration {
    /// The request that creates this named object.
    public var creationRequest: AdminRequest {
        AdminRequest(
            mode: .storageObject, op: .new, backingStore: path, bsType: kind.rawValue,
            params: readOnly ? "readonly=1" : nil, storageObject: name, size: size)
    }
}
