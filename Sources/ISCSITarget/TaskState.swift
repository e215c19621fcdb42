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
        /// Waiting for the connection's data budget (in `SessionStateMachine`'s admission queue).
        /// Immediate and unsolicited data are kept; nothing is solicited yet.
        case waiting
        /// Admitted, receiving solicited Data-Out.
        case collecting
        /// Handed to the SCSI layer.
        case executing
    }

    var initiatorTaskTag: UInt32
    var cmdSN: UInt32
    var immediate: Bool
    var lun: UInt64
    var rawLUN: UInt64
    var cdb: ByteBuffer
    var attribute: SCSITaskAttribute
    var expectedDataTransferLength: UInt32
    var isWrite: Bool
    var phase: Phase
    var aborted = false
    /// Bytes of the budget this task holds (write data to gather, or read data to produce); 0
    /// until admitted.
    var reserved = 0
    /// Tells this task's entry in the admission queue from an earlier task with the same ITT.
    var admissionTicket: UInt64 = 0

    // Write bookkeeping.
    /// What the CDB asks for (nil for a command without Data-Out): the write residual is the
    /// difference from ExpectedDataTransferLength.
    var dataOutLength: Int?
    /// The bytes gathered before the command runs (see `DataOutDemand.gather`); Data-Out past
    /// them is checked and dropped.
    var gather = 0
    var data: ByteBuffer?
    /// Bytes stored in `data`, all below `gather`.
    var storedBytes = 0
    /// Unsolicited data ends here (immediate data plus unsolicited Data-Out), in the initiator's
    /// view: it may send up to here whatever we keep.
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

    /// Every byte to keep has come and the initiator has finished its unsolicited data.
    var allDataReceived: Bool { storedBytes >= gather && unsolicitedNextOffset >= unsolicitedEnd }

    /// Keeps the part of `segment` (at `offset` of the transfer) that lies below `gather`. The
    /// buffer grows with the data: to what arrived or was solicited, never to a header's length.
    mutating func store(_ segment: ByteBuffer, at offset: Int) {
        let end = min(offset + segment.readableBytes, gather)
        guard offset < end else { return }
        let piece = segment.getSlice(at: segment.readerIndex, length: end - offset)!
        if offset == 0 && end == gather && data == nil {
            data = piece  // all of it in one segment (immediate data, usually): no copy
        } else {
            reserve(upTo: end)
            data!.setBuffer(piece, at: offset)
        }
        storedBytes += end - offset
    }

    /// Room for the data up to `end`, grown geometrically (so a long transfer is copied a bounded
    /// number of times) but never past `gather`.
    mutating func reserve(upTo end: Int) {
        let end = min(end, gather)
        guard let current = data else {
            data = ByteBufferAllocator().buffer(capacity: end)
            return
        }
        guard current.capacity < end else { return }
        data!.reserveCapacity(min(gather, max(end, 2 * current.capacity)))
    }

    /// The gathered Data-Out, `gather` bytes long.
    mutating func takeData() -> ByteBuffer? {
        guard gather > 0, var buffer = data else { return nil }
        data = nil
        if buffer.writerIndex < buffer.readerIndex + gather { buffer.moveWriterIndex(to: buffer.readerIndex + gather) }
        return buffer
    }
}
