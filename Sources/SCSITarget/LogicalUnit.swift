import Backstore
import NIOCore
import SCSIProtocol

/// One logical unit: fixed identity and geometry plus state guarded by the owning
/// `SCSITargetDevice`'s lock (every `var` below).
final class LogicalUnit: @unchecked Sendable {
    let lun: UInt64
    let deviceType: PeripheralDeviceType
    let commands: CommandSet
    let backstore: Backstore?
    let blockSize: Int
    let blockShift: Int
    let options: LogicalUnitOptions
    let identity: LogicalUnitIdentity
    /// LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
    let physicalBlockExponent: UInt8
    let maximumWriteSameBlocks: UInt32

    // Guarded by the device lock.
    var blockCount: UInt64
    private(set) var nexuses: ContiguousArray<NexusState> = []
    /// The I_T nexus holding an SPC-2 RESERVE.
    var reservationHolder: UInt64?
    var mediumPresent = true
    var writeCacheEnabled: Bool
    var softwareWriteProtect = false

    /// The controller every target has as LUN 0.
    init(controllerOf targetID: Int) {
        lun = 0
        deviceType = .storageArrayController
        commands = .controller
        backstore = nil
        blockSize = 1
        blockShift = 0
        options = LogicalUnitOptions()
        identity = LogicalUnitIdentity(
            targetID: targetID, lun: 0, deviceType: .storageArrayController, options: options, maximumWriteSame: 0)
        physicalBlockExponent = 0
        maximumWriteSameBlocks = 0
        blockCount = 0
        writeCacheEnabled = false
    }

    init(disk lun: UInt64, targetID: Int, backstore: Backstore, blockSize: Int, options: LogicalUnitOptions) throws {
        guard blockSize >= 512 && blockSize <= 65536 && blockSize & (blockSize - 1) == 0 else {
            throw SCSITargetError.invalidBlockSize(blockSize)
        }
        let shift = blockSize.trailingZeroBitCount
        guard backstore.byteSize >> shift > 0 else { throw SCSITargetError.storeTooSmall(backstore.byteSize) }
        self.lun = lun
        deviceType = .directAccess
        commands = .disk
        self.backstore = backstore
        self.blockSize = blockSize
        blockShift = shift
        self.options = options
        maximumWriteSameBlocks = options.maximumWriteSameBlocks
        identity = LogicalUnitIdentity(
            targetID: targetID, lun: lun, deviceType: .directAccess, options: options,
            maximumWriteSame: options.maximumWriteSameBlocks)
        let ratio = options.physicalBlockSize / blockSize
        physicalBlockExponent =
            ratio > 1 && ratio & (ratio - 1) == 0 ? UInt8(min(ratio.trailingZeroBitCount, 15)) : 0
        blockCount = backstore.byteSize >> shift
        writeCacheEnabled = options.writeCache ?? backstore.hasVolatileWriteCache
    }

    var isController: Bool { deviceType == .storageArrayController }

    /// The nexus's slot, created (with a power-on unit attention) on its first command.
    /// A linear scan: a unit sees a handful of nexuses, and this runs on every command.
    func nexusIndex(_ id: UInt64) -> Int {
        for index in nexuses.indices where nexuses[index].id == id {
            return index
        }
        nexuses.append(NexusState(id: id))
        return nexuses.count - 1
    }

    func takeAttention(at index: Int) -> AdditionalSenseCode? {
        nexuses[index].takeAttention()
    }

    func setPreventsRemoval(_ prevents: Bool, for id: UInt64) {
        nexuses[nexusIndex(id)].preventsRemoval = prevents
    }

    var removalPrevented: Bool { nexuses.contains { $0.preventsRemoval } }

    func postAttention(_ code: AdditionalSenseCode, except excluded: UInt64? = nil) {
        for index in nexuses.indices where nexuses[index].id != excluded {
            nexuses[index].post(code)
        }
    }

    func clearAttention(_ code: AdditionalSenseCode, for id: UInt64) {
        for index in nexuses.indices where nexuses[index].id == id {
            nexuses[index].clear(code)
        }
    }

    func forget(_ id: UInt64) {
        nexuses.removeAll { $0.id == id }
        if reservationHolder == id { reservationHolder = nil }
    }

    /// LOGICAL UNIT RESET (SAM-5 6.3.3): reservations and medium-removal prevention go, every
    /// known nexus gets a unit attention.
    func reset() {
        reservationHolder = nil
        for index in nexuses.indices {
            nexuses[index].preventsRemoval = false
        }
        postAttention(.busDeviceResetFunctionOccurred)
    }

    /// The state a command runs with, taken under the lock.
    var snapshot: UnitState {
        UnitState(
            blockCount: blockCount, writeProtected: options.readOnly || softwareWriteProtect,
            writeThrough: !writeCacheEnabled)
    }
}

/// A logical unit's state as one command sees it.
struct UnitState {
    var blockCount: UInt64
    var writeProtected: Bool
    /// WCE is off: every write goes out with FUA.
    var writeThrough: Bool
}
