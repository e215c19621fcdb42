import ISCSIProtocol
import NIOCore

/// Called on the session's event loop when a command submitted with `ISCSISession.submit` ends.
public typealias SCSICompletionHandler = @Sendable (Result<SCSICommandResponse, ISCSIInitiatorError>) -> Void

/// The outcome of one SCSI command.
public struct SCSICommandResponse: Sendable {
    public static let good: UInt8 = 0x00
    public static let checkCondition: UInt8 = 0x02

    /// SCSI status byte (0 = GOOD, 2 = CHECK CONDITION, 8 = BUSY, 0x18 = RESERVATION CONFLICT...).
    public var status: UInt8
    /// Raw sense bytes when the target sent any.
    public var senseBytes: [UInt8]
    /// Data-In, exactly as many bytes as the target sent (never more than expected).
    public var data: ByteBuffer
    public var residualOverflow: Bool
    public var residualUnderflow: Bool
    public var residualCount: UInt32

    public init(
        status: UInt8, senseBytes: [UInt8] = [], data: ByteBuffer = ByteBuffer(), residualOverflow: Bool = false,
        residualUnderflow: Bool = false, residualCount: UInt32 = 0
    ) {
        self.status = status
        self.senseBytes = senseBytes
        self.data = data
        self.residualOverflow = residualOverflow
        self.residualUnderflow = residualUnderflow
        self.residualCount = residualCount
    }

    public var sense: SenseInfo? { SenseInfo(bytes: senseBytes) }
    public var isGood: Bool { status == Self.good }

    /// Throws `.scsiError` unless the status is GOOD.
    @discardableResult
    public func checked() throws -> SCSICommandResponse {
        guard isGood else { throw ISCSIInitiatorError.scsiError(status: status, sense: sense) }
        return self
    }
}
