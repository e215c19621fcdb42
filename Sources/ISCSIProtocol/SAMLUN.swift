/// Conversions between LUN numbers and the 8-byte LUN field of SAM (SAM-5 §4.7),
/// as iSCSI carries it in BHS bytes 8-15. The field is handled as a big-endian UInt64.
public enum SAMLUN {
    /// The largest LUN `encode` accepts (flat space addressing holds 14 bits).
    public static let maxLUN: UInt64 = 0x3fff

    private static let flatAddressing: UInt64 = 0x01
    private static let methodShift = 62
    private static let firstLevelShift = 48

    /// Encodes a LUN as a single-level field: peripheral device addressing for
    /// LUNs below 256 (what Linux and libiscsi expect), flat space up to `maxLUN`.
    public static func encode(_ lun: UInt64) -> UInt64 {
        precondition(lun <= maxLUN, "LUN \(lun) exceeds flat space addressing")
        if lun < 256 {
            return lun << firstLevelShift
        }
        return (flatAddressing << methodShift) | (lun << firstLevelShift)
    }

    /// Decodes a single-level field: peripheral device addressing on bus 0, or
    /// flat space. Returns nil for anything else (another bus, multi-level,
    /// logical unit or extended addressing), which the target answers as an
    /// unsupported LUN.
    public static func decode(_ field: UInt64) -> UInt64? {
        let firstLevel = field >> firstLevelShift
        let lowerLevels = field & ((1 << firstLevelShift) - 1)
        guard lowerLevels == 0 else { return nil }
        switch field >> methodShift {
        case 0 where firstLevel < 256: return firstLevel
        case flatAddressing: return firstLevel & maxLUN
        default: return nil
        }
    }
}
