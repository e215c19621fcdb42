/// The 8-byte SAM LUN field (SAM-5 4.7) for the single-level formats this project uses.
public enum SAMLUN {
    /// Largest LUN expressible with flat space addressing.
    public static let maximum: UInt64 = 0x3FFF

    /// Peripheral device addressing for LUN < 256, flat space addressing for 256...16383;
    /// nil when the LUN needs a larger format.
    public static func encode(_ lun: UInt64) -> UInt64? {
        if lun < 256 { return lun << 48 }
        if lun <= maximum { return (0x4000 | lun) << 48 }
        return nil
    }

    /// The LUN of a single-level peripheral or flat space address; nil for other formats.
    public static func decode(_ field: UInt64) -> UInt64? {
        guard field & 0x0000_FFFF_FFFF_FFFF == 0 else { return nil }
        let first = field >> 48
        switch first >> 14 {
        case 0b00 where first >> 8 == 0: return first & 0xFF
        case 0b01: return first & 0x3FFF
        default: return nil
        }
    }
}
