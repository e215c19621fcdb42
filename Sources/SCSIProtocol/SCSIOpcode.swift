/// SCSI operation codes this project speaks (SPC-4, SBC-3), plus service actions.
public enum SCSIOpcode {
    public static let testUnitReady: UInt8 = 0x00
    public static let requestSense: UInt8 = 0x03
    public static let read6: UInt8 = 0x08
    public static let write6: UInt8 = 0x0A
    public static let inquiry: UInt8 = 0x12
    public static let modeSelect6: UInt8 = 0x15
    public static let reserve6: UInt8 = 0x16
    public static let release6: UInt8 = 0x17
    public static let modeSense6: UInt8 = 0x1A
    public static let startStopUnit: UInt8 = 0x1B
    public static let preventAllowMediumRemoval: UInt8 = 0x1E
    public static let readCapacity10: UInt8 = 0x25
    public static let read10: UInt8 = 0x28
    public static let write10: UInt8 = 0x2A
    public static let writeAndVerify10: UInt8 = 0x2E
    public static let verify10: UInt8 = 0x2F
    public static let preFetch10: UInt8 = 0x34
    public static let synchronizeCache10: UInt8 = 0x35
    public static let writeSame10: UInt8 = 0x41
    public static let unmap: UInt8 = 0x42
    public static let modeSelect10: UInt8 = 0x55
    public static let reserve10: UInt8 = 0x56
    public static let release10: UInt8 = 0x57
    public static let modeSense10: UInt8 = 0x5A
    public static let persistentReserveIn: UInt8 = 0x5E
    public static let persistentReserveOut: UInt8 = 0x5F
    public static let read16: UInt8 = 0x88
    public static let compareAndWrite: UInt8 = 0x89
    public static let write16: UInt8 = 0x8A
    public static let writeAndVerify16: UInt8 = 0x8E
    public static let verify16: UInt8 = 0x8F
    public static let preFetch16: UInt8 = 0x90
    public static let synchronizeCache16: UInt8 = 0x91
    public static let writeSame16: UInt8 = 0x93
    public static let serviceActionIn16: UInt8 = 0x9E
    public static let reportLUNs: UInt8 = 0xA0
    public static let maintenanceIn: UInt8 = 0xA3
    public static let maintenanceOut: UInt8 = 0xA4
    public static let read12: UInt8 = 0xA8
    public static let write12: UInt8 = 0xAA
    public static let writeAndVerify12: UInt8 = 0xAE
    public static let verify12: UInt8 = 0xAF

    /// CDB length implied by the operation code's group (SPC-4 4.2.5.1), or nil for the
    /// reserved and vendor-specific groups (and variable-length 0x7F).
    public static func cdbLength(_ opcode: UInt8) -> Int? {
        switch opcode >> 5 {
        case 0: return 6
        case 1, 2: return 10
        case 4: return 16
        case 5: return 12
        default: return nil
        }
    }
}

/// Service action codes, in the low five bits of CDB byte 1.
public enum SCSIServiceAction {
    /// SERVICE ACTION IN(16) / READ CAPACITY(16).
    public static let readCapacity16: UInt16 = 0x10
    /// SERVICE ACTION IN(16) / GET LBA STATUS.
    public static let getLBAStatus: UInt16 = 0x12
    /// MAINTENANCE IN / REPORT SUPPORTED OPERATION CODES.
    public static let reportSupportedOperationCodes: UInt16 = 0x0C
    /// MAINTENANCE IN / REPORT TARGET PORT GROUPS.
    public static let reportTargetPortGroups: UInt16 = 0x0A
    /// MAINTENANCE OUT / SET TARGET PORT GROUPS.
    public static let setTargetPortGroups: UInt16 = 0x0A
}
