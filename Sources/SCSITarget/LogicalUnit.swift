import Backstore
import NIOCore
import SCSIProtocol

/// One logical unit: fixed geometry plus state guarded by the owning `SCSITargetDevice`'s lock
/// (every `var` below).
final class LogicalUnit: @unchecked Sendable {
    let lun: UInt64
    let deviceType: PeripheralDeviceType
    /// Guarded by the device lock; a command uses the store it was admitted with (`UnitState`).
    private(set) var backstore: Backstore?
    let blockSize: Int
    let blockShift: Int
    let targetID: Int

    // Guarded by the device lock.
    /// What the unit presents; replaced whole when its options change. A command uses the one
    /// it was admitted with (`UnitState.profile`), never this property outside the lock.
    var profile: LogicalUnitProfile
    var blockCount: UInt64
    private(set) var nexuses: ContiguousArray<NexusState> = []
    /// The I_T nexus holding an SPC-2 RESERVE.
    var reservationHolder: UInt64?
    /// SPC-4 persistent reservations: registrations and the reservation, keyed by I_T nexus name.
    /// With `sharedReservations`, a cache of the state all gateways share.
    var persistent = PersistentReservationState()
    /// Set once, before the unit is published, when its store shares persistent reservations
    /// with other gateways (`SharedBlobProvider`).
    private(set) var sharedReservations: SharedReservations?
    /// Serializes COMPARE AND WRITE, and the writes arriving while one runs.
    var exclusiveGate = ExclusiveGate()
    /// Medium present (removable unit) or unit online (tgt's "Online").
    var mediumPresent = true
    var writeCacheEnabled: Bool
    var softwareWriteProtect = false

    /// The controller every target has as LUN 0.
    init(controllerOf targetID: Int) {
        lun = 0
        deviceType = .storageArrayController
        backstore = nil
        blockSize = 1
        blockShift = 0
        self.targetID = targetID
        profile = LogicalUnitProfile(
            lun: 0, targetID: targetID, deviceType: .storageArrayController, blockSize: 1, options: LogicalUnitOptions())
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
        self.backstore = backstore
        self.blockSize = blockSize
        blockShift = shift
        self.targetID = targetID
        var options = options
        // Memory does not rotate: say so (VPD 0xB1 rate 1), unless the administrator gave a rate.
        if options.rotationRate == 0, backstore.isSolidState { options.rotationRate = 1 }
        profile = LogicalUnitProfile(
            lun: lun, targetID: targetID, deviceType: .directAccess, blockSize: blockSize, options: options,
            deallocation: StoreDeallocation(backstore))
        blockCount = backstore.byteSize >> shift
        writeCacheEnabled = options.writeCache ?? backstore.hasVolatileWriteCache
    }

    /// Before the unit is published: its store provides shared blobs, so persistent
    /// reservations live there.
    func shareReservations(through provider: SharedBlobProvider, lock: DeviceLock, timing: SharedReservations.Timing)
        throws
    {
        sharedReservations = try SharedReservations(provider: provider, unit: self, lock: lock, timing: timing)
    }

    /// Caller holds the lock: the shared state now comes through another handle on the same
    /// image (a reopened store); the old one stops delivering changes.
    func replaceSharedReservations(_ shared: SharedReservations?) {
        sharedReservations?.detach()
        sharedReservations = shared
    }

    // Caller holds the lock for these four.
    var options: LogicalUnitOptions { profile.options }
    var identity: LogicalUnitIdentity { profile.identity }
    var commands: CommandSet { profile.commands }
    var isThinProvisioned: Bool { profile.isThinProvisioned }

    var isController: Bool { deviceType == .storageArrayController }

    /// LBPRZ and unmap granularity, fixed by the store.
    var deallocation: StoreDeallocation { StoreDeallocation(backstore) }

    /// The nexus's slot, created (with a power-on unit attention) on its first command.
    /// A linear scan: a unit sees a handful of nexuses, and this runs on every command.
    func nexusIndex(_ nexus: SCSINexus) -> Int {
        for index in nexuses.indices where nexuses[index].id == nexus.id {
            return index
        }
        nexuses.append(NexusState(id: nexus.id, portName: nexus.initiatorPortName, targetPort: nexus.targetPort.relativeID))
        return nexuses.count - 1
    }

    func takeAttention(at index: Int) -> AdditionalSenseCode? {
        nexuses[index].takeAttention()
    }

    func setPreventsRemoval(_ prevents: Bool, for nexus: SCSINexus) {
        nexuses[nexusIndex(nexus)].preventsRemoval = prevents
    }

    var removalPrevented: Bool { nexuses.contains { $0.preventsRemoval } }

    func postAttention(_ code: AdditionalSenseCode, except excluded: UInt64? = nil) {
        for index in nexuses.indices where nexuses[index].id != excluded {
            nexuses[index].post(code)
        }
    }

    /// A unit attention for every session of the I_T nexuses `registration` covers.
    func postAttention(_ code: AdditionalSenseCode, to registration: PersistentRegistration) {
        for index in nexuses.indices
        where registration.covers(ITNexusName(initiatorPort: nexuses[index].portName, targetPort: nexuses[index].targetPort)) {
            nexuses[index].post(code)
        }
    }

    func clearAttention(_ code: AdditionalSenseCode, for id: UInt64) {
        for index in nexuses.indices where nexuses[index].id == id {
            nexuses[index].clear(code)
        }
    }

    /// The session is gone: its unit attentions, medium-removal prevention and SPC-2 reservation
    /// go with it. Persistent reservations belong to the initiator port and stay (SPC-4 5.13.1).
    func forget(_ id: UInt64) {
        nexuses.removeAll { $0.id == id }
        if reservationHolder == id { reservationHolder = nil }
    }

    /// LOGICAL UNIT RESET (SAM-5 6.3.3): the SPC-2 reservation and medium-removal prevention go,
    /// every known nexus gets a unit attention; persistent reservations are kept (SPC-4 5.13.1).
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
            writeThrough: !writeCacheEnabled, profile: profile, backstore: backstore)
    }

    /// Caller holds the lock. Another handle on the same medium (a reopened RBD image): commands
    /// already admitted finish on the old one; a size change is CAPACITY DATA HAS CHANGED.
    func replaceBackstore(_ store: Backstore) {
        backstore = store
        let blocks = store.byteSize >> UInt64(blockShift)
        if blocks != blockCount {
            blockCount = blocks
            postAttention(.capacityDataHasChanged)
        }
    }

    /// Caller holds the lock. New options, same store, geometry, reservations and nexuses; every
    /// nexus that knows the unit gets the unit attentions the change calls for (SPC-4 5.14,
    /// SBC-3 4.10): WP in the mode parameter header is MODE PARAMETERS CHANGED; what READ
    /// CAPACITY(16) returns is CAPACITY DATA HAS CHANGED; standard or VPD INQUIRY data is INQUIRY
    /// DATA HAS CHANGED, and a new device identification also DEVICE IDENTIFIER CHANGED.
    func replaceOptions(_ options: LogicalUnitOptions) {
        let old = profile
        let new = LogicalUnitProfile(
            lun: lun, targetID: targetID, deviceType: deviceType, blockSize: blockSize, options: options,
            deallocation: deallocation, alua: old.alua, aluaStatus: old.aluaStatus)
        profile = new
        if old.options.readOnly != options.readOnly {
            postAttention(.modeParametersChanged)
        }
        if old.isThinProvisioned != new.isThinProvisioned || old.physicalBlockExponent != new.physicalBlockExponent
            || old.options.lowestAlignedLBA != options.lowestAlignedLBA
        {
            postAttention(.capacityDataHasChanged)
        }
        if !old.identity.presentsSameData(as: new.identity) {
            postAttention(.inquiryDataHasChanged)
        }
        if old.identity.scsiID != new.identity.scsiID {
            postAttention(.deviceIdentifierChanged)
        }
    }
}

/// What a logical unit presents, derived once from its options and target port groups:
/// INQUIRY data, the command table, READ CAPACITY(16) and Block Limits values, ALUA states.
/// Immutable, so a command can keep the one it was admitted with while tgtadm installs another.
final class LogicalUnitProfile: Sendable {
    let options: LogicalUnitOptions
    let identity: LogicalUnitIdentity
    let commands: CommandSet
    /// LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
    let physicalBlockExponent: UInt8
    let maximumWriteSameBlocks: UInt32
    let isThinProvisioned: Bool
    /// LBPRZ of a thin provisioned unit: an unmapped block reads as zeros. When false, UNMAP
    /// leaves unspecified data and WRITE SAME with UNMAP writes what it must read back as.
    let unmapReadsZeros: Bool
    /// Empty groups: no ALUA.
    let alua: ALUAConfiguration
    /// STATUS CODE of REPORT TARGET PORT GROUPS, one per group of `alua`.
    let aluaStatus: [UInt8]
    /// VPD 0x83 as each target port shows it (ALUA only).
    private let portPages = PortPageCache()

    init(
        lun: UInt64, targetID: Int, deviceType: PeripheralDeviceType, blockSize: Int, options: LogicalUnitOptions,
        deallocation: StoreDeallocation = .init(nil), alua: ALUAConfiguration = .init(), aluaStatus: [UInt8] = []
    ) {
        self.options = options
        unmapReadsZeros = deallocation.readsZeros
        self.alua = alua
        self.aluaStatus = aluaStatus + [UInt8](repeating: 0, count: max(0, alua.groups.count - aluaStatus.count))
        let aluaCommands: CommandSet.ALUACommands =
            alua.groups.isEmpty ? .none : alua.allowsExplicit ? .reportAndSet : .report
        if deviceType == .storageArrayController {
            commands = CommandSet.controller(alua: aluaCommands)
            physicalBlockExponent = 0
            maximumWriteSameBlocks = 0
            isThinProvisioned = false
            identity = LogicalUnitIdentity(
                targetID: targetID, lun: lun, deviceType: deviceType, options: options, maximumWriteSame: 0,
                targetPortGroupSupport: alua.targetPortGroupSupport)
            return
        }
        commands = CommandSet.disk(thin: options.thinProvisioning, alua: aluaCommands)
        maximumWriteSameBlocks = options.maximumWriteSameBlocks
        isThinProvisioned = options.thinProvisioning
        let ratio = options.physicalBlockSize / blockSize
        let exponent = ratio > 1 && ratio & (ratio - 1) == 0 ? UInt8(min(ratio.trailingZeroBitCount, 15)) : 0
        physicalBlockExponent = exponent
        identity = LogicalUnitIdentity(
            targetID: targetID, lun: lun, deviceType: deviceType, options: options,
            maximumWriteSame: options.maximumWriteSameBlocks,
            unmapGranularity: max(1 << UInt32(exponent), deallocation.granularityBlocks(blockSize: blockSize)),
            unmapReadsZeros: unmapReadsZeros, blockSize: blockSize, targetPortGroupSupport: alua.targetPortGroupSupport)
    }

    /// The group `port` belongs to; nil without ALUA.
    func group(of port: UInt16) -> ALUAGroup? {
        alua.groupIndex(of: port).map { alua.groups[$0] }
    }

    /// VPD 0x83 for a command through `port`: tgt's page without ALUA; with it, the unit's
    /// designators and then the port's relative ID, its group and its name.
    func deviceIdentificationPage(for port: TargetPort) -> ByteBuffer? {
        guard let group = group(of: port.relativeID) else { return identity.vpdPage(VPDPage.deviceIdentification) }
        return portPages.page(for: port) {
            var designators = [Designator.relativeTargetPort(port.relativeID), .targetPortGroup(group.id)]
            if let name = Designator.scsiNameString(ofTargetPort: port.name) { designators.append(name) }
            return identity.deviceIdentificationPage(adding: designators)
        }
    }
}

/// Pages built once per target port; a target has a handful of ports, and the bound only
/// keeps a misconfigured daemon from growing it without end.
final class PortPageCache: @unchecked Sendable {
    private static let limit = 64
    private let lock = DeviceLock()
    private var pages: [TargetPort: ByteBuffer] = [:]

    func page(for port: TargetPort, build: () -> ByteBuffer) -> ByteBuffer {
        if let page = lock.withLock({ pages[port] }) { return page }
        let page = build()
        lock.withLock {
            if pages.count < Self.limit { pages[port] = page }
        }
        return page
    }
}

/// How the store deallocates, as a thin provisioned unit reports it.
struct StoreDeallocation: Sendable {
    /// LBPRZ: a deallocated block reads as zeros (true without a store).
    let readsZeros: Bool
    /// The store's discard granularity in bytes, 0 if none.
    let granularity: UInt64

    init(_ store: Backstore?) {
        readsZeros = store?.deallocatedBlocksReadAsZeros ?? true
        granularity = store?.deallocationGranularity ?? 0
    }

    /// The granularity in logical blocks (at least 1), for OPTIMAL UNMAP GRANULARITY.
    func granularityBlocks(blockSize: Int) -> UInt32 {
        UInt32(clamping: max(1, granularity / UInt64(blockSize)))
    }
}

/// A logical unit's state as one command sees it.
struct UnitState {
    var blockCount: UInt64
    var writeProtected: Bool
    /// WCE is off: every write goes out with FUA.
    var writeThrough: Bool
    /// The unit's options and what derives from them, as when the command was admitted.
    var profile: LogicalUnitProfile
    /// The store the command reads and writes (nil for LUN 0).
    var backstore: Backstore?
}
