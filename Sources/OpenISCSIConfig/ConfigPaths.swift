import Foundation

/// open-iscsi's configuration root: `/etc/iscsi` unless `ISCSI_ROOT` names another directory.
public struct ConfigPaths: Sendable, Equatable {
    public static let standardRoot = "/etc/iscsi"

    public var root: String

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// From the environment (`ISCSI_ROOT`), else `/etc/iscsi`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> ConfigPaths
    {
        if let root = environment["ISCSI_ROOT"], !root.isEmpty { return ConfigPaths(root: root) }
        return ConfigPaths(root: standardRoot)
    }

    public var initiatorNameFile: String { root + "/initiatorname.iscsi" }
    public var iscsidConf: String { root + "/iscsid.conf" }
    public var nodesDirectory: String { root + "/nodes" }
    public var sendTargetsDirectory: String { root + "/send_targets" }
    public var ifacesDirectory: String { root + "/ifaces" }

    public func sendTargetsRecord(_ portal: Portal) -> String {
        "\(sendTargetsDirectory)/\(portal.commaForm)/st_config"
    }

    /// `nodes/<iqn>/<ip>,<port>,<tpgt>/<iface>`; records without a tpgt (`-o new` with no
    /// `,TPGT`) are the plain file `nodes/<iqn>/<ip>,<port>`, as open-iscsi writes them.
    public func nodeRecord(target: String, portal: Portal, iface: String) -> String {
        if portal.tpgt < 0 { return "\(nodesDirectory)/\(target)/\(portal.commaForm)" }
        return "\(nodesDirectory)/\(target)/\(portal.commaForm),\(portal.tpgt)/\(iface)"
    }

    public func ifaceRecord(_ name: String) -> String { "\(ifacesDirectory)/\(name)" }
}
