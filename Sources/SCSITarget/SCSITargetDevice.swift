import Backstore
import NIOCore
import SCSIProtocol

/// The SCSI side of one iSCSI target: its logical units and their SPC/SBC emulation.
///
/// Thread-safe: connections on different event loops call in at once. One lock guards the
/// unit table and every unit's state; a command holds it only to pass its admission checks
/// (unit attention, reservation, medium) and to read the unit's state.
public final class SCSITargetDevice: @unchecked Sendable {
    public let targetID: Int
    public let targetName: String
    let allocator = ByteBufferAllocator()
    let lock = DeviceLock()
    /// LUN 0, which answers for LUNs that do not exist.
    let controller: LogicalUnit
    /// Indexed by LUN; slot 0 always holds the controller. Guarded by `lock`.
    private var units: [LogicalUnit?]
    /// tgt's target state "offline". Guarded by `lock`.
    var targetOfflineLocked = false
    /// Guarded by `lock`.
    private var aluaChangeHandler: (@Sendable (_ lun: UInt64, _ groupID: UInt16, _ state: ALUAState) -> Void)?

    /// Called after a SET TARGET PORT GROUPS changed a group's state, once per group, outside
    /// the device's lock, so that the daemon can persist it.
    public var onALUAChange: (@Sendable (_ lun: UInt64, _ groupID: UInt16, _ state: ALUAState) -> Void)? {
        get { lock.withLock { aluaChangeHandler } }
        set { lock.withLock { aluaChangeHandler = newValue } }
    }

    /// Bounds and retries of persistent reservations shared through a store (tests shorten them).
    var sharedReservationTiming = SharedReservations.Timing()

    public init(targetID: Int, targetName: String) {
        self.targetID = targetID
        self.targetName = targetName
        controller = LogicalUnit(controllerOf: targetID)
        units = [controller]
    }

    // MARK: Configuration

    public func addLogicalUnit(
        _ lun: UInt64, backstore: Backstore, blockSize: Int = 512, options: LogicalUnitOptions = .init()
    ) throws {
        guard lun <= SAMLUN.maximum else { throw SCSITargetError.lunOutOfRange(lun) }
        let unit = try LogicalUnit(disk: lun, targetID: targetID, backstore: backstore, blockSize: blockSize, options: options)
        try lock.withLock {
            if Int(lun) < units.count, units[Int(lun)] != nil { throw SCSITargetError.duplicateLUN(lun) }
        }
        // A store other gateways serve too: persistent reservations live in it. Outside the
        // lock, as this waits (bounded) for the first load.
        if let provider = backstore as? SharedBlobProvider {
            try unit.shareReservations(through: provider, lock: lock, timing: sharedReservationTiming)
        }
        try lock.withLock {
            let index = Int(lun)
            if index < units.count, units[index] != nil {
                unit.sharedReservations?.detach()
                throw SCSITargetError.duplicateLUN(lun)
            }
            if index >= units.count { units += [LogicalUnit?](repeating: nil, count: index + 1 - units.count) }
            units[index] = unit
            inventoryChanged()
        }
        watchResize(of: backstore, for: unit)
    }

    /// Follows a store that announces resizes (RBD) for `unit`.
    private func watchResize(of store: Backstore, for unit: LogicalUnit) {
        guard let watched = store as? ResizeNotifyingBackstore else { return }
        watched.setResizeHandler { [weak self, weak unit] in
            guard let self, let unit else { return }
            self.storeDidResize(unit)
        }
    }

    /// Serves a unit from another store on the same medium (a reopened RBD image), keeping its
    /// options, reservations, nexuses and unit attentions; hands back the old store for the caller
    /// to close (commands already admitted finish on it).
    public func replaceBackstore(_ lun: UInt64, with store: Backstore) throws -> Backstore {
        guard lun != 0, let current = lock.withLock({ unitLocked(lun) }) else { throw SCSITargetError.noSuchLUN(lun) }
        // Shared reservations follow the new handle (outside the lock: the first load waits).
        let shared = try (store as? SharedBlobProvider).map {
            try SharedReservations(provider: $0, unit: current, lock: lock, timing: sharedReservationTiming)
        }
        let (unit, old): (LogicalUnit, Backstore) = try lock.withLock {
            guard let unit = unitLocked(lun), unit === current, let old = unit.backstore else {
                shared?.detach()
                throw SCSITargetError.noSuchLUN(lun)
            }
            unit.replaceBackstore(store)
            if shared != nil || unit.sharedReservations != nil { unit.replaceSharedReservations(shared) }
            return (unit, old)
        }
        (old as? ResizeNotifyingBackstore)?.setResizeHandler(nil)
        watchResize(of: store, for: unit)
        return old
    }

    /// Removes a unit and hands back its store for the caller to close; LUN 0 stays.
    public func removeLogicalUnit(_ lun: UInt64) throws -> Backstore? {
        guard lun != 0 else { throw SCSITargetError.lunZeroIsController }
        let store = try lock.withLock {
            guard let unit = unitLocked(lun) else { throw SCSITargetError.noSuchLUN(lun) }
            units[Int(lun)] = nil
            unit.sharedReservations?.detach()
            while units.count > 1, units[units.count - 1] == nil { units.removeLast() }
            inventoryChanged()
            return unit.backstore
        }
        (store as? ResizeNotifyingBackstore)?.setResizeHandler(nil)
        return store
    }

    /// The store a unit reads and writes (nil for LUN 0 or no such unit).
    public func backstore(of lun: UInt64) -> Backstore? {
        guard lun != 0 else { return nil }
        return lock.withLock { unitLocked(lun)?.backstore }
    }

    public var logicalUnits: [LogicalUnitInfo] {
        lock.withLock { units.compactMap { $0.map(Self.info) } }
    }

    /// Re-reads the store's size, e.g. after it grew; nexuses that know the unit get
    /// CAPACITY DATA HAS CHANGED. False if there is no such disk unit.
    @discardableResult
    public func capacityDidChange(_ lun: UInt64) -> Bool {
        lock.withLock {
            guard let unit = unitLocked(lun), unit.backstore != nil else { return false }
            refreshCapacityLocked(unit)
            return true
        }
    }

    /// The store saw its size change underneath (RBD's header watch): the same as
    /// `capacityDidChange`, if the unit is still in the table. Called on the store's thread.
    private func storeDidResize(_ unit: LogicalUnit) {
        lock.withLock {
            guard unitLocked(unit.lun) === unit else { return }
            refreshCapacityLocked(unit)
        }
    }

    /// Caller holds the lock.
    private func refreshCapacityLocked(_ unit: LogicalUnit) {
        guard let store = unit.backstore else { return }
        _ = store.refreshSize()
        let blocks = store.byteSize >> UInt64(unit.blockShift)
        if blocks != unit.blockCount {
            unit.blockCount = blocks
            unit.postAttention(.capacityDataHasChanged)
        }
    }

    // MARK: Nexus events

    /// The nexus is gone (session closed or lost): its SPC-2 reservation and unit attentions go
    /// too. Persistent reservation registrations belong to the I_T nexus name (initiator port
    /// and target port), which outlives the session, and stay.
    public func nexusLost(_ nexus: SCSINexus) {
        lock.withLock {
            for case let unit? in units { unit.forget(nexus.id) }
        }
    }

    /// LOGICAL UNIT RESET: clears the unit's SPC-2 reservation (persistent ones stay) and
    /// medium-removal prevention, and every nexus that knows the unit (the requester too,
    /// SAM-5 6.3.3; libiscsi's MultipathIO.Reset checks it) gets BUS DEVICE RESET FUNCTION
    /// OCCURRED. False if there is no such unit.
    public func logicalUnitReset(_ lun: UInt64, by nexus: SCSINexus) -> Bool {
        lock.withLock {
            guard let unit = unitLocked(lun) else { return false }
            unit.reset()
            return true
        }
    }

    /// TARGET (WARM or COLD) RESET: every unit is reset.
    public func targetReset(by nexus: SCSINexus) {
        lock.withLock {
            for case let unit? in units { unit.reset() }
        }
    }

    // MARK: Commands

    /// The largest transfer one command may ask for, either way: MAXIMUM TRANSFER LENGTH of the
    /// Block Limits page. Larger ones are refused (INVALID FIELD IN CDB) before any data moves,
    /// so one command never holds more than this.
    public static let maximumTransferBytes = 8 << 20

    /// What `cdb` asks the initiator to send to `lun`, for a transport about to solicit it.
    public func dataOutDemand(cdb: ByteBuffer, lun: UInt64, expectedDataTransferLength: UInt32) -> DataOutDemand {
        let cdb = cdb.withUnsafeReadableBytes { CDB($0) }
        let (rule, blockShift) = lock.withLock { () -> (DataOutRule, Int) in
            guard let unit = unitLocked(lun) else { return (.none, 0) }
            return (unit.commands.dataOutRules[Int(cdb.opcode)], unit.blockShift)
        }
        let length = rule.length(of: cdb, blockShift: blockShift)
        let expected = Int(expectedDataTransferLength)
        if length > Self.maximumTransferBytes { return DataOutDemand(length: length, gather: 0) }
        if rule.shortfall == .exact {
            return DataOutDemand(length: length, gather: expected <= Self.maximumTransferBytes ? expected : 0)
        }
        return DataOutDemand(length: length, gather: min(length, expected))
    }

    public func execute(_ request: SCSICommandRequest, nexus: SCSINexus, on eventLoop: EventLoop)
        -> EventLoopFuture<SCSICommandResult>
    {
        let cdb = request.cdb.withUnsafeReadableBytes { CDB($0) }
        let outcome: CommandOutcome
        switch admit(cdb, lun: request.lun, nexus: nexus) {
        case .admitted(let unit, let state, let handler):
            if let refusal = Self.refusesDataOut(cdb, unit: unit, request.dataOut) {
                outcome = refusal
            } else {
                outcome = handler(
                    CommandContext(
                        device: self, unit: unit, cdb: cdb, request: request, nexus: nexus, eventLoop: eventLoop,
                        state: state))
            }
        case .afterExclusive(let unit, let state, let handler):
            if let refusal = Self.refusesDataOut(cdb, unit: unit, request.dataOut) {
                outcome = refusal
            } else {
                let context = CommandContext(
                    device: self, unit: unit, cdb: cdb, request: request, nexus: nexus, eventLoop: eventLoop,
                    state: state)
                return runExclusive(unit, on: eventLoop) { handler(context).future(on: eventLoop) }
            }
        case .rejected(let rejection):
            outcome = rejection.outcome
        case .noSuchUnit(let controller, let profile):
            outcome = PrimaryCommands.withoutUnit(
                CommandContext(
                    device: self, unit: controller, cdb: cdb, request: request, nexus: nexus, eventLoop: eventLoop,
                    state: UnitState(blockCount: 0, writeProtected: true, writeThrough: true, profile: profile, backstore: nil)))
        }
        return outcome.future(on: eventLoop)
    }

    /// Refusals that depend on the Data-Out that came, checked once admission passed: a
    /// transfer over the maximum, part of a block, a WRITE SAME or COMPARE AND WRITE without
    /// exactly the bytes its CDB names (as their handlers answered before). Nothing is written.
    private static func refusesDataOut(_ cdb: CDB, unit: LogicalUnit, _ dataOut: ByteBuffer?) -> CommandOutcome? {
        let rule = unit.commands.dataOutRules[Int(cdb.opcode)]
        if case .none = rule { return nil }
        let length = rule.length(of: cdb, blockShift: unit.blockShift)
        if length > maximumTransferBytes { return .invalidField(cdbByte: rule.lengthFieldByte(cdb)) }
        let received = dataOut?.readableBytes ?? 0
        switch rule.shortfall {
        case .handler:
            return nil
        case .exact:
            return received == length ? nil : rule.misfit
        case .wholeBlocks:
            return received < length && received & (unit.blockSize - 1) != 0 ? .invalidFieldInInformationUnit : nil
        }
    }

    private enum Admission {
        case admitted(LogicalUnit, UnitState, CommandHandler)
        /// A write arriving while a COMPARE AND WRITE holds the unit's exclusive gate.
        case afterExclusive(LogicalUnit, UnitState, CommandHandler)
        case rejected(Rejection)
        case noSuchUnit(controller: LogicalUnit, profile: LogicalUnitProfile)
    }

    private enum Rejection {
        case unitAttention(AdditionalSenseCode)
        case reservationConflict
        case invalidOpcode
        case mediumNotPresent
        /// A unit that is not removable, taken offline by the operator.
        case offline
        case targetOffline
        case unsupportedControl(byte: Int)
        /// The target port's group is in a state that refuses this command.
        case notAccessible(AdditionalSenseCode)

        var outcome: CommandOutcome {
            switch self {
            case .unitAttention(let code): return .check(.unitAttention, code)
            case .reservationConflict: return .done(SCSICommandResult(status: .reservationConflict))
            case .invalidOpcode: return .check(.illegalRequest, .invalidCommandOperationCode)
            case .mediumNotPresent: return .check(.notReady, .mediumNotPresent)
            case .offline: return .check(.notReady, .logicalUnitNotReadyManualInterventionRequired)
            case .targetOffline: return .done(SCSICommandResult(status: .busy))
            case .unsupportedControl(let byte): return .invalidField(cdbByte: UInt16(byte))
            case .notAccessible(let code): return .check(.notReady, code)
            }
        }
    }

    /// The checks every command passes, under the lock, in the order LIO makes them: pending unit
    /// attention, the target port group's access state, supported opcode, reservation conflict (SPC-2, then persistent), medium present,
    /// CONTROL byte. A unit without reservations pays two nil checks for them.
    private func admit(_ cdb: CDB, lun: UInt64, nexus: SCSINexus) -> Admission {
        lock.withLock {
            // tgt's target state "offline": every command is BUSY.
            if targetOfflineLocked { return .rejected(.targetOffline) }
            guard let unit = unitLocked(lun) else { return .noSuchUnit(controller: controller, profile: controller.profile) }
            let opcode = cdb.opcode
            let traits = unit.commands.traits[Int(opcode)]
            let index = unit.nexusIndex(nexus)
            // READ CAPACITY looks at the store again, so a file grown underneath shows (with
            // CAPACITY DATA HAS CHANGED for every nexus, this one first).
            if opcode == SCSIOpcode.readCapacity10 || (opcode == SCSIOpcode.serviceActionIn16 && cdb[1] & 0x1F == 0x10) {
                refreshCapacityLocked(unit)
            }
            if !traits.contains(.ignoresUnitAttention), let code = unit.takeAttention(at: index) {
                return .rejected(.unitAttention(code))
            }
            // After unit attentions and before the opcode, as LIO checks it.
            if let group = unit.profile.group(of: nexus.targetPort.relativeID),
                let code = ALUAAccess.refusal(cdb, in: group.state)
            {
                return .rejected(.notAccessible(code))
            }
            guard let handler = unit.commands.handlers[Int(opcode)] else { return .rejected(.invalidOpcode) }
            if let holder = unit.reservationHolder, holder != nexus.id, !Self.allowedWhenReserved(cdb, traits) {
                return .rejected(.reservationConflict)
            }
            if unit.persistent.reservation != nil,
                PersistentReservationAccess.of(cdb).conflicts(unit.persistent, nexus: nexus.itNexusName)
            {
                return .rejected(.reservationConflict)
            }
            if traits.contains(.needsMedium) && !unit.mediumPresent {
                return .rejected(unit.options.removable ? .mediumNotPresent : .offline)
            }
            // NACA (ACA) and LINK are not supported (SAM-5 5.2).
            if cdb.control & CommandSet.controlUsage != 0 { return .rejected(.unsupportedControl(byte: cdb.length - 1)) }
            if unit.exclusiveGate.isBusy && traits.contains(.writesMedium) {
                return .afterExclusive(unit, unit.snapshot, handler)
            }
            return .admitted(unit, unit.snapshot, handler)
        }
    }

    /// SPC-2 5.5.1 lets PREVENT ALLOW MEDIUM REMOVAL through only when it allows removal.
    private static func allowedWhenReserved(_ cdb: CDB, _ traits: CommandTraits) -> Bool {
        traits.contains(.allowedWhenReserved)
            || (cdb.opcode == SCSIOpcode.preventAllowMediumRemoval && cdb[4] & 0x03 == 0)
    }

    // MARK: Helpers for handlers (callers hold the lock where noted)

    /// Caller holds the lock.
    func unitLocked(_ lun: UInt64) -> LogicalUnit? {
        lun < UInt64(units.count) ? units[Int(lun)] : nil
    }

    /// Caller holds the lock.
    var lunsLocked: [UInt64] { units.compactMap { $0?.lun } }

    /// Caller holds the lock. The inventory REPORT LUNS returns is different now: REPORTED LUNS
    /// DATA HAS CHANGED for every nexus that knows some unit (SPC-4 6.33).
    private func inventoryChanged() {
        for case let unit? in units { unit.postAttention(.reportedLUNsDataHasChanged) }
    }

    /// Caller holds the lock.
    func forEachUnitLocked(_ body: (LogicalUnit) -> Void) {
        for case let unit? in units { body(unit) }
    }

    private static func info(_ unit: LogicalUnit) -> LogicalUnitInfo {
        LogicalUnitInfo(
            lun: unit.lun, type: unit.isController ? "controller" : "disk", scsiID: unit.identity.scsiID,
            scsiSerial: unit.identity.serial, size: unit.blockCount << UInt64(unit.blockShift), blockSize: unit.blockSize,
            online: unit.mediumPresent, removable: unit.options.removable,
            preventRemoval: unit.removalPrevented, readOnly: unit.options.readOnly,
            softwareWriteProtect: unit.softwareWriteProtect, thinProvisioning: unit.isThinProvisioned,
            backingStoreType: unit.backstore?.typeName ?? "null", backingStorePath: unit.backstore?.path,
            backingStoreFlags: (unit.backstore as? FileBackstore)?.openFlags.description ?? "", options: unit.options)
    }
}
