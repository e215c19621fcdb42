import Backstore
import SCSITarget

extension LogicalUnitOptions {
    /// An RBD image is one logical unit whichever gateway serves it: unless the administrator set
    /// them, its SCSI ID (and so its NAA designator) and unit serial number come from the image
    /// id, which every gateway reads alike and a rename does not change.
    mutating func adoptIdentity(of store: Backstore) {
        guard let image = store as? RBDBackstore else { return }
        if scsiID == nil { scsiID = "RBD " + image.imageID }
        if serialNumber == nil { serialNumber = image.imageID }
    }
}
