/// swift-iscsi's version: the one place every executable's `--version` reads it from.
public enum ProductVersion {
    /// The release number, changed by hand when a release is made.
    public static let number = "0.1.0"
    /// The versions of the tools whose interfaces ours reproduce (scripts read these numbers).
    public static let openISCSI = "2.1.8"
    public static let tgt = "1.0.85"

    /// The line `tool --version` prints, open-iscsi's and targetcli's "NAME version X" form with
    /// the product named, so that beside Debian's tgt or open-iscsi it is plain which one ran. A
    /// tool that reproduces another's interface gives that one's version as X, which is what
    /// scripts parse (the third word), and ours after it.
    public static func line(_ tool: String, reproducing version: String? = nil) -> String {
        guard let version else { return "\(tool) version \(number) (swift-iscsi)" }
        return "\(tool) version \(version) (swift-iscsi \(number))"
    }
}
