import SCSIProtocol

/// SPC-2 RESERVE and RELEASE (6 and 10) of a whole logical unit by one I_T nexus. A conflicting
/// RESERVE was already refused at admission, as was one from an I_T nexus that neither holds
/// nor (for registrants only and all registrants types) is registered for a persistent
/// reservation (SPC-4 5.13.3).
///
/// A unit whose reservations several gateways share (an RBD image) refuses both as an unknown
/// operation code: an SPC-2 reservation held on one gateway would not bind the others, and
/// initiators that get INVALID COMMAND OPERATION CODE fall back to persistent reservations.
enum ReservationCommands {
    static func reserve(_ context: CommandContext) -> CommandOutcome {
        if isShared(context) { return .check(.illegalRequest, .invalidCommandOperationCode) }
        // RESERVE(6): 3RDPTY, third-party ID and EXTENT; RESERVE(10): 3RDPTY, LONGID, EXTENT.
        guard context.cdb[1] & 0x1F == 0 else { return .invalidField(cdbByte: 1) }
        let granted: Bool = context.device.lock.withLock {
            let unit = context.unit
            // Under a persistent reservation this I_T nexus may use: GOOD, nothing changes.
            if unit.persistent.reservation != nil { return true }
            guard unit.reservationHolder == nil || unit.reservationHolder == context.nexusID else { return false }
            unit.reservationHolder = context.nexusID
            return true
        }
        return granted ? .good : .done(SCSICommandResult(status: .reservationConflict))
    }

    /// Releasing a reservation someone else holds, or none, is GOOD and changes nothing; so is
    /// RELEASE under a persistent reservation.
    static func release(_ context: CommandContext) -> CommandOutcome {
        if isShared(context) { return .check(.illegalRequest, .invalidCommandOperationCode) }
        guard context.cdb[1] & 0x1F == 0 else { return .invalidField(cdbByte: 1) }
        context.device.lock.withLock {
            if context.unit.reservationHolder == context.nexusID { context.unit.reservationHolder = nil }
        }
        return .good
    }

    private static func isShared(_ context: CommandContext) -> Bool {
        context.device.lock.withLock { context.unit.sharedReservations != nil }
    }
}
