/// The six-bit opcode in byte 0 of every Basic Header Segment (RFC 7143 §11.1.1.2).
public enum ISCSIOpcode: UInt8, Sendable, CaseIterable {
    // Initiator opcodes.
    case nopOut = 0x00
    case scsiCommand = 0x01
    case taskManagementRequest = 0x02
    case loginRequest = 0x03
    case textRequest = 0x04
    case dataOut = 0x05
    case logoutRequest = 0x06
    case snackRequest = 0x10
    // Target opcodes.
    case nopIn = 0x20
    case scsiResponse = 0x21
    case taskManagementResponse = 0x22
    case loginResponse = 0x23
    case textResponse = 0x24
    case dataIn = 0x25
    case logoutResponse = 0x26
    case r2t = 0x31
    case asyncMessage = 0x32
    case reject = 0x3f

    /// True for opcodes sent by an initiator (0x00-0x1f).
    public var isInitiatorOpcode: Bool { rawValue < 0x20 }
}
