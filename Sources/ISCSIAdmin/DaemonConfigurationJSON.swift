import SCSIProtocol

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

    /// The LUNs that map a storage object, in target order.
    public func mappings(of objectName: String) -> [(tid: Int, lun: LUNConfiguration)] {
        targets.flatMap { target in target.luns.filter { $0.storageObject == objectName }.map { (target.tid, $0) } }
    }
}

extension DaemonConfiguration {
    /// Whether a storage object's writes are acknowledged before they are stable, as the unit
    /// that maps it presents it: a `mode_page` parameter setting the caching page's WCE bit
    /// (tgt-admin's write-cache) wins over the object's own setting.
    public func writeBack(of object: StorageObjectConfiguration) -> Bool {
        mappings(of: object.name).first?.lun.writeCacheParameter ?? object.writeBack
    }
}

extension LUNConfiguration {
    /// The WCE bit the unit's last caching-page `mode_page` parameter sets, if any.
    public var writeCacheParameter: Bool? {
        var enabled: Bool?
        for text in parameters {
            for pair in text.split(separator: ",") where pair.hasPrefix("mode_page=") {
                if let wce = ModePageParameter.writeCacheEnabled(String(pair.dropFirst("mode_page=".count))) { enabled = wce }
            }
        }
        return enabled
    }

    /// The unit's tgt parameters as they stand after every update (a later value wins).
    public var parameterValues: [String: String] {
        var values: [String: String] = [:]
        for text in parameters {
            for pair in text.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { values[parts[0].trimmingWhitespace] = parts[1] }
            }
        }
        return values
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

extension StorageObjectConfiguration {
    /// The request that creates this named object.
    public var creationRequest: AdminRequest {
        AdminRequest(
            mode: .storageObject, op: .new, backingStore: path, bsType: kind.rawValue, bsOpts: bsOptions,
            params: creationParameters.isEmpty ? nil : creationParameters, storageObject: name, size: size)
    }

    /// LIO's creation settings as `--params` of a storageobject request: readonly, write_back, wwn.
    public var creationParameters: String {
        var parts: [String] = []
        if readOnly { parts.append("readonly=1") }
        if let writeCache { parts.append("write_back=\(writeCache ? 1 : 0)") }
        if let serial { parts.append("wwn=\(serial)") }
        if thinProvisioning == true { parts.append("emulate_tpu=1") }
        return parts.joined(separator: ",")
    }

    /// Whether writes are acknowledged before they are stable, as LIO's `write_back` and
    /// targetcli's write-back/write-thru say: set explicitly, or tgt's `bsoflags sync` turns it off.
    public var writeBack: Bool {
        writeCache ?? !(openFlags?.split(separator: ":").contains("sync") ?? false)
    }
}
