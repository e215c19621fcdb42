/// Renders `tgtadm --op show --mode target` exactly as tgt 1.0.85 does.
public enum TargetShowFormatter {
    public static func format(_ targets: [TargetSnapshot]) -> String {
        var text = ""
        for target in targets { append(target, to: &text) }
        return text
    }

    /// tgt's size in "MB": a rounded conversion from 512-byte sectors, computed in unsigned 64-bit
    /// arithmetic (so tiny sizes wrap around and come back, as in C).
    public static func megabytes(_ sizeBytes: UInt64) -> UInt64 {
        let sectors = sizeBytes / 512
        return (sectors &- ((sectors / 625) &- 974)) / 1950
    }

    private static let tab1 = "    "
    private static let tab2 = tab1 + tab1
    private static let tab3 = tab2 + tab1
    private static let tab4 = tab2 + tab2

    private static func append(_ target: TargetSnapshot, to text: inout String) {
        text += "Target \(target.tid): \(target.name)\n"
        text += "\(tab1)System information:\n"
        text += "\(tab2)Driver: \(target.driver)\n"
        text += "\(tab2)State: \(target.state)\n"
        if target.nopInterval != 0 {
            text += "\(tab2)Nop interval: \(target.nopInterval)\n"
            text += "\(tab2)Nop count: \(target.nopCount)\n"
        }
        text += "\(tab1)I_T nexus information:\n"
        for nexus in target.nexuses {
            text += "\(tab2)I_T nexus: \(nexus.id)\n"
            text += "\(tab3)Initiator: \(nexus.initiatorName) alias: \(nexus.alias ?? "none")\n"
            for connection in nexus.connections {
                text += "\(tab3)Connection: \(connection.cid)\n"
                text += "\(tab4)IP Address: \(connection.address)\n"
            }
        }
        text += "\(tab1)LUN information:\n"
        for lun in target.luns { append(lun, to: &text) }
        if target.driver == "iscsi" || target.driver == "iser" {
            text += "\(tab1)Account information:\n"
            for user in target.accounts.incomingUsers { text += "\(tab2)\(user)\n" }
            if let outgoing = target.accounts.outgoingUser { text += "\(tab2)\(outgoing) (outgoing)\n" }
        }
        text += "\(tab1)ACL information:\n"
        for rule in target.acl.addresses + target.acl.initiatorNames { text += "\(tab2)\(rule)\n" }
    }

    private static func append(_ lun: TargetSnapshot.LogicalUnit, to text: inout String) {
        text += "\(tab2)LUN: \(lun.lun)\n"
        text += "\(tab3)Type: \(lun.type)\n"
        text += "\(tab3)SCSI ID: \(lun.scsiID)\n"
        text += "\(tab3)SCSI SN: \(lun.scsiSN)\n"
        text += "\(tab3)Size: \(megabytes(lun.sizeBytes)) MB, Block size: \(lun.blockSize)\n"
        text += "\(tab3)Online: \(yesNo(lun.online))\n"
        text += "\(tab3)Removable media: \(yesNo(lun.removable))\n"
        text += "\(tab3)Prevent removal: \(yesNo(lun.preventRemoval))\n"
        text += "\(tab3)Readonly: \(yesNo(lun.readonly))\n"
        text += "\(tab3)SWP: \(yesNo(lun.swp))\n"
        text += "\(tab3)Thin-provisioning: \(yesNo(lun.thinProvisioning))\n"
        text += "\(tab3)Backing store type: \(lun.bsType ?? "None")\n"
        text += "\(tab3)Backing store path: \(lun.bsPath ?? "None")\n"
        text += "\(tab3)Backing store flags: \(lun.bsFlags)\n"
    }

    private static func yesNo(_ value: Bool) -> String {
        value ? "Yes" : "No"
    }
}
