/// One LU's device as multipath-tools' `multipath -ll` shows a map: `iscsiadm -m multipath`.
public struct MultipathMapView: Sendable, Equatable {
    public struct PathView: Sendable, Equatable {
        /// The session id: software iSCSI gives each session its own SCSI host.
        public var host: Int
        public var lun: UInt64
        public var portal: String
        public var path: PathSelector.Path
    }

    public var wwid: String
    /// The loop device standing in for dm-N.
    public var device: String
    public var vendor: String
    public var product: String
    public var bytes: UInt64
    public var queueIfNoPath: Bool
    public var alua: Bool
    public var policy: PathSelector.Policy
    public var paths: [PathView]

    /// multipath-tools' listing of `maps`, one block each.
    public static func render(_ maps: [MultipathMapView]) -> String {
        var text = ""
        for map in maps {
            text += "\(map.wwid) \(map.device) \(map.vendor),\(map.product)\n"
            text += "size=\(size(map.bytes)) features='\(map.queueIfNoPath ? "1 queue_if_no_path" : "0")' "
            text += "hwhandler='\(map.alua ? "1 alua" : "0")' wp=rw\n"
            // group_by_prio: one group per priority, best first; without ALUA one group (prio const, 1).
            let prio = { (p: PathView) in map.alua ? p.path.state.priority : 1 }
            let groups = Dictionary(grouping: map.paths, by: prio).sorted { $0.key > $1.key }
            let active = groups.first { $0.value.contains { $0.path.usable } }?.key
            for (g, group) in groups.enumerated() {
                let lastGroup = g == groups.count - 1
                let status = group.key == active ? "active" : (group.value.contains { $0.path.usable } ? "enabled" : "disabled")
                text += "\(lastGroup ? "`" : "|")-+- policy='\(map.policy.rawValue) 0' prio=\(group.key) status=\(status)\n"
                let paths = group.value.sorted { ($0.host, $0.lun) < ($1.host, $1.lun) }
                for (i, p) in paths.enumerated() {
                    text += lastGroup ? "  " : "| "
                    text += i == paths.count - 1 ? "`- " : "|- "
                    text += "\(p.host):0:0:\(p.lun) session\(p.host) \(p.portal) \(p.path.checkerState)\n"
                }
            }
        }
        return text
    }

    /// multipath's size: one decimal below 10 of a unit, none above.
    static func size(_ bytes: UInt64) -> String {
        var value = Double(bytes)
        var unit = 0
        let units: [Character] = ["K", "M", "G", "T", "P", "E"]
        value /= 1024
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let number = value < 10 ? String(format1(value)) : String(Int(value.rounded()))
        return number + String(units[unit])
    }

    private static func format1(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

extension SessionBlockDevices {
    /// Every device as a multipath map.
    public var multipathMaps: [MultipathMapView] {
        allDevices.map { device in
            let status = device.runner.status
            let paths = status.paths.compactMap { path -> MultipathMapView.PathView? in
                guard let info = device.paths[path.id] else { return nil }
                let address = info.address.contains(":") ? "[\(info.address)]" : info.address
                return MultipathMapView.PathView(host: path.id, lun: info.lun, portal: "\(address):\(info.port)", path: path)
            }
            return MultipathMapView(
                wwid: device.wwid, device: device.name, vendor: device.inquiry.vendor, product: device.inquiry.product,
                bytes: device.backend.byteCount, queueIfNoPath: device.runner.settings.noPathRetry != nil,
                alua: device.runner.alua, policy: status.policy, paths: paths)
        }
    }
}
