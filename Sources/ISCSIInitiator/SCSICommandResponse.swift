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
    /// Data-In, exactly as many bytes as the target sent (never more than expected), in one
    /// buffer. Data that arrived in several pieces is joined (copied) on each access; use
    /// `dataSegments` to take them as they are.
    public var data: ByteBuffer {
        get { rest.isEmpty ? first : Self.join(first, rest) }
        set {
            first = newValue
            rest = []
        }
    }
    /// The Data-In bytes in the pieces they arrived in (usually one), as slices of the receive
    /// buffers: no copy.
    public var dataSegments: [ByteBuffer] { [first] + rest }
    /// How many Data-In bytes there are (no join).
    public var dataLength: Int { rest.reduce(first.readableBytes) { $0 + $1.readableBytes } }
    /// The first piece of data and any further ones (no array allocated for the usual one).
    var first: ByteBuffer
    var rest: [ByteBuffer]
    public var residualOverflow: Bool
    public var residualUnderflow: Bool
    public var residualCount: UInt32

    public init(
        status: UInt8, senseBytes: [UInt8] = [], data: ByteBuffer = ByteBuffer(), residualOverflow: Bool = false,
        residualUnderflow: Bool = false, residualCount: UInt32 = 0
    ) {
        self.status = status
        self.senseBytes = senseBytes
        self.first = data
        self.rest = []
        self.residualOverflow = residualOverflow
        self.residualUnderflow = residualUnderflow
        self.residualCount = residualCount
    }

    init(
        status: UInt8, first: ByteBuffer, rest: [ByteBuffer], residualOverflow: Bool, residualUnderflow: Bool,
        residualCount: UInt32
    ) {
        self.init(
            status: status, data: first, residualOverflow: residualOverflow, residualUnderflow: residualUnderflow,
            residualCount: residualCount)
        self.rest = rest
    }

    private static func join(_ first: ByteBuffer, _ rest: [ByteBuffer]) -> ByteBuffer {
        var joined = ByteBufferAllocator().buffer(capacity: rest.reduce(first.readableBytes) { $0 + $1.readableBytes })
        joined.writeImmutableBuffer(first)
        for piece in rest { joined.writeImmutableBuffer(piece) }
        return joined
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
