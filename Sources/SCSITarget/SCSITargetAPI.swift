import Backstore
import NIOCore

// The surface the iSCSI engine uses. Implementation lives in the other files of this module.

/// One I_T nexus (an iSCSI session): unit attentions and reservations are tracked per nexus.
public struct SCSINexus: Hashable, Sendable, CustomStringConvertible {
    /// Unique for the life of the process; never reused.
    public var id: UInt64
    /// The initiator port name, e.g. "iqn.1994-05.com.redhat:x,i,0x00023d000001".
    public var initiatorPortName: String
    /// The target port (iSCSI target portal group) the session came through: ALUA states and
    /// persistent reservations are per I_T nexus, initiator port and target port together.
    public var targetPort: TargetPort
    public init(id: UInt64, initiatorPortName: String, targetPort: TargetPort = TargetPort()) {
        self.id = id
        self.initiatorPortName = initiatorPortName
        self.targetPort = targetPort
    }
    public var description: String { "\(initiatorPortName)#\(id)" }
}

/// SAM task attribute from the SCSI Command PDU.
public enum SCSITaskAttribute: UInt8, Sendable {
    case untagged = 0, simple = 1, ordered = 2, headOfQueue = 3, aca = 4
}

/// One SCSI command as delivered by a transport.
public struct SCSICommandRequest: Sendable {
    /// Logical unit number (already decoded from the 8-byte SAM LUN field).
    public var lun: UInt64
    /// The CDB (16 bytes from the BHS, longer with an extended-CDB AHS). Trailing bytes past the
    /// opcode's CDB length are ignored.
    public var cdb: ByteBuffer
    /// All data the initiator sent (nil for commands without Data-Out).
    public var dataOut: ByteBuffer?
    /// ExpectedDataTransferLength from the transport: Data-In is truncated to it.
    public var expectedDataTransferLength: UInt32
    public var attribute: SCSITaskAttribute
    public init(
        lun: UInt64, cdb: ByteBuffer, dataOut: ByteBuffer? = nil, expectedDataTransferLength: UInt32,
        attribute: SCSITaskAttribute = .simple
    ) {
        self.lun = lun
        self.cdb = cdb
        self.dataOut = dataOut
        self.expectedDataTransferLength = expectedDataTransferLength
        self.attribute = attribute
    }
}

/// SAM status codes.
public enum SCSIStatus: UInt8, Sendable {
    case good = 0x00
    case checkCondition = 0x02
    case conditionMet = 0x04
    case busy = 0x08
    case reservationConflict = 0x18
    case taskSetFull = 0x28
    case acaActive = 0x30
    case taskAborted = 0x40
}

public struct SCSICommandResult: Sendable {
    public var status: SCSIStatus
    /// Fixed-format sense data (SPC-4 4.5.3), present with CHECK CONDITION.
    public var senseData: ByteBuffer?
    /// Data for the initiator. May be longer than the allocation length would allow only if the
    /// transport truncates it; the transport reports residuals from expectedDataTransferLength.
    public var dataIn: ByteBuffer?
    public init(status: SCSIStatus, senseData: ByteBuffer? = nil, dataIn: ByteBuffer? = nil) {
        self.status = status
        self.senseData = senseData
        self.dataIn = dataIn
    }
}

/// The Data-Out a command asks for, as a transport must know it before soliciting any
/// (`SCSITargetDevice.dataOutDemand`): it gathers `gather` bytes, runs the command with them and
/// reports the residual between `length` and its ExpectedDataTransferLength (RFC 7143 11.4.5.2).
public struct DataOutDemand: Sendable, Equatable {
    /// Bytes the CDB names (transfer length x block size, a parameter list length); 0 for a
    /// command without Data-Out, an unknown opcode or a LUN that does not exist.
    public var length: Int
    /// Bytes to gather before running the command: what the CDB names, cut to what the
    /// initiator announced; 0 for a transfer over `SCSITargetDevice.maximumTransferBytes`,
    /// which is refused whatever comes. WRITE SAME and COMPARE AND WRITE gather what was
    /// announced (within the maximum), so a mismatch is seen and refused.
    public var gather: Int
    public init(length: Int, gather: Int) {
        self.length = length
        self.gather = gather
    }
}
