import NIOCore

/// Any iSCSI PDU, typed.
public enum ISCSIPDU: Hashable, Sendable {
    case nopOut(NOPOut)
    case scsiCommand(SCSICommand)
    case taskManagementRequest(TaskManagementRequest)
    case loginRequest(LoginRequest)
    case textRequest(TextRequest)
    case dataOut(DataOut)
    case logoutRequest(LogoutRequest)
    case snackRequest(SNACKRequest)
    case nopIn(NOPIn)
    case scsiResponse(SCSIResponse)
    case taskManagementResponse(TaskManagementResponse)
    case loginResponse(LoginResponse)
    case textResponse(TextResponse)
    case dataIn(DataIn)
    case logoutResponse(LogoutResponse)
    case r2t(R2T)
    case asyncMessage(AsyncMessage)
    case reject(Reject)

    /// Decodes a frame from `PDUFrameDecoder`. The result's buffers are slices of the frame's.
    public init(frame: PDUFrame) throws {
        guard frame.bhs.readableBytes == BHS.length else {
            throw PDUDecodeError.invalidBHSLength(frame.bhs.readableBytes)
        }
        let bhs = BHSReader(frame.bhs)
        let rawOpcode = bhs.uint8(BHS.opcodeByte) & BHS.opcodeMask
        guard let opcode = ISCSIOpcode(rawValue: rawOpcode) else {
            throw PDUDecodeError.unknownOpcode(rawOpcode, bhs: frame.bhs)
        }
        switch opcode {
        case .nopOut: self = .nopOut(NOPOut(bhs: bhs, frame: frame))
        case .scsiCommand: self = .scsiCommand(try SCSICommand(bhs: bhs, frame: frame))
        case .taskManagementRequest: self = .taskManagementRequest(TaskManagementRequest(bhs: bhs, frame: frame))
        case .loginRequest: self = .loginRequest(LoginRequest(bhs: bhs, frame: frame))
        case .textRequest: self = .textRequest(TextRequest(bhs: bhs, frame: frame))
        case .dataOut: self = .dataOut(DataOut(bhs: bhs, frame: frame))
        case .logoutRequest: self = .logoutRequest(LogoutRequest(bhs: bhs, frame: frame))
        case .snackRequest: self = .snackRequest(SNACKRequest(bhs: bhs, frame: frame))
        case .nopIn: self = .nopIn(NOPIn(bhs: bhs, frame: frame))
        case .scsiResponse: self = .scsiResponse(SCSIResponse(bhs: bhs, frame: frame))
        case .taskManagementResponse:
            self = .taskManagementResponse(TaskManagementResponse(bhs: bhs, frame: frame))
        case .loginResponse: self = .loginResponse(LoginResponse(bhs: bhs, frame: frame))
        case .textResponse: self = .textResponse(TextResponse(bhs: bhs, frame: frame))
        case .dataIn: self = .dataIn(DataIn(bhs: bhs, frame: frame))
        case .logoutResponse: self = .logoutResponse(LogoutResponse(bhs: bhs, frame: frame))
        case .r2t: self = .r2t(R2T(bhs: bhs, frame: frame))
        case .asyncMessage: self = .asyncMessage(AsyncMessage(bhs: bhs, frame: frame))
        case .reject: self = .reject(Reject(bhs: bhs, frame: frame))
        }
    }

    public var opcode: ISCSIOpcode {
        switch self {
        case .nopOut: return .nopOut
        case .scsiCommand: return .scsiCommand
        case .taskManagementRequest: return .taskManagementRequest
        case .loginRequest: return .loginRequest
        case .textRequest: return .textRequest
        case .dataOut: return .dataOut
        case .logoutRequest: return .logoutRequest
        case .snackRequest: return .snackRequest
        case .nopIn: return .nopIn
        case .scsiResponse: return .scsiResponse
        case .taskManagementResponse: return .taskManagementResponse
        case .loginResponse: return .loginResponse
        case .textResponse: return .textResponse
        case .dataIn: return .dataIn
        case .logoutResponse: return .logoutResponse
        case .r2t: return .r2t
        case .asyncMessage: return .asyncMessage
        case .reject: return .reject
        }
    }

    /// The Initiator Task Tag (`ISCSITag.reserved` for Reject and Async Message).
    public var initiatorTaskTag: UInt32 {
        switch self {
        case .nopOut(let pdu): return pdu.initiatorTaskTag
        case .scsiCommand(let pdu): return pdu.initiatorTaskTag
        case .taskManagementRequest(let pdu): return pdu.initiatorTaskTag
        case .loginRequest(let pdu): return pdu.initiatorTaskTag
        case .textRequest(let pdu): return pdu.initiatorTaskTag
        case .dataOut(let pdu): return pdu.initiatorTaskTag
        case .logoutRequest(let pdu): return pdu.initiatorTaskTag
        case .snackRequest(let pdu): return pdu.initiatorTaskTag
        case .nopIn(let pdu): return pdu.initiatorTaskTag
        case .scsiResponse(let pdu): return pdu.initiatorTaskTag
        case .taskManagementResponse(let pdu): return pdu.initiatorTaskTag
        case .loginResponse(let pdu): return pdu.initiatorTaskTag
        case .textResponse(let pdu): return pdu.initiatorTaskTag
        case .dataIn(let pdu): return pdu.initiatorTaskTag
        case .logoutResponse(let pdu): return pdu.initiatorTaskTag
        case .r2t(let pdu): return pdu.initiatorTaskTag
        case .asyncMessage, .reject: return ISCSITag.reserved
        }
    }
}
