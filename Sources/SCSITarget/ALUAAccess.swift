import SCSIProtocol

/// Which commands a target port group's asymmetric access state lets through, in one place
/// (SPC-4 5.15.2.4 and 5.15.2.5; LIO's target_core_alua.c makes the same choices). The
/// active states let everything through. A refused command ends with NOT READY, LOGICAL UNIT
/// NOT ACCESSIBLE and the state's ASCQ.
enum ALUAAccess {
    /// nil when `cdb` may run through a port in `state`, else the additional sense code.
    static func refusal(_ cdb: CDB, in state: ALUAState) -> AdditionalSenseCode? {
        switch state {
        case .activeOptimized, .activeNonOptimized, .logicalBlockDependent:
            // Logical block dependent is never configured here (no LBA ranges are kept).
            return nil
        case .standby:
            return allowedInStandby(cdb) ? nil : .targetPortInStandbyState
        case .unavailable:
            return allowedInUnavailable(cdb) ? nil : .targetPortInUnavailableState
        case .transitioning:
            return allowedWhileTransitioning(cdb) ? nil : .asymmetricAccessStateTransition
        case .offline:
            // 5.15.2.4.6: the port is not accessible at all; LIO refuses everything too.
            return .targetPortOffline
        }
    }

    /// 5.15.2.4.4 standby: INQUIRY, LOG SELECT/SENSE, MODE SELECT/SENSE, REPORT LUNS, RECEIVE
    /// and SEND DIAGNOSTIC, REPORT and SET TARGET PORT GROUPS, REQUEST SENSE, PERSISTENT RESERVE
    /// IN/OUT, READ/WRITE BUFFER (those we answer). Also READ CAPACITY, as LIO allows (Linux's
    /// sd sizes a standby path's disk with it), and REPORT SUPPORTED OPERATION CODES, which
    /// touches no medium. TEST UNIT READY is refused: multipath's TUR checker reads 04/0B as a
    /// standby ("ghost") path.
    private static func allowedInStandby(_ cdb: CDB) -> Bool {
        switch cdb.opcode {
        case SCSIOpcode.inquiry, SCSIOpcode.reportLUNs, SCSIOpcode.requestSense, SCSIOpcode.modeSense6,
            SCSIOpcode.modeSense10, SCSIOpcode.modeSelect6, SCSIOpcode.modeSelect10, SCSIOpcode.persistentReserveIn,
            SCSIOpcode.persistentReserveOut, SCSIOpcode.readCapacity10:
            return true
        case SCSIOpcode.serviceActionIn16:
            return cdb.serviceAction == SCSIServiceAction.readCapacity16
        case SCSIOpcode.maintenanceIn:
            return cdb.serviceAction == SCSIServiceAction.reportTargetPortGroups
                || cdb.serviceAction == SCSIServiceAction.reportSupportedOperationCodes
        case SCSIOpcode.maintenanceOut:
            return cdb.serviceAction == SCSIServiceAction.setTargetPortGroups
        default:
            return false
        }
    }

    /// 5.15.2.4.5 unavailable: INQUIRY, REPORT LUNS, REPORT and SET TARGET PORT GROUPS, REQUEST
    /// SENSE, READ/WRITE BUFFER (not answered here).
    private static func allowedInUnavailable(_ cdb: CDB) -> Bool {
        switch cdb.opcode {
        case SCSIOpcode.inquiry, SCSIOpcode.reportLUNs, SCSIOpcode.requestSense:
            return true
        case SCSIOpcode.maintenanceIn:
            return cdb.serviceAction == SCSIServiceAction.reportTargetPortGroups
        case SCSIOpcode.maintenanceOut:
            return cdb.serviceAction == SCSIServiceAction.setTargetPortGroups
        default:
            return false
        }
    }

    /// 5.15.2.5 transitioning: INQUIRY, REPORT LUNS, REPORT TARGET PORT GROUPS, REQUEST SENSE.
    private static func allowedWhileTransitioning(_ cdb: CDB) -> Bool {
        switch cdb.opcode {
        case SCSIOpcode.inquiry, SCSIOpcode.reportLUNs, SCSIOpcode.requestSense:
            return true
        case SCSIOpcode.maintenanceIn:
            return cdb.serviceAction == SCSIServiceAction.reportTargetPortGroups
        default:
            return false
        }
    }
}
