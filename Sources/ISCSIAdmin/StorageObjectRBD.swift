/// How an RBD storage object is written by each tool: tgt-rbd's `--backing-store` + `--bsopts`,
/// and TCMU's config string (`user:rbd` in targetcli, ceph-iscsi's saveconfig), which is the same
/// two joined by ";" behind the handler's "rbd/" prefix. The daemon checks the values.
extension StorageObjectConfiguration {
    static let tcmuRBDPrefix = "rbd/"

    /// targetcli's `cfgstring`: "pool/image[;conf=...;id=...]".
    public var rbdConfigString: String {
        [path ?? "", bsOptions].compactMap { $0 }.joined(separator: ";")
    }

    /// LIO's `config` of a user-backed object: "rbd/" + the config string.
    public var tcmuConfig: String { Self.tcmuRBDPrefix + rbdConfigString }

    /// Splits a config string into the backing store and its options.
    public static func rbdLocation(configString: String) -> (path: String, options: String?) {
        let parts = configString.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        return (parts[0], parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil)
    }

    /// The config string of LIO's `config` ("rbd/pool/image;..."), nil for another handler.
    public static func rbdConfigString(tcmuConfig: String) -> String? {
        guard tcmuConfig.hasPrefix(tcmuRBDPrefix) else { return nil }
        return String(tcmuConfig.dropFirst(tcmuRBDPrefix.count))
    }
}
