import SCSIProtocol

/// Changes to live logical units and to the target's state, as tgtadm's `--op update` makes them.
extension SCSITargetDevice {
    /// The options a unit runs with; nil if there is no such unit.
    public func logicalUnitOptions(_ lun: UInt64) -> LogicalUnitOptions? {
        lock.withLock { unitLocked(lun)?.options }
    }

    /// Gives a unit (LUN 0 too) new options, keeping its store, geometry, medium state,
    /// reservations and nexuses. Commands already admitted finish under the old options; nexuses
    /// that know the unit get the unit attentions for what changed (MODE PARAMETERS CHANGED for
    /// write protection, CAPACITY DATA HAS CHANGED for READ CAPACITY(16) fields, INQUIRY DATA HAS
    /// CHANGED and DEVICE IDENTIFIER CHANGED for INQUIRY and VPD data).
    /// `writeCache` applies at creation only: WCE belongs to MODE SELECT afterwards.
    public func updateLogicalUnit(_ lun: UInt64, options: LogicalUnitOptions) throws {
        try lock.withLock {
            guard let unit = unitLocked(lun) else { throw SCSITargetError.noSuchLUN(lun) }
            unit.replaceOptions(options)
        }
    }

    /// The operator loads (true) or removes (false) the medium: tgt's `online=`. Offline, a
    /// removable unit answers NOT READY / MEDIUM NOT PRESENT and any other NOT READY / MANUAL
    /// INTERVENTION REQUIRED to commands that need the medium. Coming back online, every nexus
    /// that knows the unit gets NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED.
    /// - Throws: `.removalPrevented` when going offline while a nexus prevents medium removal
    ///   (tgt's "this device cannot be removed" answer); `.noSuchLUN`.
    public func setLogicalUnitOnline(_ lun: UInt64, _ online: Bool) throws {
        try lock.withLock {
            guard let unit = unitLocked(lun) else { throw SCSITargetError.noSuchLUN(lun) }
            guard online != unit.mediumPresent else { return }
            if !online && unit.removalPrevented { throw SCSITargetError.removalPrevented(lun) }
            unit.mediumPresent = online
            if online { unit.postAttention(.notReadyToReadyChange) }
        }
    }

    /// tgt's target state: "ready" (true) or "offline", in which every command is answered BUSY.
    /// (Refusing new logins to an offline target is the transport's part.)
    public var isOnline: Bool {
        get { lock.withLock { !targetOfflineLocked } }
        set { lock.withLock { targetOfflineLocked = !newValue } }
    }
}

extension AdditionalSenseCode {
    static let logicalUnitNotReadyManualInterventionRequired = Self(0x04, 0x03)
    static let notReadyToReadyChange = Self(0x28, 0x00)
    static let inquiryDataHasChanged = Self(0x3F, 0x03)
    static let deviceIdentifierChanged = Self(0x3F, 0x05)
}
