#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the control socket lives, and how large its messages may be (SystemSupport's
/// `UnixSocket` carries them).
///
/// Wire format: each message is a 4-byte big-endian length followed by that many bytes of JSON
/// (an `AdminRequest` from tgtadm, one `AdminResponse` back), one exchange per connection.
public enum ControlSocket {
    /// Default directory for the sockets; distinct from Debian tgt's /var/run/tgtd so both daemons
    /// can run side by side.
    public static let standardRunDirectory = "/run/swift-tgtd"

    /// `TGTD_RUN_DIR` from the environment when set (tests, non-root runs), else the standard one.
    public static var defaultRunDirectory: String {
        if let value = getenv("TGTD_RUN_DIR"), value.pointee != 0 { return String(cString: value) }
        return standardRunDirectory
    }

    public static func path(runDirectory: String = defaultRunDirectory, controlPort: Int) -> String {
        "\(runDirectory)/socket.\(controlPort)"
    }

    /// Largest request the daemon accepts, and largest response the client accepts.
    static let maximumRequestSize = 1 << 20
    static let maximumResponseSize = 64 << 20
}
