import NIOCore
import SCSITarget

/// One outstanding R2T of a write task.
struct OutstandingR2T {
    var targetTransferTag: UInt32
    var bufferOffset: UInt32
    var length: UInt32
    /// Next DataSN expected in this sequence, and the next offset (DataPDUInOrder=Yes).
    var nextDataSN: UInt32 = 0
    var nextOffset: UInt32
}

/// A SCSI command between its arrival and its response.
struct TaskState {
    enum Phase {
        /// Receiving Data-Out (immediate, unsolicited or solicited).
        case collecting
        /// Handed to the SCSI layer.
        case executing
    }

    var initiatorTaskTag: UInt32
    var cmdSN: UInt32
    var lun: UInt64
    var rawLUN: UInt64
    var cdb: ByteBuffer
    var attribute: SCSITaskAttribute
    var expectedDataTransferLength: UInt32
    var isWrite: Bool
    var phase: Phase
    var aborted = false

    // Write bookkeeping.
    var data: ByteBuffer?
    var receivedBytes: UInt32 = 0
    /// Unsolicited data ends here (immediate data plus unsolicited Data-Out).
    var unsolicitedEnd: UInt32 = 0
    var unsolicitedNextOffset: UInt32 = 0
    var unsolicitedNextDataSN: UInt32 = 0
    /// The next offset an R2T will ask for.
    var nextR2TOffset: UInt32 = 0
    /// A range below the end of unsolicited data that the initiator did not send (F=1 early).
    var gapOffset: UInt32 = 0
    var gapEnd: UInt32 = 0
    var nextR2TSN: UInt32 = 0
    var r2ts: [OutstandingR2T] = []

    var allDataReceived: Bool { receivedBytes >= expectedDataTransferLength }
}
