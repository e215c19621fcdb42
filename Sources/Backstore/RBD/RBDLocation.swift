#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an RBD image lives and how to reach its cluster: tgt-rbd's `--backing-store` and
/// `--bsopts`, as one value the configuration saves and every admin tool edits.
///
/// The backing store is `[pool/[namespace/]]image` (pool "rbd" when absent, as in tgt-rbd); the
/// options are `key=value` pairs separated by `;`: `conf` (the ceph.conf, default
/// /etc/ceph/ceph.conf), `id` (the cephx user without "client."), `cluster` (the cluster name),
/// `keyring`, `timeout` (seconds for connecting and for monitor operations, default 10) and
/// `osd_op_timeout` (seconds an IO may wait for the OSDs before it fails, as TCMU's rbd handler;
/// unset, IO waits for the cluster to come back), and
/// `cache` (0 or 1: librbd's cache, `rbd_cache`; the conf's setting when absent). Several gateways
/// on one image want `cache=0`: each librbd cache is its own, so with it a write acknowledged by
/// one gateway reaches the others only after a flush.
public struct RBDLocation: Sendable, Equatable {
    public static let defaultConf = "/etc/ceph/ceph.conf"
    public static let defaultPool = "rbd"
    public static let defaultTimeout = 10

    public var pool: String
    public var namespace: String?
    public var image: String
    public var conf: String = RBDLocation.defaultConf
    public var clientID: String?
    public var clusterName: String?
    public var keyring: String?
    public var timeout: Int = RBDLocation.defaultTimeout
    /// librbd's cache on (true) or off (false); nil leaves the conf's `rbd cache`.
    public var cache: Bool?
    /// `rados_osd_op_timeout`: an IO the OSDs do not answer within this fails (ETIMEDOUT).
    public var osdOpTimeout: Int?

    public init(pool: String, namespace: String? = nil, image: String) {
        self.pool = pool
        self.namespace = namespace
        self.image = image
    }

    /// Parses tgt-rbd's backing store and bsopts; one line naming the fault otherwise.
    public init(backingStore: String, options: String?) throws {
        let parts = backingStore.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw Self.invalid("RBD backing store \(backingStore) is not [pool/[namespace/]]image")
        }
        guard !backingStore.contains("@") else {
            throw Self.invalid("RBD backing store \(backingStore): snapshots are not served")
        }
        self.init(
            pool: parts.count > 1 ? parts[0] : Self.defaultPool, namespace: parts.count == 3 ? parts[1] : nil,
            image: parts[parts.count - 1])
        for pair in (options ?? "").split(separator: ";", omittingEmptySubsequences: true) {
            let keyValue = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard keyValue.count == 2, !keyValue[1].isEmpty else {
                throw Self.invalid("RBD option \(pair) is not key=value")
            }
            switch keyValue[0] {
            case "conf": conf = keyValue[1]
            case "id": clientID = keyValue[1]
            case "cluster": clusterName = keyValue[1]
            case "keyring": keyring = keyValue[1]
            case "timeout":
                guard let seconds = Int(keyValue[1]), (1...3600).contains(seconds) else {
                    throw Self.invalid("RBD option timeout=\(keyValue[1]) is not 1 to 3600 seconds")
                }
                timeout = seconds
            case "osd_op_timeout":
                guard let seconds = Int(keyValue[1]), (1...3600).contains(seconds) else {
                    throw Self.invalid("RBD option osd_op_timeout=\(keyValue[1]) is not 1 to 3600 seconds")
                }
                osdOpTimeout = seconds
            case "cache":
                guard ["0", "1"].contains(keyValue[1]) else { throw Self.invalid("RBD option cache=\(keyValue[1]) is not 0 or 1") }
                cache = keyValue[1] == "1"
            default:
                throw Self.invalid(
                    "unknown RBD option \(keyValue[0]) (conf, id, cluster, keyring, timeout, osd_op_timeout, cache)")
            }
        }
    }

    /// `pool[/namespace]/image`, as tgtadm shows the backing store.
    public var path: String { [pool, namespace, image].compactMap { $0 }.joined(separator: "/") }

    /// The options in tgt-rbd's syntax, only those that differ from the defaults; nil when none do.
    public var options: String? {
        var pairs: [String] = []
        if conf != Self.defaultConf { pairs.append("conf=\(conf)") }
        if let clientID { pairs.append("id=\(clientID)") }
        if let clusterName { pairs.append("cluster=\(clusterName)") }
        if let keyring { pairs.append("keyring=\(keyring)") }
        if timeout != Self.defaultTimeout { pairs.append("timeout=\(timeout)") }
        if let osdOpTimeout { pairs.append("osd_op_timeout=\(osdOpTimeout)") }
        if let cache { pairs.append("cache=\(cache ? 1 : 0)") }
        return pairs.isEmpty ? nil : pairs.joined(separator: ";")
    }

    private static func invalid(_ message: String) -> BackstoreError {
        BackstoreError(.invalidArgument, errno: EINVAL, message)
    }
}
