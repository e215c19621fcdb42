import SCSIProtocol

/// What one logical unit remembers about one I_T nexus.
struct NexusState {
    /// Queued unit attentions bound for this nexus, oldest first.
    private static let attentionLimit = 8

    let id: UInt64
    /// The SCSI initiator port of the nexus: persistent reservations and their unit
    /// attentions follow it and the target port, which outlive the session (SPC-4 5.13).
    let portName: String
    /// RELATIVE TARGET PORT IDENTIFIER of the target port it came through.
    let targetPort: UInt16
    private(set) var attentions: [AdditionalSenseCode]
    /// PREVENT ALLOW MEDIUM REMOVAL with PREVENT=1 is in effect for this nexus.
    var preventsRemoval = false

    /// A nexus new to the unit starts with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
    init(id: UInt64, portName: String, targetPort: UInt16) {
        self.id = id
        self.portName = portName
        self.targetPort = targetPort
        self.attentions = [.powerOnResetOrBusDeviceReset]
    }

    /// Queues a unit attention. A reset supersedes everything pending (SAM-5 5.14), others are
    /// queued once each.
    mutating func post(_ code: AdditionalSenseCode) {
        if code.isResetClass {
            attentions = [code]
        } else if !attentions.contains(code) && attentions.count < Self.attentionLimit {
            attentions.append(code)
        }
    }

    mutating func takeAttention() -> AdditionalSenseCode? {
        attentions.isEmpty ? nil : attentions.removeFirst()
    }

    mutating func clear(_ code: AdditionalSenseCode) {
        attentions.removeAll { $0 == code }
    }
}
