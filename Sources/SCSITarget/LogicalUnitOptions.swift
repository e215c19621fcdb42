import SCSIProtocol

/// How a logical unit presents itself; the defaults reproduce Debian's tgtd.
public struct LogicalUnitOptions: Sendable, Equatable {
    /// Write commands fail with DATA PROTECT / WRITE PROTECTED; MODE SENSE reports WP.
    public var readOnly: Bool
    /// WCE in the caching mode page; nil follows `Backstore.hasVolatileWriteCache`.
    /// With WCE off every write is sent with FUA.
    public var writeCache: Bool?
    /// Removable medium: START STOP UNIT can eject and load it, PREVENT ALLOW guards that.
    public var removable: Bool
    public var vendor: String
    public var product: String
    public var revision: String
    /// VPD 0x80 serial; nil gives tgt's "beaf<tid><lun>".
    public var serialNumber: String?
    /// The T10 vendor ID designator of VPD 0x83 (from which tgt also derives an NAA);
    /// nil gives tgt's "IET     <tid %04x><lun %04x>".
    public var scsiID: String?
    /// Reported through LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT of READ CAPACITY(16);
    /// tgt reports the 4 KiB pages of the file system under its image files.
    public var physicalBlockSize: Int
    /// MAXIMUM WRITE SAME LENGTH in blocks (VPD 0xB0), enforced on WRITE SAME. The default 0
    /// (no limit, written in 1 MiB chunks) keeps the page identical to tgtd's; 65535 is what
    /// LIO reports.
    public var maximumWriteSameBlocks: UInt32
    /// Thin provisioning (tgt's thin_provisioning): LBPME in READ CAPACITY(16), UNMAP and
    /// WRITE SAME with UNMAP, which hand ranges to the backstore to discard (they read back as
    /// zeros, LBPRZ). Off by default, so INQUIRY and READ CAPACITY match tgtd's.
    public var thinProvisioning: Bool
    /// MEDIUM ROTATION RATE of VPD 0xB1 (tgt's rotation_rate): 0 not reported, 1 solid state,
    /// else revolutions per minute.
    public var rotationRate: UInt16
    /// OPTIMAL TRANSFER LENGTH GRANULARITY and OPTIMAL TRANSFER LENGTH of VPD 0xB0, in blocks
    /// (tgt's optimal_xfer_gran and optimal_xfer_len); a granularity of 0 reports none, a length
    /// of 0 reports 1 MiB (never more than MAXIMUM TRANSFER LENGTH, 8 MiB).
    public var optimalTransferLengthGranularity: UInt16
    public var optimalTransferLength: UInt32
    /// LOWEST ALIGNED LOGICAL BLOCK ADDRESS of READ CAPACITY(16) (tgt's la_lba), 14 bits.
    public var lowestAlignedLBA: UInt16

    public init(
        readOnly: Bool = false, writeCache: Bool? = nil, removable: Bool = false, vendor: String = "IET",
        product: String = "VIRTUAL-DISK", revision: String = "0001", serialNumber: String? = nil,
        scsiID: String? = nil, physicalBlockSize: Int = 4096, maximumWriteSameBlocks: UInt32 = 0,
        thinProvisioning: Bool = false, rotationRate: UInt16 = 0, optimalTransferLengthGranularity: UInt16 = 0,
        optimalTransferLength: UInt32 = 0, lowestAlignedLBA: UInt16 = 0
    ) {
        self.readOnly = readOnly
        self.writeCache = writeCache
        self.removable = removable
        self.vendor = vendor
        self.product = product
        self.revision = revision
        self.serialNumber = serialNumber
        self.scsiID = scsiID
        self.physicalBlockSize = physicalBlockSize
        self.maximumWriteSameBlocks = maximumWriteSameBlocks
        self.thinProvisioning = thinProvisioning
        self.rotationRate = rotationRate
        self.optimalTransferLengthGranularity = optimalTransferLengthGranularity
        self.optimalTransferLength = optimalTransferLength
        self.lowestAlignedLBA = lowestAlignedLBA
    }
}

/// A logical unit as tgtadm shows it.
public struct LogicalUnitInfo: Sendable, Equatable {
    public var lun: UInt64
    /// "controller" for LUN 0, "disk" otherwise.
    public var type: String
    public var scsiID: String
    public var scsiSerial: String
    public var size: UInt64
    public var blockSize: Int
    /// Medium present (only a removable unit can be offline).
    public var online: Bool
    public var removable: Bool
    public var preventRemoval: Bool
    public var readOnly: Bool
    /// SWP set through the control mode page.
    public var softwareWriteProtect: Bool
    public var thinProvisioning: Bool
    /// "null" for the controller, else `Backstore.typeName`.
    public var backingStoreType: String
    public var backingStorePath: String?
    /// tgt's "Backing store flags": "", "sync", "direct" or "sync:direct".
    public var backingStoreFlags: String = ""
    /// The options the unit runs with (what `updateLogicalUnit` starts from).
    public var options: LogicalUnitOptions = .init()
}

public struct SCSITargetError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case duplicateLUN, noSuchLUN, lunOutOfRange, lunZeroIsController, invalidBlockSize, storeTooSmall
        /// The medium cannot go offline: a nexus prevents its removal.
        case removalPrevented
        /// The store shares persistent reservations between gateways, and they could not be
        /// opened or read.
        case sharedStateUnavailable
    }
    public var kind: Kind
    public var description: String

    static func duplicateLUN(_ lun: UInt64) -> Self { .init(kind: .duplicateLUN, description: "logical unit \(lun) already exists") }
    static func noSuchLUN(_ lun: UInt64) -> Self { .init(kind: .noSuchLUN, description: "no logical unit \(lun)") }
    static func lunOutOfRange(_ lun: UInt64) -> Self {
        .init(kind: .lunOutOfRange, description: "logical unit number \(lun) is above \(SAMLUN.maximum)")
    }
    static func removalPrevented(_ lun: UInt64) -> Self {
        .init(kind: .removalPrevented, description: "medium removal of logical unit \(lun) is prevented")
    }
    static func sharedStateUnavailable(_ message: String) -> Self { .init(kind: .sharedStateUnavailable, description: message) }
    static let lunZeroIsController = Self(kind: .lunZeroIsController, description: "LUN 0 is the target's controller")
    static func invalidBlockSize(_ size: Int) -> Self {
        .init(kind: .invalidBlockSize, description: "block size \(size) is not a power of two from 512 to 65536")
    }
    static func storeTooSmall(_ bytes: UInt64) -> Self {
        .init(kind: .storeTooSmall, description: "backing store of \(bytes) bytes holds no whole block")
    }
}
