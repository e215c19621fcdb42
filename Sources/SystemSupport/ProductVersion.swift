/// swift-iscsi's version: the one place every executable's `--version` reads it from.
public enum ProductVersion {
    /// The release number, changed by hand when a release is made.
    public static let number = "0.1.0"

    /// The line `tool --version` prints: open-iscsi's and targetcli's "NAME version X" form, with
    /// the product named, so that beside Debian's tgt or open-iscsi it is plain which one ran.
    public static func line(_ tool: String) -> String { "\(tool) version \(number) (swift-iscsi)" }
}
